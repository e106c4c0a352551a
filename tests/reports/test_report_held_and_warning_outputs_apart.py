"""Held records (errors: not migrated) and warnings (loaded) are told apart in report.xlsx and quarantine.csv (pm probe,
finding 4: a 保留 sheet of 280 rows for 48 held records), and the CSVs people open in Excel carry a BOM (finding 5:
Japanese Excel reads a UTF-8 CSV without one as CP932)."""
from __future__ import annotations

import openpyxl
import polars as pl

from ikou.reports.diff import compare
from ikou.reports.report import write_diff_outputs
from ikou.reports.summary import outcome_first
from ikou.reports.workbook import write_workbook
from tests.reports.test_html_reports import RUN, SENSITIVE, _quarantine

BOM = b"\xef\xbb\xbf"


def test_the_workbook_has_a_held_sheet_and_a_warning_sheet_each_counting_its_records(tmp_path):
    q = _quarantine().with_columns(pl.Series("row_id", [1, 1, 2]))   # record 1: two errors; record 2: a warning
    book = openpyxl.load_workbook(write_workbook(RUN, tmp_path / "r.xlsx", run_dir=tmp_path, quarantine=q,
                                                 sensitive=SENSITIVE))
    assert book.sheetnames.index("警告") == book.sheetnames.index("保留") + 1
    held, warned = book["保留"], book["警告"]
    assert [r[7] for r in held.iter_rows(min_row=3, values_only=True)] == ["エラー (保留)"] * 2
    assert [r[7] for r in warned.iter_rows(min_row=3, values_only=True)] == ["警告"]
    assert "移行されていません): 1 件の記録 (指摘 2 件)" in held["A1"].value
    assert "投入済み" in warned["A1"].value and "1 件の記録 (指摘 1 件)" in warned["A1"].value


def test_quarantine_csv_says_first_whether_each_record_was_held_or_loaded():
    out = outcome_first(_quarantine())
    assert out.columns[:2] == ["outcome", "severity"] and set(_quarantine().columns) < set(out.columns)
    assert out["outcome"].to_list() == ["保留 (移行されていません) / held: not migrated"] * 2 + [
        "警告 (投入済み) / warning: loaded"]


def test_the_diff_csvs_carry_a_bom_and_still_read_back(tmp_path, pair_csv):
    out = tmp_path / "diff"
    write_diff_outputs(compare(*pair_csv, key=["atena_no"]), out, sensitive=SENSITIVE)
    for name in ("differences.csv", "only_left.csv", "only_right.csv"):
        assert (out / name).read_bytes().startswith(BOM), name
    assert pl.read_csv(out / "only_left.csv", infer_schema=False)["atena_no"].to_list() == ["00123"]


def test_a_runs_quarantine_csv_has_a_bom_and_its_held_rows_are_the_workbooks_held_sheet(vendor_a_run):
    run_dir, _ = vendor_a_run
    raw = (run_dir / "quarantine.csv").read_bytes()
    assert raw.startswith(BOM)
    csv = pl.read_csv(run_dir / "quarantine.csv", infer_schema=False)
    assert csv.columns[:2] == ["outcome", "severity"]
    q = pl.read_parquet(run_dir / "quarantine.parquet")
    assert csv.height == q.height
    book = openpyxl.load_workbook(run_dir / "report.xlsx", read_only=True)
    held = [r for r in book["保留"].iter_rows(min_row=3, values_only=True)]
    warned = [r for r in book["警告"].iter_rows(min_row=3, values_only=True)]
    assert len(held) == (csv["severity"] == "error").sum() and len(warned) == (csv["severity"] == "warning").sum()
    shown = [f for f in run_dir.glob("diff/*/*.csv") if f.name == "differences.csv" or f.name.startswith(("only_", "duplicates_"))]
    assert shown
    for f in shown:   # the diff's files for people (moji_char_map.csv is the diff's own input, not a report)
        assert f.read_bytes().startswith(BOM), f
