"""The PM-facing details of report.html and report.xlsx: every source's diff (not the first one's only),
a diff key built from the key columns with a missing part shown, every status in Japanese, the
unexplained diff cells in the trend, and `ikou diff`'s CSVs never holding a live formula."""
from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import polars as pl

from ikou.flows.cli import main
from ikou.reports.diff import compare
from ikou.reports.reconcile import trend
from ikou.reports.report import render_run_report, write_diff_outputs
from ikou.reports.workbook import write_workbook
from tests.reports.html_tables import section_tables
from tests.reports.test_html_reports import RUN, SENSITIVE, _quarantine


def _diffs(tmp_path: Path, pair_csv) -> dict[str, dict]:
    """Two sources as a run of several 業務 has them: the first without a difference, the second with
    unexplained cells (the one a PM must not miss)."""
    left, right = pair_csv
    return {"vendor_a_jumin": write_diff_outputs(compare(left, left, key=["atena_no"]), tmp_path / "d1",
                                                 sensitive=SENSITIVE),
            "vendor_a_zei_kazei": write_diff_outputs(compare(left, right, key=["atena_no"]), tmp_path / "d2",
                                                     sensitive=SENSITIVE)}


def test_the_run_report_shows_every_sources_diff_with_their_total(tmp_path, pair_csv):
    diffs = _diffs(tmp_path, pair_csv)
    unexplained = sum(diffs["vendor_a_zei_kazei"]["unexplained_cells"].values())
    assert unexplained == 4 and not diffs["vendor_a_jumin"]["unexplained_cells"]
    html = render_run_report({**RUN, "diff": diffs}, _quarantine(), tmp_path / "r.html",
                             diffs=diffs).read_text(encoding="utf-8")
    t = section_tables(html, "diff")
    rows = {r[0]: r[3:] for r in t["入力ごとの比較"][1:]}   # after 抽出件数 and 抽出で保留 (the run's sources)
    # 旧 新 両方 旧のみ 新のみ 重複(旧) 重複(新) 値が異なる行 想定差異 説明できない差異
    assert rows["vendor_a_jumin"] == ["7", "7", "7", "0", "0", "0", "0", "0", "0", "0"]
    assert rows["vendor_a_zei_kazei"] == ["7", "7", "6", "1", "1", "0", "0", "4", "0", "4"]
    assert rows["合計"] == ["14", "14", "13", "1", "1", "0", "0", "4", "0", "4"]
    assert t["vendor_a_zei_kazei: 項目ごとの差異"][1:] == [["shimei（氏名）", "1", "0", "1"], ["jusho（住所）", "2", "0", "2"],
                                                          ["kojin_no（個人番号）", "1", "0", "1"]]
    assert "vendor_a_jumin: 項目ごとの差異" in t
    assert '<div class="v">4</div><div class="l">説明できない差異（セル）</div>' in html


def test_run_report_cli_shows_every_diff_of_the_run_folder(tmp_path, pair_csv):
    diffs = _diffs(tmp_path, pair_csv)
    run = tmp_path / "runs" / RUN["dantai"] / RUN["run_id"]
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({**RUN, "diff": diffs}, ensure_ascii=False), encoding="utf-8")
    assert main(["run-report", str(run), "--out", str(tmp_path / "o" / "r.html")]) == 0
    rows = section_tables((tmp_path / "o" / "r.html").read_text(encoding="utf-8"), "diff")["入力ごとの比較"]
    assert [r[0] for r in rows[1:]] == ["vendor_a_jumin", "vendor_a_zei_kazei", "合計"]


def test_the_unexplained_cells_sheet_keys_by_the_diffs_key_and_shows_a_missing_part(tmp_path):
    src = tmp_path / "diff" / "vendor_a_zei_kazei"
    src.mkdir(parents=True)
    pl.DataFrame({"atena_no": ["0123456785", "0123456786"], "kazei_nendo": ["2026", None],
                  "column": ["zeigaku", "zeigaku"], "left": ["100", "200"], "right": ["101", "201"],
                  "rule": [None, None], "kind": ["unexplained", "unexplained"]},
                 schema_overrides={"rule": pl.String}).write_parquet(src / "differences.parquet")
    diff = {"key": ["atena_no", "kazei_nendo"], "unexplained_cells": {"zeigaku": 2}, "explained": {}}
    out = write_workbook({**RUN, "diff": {"vendor_a_zei_kazei": diff}}, tmp_path / "r.xlsx", run_dir=tmp_path)
    ws = openpyxl.load_workbook(out)["説明できない差異"]
    keys = [r[1] for r in ws.iter_rows(min_row=3, values_only=True)]
    assert keys == ["0123456785/2026", "0123456786/(空)"]


