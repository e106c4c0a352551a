"""Sign-off blockers a PM must see at a glance (p3 #2, #4, #5).

- A table holding more of its records than `thresholds.signoff_max_held_rate` (default 0.05: held ÷ extracted,
  as max_quarantine_rate) is a blocker naming count, rate and top rules, even when the thresholds were raised
  so that the run finished; `ikou signoff` derives it from the run's own files and limit (its config in
  specs/), and a run written before the blocker existed is refused with it, never as a mismatch.
- The 未同定 blocker names the distinct characters and their occurrences, with thousands separators; a line an
  earlier run wrote ("43236 文字 未同定 …", occurrences counted as characters) is the same blocker.
- A run the drop guard stopped at load because every record was held keeps the 'all held' blocker."""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from ikou.config import Thresholds
from ikou.reports.signoff import SignOffMismatch, SignOffRefused, sign_off
from ikou.reports.summary import (UNLISTED, _blockers, all_held, current_wording, held_over, unresolved_line)
from ikou.summary import RunError

DANTAI = "999776"
TABLE = "juki_kojin_rireki"
# the p3 F run (thresholds raised to 1.0): 41,868 of 43,236 records held
REASONS = [{"table": TABLE, "stage": "extract", "rule": "extract.control_char", "severity": "error", "rows_failed": 1082},
           {"table": TABLE, "stage": "map", "rule": "code_table.unknown", "severity": "error", "rows_failed": 21618},
           {"table": TABLE, "stage": "map", "rule": "wareki.format", "severity": "error", "rows_failed": 21618},
           {"table": TABLE, "stage": "validate", "rule": "checkdigit.atena_no", "severity": "warning",
            "rows_failed": 1921},
           {"table": TABLE, "stage": "validate", "rule": "rireki.held_together", "severity": "error",
            "rows_failed": 15391},
           {"table": TABLE, "stage": "validate", "rule": "schema.length", "severity": "error", "rows_failed": 1082}]
TABLES = {TABLE: {"extracted": 43236, "mapped": 19995, "sources": ["vendor_a_jumin"], "quarantined": 41868,
                  "validated": 1368, "loaded": 1368, "warnings": 1971, "held_without_key": 0},
          "juki_kojin": {"derived": True, "from": TABLE, "loaded": 1368}}
HELD_JA = (f"{TABLE}: 41,868 件 (96.8 %) を保留 (主な理由: code_table.unknown 21,618 件、wareki.format 21,618 件、"
           "rireki.held_together 15,391 件、…; 上限 5 %。保留した記録は移行されません)")
HELD_EN = ("41,868 record(s) held (96.8 %, above thresholds.signoff_max_held_rate 5 %; top rules: code_table.unknown "
           "21,618, wareki.format 21,618, rireki.held_together 15,391, …): held records are not migrated")


def test_a_table_holding_more_than_the_signoff_rate_is_a_blocker_naming_count_rate_and_top_rules():
    (line,) = _blockers({}, None, {}, held=held_over(TABLES, REASONS, Thresholds().signoff_max_held_rate))
    assert line == f"{HELD_JA} / {HELD_EN}"


def test_held_records_at_or_below_the_signoff_rate_are_no_blocker():
    assert Thresholds().signoff_max_held_rate == 0.05
    at_limit = {TABLE: {**TABLES[TABLE], "extracted": 40000, "quarantined": 2000, "loaded": 38000}}
    assert held_over(at_limit, REASONS, 0.05) == {}
    assert held_over(at_limit, REASONS, 0.0)   # 0: any held record blocks
    assert held_over(TABLES, REASONS, 1.0) == {}


def test_an_all_held_table_has_the_nothing_loaded_line_only():
    tables = {TABLE: {**TABLES[TABLE], "quarantined": 43236, "loaded": 0, "validated": 0}}
    lines = _blockers({}, None, {}, all_held=all_held(tables), held=held_over(tables, REASONS, 0.05))
    assert len(lines) == 1 and "all 43,236 extracted record(s) were held" in lines[0]


