"""The rehearsal trend compares like with like: the previous run is the newest succeeded run of the same
団体, 業務 set and target schema (a 個人住民税-only run is not a 住民記録 run's previous rehearsal); it
compares every stage's rules (an unknown code held at map shows), and says when the target held another
run before this one (after `ikou rollback`)."""
from __future__ import annotations

import json

import openpyxl

from ikou.reports.reconcile import trend
from ikou.reports.report import render_run_report
from ikou.reports.summary import previous_run, previous_run_dir
from ikou.reports.workbook import write_workbook
from tests.reports.test_html_reports import RUN, _quarantine


def _summary(d, run_id, *, gyomu, schema, status="succeeded"):
    (d / run_id).mkdir(parents=True)
    (d / run_id / "summary.json").write_text(json.dumps(
        {"run_id": run_id, "dantai": "999679", "status": status, "gyomu": gyomu,
         "target": {"url": "duckdb:///t.duckdb", "schema": schema}}), encoding="utf-8")


def test_the_previous_run_is_of_the_same_gyomu_and_target_schema(tmp_path):
    _summary(tmp_path, "20990101T000000Z-R1-0001", gyomu=["juki"], schema="dantai_999679")
    _summary(tmp_path, "20990102T000000Z-R1-0002", gyomu=["juki", "kojin_juminzei"], schema="dantai_999679")
    _summary(tmp_path, "20990103T000000Z-R1-0003", gyomu=["juki"], schema="dantai_999679", status="failed")
    _summary(tmp_path, "20990104T000000Z-R1-0004", gyomu=["kojin_juminzei"], schema="dantai_999679_zei")
    _summary(tmp_path, "20990105T000000Z-R1-0005", gyomu=["juki"], schema="dantai_999679_r2")
    (tmp_path / "20990106T000000Z-R1-0006").mkdir()   # a run still going: no summary.json yet
    now = "20990107T000000Z-R2-0007"
    assert previous_run(tmp_path, now, gyomu=["juki"], schema="dantai_999679")["run_id"] == "20990101T000000Z-R1-0001"
    assert previous_run(tmp_path, now, gyomu=["kojin_juminzei"], schema="dantai_999679_zei")["run_id"] \
        == "20990104T000000Z-R1-0004"
    # the 業務 set, in any order
    assert previous_run(tmp_path, now, gyomu=["kojin_juminzei", "juki"], schema="dantai_999679")["run_id"] \
        == "20990102T000000Z-R1-0002"
    assert previous_run(tmp_path, now, gyomu=["kojin_juminzei"], schema="dantai_999679") is None
    # the 同定台帳 (one per 団体) takes the newest succeeded run of the 団体, whatever its 業務
    assert previous_run_dir(tmp_path, now)[0].name == "20990105T000000Z-R1-0005"


def _reasons(*rows):
    return [{"table": t, "stage": st, "rule": r, "severity": sev, "rows_failed": n, "findings": n}
            for t, st, r, sev, n in rows]


def test_the_trend_compares_every_stages_rules():
    """An unknown code is held at map, a bad byte at extract: neither is in summary["rules"] (the
    validation's), both are in quarantine_reasons, and a new unknown code must show."""
    prev = {**RUN, "quarantine_reasons": _reasons(("juki_kojin_rireki", "map", "code_table.unknown", "error", 1),
                                                  ("juki_kojin_rireki", "extract", "extract.decode", "error", 1),
                                                  ("juki_kojin_rireki", "validate", "checkdigit.kojin_no", "error", 3))}
    cur = {**RUN, "quarantine_reasons": _reasons(("juki_kojin_rireki", "map", "code_table.unknown", "error", 2),
                                                 ("juki_kojin_rireki", "validate", "checkdigit.kojin_no", "error", 3))}
    rows = {r["item"]: r for r in trend(cur, prev)}
    unknown = rows["変換 ルール code_table.unknown 違反件数"]
    assert (unknown["previous"], unknown["current"], unknown["delta"], unknown["verdict"]) == (1, 2, 1, "悪化")
    assert rows["抽出 ルール extract.decode 違反件数"]["verdict"] == "改善"
    assert rows["検証 ルール checkdigit.kojin_no 違反件数"]["verdict"] == "変化なし"


def test_the_trend_says_when_the_target_held_another_run_before_this_one(tmp_path):
    prev = {**RUN, "run_id": "20261102T000000Z-R2-bbbb", "rehearsal": "R2"}
    cur = {**RUN, "target": {"url": "duckdb:///t.duckdb", "schema": "dantai_999997",
                             "replaced_run": "20261101T000000Z-R1-aaaa"}}   # R2 was rolled back
    (note, *_) = trend(cur, prev)
    assert note["verdict"] == "注意" and "ロールバック" in note["item"]
    assert "20261102T000000Z-R2-bbbb" in note["item"] and "20261101T000000Z-R1-aaaa" in note["item"]
    html = render_run_report(cur, _quarantine(), tmp_path / "r.html", previous_summary=prev).read_text("utf-8")
    assert note["item"] in html
    ws = openpyxl.load_workbook(write_workbook(cur, tmp_path / "r.xlsx", run_dir=tmp_path, previous=prev))["前回比較"]
    rows = {r[0]: r[1:] for r in ws.iter_rows(min_row=3, values_only=True)}
    assert rows[note["item"]][3] == "注意"
    assert rows["juki_kojin_rireki（住民記録 個人履歴） 保留"][:4] == (12, 12, 0, "変化なし")   # the counts stay numbers
    # the target replaced the very run compared with, or held none: nothing to say
    for replaced in (prev["run_id"], None):
        same = {**cur, "target": {**cur["target"], "replaced_run": replaced}}
        assert all(r["verdict"] != "注意" for r in trend(same, prev))
