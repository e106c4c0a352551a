"""A 氏名 written in half-width kana (ﾊﾟｸ　ｺｳｼﾞ, with ﾟ and ﾞ) in vendor A's export: 文字同定 loads it full width
(パク　コウジ), every history row of it is a warning `moji.halfwidth_kana` counted in the summary and the report, the
parallel-run diff explains the change as 文字同定's, the counts balance, and the name is in no human-facing output.
Before, it loaded as half-width kana with no finding at all (probe finding: the 氏名 passed through)."""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from ikou.loaders import read_table
from tests.conftest import random_tag
from tests.flows.conftest import SAMPLE, vendor_a_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")

DANTAI = "999733"
TABLE = "juki_kojin_rireki"
ATENA = "0123456785"                                  # 阿部　浩二: two history rows
HALF_NAME, LOADED_NAME = "ﾊﾟｸ　ｺｳｼﾞ", "パク　コウジ"


def _jumin_with_a_half_width_name(tmp: Path) -> Path:
    """Vendor A's sample export as this 団体's, one person's 氏名 rewritten in half-width kana, byte for byte (the
    file is CP932 with planted faults: never decoded here; half-width kana are its single bytes 0xA1–0xDF)."""
    raw = (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes()
    old, new = "阿部　浩二".encode("cp932"), HALF_NAME.encode("cp932")
    assert new == b"\xca\xdf\xb8\x81@\xba\xb3\xbc\xde"
    lines = raw.split(b"\r\n")
    ours = [i for i, ln in enumerate(lines) if ln.startswith(b"999997," + ATENA.encode() + b",")]
    assert len(ours) == 2 and all(b"," + old + b"," in lines[i] for i in ours)
    for i in ours:
        lines[i] = lines[i].replace(b"," + old + b",", b"," + new + b",")
    body = b"\r\n".join(lines)
    out = tmp / "JUMIN.csv"
    out.write_bytes(DANTAI.encode() + body[6:].replace(b"\n999997,", b"\n" + DANTAI.encode() + b","))
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from ikou.flows.migrate import migration_flow

    tmp = tmp_path_factory.mktemp("fx_halfkana")
    url, schema = f"duckdb:///{tmp / 't.duckdb'}", f"dantai_{DANTAI}_{random_tag()}"
    cfg = write_config(tmp, source=vendor_a_source(_jumin_with_a_half_width_name(tmp)), target_url=url,
                       target_schema=schema, dantai=DANTAI)
    summary = migration_flow(config_path=str(cfg))
    return tmp / "runs" / DANTAI / summary["run_id"], summary, url, schema


def test_the_name_is_loaded_full_width(run):
    _, summary, url, schema = run
    assert summary["status"] == "succeeded"
    loaded = read_table(url, schema, TABLE).filter(pl.col("atena_no") == ATENA)
    assert loaded["shimei"].to_list() == [LOADED_NAME, LOADED_NAME]
    every = read_table(url, schema, TABLE)
    for moji in ("shimei", "jusho", "banchi", "katagaki"):             # no half-width kana in a moji column
        assert not every[moji].drop_nulls().str.contains(r"[\x{FF61}-\x{FF9F}]").any(), moji


def test_each_converted_row_is_one_warning_counted_in_the_summary_and_the_report(run):
    run_dir, summary, *_ = run
    q = pl.read_parquet(run_dir / "quarantine.parquet").filter(pl.col("rule") == "moji.halfwidth_kana")
    assert q.height == 2 and set(q["severity"]) == {"warning"} and set(q["column"]) == {"shimei"}
    assert sorted(q["record_key"].to_list()) == [f"atena_no={ATENA},rireki_no=1", f"atena_no={ATENA},rireki_no=2"]
    assert sorted(q["source_line"].to_list()) == [1, 2]
    reasons = [r for r in summary["quarantine_reasons"] if r["rule"] == "moji.halfwidth_kana"]
    assert [(r["table"], r["stage"], r["severity"], r["rows_failed"], r["findings"]) for r in reasons] == [
        (TABLE, "moji", "warning", 2, 2)]
    on_disk = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert [r for r in on_disk["quarantine_reasons"] if r["rule"] == "moji.halfwidth_kana"] == reasons
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "moji.halfwidth_kana" in html and "半角カナ" in html


def test_the_counts_balance_and_warnings_hold_nothing(run):
    _, summary, url, schema = run
    t = summary["tables"][TABLE]
    assert t["extracted"] == t["loaded"] + t["quarantined"] and not t["held_without_key"]
    assert t["loaded"] == read_table(url, schema, TABLE).height
    assert t["warnings"] >= 2
    held = [r for r in summary["quarantine_reasons"] if r["severity"] == "error" and r["table"] == TABLE]
    assert ATENA not in " ".join(str(r) for r in held)


def test_the_diff_explains_the_conversion_as_moji_identification(run):
    _, summary, *_ = run
    d = summary["diff"]["vendor_a_jumin"]
    assert d["explained"]["moji.kana_width"]["by_column"] == {"shimei": 2}
    assert d["unexplained_cells"].get("shimei", 0) == 0
    assert not any("説明できない差異" in b for b in summary["sign_off_blockers"]), summary["sign_off_blockers"]


def test_the_name_is_in_no_human_facing_output(run):
    run_dir, *_ = run
    for f in ("quarantine.csv", "report.html", "summary.json"):
        text = (run_dir / f).read_text(encoding="utf-8")
        for shown in (HALF_NAME, LOADED_NAME, "ﾊﾟｸ", "ｺｳｼﾞ", "パク", "コウジ"):
            assert shown not in text, (f, shown)