def test_a_run_the_drop_guard_stopped_at_load_keeps_the_all_held_blocker():
    """p3 C_dup: 86,472 extracted, every one held by key.unique, the target kept. The blocker says so; a run
    whose table the guard refused for shrinking (not all held) is not said to have held everything."""
    error = RunError(kind="EmptyExportError", stage="load", message="x")
    dup = {TABLE: {"extracted": 86472, "quarantined": 86472, "validated": 0, "loaded": 0}}
    lines = _blockers({}, error, {}, all_held=all_held(dup, by_held=True), held=held_over(dup, [], 0.05))
    assert lines[1] == (f"{TABLE}: 抽出した 86,472 件をすべて保留し、投入は 0 件です (保留理由を確認) / "
                        "all 86,472 extracted record(s) were held: nothing was loaded") and len(lines) == 2
    shrunk = {TABLE: {**TABLES[TABLE], "loaded": 0}}   # p3 A: 1,368 rows would have replaced 43,236
    lines = _blockers({}, error, {}, all_held=all_held(shrunk, by_held=True), held=held_over(shrunk, REASONS, 0.05))
    assert not [b for b in lines if "すべて保留" in b] and lines[1] == f"{HELD_JA} / {HELD_EN}"
    # a run stopped before the load: its failure is the one line
    early = RunError(kind="ThresholdError", stage="validate", message="x")
    (line,) = _blockers({}, early, {}, all_held=all_held(dup, by_held=True), held=held_over(dup, [], 0.05))
    assert line.startswith("実行が失敗しました (段階: 検証")


# --- ikou signoff: the run folder ------------------------------------------------------------------------------

def _run(tmp_path: Path, *, thresholds: str, blockers: list[str] | None = None, chars: pl.DataFrame | None = None,
         moji: dict | None = None) -> Path:
    run = tmp_path / "runs" / DANTAI / "20261130T143344Z-R1-0805"
    (run / "specs" / "external" / "abc").mkdir(parents=True)
    (run / "specs" / "external" / "abc" / "cfg.yaml").write_text(
        f"spec_version: 1\ndantai: {{code: \"{DANTAI}\", name: 架空市}}\nthresholds: {thresholds}\n", encoding="utf-8")
    (run / "specs" / "manifest.json").write_text(json.dumps(
        {"files": [{"kind": "config", "path": "external/abc/cfg.yaml"}]}), encoding="utf-8")
    if chars is not None:
        (run / "moji").mkdir()
        chars.write_parquet(run / "moji" / "vendor_a_jumin.chars.parquet")
    if blockers is None:
        blockers = _blockers({}, None, {}, held=held_over(TABLES, REASONS, 0.05))
    (run / "summary.json").write_text(json.dumps(
        {"run_id": run.name, "dantai": DANTAI, "status": "succeeded", "tables": TABLES,
         "quarantine_reasons": REASONS, "moji": moji or {}, "sign_off_blockers": blockers},
        ensure_ascii=False), encoding="utf-8")
    return run


def test_signoff_refuses_a_run_that_held_most_of_its_records_and_an_override_records_the_blocker(tmp_path):
    run = _run(tmp_path, thresholds="{max_quarantine_rate: 1.0, max_drop_ratio: 1.0}")
    with pytest.raises(SignOffRefused, match="1 sign-off blocker") as exc:
        sign_off(run, by="テスト", role="PM", no_target=True)
    assert not isinstance(exc.value, SignOffMismatch) and HELD_EN in str(exc.value)
    record = sign_off(run, by="テスト", role="PM", override="保留は次回リハーサルで解消する", no_target=True)
    assert record["blockers"] == [f"{HELD_JA} / {HELD_EN}"] and record["override"]


