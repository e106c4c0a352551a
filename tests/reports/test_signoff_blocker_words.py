"""What a PM reads at sign-off says each blocker in its own words, in Japanese and English.

- The 未同定 and 説明できない差異 blockers are Japanese + English, as every other blocker, in summary.json,
  report.html, report.xlsx and the evidence pack. A run written when they were Japanese only still signs off
  with an override (its lines are the same blockers: `summary.current_wording`), never refused as a summary
  that does not match its files; the refusal and the sign-off's record give them in both languages.
- A run written before the 'nothing loaded' blocker existed (a table extracted records and loaded none, its
  summary.json not listing it) is refused with that blocker's own words, not as a summary that does not match
  the run's files; an override signs it, and the record names the blocker."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import openpyxl
import pytest

from ikou import REPO_ROOT
from ikou.flows.cli import main
from ikou.reports.evidence import build_pack, read_pack
from ikou.reports.report import sign_off_blockers
from ikou.reports.signoff import SignOffMismatch, SignOffRefused, sign_off
from ikou.reports.summary import _blockers

DANTAI = "999768"
UNRESOLVED_JA = re.compile(r"未同定の文字 [\d,]+ 種類 \([\d,]+ 箇所\) \(同定台帳で判断が必要\)")
UNRESOLVED_EN = re.compile(r"[\d,]+ distinct character\(s\) \([\d,]+ occurrence\(s\)\) not identified to an MJ character")


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


def _write_summary(run: Path, s: dict) -> None:
    (run / "summary.json").write_text(json.dumps(s, ensure_ascii=False, indent=2), encoding="utf-8")


def _overview_blockers(xlsx: bytes | Path) -> list[str]:
    book = openpyxl.load_workbook(io.BytesIO(xlsx) if isinstance(xlsx, bytes) else xlsx, read_only=True)
    return [r[1] for r in book["概要"].iter_rows(values_only=True) if r and r[0] == "承認の妨げ"]


def test_the_unresolved_and_unexplained_blockers_are_japanese_and_english():
    unresolved, unexplained = _blockers({"unresolved": 3}, None, {"src": {"unexplained_cells": {"shimei": 2,
                                                                                                "jusho": 1}}},
                                        unresolved_chars=2)
    ja, en = unresolved.split(" / ")
    assert (ja, en) == ("未同定の文字 2 種類 (3 箇所) (同定台帳で判断が必要)",
                        "2 distinct character(s) (3 occurrence(s)) not identified to an MJ character "
                        "(the moji ledger must decide)")
    ja, en = unexplained.split(" / ")
    assert ja == "src: 説明できない差異 3 セル (並行稼働比較)"
    assert en == "3 cell(s) differ with no expected-difference rule to explain them (parallel-run diff)"


def test_a_new_runs_unresolved_blocker_is_in_both_languages_in_every_output(run, capsys):
    (line,) = [b for b in _summary(run)["sign_off_blockers"] if "未同定" in b]
    ja, en = line.split(" / ")
    assert UNRESOLVED_JA.fullmatch(ja) and UNRESOLVED_EN.match(en), line
    assert f"<li>{line}</li>" in (run / "report.html").read_text(encoding="utf-8")
    assert line in _overview_blockers(run / "report.xlsx")
    files = read_pack(build_pack(run, run / "evidence.zip"))[1]
    assert line in json.loads(files["summary.json"])["sign_off_blockers"]
    assert f"<li>{line}</li>" in files["report.html"].decode("utf-8")
    assert line in _overview_blockers(files["report.xlsx"])
    capsys.readouterr()
    assert main(["signoff", str(run), "--by", "山田PM", "--role", "PM", "--no-target"]) == 2
    err = capsys.readouterr().err
    assert "1 sign-off blocker(s)" in err and line in err, err


def test_a_run_written_when_the_unresolved_blocker_was_japanese_only_still_signs_off(run):
    s = _summary(run)
    (line,) = [b for b in s["sign_off_blockers"] if "未同定" in b]
    old = f"{s['moji']['counts']['unresolved']} 文字 未同定 (同定台帳で判断が必要)"   # as such a run worded it
    _write_summary(run, {**s, "sign_off_blockers": [old if b == line else b for b in s["sign_off_blockers"]]})
    with pytest.raises(SignOffRefused, match="1 sign-off blocker") as exc:
        sign_off(run, by="山田PM", role="PM", no_target=True)
    assert not isinstance(exc.value, SignOffMismatch) and line in str(exc.value)   # both languages
    record = sign_off(run, by="山田PM", role="PM", override="外字は次回リハーサルで判断する", no_target=True)
    assert record["blockers"] == [line] and record["override"] == "外字は次回リハーサルで判断する"


def test_a_run_written_when_the_unexplained_blocker_was_japanese_only_still_signs_off(tmp_path):
    r = tmp_path / "r"
    (r / "diff" / "src").mkdir(parents=True)
    (r / "diff" / "src" / "summary.json").write_text(json.dumps({"unexplained_cells": {"shimei": 3}}))
    _write_summary(r, {"run_id": "R-x", "dantai": DANTAI, "status": "succeeded",
                       "sign_off_blockers": ["src: 説明できない差異 3 セル (並行稼働比較)"]})
    with pytest.raises(SignOffRefused, match="1 sign-off blocker") as exc:
        sign_off(r, by="山田PM", role="PM", no_target=True)
    assert not isinstance(exc.value, SignOffMismatch)
    assert "src: 説明できない差異 3 セル (並行稼働比較) / 3 cell(s) differ with no expected-difference rule" \
        in str(exc.value)
    assert sign_off(r, by="山田PM", role="PM", override="差異は説明済み", no_target=True)["override"] == "差異は説明済み"
    # a line that says another count is not the same blocker: the files' count is missing from the summary
    _write_summary(r, {**_summary(r), "sign_off_blockers": ["src: 説明できない差異 2 セル (並行稼働比較)"]})
    with pytest.raises(SignOffMismatch, match="src: 説明できない差異 3 セル"):
        sign_off(r, by="山田PM", role="PM", override="x", no_target=True)


# --- a run written before the 'nothing loaded' blocker existed ------------------------------------------------

@pytest.mark.usefixtures("prefect_harness")
def test_a_run_from_before_the_nothing_loaded_blocker_is_refused_in_that_blockers_words(tmp_path, capsys):
    """Every 性別 unknown, the threshold at 100 %: the run succeeds with nothing loaded. Its summary.json is
    written again as a run before that blocker existed wrote it (no such line)."""
    from ikou.flows.migrate import migration_flow
    from tests.flows.conftest import vendor_a_source, write_config

    src = (REPO_ROOT / "data" / "sample" / "vendor_a" / "JUMIN.csv").read_bytes().decode("cp932", "surrogateescape")
    rows = [r for r in csv.reader(io.StringIO(src)) if len(r) > 9][:30]
    for r in rows:
        r[0], r[8] = DANTAI, "5"   # this helper's 団体; 性別: no such code
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    held = tmp_path / "ALLHELD.csv"
    held.write_bytes(out.getvalue().encode("cp932", "surrogateescape"))
    cfg = write_config(tmp_path, source=vendor_a_source(path=held), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('code: "999997"', f'code: "{DANTAI}"')
                   .replace("max_quarantine_rate: 0.05", "max_quarantine_rate: 1.0"), encoding="utf-8")
    s = migration_flow(config_path=str(cfg))
    assert s["status"] == "succeeded" and s["tables"]["juki_kojin_rireki"]["extracted"] == 30
    (line,) = [b for b in s["sign_off_blockers"] if b.startswith("juki_kojin_rireki:") and "すべて保留" in b]
    run_dir = tmp_path / "runs" / DANTAI / s["run_id"]
    old = {**_summary(run_dir), "sign_off_blockers": [b for b in s["sign_off_blockers"] if b != line]}
    _write_summary(run_dir, old)

    capsys.readouterr()
    assert main(["signoff", str(run_dir), "--by", "山田PM", "--role", "PM", "--no-target"]) == 2
    err = capsys.readouterr().err
    assert "does not match" not in err and "承認の妨げが残っています" in err, err
    assert f"{len(old['sign_off_blockers']) + 1} sign-off blocker(s)" in err
    assert "juki_kojin_rireki: 抽出した 30 件をすべて保留し、投入は 0 件です" in err
    assert "all 30 extracted record(s) were held: nothing was loaded" in err
    assert "not in summary.json: the run was written before this blocker was checked" in err
    assert not (run_dir / "signoff.json").exists()
    # the reports a PM re-renders (`ikou run-report`) list it too, as the sign-off does
    assert [b for b in sign_off_blockers(old) if b.startswith(line)]
    record = sign_off(run_dir, by="山田PM", role="PM", override="旧ベンダーの性別コード表を次回追加", no_target=True)
    assert [b for b in record["blockers"] if b.startswith(line)]
    # the summary as this version writes it lists it once, and the sign-off shows it once
    _write_summary(run_dir, {**old, "sign_off_blockers": s["sign_off_blockers"]})
    with pytest.raises(SignOffRefused) as exc:
        sign_off(run_dir, by="山田PM", role="PM", no_target=True)
    assert str(exc.value).count("すべて保留") == 1 and "not in summary.json" not in str(exc.value)