def test_a_cancelled_run_says_so_in_japanese(tmp_path):
    s = {**RUN, "status": "cancelled"}
    html = render_run_report(s, _quarantine(), tmp_path / "r.html").read_text(encoding="utf-8")
    assert '<b class="ng">中止（キャンセル）</b>' in html
    overview = dict(r for r in openpyxl.load_workbook(write_workbook(s, tmp_path / "r.xlsx", run_dir=tmp_path))
                    ["概要"].iter_rows(min_row=3, values_only=True))
    assert overview["状態"] == "中止（キャンセル）"
    assert dict(openpyxl.load_workbook(write_workbook(RUN, tmp_path / "ok.xlsx", run_dir=tmp_path))["概要"]
                .iter_rows(min_row=3, values_only=True))["状態"] == "成功"


def test_the_trend_compares_the_unexplained_diff_cells_per_source(tmp_path):
    prev = {**RUN, "run_id": "R1", "diff": {"vendor_a_jumin": {"unexplained_cells": {"shimei": 0}},
                                            "vendor_a_zei_kazei": {"unexplained_cells": {"zeigaku": 1}}}}
    cur = {**RUN, "diff": {"vendor_a_jumin": {"unexplained_cells": {"shimei": 2}},
                           "vendor_a_zei_kazei": {"unexplained_cells": {"zeigaku": 0}}}}
    rows = {r["item"]: r for r in trend(cur, prev)}
    jumin = rows["並行稼働比較 vendor_a_jumin 説明できない差異（セル）"]
    kazei = rows["並行稼働比較 vendor_a_zei_kazei 説明できない差異（セル）"]
    assert (jumin["previous"], jumin["current"], jumin["delta"], jumin["verdict"]) == (0, 2, 2, "悪化")
    assert (kazei["previous"], kazei["current"], kazei["verdict"]) == (1, 0, "改善")
    html = render_run_report(cur, _quarantine(), tmp_path / "r.html", previous_summary=prev).read_text(
        encoding="utf-8")
    assert "並行稼働比較 vendor_a_jumin 説明できない差異（セル）</td><td class=\"n\">0</td><td class=\"n\">2" in html
    ws = openpyxl.load_workbook(write_workbook(cur, tmp_path / "r.xlsx", run_dir=tmp_path, previous=prev))["前回比較"]
    assert ("並行稼働比較 vendor_a_jumin 説明できない差異（セル）", 0, 2, 2, "悪化") in [
        r[:5] for r in ws.iter_rows(min_row=3, values_only=True)]


# legacy values Excel would run as formulas (OWASP's examples)
LEFT = """atena_no,jusho,bikou
00001,=1+1,a
00002,-2+3+cmd|'/C calc'!A0,b
00009,@SUM(1+9)*cmd|' /C calc'!A0,\tc
"""
RIGHT = """atena_no,jusho,bikou
00001,=1+2,a
00002,+2+3,b
"""


def test_diff_csvs_neutralise_formulas_and_the_parquet_keeps_them_exact(tmp_path):
    left, right = tmp_path / "l.csv", tmp_path / "r.csv"
    left.write_text(LEFT, encoding="utf-8")
    right.write_text(RIGHT, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["diff", str(left), str(right), "--key", "atena_no", "--out", str(out)]) == 0
    cells = pl.read_csv(out / "differences.csv", infer_schema=False).sort("atena_no")
    assert cells.select("left", "right").rows() == [("'=1+1", "'=1+2"), ("'-2+3+cmd|'/C calc'!A0", "'+2+3")]
    only = pl.read_csv(out / "only_left.csv", infer_schema=False).row(0, named=True)
    assert (only["jusho"], only["bikou"]) == ("'@SUM(1+9)*cmd|' /C calc'!A0", "'\tc")
    exact = pl.read_parquet(out / "differences.parquet").sort("atena_no")
    assert exact.select("left", "right").rows() == [("=1+1", "=1+2"), ("-2+3+cmd|'/C calc'!A0", "+2+3")]
    assert pl.read_parquet(out / "only_left.parquet")["jusho"].to_list() == ["@SUM(1+9)*cmd|' /C calc'!A0"]


def test_run_report_reveals_names_only_into_a_file_outside_the_run_folder(tmp_path, capsys):
    from ikou.flows.cli import main

    run_dir = tmp_path / "runs" / "999997" / "R1-x"
    run_dir.mkdir(parents=True)
    for out in ([], ["--out", str(run_dir / "r.html")]):
        assert main(["run-report", str(run_dir), "--reveal", *out]) == 2
        err = capsys.readouterr().err
        assert "--reveal" in err and len(err.strip().splitlines()) == 1
    assert not list(run_dir.iterdir())


def test_run_report_into_a_folder_or_from_a_broken_quarantine_is_one_line(tmp_path, capsys, vendor_a_run):
    from ikou.flows.cli import main

    run_dir = vendor_a_run[0]
    assert main(["run-report", str(run_dir), "--out", str(tmp_path)]) == 2   # a folder, not a file
    err = capsys.readouterr().err
    assert err.startswith("ikou run-report: 失敗") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    bad = tmp_path / "q.parquet"
    bad.write_bytes(b"not parquet")
    assert main(["run-report", str(run_dir), "--quarantine", str(bad), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ikou run-report: 失敗") and len(err.strip().splitlines()) == 1