def test_signoff_judges_held_records_by_the_runs_own_limit(tmp_path):
    run = _run(tmp_path / "a", thresholds="{max_quarantine_rate: 1.0, signoff_max_held_rate: 1.0}", blockers=[])
    assert sign_off(run, by="テスト", role="PM", no_target=True)["blockers"] == []
    # its own limit, not the default: a summary at 5 % under a config at 50 % is refused with the 50 % line
    run = _run(tmp_path / "b", thresholds="{signoff_max_held_rate: 0.5}", blockers=[])
    with pytest.raises(SignOffRefused, match="1 sign-off blocker") as exc:
        sign_off(run, by="テスト", role="PM", no_target=True)
    assert "上限 50 %" in str(exc.value) and "上限 5 %" not in str(exc.value)


def test_a_run_written_before_the_held_blocker_is_refused_with_it_not_as_a_mismatch(tmp_path):
    run = _run(tmp_path, thresholds="{max_quarantine_rate: 1.0}", blockers=[])   # no such line then
    with pytest.raises(SignOffRefused, match="1 sign-off blocker") as exc:
        sign_off(run, by="テスト", role="PM", no_target=True)
    assert not isinstance(exc.value, SignOffMismatch)
    assert f"{HELD_JA} / {HELD_EN}{UNLISTED}" in str(exc.value)
    record = sign_off(run, by="テスト", role="PM", override="確認済み", no_target=True)
    assert record["blockers"] == [f"{HELD_JA} / {HELD_EN}{UNLISTED}"]


# --- the 未同定 blocker --------------------------------------------------------------------------------------

def test_the_unresolved_blocker_names_distinct_characters_and_occurrences():
    one, many = (_blockers({"unresolved": 43236}, None, {}, unresolved_chars=n)[0] for n in (1, 1868))
    assert one == ("未同定の文字 1 種類 (43,236 箇所) (同定台帳で判断が必要) / 1 distinct character(s) "
                   "(43,236 occurrence(s)) not identified to an MJ character (the moji ledger must decide)")
    assert many.startswith("未同定の文字 1,868 種類 (43,236 箇所)") and "1,868 distinct character(s)" in many


def _chars(n_chars: int, occurrences: int) -> pl.DataFrame:
    each = occurrences // n_chars
    return pl.DataFrame({"column": ["shimei"] * n_chars, "char": [chr(0xE000 + i) for i in range(n_chars)],
                         "codepoints": [f"U+{0xE000 + i:04X}" for i in range(n_chars)],
                         "status": ["unresolved"] * n_chars, "occurrences": [each] * n_chars,
                         "source": ["vendor_a_jumin"] * n_chars})


@pytest.mark.parametrize("old", ["43236 文字 未同定 (同定台帳で判断が必要)",
                                 "43236 文字 未同定 (同定台帳で判断が必要) / 43236 character(s) not identified to an MJ "
                                 "character (the moji ledger must decide)"])
def test_an_earlier_runs_unresolved_line_is_the_same_blocker_in_the_new_words(tmp_path, old):
    moji = {"counts": {"unresolved": 43236}, "unresolved_chars": 1,
            "unresolved": [{"source": "vendor_a_jumin", "column": "shimei", "char": "\ue000", "occurrences": 43236}]}
    assert current_wording(old, {"moji": moji}) == unresolved_line(43236, 1)
    run = _run(tmp_path, thresholds="{signoff_max_held_rate: 1.0}", blockers=[old], chars=_chars(1, 43236),
               moji=moji)
    with pytest.raises(SignOffRefused, match="1 sign-off blocker") as exc:
        sign_off(run, by="テスト", role="PM", no_target=True)
    assert not isinstance(exc.value, SignOffMismatch) and "未同定の文字 1 種類 (43,236 箇所)" in str(exc.value)
    # the same count over 1,868 characters is another blocker: the summary does not list it
    run = _run(tmp_path / "g", thresholds="{signoff_max_held_rate: 1.0}", blockers=[old], chars=_chars(1868, 43236 * 1868),
               moji={**moji, "counts": {"unresolved": 43236 * 1868}})
    with pytest.raises(SignOffMismatch, match="未同定の文字 1,868 種類"):
        sign_off(run, by="テスト", role="PM", override="x", no_target=True)
