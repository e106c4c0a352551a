"""report.xlsx (reports.workbook), read back with openpyxl: the sheets a PM signs off on, with the
counts of summary.json, the quarantine masked (no 個人番号, no name in any cell), filters on, and a
sheet longer than the cap keeping its first rows with a note naming the Parquet file with the rest."""
from __future__ import annotations

import json

import openpyxl
import polars as pl
import pytest

from ikou.reports.workbook import write_workbook

SHEETS = ["概要", "件数", "段階", "保留", "警告", "保留理由", "比較件数", "差異", "説明できない差異", "管理合計", "前回比較", "文字同定"]


def _rows(ws) -> list[tuple]:
    """The data rows of a sheet (row 1 is the note, row 2 the headers)."""
    return [r for r in ws.iter_rows(min_row=3, values_only=True)]


def _summary(run_dir) -> dict:
    return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


def _personal(run_dir) -> tuple[set[str], set[str]]:
    staged = pl.read_parquet(run_dir / "extract" / "vendor_a_jumin.parquet")
    return ({v.strip() for v in staged["KOJIN_NO"].drop_nulls() if len(v.strip()) >= 12},
            {v for v in staged["SHIMEI"].drop_nulls() if len(v) >= 2})


def _cells(path) -> list[str]:
    wb = openpyxl.load_workbook(path, read_only=True)
    return [str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row if v is not None]


def test_a_run_writes_report_xlsx_with_the_counts_of_its_summary(vendor_a_run):
    run_dir, _ = vendor_a_run
    s = _summary(run_dir)
    wb = openpyxl.load_workbook(run_dir / "report.xlsx")
    assert wb.sheetnames == SHEETS
    counts = {r[0].split("（")[0]: r for r in _rows(wb["件数"])}   # juki_kojin_rireki（住民記録 個人履歴）
    assert [c.value for c in wb["件数"][2]] == ["テーブル", "派生", "抽出", "変換後", "保留", "検証", "投入", "警告"]
    t = s["tables"]["juki_kojin_rireki"]
    assert counts["juki_kojin_rireki"][2:] == (t["extracted"], t["mapped"], t["quarantined"], t["validated"],
                                              t["loaded"], t["warnings"])
    assert counts["juki_setai"][6] == s["tables"]["juki_setai"]["loaded"]
    q = wb["保留"]
    assert [c.value for c in q[2]][:3] == ["テーブル", "段階", "入力"] and q.auto_filter.ref.startswith("A2:")
    qp = pl.read_parquet(run_dir / "quarantine.parquet")   # held records on 保留, loaded ones' warnings on 警告
    assert len(_rows(q)) == (qp["severity"] == "error").sum()
    assert len(_rows(wb["警告"])) == (qp["severity"] == "warning").sum()
    assert q.freeze_panes == "A3"
    reasons = {(r[2], r[3]): r[4] for r in _rows(wb["保留理由"])}
    severity = {"error": "エラー (保留)", "warning": "警告"}
    assert reasons == {(r["rule"], severity[r["severity"]]): r["rows_failed"] for r in s["quarantine_reasons"]}
    diff = s["diff"]["vendor_a_jumin"]
    explained = {r[1]: r[4] for r in _rows(wb["差異"]) if r[1] != "(説明できない差異)"}
    assert explained == {k: e["cells"] for k, e in diff["explained"].items()}
    assert _rows(wb["説明できない差異"]) == [] and sum(diff["unexplained_cells"].values()) == 0
    (unresolved,) = _rows(wb["文字同定"])
    assert unresolved[1:4] == ("shimei（氏名）", s["moji"]["unresolved"][0]["char"],
                               s["moji"]["unresolved"][0]["codepoints"])
    overview = dict(_rows(wb["概要"]))
    assert overview["実行ID"] == s["run_id"] and "未同定" in overview["承認の妨げ"]


def test_no_cell_of_report_xlsx_holds_a_personal_number_or_a_name(vendor_a_run, tmp_path):
    run_dir, _ = vendor_a_run
    numbers, names = _personal(run_dir)
    cells = _cells(run_dir / "report.xlsx")
    assert not [c for c in cells if any(n in c for n in numbers)]
    assert not [c for c in cells if any(n in c for n in names)]
    # the scan finds them when they are there: an authorised review (reveal) shows the values
    revealed = write_workbook(_summary(run_dir), tmp_path / "r.xlsx", run_dir=run_dir, reveal=True,
                              quarantine=pl.read_parquet(run_dir / "quarantine.parquet"))
    assert [c for c in _cells(revealed) if any(n in c for n in numbers | names)]


