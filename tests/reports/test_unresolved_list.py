"""summary.json lists the first UNRESOLVED_LISTED unresolved characters (10,800 made it 1.7 MB), counts them
all exactly and names the CSV holding every one (kept by `ikou purge`); report.html, report.xlsx and the
sign-off read a bounded summary and one written before it was bounded (the whole list) alike."""
from __future__ import annotations

import json

import openpyxl
import polars as pl

from ikou.context import RunContext
from ikou.quarantine import conform
from ikou.reports.report import HTML_ROWS, render_run_report
from ikou.reports.signoff import _rederived_blockers
from ikou.reports.summary import UNRESOLVED_FILE, _blockers, unresolved_list
from ikou.reports.workbook import write_workbook
from ikou.summary import UNRESOLVED_LISTED, MojiSummary, RunSummary

N = 260   # distinct characters, the first 20 unresolved in a second column too: 280 entries


def _chars() -> pl.DataFrame:
    """Per-character outcomes of one source as moji/<source>.chars.parquet holds them."""
    cps = [0xE000 + i for i in range(N)]
    return pl.DataFrame({
        "column": "shimei", "char": [chr(c) for c in cps], "codepoints": [f"U+{c:04X}" for c in cps],
        "status": "unresolved", "mj_name": None, "output": [chr(c) for c in cps],
        "occurrences": [(i % 7) + 1 for i in range(N)], "source": "vendor_x",
    }, schema_overrides={"mj_name": pl.String, "occurrences": pl.Int64})


def _chars_two_columns() -> pl.DataFrame:
    """The same, and the first 20 characters once each in jusho (the same characters, other entries)."""
    c = _chars()
    again = c.head(20).with_columns(pl.lit("jusho").alias("column"), pl.lit(1, pl.Int64).alias("occurrences"))
    return pl.concat([c, again])


def _run(tmp_path, chars: pl.DataFrame) -> tuple[RunContext, dict]:
    ctx = RunContext(dantai_code="999741", run_id="20990101T000000Z-R1-ul01", runs_dir=tmp_path / "runs")
    chars.write_parquet(ctx.stage_dir("moji") / "vendor_x.chars.parquet")
    total = int(chars["occurrences"].sum())
    s = RunSummary(dantai="999741", run_id=ctx.run_id, rehearsal="R1", started_at="2099-01-01T00:00:00Z",
                   finished_at="2099-01-01T00:01:00Z",
                   moji=MojiSummary(counts={"mj": 100, "unresolved": total}, **(listed := unresolved_list(ctx, chars))),
                   sign_off_blockers=_blockers({"unresolved": total}, None, {},
                                               unresolved_chars=listed["unresolved_chars"]))
    s.write(ctx.run_dir / "summary.json")
    return ctx, json.loads((ctx.run_dir / "summary.json").read_text(encoding="utf-8"))


def test_summary_lists_the_most_frequent_unresolved_characters_and_names_the_file_with_all(tmp_path):
    chars = _chars_two_columns()
    ctx, s = _run(tmp_path, chars)
    moji = s["moji"]
    assert len(moji["unresolved"]) == UNRESOLVED_LISTED
    assert (moji["unresolved_entries"], moji["unresolved_chars"]) == (N + 20, N)
    assert moji["unresolved_omitted"] == N + 20 - UNRESOLVED_LISTED
    # by occurrences, then code point
    keys = [(-u["occurrences"], u["char"]) for u in moji["unresolved"]]
    assert keys == sorted(keys) and moji["unresolved"][0] == {
        "source": "vendor_x", "column": "shimei", "char": "\ue006", "codepoints": "U+E006", "occurrences": 7}
    assert moji["unresolved_file"] == UNRESOLVED_FILE
    full = pl.read_csv(ctx.run_dir / UNRESOLVED_FILE, infer_schema=False)
    assert full.columns == ["source", "column", "char", "codepoints", "occurrences"]
    assert full.height == N + 20 and full["occurrences"].cast(pl.Int64).sum() == moji["counts"]["unresolved"]
    assert sorted(full.select("column", "char").rows()) == sorted(chars.select("column", "char").rows())
    assert full.head(UNRESOLVED_LISTED).cast({"occurrences": pl.Int64}).to_dicts() == moji["unresolved"]


def test_a_short_list_is_whole_in_summary_json_without_a_file(tmp_path):
    chars = _chars().head(5)
    ctx, s = _run(tmp_path, chars)
    moji = s["moji"]
    assert len(moji["unresolved"]) == 5 and moji["unresolved_omitted"] == 0 and "unresolved_file" not in moji
    assert (moji["unresolved_entries"], moji["unresolved_chars"]) == (5, 5)
    assert not (ctx.run_dir / UNRESOLVED_FILE).exists()


def _old(s: dict, chars: pl.DataFrame) -> dict:
    """The summary as a run before the list was bounded wrote it: every entry, no counts of them."""
    moji = {"counts": s["moji"]["counts"], "decision_changes": [],
            "unresolved": chars.select("source", "column", "char", "codepoints", "occurrences").to_dicts()}
    return {**s, "moji": moji}


def _more(page: str) -> int:
    section = page.split("<h3>未同定の文字", 1)[1].split("<h3>", 1)[0]
    return int(section.split("ほか ", 1)[1].split(" 件", 1)[0].replace(",", ""))


def test_the_report_counts_the_characters_summary_json_leaves_out(tmp_path):
    chars = _chars_two_columns()
    _, s = _run(tmp_path, chars)
    for summary in (s, _old(s, chars)):
        page = render_run_report(summary, conform(pl.DataFrame()), tmp_path / "report.html").read_text(
            encoding="utf-8")
        assert _more(page) == N + 20 - HTML_ROWS


def test_the_workbook_says_how_many_are_left_out_and_which_file_has_them(tmp_path):
    chars = _chars_two_columns()
    ctx, s = _run(tmp_path, chars)
    ws = openpyxl.load_workbook(write_workbook(s, tmp_path / "r.xlsx", run_dir=ctx.run_dir))["文字同定"]
    assert len(list(ws.iter_rows(min_row=3))) == UNRESOLVED_LISTED
    assert f"残り {N + 20 - UNRESOLVED_LISTED:,} 行を含む全件は {UNRESOLVED_FILE}" in ws["A1"].value
    ws = openpyxl.load_workbook(write_workbook(_old(s, chars), tmp_path / "o.xlsx", run_dir=ctx.run_dir))["文字同定"]
    assert len(list(ws.iter_rows(min_row=3))) == N + 20 and "残り" not in ws["A1"].value


def test_sign_off_rederives_the_unresolved_blocker_from_a_bounded_or_whole_list_before_and_after_purge(tmp_path):
    chars = _chars_two_columns()
    ctx, s = _run(tmp_path, chars)
    distinct = chars.filter(pl.col("status") == "unresolved")["char"].n_unique()
    expected = _blockers({"unresolved": int(chars["occurrences"].sum())}, None, {}, unresolved_chars=distinct)
    assert s["sign_off_blockers"] == expected and f"未同定の文字 {distinct:,} 種類" in expected[0]
    for summary in (s, _old(s, chars)):
        assert _rederived_blockers(ctx.run_dir, summary) == expected
    (ctx.run_dir / "moji" / "vendor_x.chars.parquet").unlink()   # what `ikou purge` deletes
    for summary in (s, _old(s, chars)):
        assert _rederived_blockers(ctx.run_dir, summary) == expected
