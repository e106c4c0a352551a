"""A fall against the previous rehearsal of the same target is a sign-off blocker and 悪化 (pm probe, finding 1): an
export that lost 39 % of 住民記録 loaded cleanly, showed 「承認の妨げ なし」 and judged 抽出 2,128 → 1,300 as 「—」."""
from __future__ import annotations

import json
import re
from types import SimpleNamespace

from ikou.reports.reconcile import FELL_WITHIN, ROSE, SIGNOFF_MAX_FALL_RATE, fall_line, falls, trend
from ikou.reports.report import render_run_report
from ikou.reports.summary import fall_lines
from ikou.summary import RunSummary
from tests.reports.test_html_reports import RUN, _quarantine

DANTAI = "999776"


def _run(run_id, rehearsal, *, extracted, loaded, persons, households):
    return {**RUN, "dantai": DANTAI, "run_id": run_id, "rehearsal": rehearsal, "sign_off_blockers": [],
            "target": {"url": "duckdb:///t.duckdb", "schema": f"dantai_{DANTAI}"},
            "tables": {"juki_kojin_rireki": {"extracted": extracted, "mapped": extracted, "quarantined": extracted - loaded,
                                             "loaded": loaded, "warnings": 0},
                       "juki_kojin": {"derived": True, "from": "juki_kojin_rireki", "loaded": persons},
                       "juki_setai": {"derived": True, "from": "juki_kojin", "loaded": households}}}


R3 = _run("20261130T203431Z-R3-aaaa", "R3", extracted=2128, loaded=2093, persons=980, households=403)
PARTIAL = _run("20261130T205144Z-R6P-bbbb", "R6P", extracted=1300, loaded=1270, persons=582, households=243)


def test_a_partial_export_is_a_blocker_naming_the_table_the_fall_and_the_previous_run():
    lines = [fall_line(f, R3) for f in falls(PARTIAL, R3)]
    assert len(lines) == 3   # 住民記録 by its extracted records (its loaded rows fall with them), persons, households
    assert "住民記録 個人履歴）: 抽出件数が前回より 828 件 (39%) 減少" in lines[0]
    assert "R3 20261130T203431Z-R3-aaaa" in lines[0] and "extracted fell by 828 (39%)" in lines[0]
    assert "juki_kojin（" in lines[1] and "投入件数が前回より 398 件 (41%) 減少" in lines[1]
    assert "juki_setai（" in lines[2] and "160 件 (40%)" in lines[2]


def test_a_fall_within_the_limit_or_a_rise_is_no_blocker():
    r2 = _run("20261130T202915Z-R2-cccc", "R2", extracted=2128, loaded=2093, persons=980, households=403)
    r1 = _run("20261130T202738Z-R1-dddd", "R1", extracted=2129, loaded=2094, persons=989, households=403)
    assert SIGNOFF_MAX_FALL_RATE == 0.01
    assert falls(r2, r1) == []            # 989 → 980 persons: 0.9 %, people move out between rehearsals
    assert falls(R3, PARTIAL) == []       # a rise
    assert len(falls(r2, r1, max_rate=0.005)) == 1   # the run's own limit
    assert falls({**PARTIAL, "status": "failed"}, R3) == []   # a failed run's counts stop where it stopped


def test_the_trend_judges_a_fall_worse_and_a_rise_a_neutral_change():
    rows = {r["item"]: r for r in trend(PARTIAL, R3)}
    extracted = rows["juki_kojin_rireki（住民記録 個人履歴） 抽出"]
    assert (extracted["previous"], extracted["current"], extracted["verdict"]) == (2128, 1300, "悪化")
    assert "828 件 (39%) 減少" in extracted["note"] and "承認の妨げ" in extracted["note"]
    persons = next(r for k, r in rows.items() if k.startswith("juki_kojin（") and k.endswith("投入"))
    assert persons["verdict"] == "悪化"
    back = {r["item"]: r for r in trend(R3, PARTIAL)}
    assert back["juki_kojin_rireki（住民記録 個人履歴） 抽出"]["verdict"] == ROSE
    r1 = _run("20261130T202738Z-R1-dddd", "R1", extracted=2129, loaded=2094, persons=989, households=403)
    small = {r["item"]: r for r in trend(R3, r1)}
    assert next(r for k, r in small.items() if k.startswith("juki_kojin（"))["verdict"] == FELL_WITHIN


def test_the_run_records_the_fall_as_a_blocker_against_its_previous_rehearsal(tmp_path):
    """build_summary's `fall_lines`: the previous succeeded run of the same 業務 and target, read from the runs folder."""
    dantai_dir = tmp_path / "runs" / DANTAI
    (dantai_dir / R3["run_id"]).mkdir(parents=True)
    (dantai_dir / R3["run_id"] / "summary.json").write_text(json.dumps(R3, ensure_ascii=False), encoding="utf-8")
    ctx = SimpleNamespace(dantai_dir=dantai_dir, run_id=PARTIAL["run_id"])
    cfg = SimpleNamespace(gyomu=["juki"], target_schema=f"dantai_{DANTAI}", target=SimpleNamespace(url="duckdb:///t.duckdb"),
                          thresholds=SimpleNamespace())
    keep = ("dantai", "run_id", "rehearsal", "gyomu", "status", "started_at", "finished_at", "target", "tables")
    summary = RunSummary.model_validate({k: PARTIAL[k] for k in keep})
    lines = fall_lines(cfg, ctx, summary)
    assert len(lines) == 3 and "抽出件数が前回より 828 件 (39%) 減少" in lines[0]
    cfg.thresholds = SimpleNamespace(signoff_max_fall_rate=0.5)   # the config key to come
    assert fall_lines(cfg, ctx, summary) == []
    first = SimpleNamespace(dantai_dir=tmp_path / "runs" / "999784", run_id=PARTIAL["run_id"])   # no runs yet
    assert fall_lines(cfg, first, summary) == []


def test_the_first_screen_shows_the_fall_as_a_blocker_and_names_it_among_the_worse_items(tmp_path):
    s = {**PARTIAL, "sign_off_blockers": [fall_line(f, R3) for f in falls(PARTIAL, R3)]}
    html = render_run_report(s, _quarantine(), tmp_path / "r.html", previous_summary=R3).read_text(encoding="utf-8")
    top = html[:html.index("テーブル別の件数")]
    assert "3 件" in top and "抽出件数が前回より 828 件 (39%) 減少" in top
    first = re.sub(r"<[^>]+>", "", top[top.index('id="first-screen-summary"'):])
    assert "前回リハーサル（R3" in first and "juki_kojin_rireki（住民記録 個人履歴） 抽出" in first
    assert re.search(r"住民記録 個人履歴） 抽出</td><td class=\"n\">2,128</td><td class=\"n\">1,300</td>\s*"
                     r"<td class=\"n\">-828</td>\s*<td class=\"ng\">悪化", html)