def test_a_sheet_over_the_cap_keeps_its_first_rows_and_names_the_parquet_holding_the_rest(vendor_a_run, tmp_path):
    run_dir, _ = vendor_a_run
    quarantine = pl.read_parquet(run_dir / "quarantine.parquet")
    out = write_workbook(_summary(run_dir), tmp_path / "r.xlsx", run_dir=run_dir, quarantine=quarantine,
                         sensitive={"kojin_no", "shimei", "shimei_kana", "KOJIN_NO", "SHIMEI", "SHIMEI_KANA"},
                         max_rows=7)
    ws = openpyxl.load_workbook(out)["保留"]
    rows = _rows(ws)
    held = quarantine.filter(pl.col("severity") == "error")
    assert len(rows) == 7 and [r[3] for r in rows] == held["source_line"].head(7).to_list()
    note = ws["A1"].value
    assert f"残り {held.height - 7:,} 行" in note and "quarantine.parquet" in note
    assert "quarantine.parquet" not in openpyxl.load_workbook(run_dir / "report.xlsx")["保留"]["A1"].value


def test_the_trend_sheet_compares_with_the_previous_rehearsal(vendor_a_run, tmp_path):
    run_dir, _ = vendor_a_run
    s = _summary(run_dir)
    previous = json.loads(json.dumps(s))
    previous.update(run_id="R0-earlier", rehearsal="R0")
    previous["tables"]["juki_kojin_rireki"]["quarantined"] += 10
    out = write_workbook(s, tmp_path / "r.xlsx", run_dir=run_dir, previous=previous)
    ws = openpyxl.load_workbook(out)["前回比較"]
    trend = {r[0]: r[1:] for r in _rows(ws)}
    q = s["tables"]["juki_kojin_rireki"]["quarantined"]
    assert trend["juki_kojin_rireki（住民記録 個人履歴） 保留"][:4] == (q + 10, q, -10, "改善")
    assert "R0-earlier" in ws["A1"].value


def test_the_held_sheet_shows_the_first_findings_of_each_rule_and_says_where_all_are(vendor_a_run, tmp_path):
    run_dir, _ = vendor_a_run
    quarantine = pl.read_parquet(run_dir / "quarantine.parquet")
    held = quarantine.filter(pl.col("severity") == "error")   # the 保留 sheet: held records only
    per_rule = held.group_by("rule").len()
    assert per_rule["len"].max() > 1   # a rule with several findings, cut to one below
    out = write_workbook(_summary(run_dir), tmp_path / "r.xlsx", run_dir=run_dir, quarantine=quarantine, per_rule=1)
    ws = openpyxl.load_workbook(out)["保留"]
    rows = _rows(ws)
    assert len(rows) == per_rule.height   # one per rule, in the quarantine's order
    assert [r[3] for r in rows] == held.filter(pl.int_range(pl.len()).over("rule") < 1)["source_line"].to_list()
    assert f"ルールごとに先頭 1 件まで表示 ({per_rule.height:,} / {held.height:,} 件)" in ws["A1"].value
    assert "quarantine.csv" in ws["A1"].value


@pytest.mark.parametrize("value", ["方" * 40_000, "𠮷" * 20_000])   # 𠮷: two UTF-16 units, as Excel counts
def test_a_value_longer_than_an_excel_cell_is_cut_with_a_mark(vendor_a_run, tmp_path, value):
    run_dir, _ = vendor_a_run
    quarantine = pl.read_parquet(run_dir / "quarantine.parquet").head(1).with_columns(pl.lit(value).alias("message_en"))
    out = write_workbook(_summary(run_dir), tmp_path / "r.xlsx", run_dir=run_dir, quarantine=quarantine)
    (row,) = _rows(openpyxl.load_workbook(out)["保留"])
    (long,) = [v for v in row if isinstance(v, str) and v.startswith(value[:2])]
    # at the limit (one unit short when a 𠮷 would not fit whole), the mark last
    assert long.endswith("（以下省略 / truncated）") and 32_766 <= len(long.encode("utf-16-le")) // 2 <= 32_767
