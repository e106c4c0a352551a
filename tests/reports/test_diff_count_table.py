"""The diff's count table adds up: rows of a duplicated key are left out of the join, so report.html's
「入力ごとの比較」 and report.xlsx's 比較件数 show them, and 旧 = 両方 + 旧のみ + 重複キー（旧） (新 likewise)."""
from __future__ import annotations

import openpyxl
import polars as pl

from ikou.quarantine import conform
from ikou.reports.diff import compare, summarize
from ikou.reports.report import render_run_report
from ikou.reports.workbook import write_workbook
from tests.reports.html_tables import section_tables

RUN = {"dantai": "999784", "dantai_name": "検証村", "run_id": "20261130T000000Z-R1-dk01", "rehearsal": "R1",
       "gyomu": ["kojin_juminzei"], "status": "succeeded", "started_at": "2026-11-30T00:00:00Z",
       "finished_at": "2026-11-30T00:01:00Z", "tables": {}, "sources": {}, "stages": {}, "rules": [],
       "moji": {"counts": {}, "unresolved": []}, "control_totals": {}}


def _diff_with_duplicates() -> dict:
    # legacy: key 1 written twice (2 rows), 2, 3 (only legacy); new: 1, key 2 twice, 4 (only new), 5 (only new)
    left = pl.DataFrame({"k": ["1", "1", "2", "3", "6"], "v": ["a", "b", "c", "d", "e"]})
    right = pl.DataFrame({"k": ["1", "2", "2", "4", "5", "6"], "v": ["a", "c", "c", "x", "y", "e"]})
    r = compare(left, right, key="k")
    try:
        return summarize(r)
    finally:
        r.close()


def _number(cell) -> int:
    return int(str(cell).replace(",", ""))


def test_the_count_table_shows_duplicate_key_rows_and_adds_up(tmp_path):
    d = _diff_with_duplicates()
    assert (d["left_rows"], d["right_rows"], d["duplicates"]["left"]["rows"], d["duplicates"]["right"]["rows"]) == \
        (5, 6, 2, 2)
    page = render_run_report(RUN, conform(pl.DataFrame()), tmp_path / "report.html",
                             diffs={"vendor_b_zei_kojo": d}).read_text(encoding="utf-8")
    header, row = section_tables(page, "diff")["入力ごとの比較"]
    shown = dict(zip(header, row))
    n = {h: _number(shown[h]) for h in ("旧の件数", "新の件数", "両方にある", "旧のみ", "新のみ",
                                         "重複キー（旧）", "重複キー（新）")}
    assert n["重複キー（旧）"] == 2 and n["重複キー（新）"] == 2
    assert n["旧の件数"] == n["両方にある"] + n["旧のみ"] + n["重複キー（旧）"]
    assert n["新の件数"] == n["両方にある"] + n["新のみ"] + n["重複キー（新）"]

    book = write_workbook({**RUN, "diff": {"vendor_b_zei_kojo": d}}, tmp_path / "report.xlsx", run_dir=tmp_path)
    ws = openpyxl.load_workbook(book, read_only=True)["比較件数"]
    head, *rows = [r for r in ws.iter_rows(min_row=2, values_only=True)]
    assert list(head) == header and len(rows) == 1
    assert {h: rows[0][header.index(h)] for h in n} == n      # the same numbers as the HTML


def test_records_held_at_extract_are_counted_beside_the_diff_so_the_legacy_count_reconciles(tmp_path):
    """The diff reads the extract staging, where a record held at extract (a zero date, a broken line) is not:
    抽出件数 = 抽出で保留（比較外） + 旧の件数, in report.html and report.xlsx alike."""
    d = _diff_with_duplicates()
    run = {**RUN, "sources": {"vendor_b_zei_kojo": {"rows": 8, "quarantined": 3}}}
    page = render_run_report(run, conform(pl.DataFrame()), tmp_path / "report.html",
                             diffs={"vendor_b_zei_kojo": d}).read_text(encoding="utf-8")
    header, row = section_tables(page, "diff")["入力ごとの比較"]
    shown = {h: _number(v) for h, v in zip(header, row) if h != "入力"}
    assert shown["抽出件数"] == 8 and shown["抽出で保留（比較外）"] == 3
    assert shown["抽出件数"] == shown["抽出で保留（比較外）"] + shown["旧の件数"]
    book = write_workbook({**run, "diff": {"vendor_b_zei_kojo": d}}, tmp_path / "report.xlsx", run_dir=tmp_path)
    ws = openpyxl.load_workbook(book, read_only=True)["比較件数"]
    head, *rows = [r for r in ws.iter_rows(min_row=2, values_only=True)]
    assert rows[0][list(head).index("抽出で保留（比較外）")] == 3


def test_a_multi_table_source_leaves_the_extract_counts_empty(tmp_path):
    """A normalized vendor database's rows are its tables' (1,674 rows of 8 tables), the diff's 旧 the persons they
    combine into (630): the equation 抽出件数 = 抽出で保留 + 旧の件数 would be false, so nothing is shown."""
    d = _diff_with_duplicates()
    run = {**RUN, "sources": {"vendor_c_juki": {"rows": 1674, "quarantined": 0,
                                                "tables": {"kojin": 600, "shimei": 1074}}}}
    page = render_run_report(run, conform(pl.DataFrame()), tmp_path / "report.html",
                             diffs={"vendor_c_juki": d}).read_text(encoding="utf-8")
    header, row = section_tables(page, "diff")["入力ごとの比較"]
    shown = dict(zip(header, row))
    assert shown["抽出件数"] in ("", "—", "-") and shown["抽出で保留（比較外）"] in ("", "—", "-")
