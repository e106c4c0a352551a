"""Characters in cells people read: an invisible one (a bidi override U+202E, a zero-width space, a BOM, a C1
control) is written ⟨U+202E⟩ in quarantine.csv, report.html and report.xlsx (one helper, reports.csvsafe), and an
unresolved character outside MJ's scope (Hangul, emoji, a kana with a selector) is listed by its code point only
in summary.json, report.html and report.xlsx, so that a name written wholly in them is never spelled out there.
Ideographs and 外字 (what a reviewer decides on) stay listed as themselves; the Parquet files keep the raw value."""
from __future__ import annotations

import openpyxl
import polars as pl

from ikou.context import RunContext
from ikou.quarantine import conform
from ikou.reports import csvsafe
from ikou.reports.csvsafe import safe_for_csv
from ikou.reports.report import render_run_report
from ikou.reports.summary import unresolved_list
from ikou.reports.workbook import write_workbook
from ikou.summary import MojiSummary, RunSummary

HANGUL = ["김", "민", "준"]
RAW = ["架空市\u202e町一丁目", "山\u200b田", "\ufeff999768", "a\x85b", "x\u2028y\U000e0001", "=1+1", "\t=2", "a\tb\nc"]
SHOWN = ["架空市⟨U+202E⟩町一丁目", "山⟨U+200B⟩田", "⟨U+FEFF⟩999768", "a⟨U+0085⟩b", "x⟨U+2028⟩y⟨U+E0001⟩", "'=1+1",
         "'\t=2", "a\tb\nc"]


def test_invisible_characters_are_written_by_code_point_in_csv_cells_and_formulas_still_neutralised():
    df = pl.DataFrame({"value": RAW, "n": list(range(len(RAW)))})
    out = safe_for_csv(df)
    assert out["value"].to_list() == SHOWN and out["n"].to_list() == df["n"].to_list()
    assert safe_for_csv(out)["value"].to_list() == SHOWN   # a CSV read back and written again (evidence pack)
    assert [csvsafe.visible_text(v) for v in RAW[:5]] == SHOWN[:5]   # the cell helper of the HTML and the workbook
    lazy = safe_for_csv(df.lazy()).collect()
    assert lazy["value"].to_list() == SHOWN


def _quarantine() -> pl.DataFrame:
    return conform(pl.DataFrame({
        "run_id": "r", "dantai_code": "999768", "stage": "moji", "table": "juki_kojin_rireki", "source": "J.csv",
        "source_line": [1, 2], "row_id": [1, 2], "record_key": ["atena_no=1", "atena_no=2"],
        "column": ["jusho", "banchi"], "rule": "moji.invalid_char", "severity": "error",
        "value": ["架空市\u202e町一丁目", "1\u200b番"], "message_ja": "x", "message_en": "x"}))


def _summary(unresolved: list[dict]) -> dict:
    return RunSummary(dantai="999768", run_id="20990101T000000Z-R1-fxmo", rehearsal="R1", gyomu=["juki"],
                      started_at="2099-01-01T00:00:00Z", finished_at="2099-01-01T00:01:00Z",
                      moji=MojiSummary(counts={"unresolved": len(unresolved)}, unresolved=unresolved,
                                       unresolved_chars=len(unresolved))).as_dict()


def _entries(chars: list[str]) -> list[dict]:
    return [{"source": "s", "column": "shimei", "char": c, "codepoints": " ".join(f"U+{ord(x):04X}" for x in c),
             "occurrences": 1} for c in chars]


def test_report_html_and_xlsx_show_held_values_with_invisible_characters_by_code_point(tmp_path):
    q, s = _quarantine(), _summary([])
    page = render_run_report(s, q, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "架空市⟨U+202E⟩町一丁目" in page and "1⟨U+200B⟩番" in page
    assert "\u202e" not in page and "\u200b" not in page
    wb = openpyxl.load_workbook(write_workbook(s, tmp_path / "r.xlsx", run_dir=tmp_path, quarantine=q))
    cells = [c.value for row in wb["保留"].iter_rows(min_row=3) for c in row]
    assert "架空市⟨U+202E⟩町一丁目" in cells and "1⟨U+200B⟩番" in cells
    assert not any(isinstance(v, str) and ("\u202e" in v or "\u200b" in v) for v in cells)


def test_summary_lists_characters_outside_mj_scope_by_code_point_and_ideographs_and_gaiji_as_themselves(tmp_path):
    chars = ["\ue0ff", "葛\U000e0100", "〇", *HANGUL, "か\U000e0100", "😀", "é"]
    df = pl.DataFrame({"column": "shimei", "char": chars,
                       "codepoints": [" ".join(f"U+{ord(x):04X}" for x in c) for c in chars],
                       "status": "unresolved", "occurrences": 1, "source": "s"},
                      schema_overrides={"occurrences": pl.Int64})
    ctx = RunContext(dantai_code="999768", run_id="20990101T000000Z-R1-fxmo", runs_dir=tmp_path / "runs")
    out = unresolved_list(ctx, df)
    shown = {u["codepoints"]: u["char"] for u in out["unresolved"]}
    assert shown["U+E0FF"] == "\ue0ff" and shown["U+845B U+E0100"] == "葛\U000e0100" and shown["U+3007"] == "〇"
    withheld = ["U+AE40", "U+BBFC", "U+C900", "U+304B U+E0100", "U+1F600", "U+00E9"]
    assert [shown[c] for c in withheld] == [None] * len(withheld)
    assert out["unresolved_chars"] == len(chars) and out["unresolved_entries"] == len(chars)


def test_report_and_workbook_withhold_hangul_listed_by_a_summary_written_before(tmp_path):
    """`ikou run-report` of an older run: its summary.json lists the characters themselves."""
    s = _summary(_entries([*HANGUL, "\ue0ff"]))
    page = render_run_report(s, conform(pl.DataFrame()), tmp_path / "report.html").read_text(encoding="utf-8")
    section = page.split("<h3>未同定の文字", 1)[1].split("<h3>", 1)[0]
    assert not any(h in page for h in HANGUL) and "U+AE40" in section and "\ue0ff" in section
    wb = openpyxl.load_workbook(write_workbook(s, tmp_path / "r.xlsx", run_dir=tmp_path))
    text = " ".join(str(c.value) for row in wb["文字同定"].iter_rows(min_row=3) for c in row)
    assert not any(h in text for h in HANGUL) and "U+AE40" in text and "\ue0ff" in text


def test_a_list_whose_every_entry_is_withheld_is_shown_without_failing():
    """A run whose only unresolved characters are outside MJ (a Hangul 氏名): summary.json lists them with no
    character, and the report listed from it failed at `report` after the load (an untyped column)."""
    from ikou.reports.summary import shown_unresolved

    entries = [{"source": "s", "column": "shimei", "char": None, "codepoints": "U+AE40", "occurrences": 1},
               {"source": "s", "column": "shimei", "char": None, "codepoints": "U+BBFC", "occurrences": 1}]
    shown = shown_unresolved(entries)
    assert [e["char"] for e in shown] == [None, None] and [e["codepoints"] for e in shown] == ["U+AE40", "U+BBFC"]
