"""What a PM files and reads beside the numbers (pm probe, findings 8, 10, 12 and the parallel run): report.html
prints on A4 with every drill-down open and the rules with no violation left out; its times are in JST; the two
「変換」 figures are named apart (the stage's input vs the rows out of the mapping), in the page and the workbook;
report.xlsx names a parallel run's mode on its first sheet."""
from __future__ import annotations

import re

import openpyxl

from ikou.reports.report import render_run_report
from ikou.reports.workbook import write_workbook
from tests.reports.test_html_reports import RUN, _quarantine


def _page(tmp_path, s=RUN) -> str:
    return render_run_report(s, _quarantine(), tmp_path / "r.html").read_text(encoding="utf-8")


def test_the_printout_is_a4_with_the_drill_downs_open_and_the_zero_rows_left_out(tmp_path):
    s = {**RUN, "rules": [*RUN["rules"], {"rule": "format.yubin_no", "severity": "error", "column": "yubin_no",
                                          "rows_failed": 0}]}
    html = _page(tmp_path, s)
    css = html[html.index("<style>"):html.index("</style>")]
    assert "@page { size: A4" in css
    print_css = css[css.index("@media print"):]
    assert "details::details-content" in print_css and "tr.zero { display: none; }" in print_css
    assert re.search(r'<tr class="zero"><td>format\.yubin_no</td>', html)
    assert re.search(r"<tr><td>code_value\.zokugara_code</td>", html)   # 1 violation: printed
    assert "違反 0 件のルール 1 件は印刷では省略" in html


def test_the_first_screen_gives_the_times_in_jst(tmp_path):
    html = _page(tmp_path)
    meta = html[html.index('<p class="meta">実行ID'):]
    meta = meta[:meta.index("</p>")]
    # 2026-11-23T11:00:00Z is 20:00 in Japan
    assert "開始: 2026-11-23 20:00:00 JST" in meta and "終了: 2026-11-23 20:03:00 JST" in meta
    assert re.search(r"作成: \d{4}-\d\d-\d\d \d\d:\d\d JST", meta) and "UTC" not in meta


def test_the_two_henkan_figures_are_named_apart_in_the_page_and_the_workbook(tmp_path):
    html = _page(tmp_path)
    assert "<th>変換後の件数</th>" in html and "<th>入力件数</th>" in html
    book = openpyxl.load_workbook(write_workbook(RUN, tmp_path / "r.xlsx", run_dir=tmp_path))
    assert [c.value for c in book["件数"][2]][3] == "変換後"
    assert [c.value for c in book["段階"][2]][1] == "入力件数" and "変換後" in book["段階"]["A1"].value


def test_the_workbooks_first_sheet_names_a_parallel_runs_mode_and_its_cutover(tmp_path):
    s = {**RUN, "mode": "parallel_run", "cutover": {"run_id": "20261120T000000Z-R9-eeee", "at": "2026-11-21T09:00:00+09:00"}}
    rows = dict(r for r in openpyxl.load_workbook(write_workbook(s, tmp_path / "p.xlsx", run_dir=tmp_path))["概要"]
                .iter_rows(min_row=3, values_only=True))
    assert rows["実行の種類"].startswith("並行稼働: 切替済みのため投入せず比較のみ")
    assert "20261120T000000Z-R9-eeee" in rows["本番切替"] and "2026-11-21T09:00:00+09:00" in rows["本番切替"]
    plain = dict(r for r in openpyxl.load_workbook(write_workbook(RUN, tmp_path / "r.xlsx", run_dir=tmp_path))["概要"]
                 .iter_rows(min_row=3, values_only=True))
    assert "本番切替" not in plain
