"""campaign.json / campaign.html from runs' summaries: per 団体 status, counts, quarantine rate,
unexplained differences, unresolved 外字, blockers, the reason of a failure, the trend against the
previous campaign, links to each run's report; one self-contained Japanese page."""
from __future__ import annotations

import json
import re

import pytest

from ikou.reports import campaign as report


def _summary(code: str, *, extracted=1000, quarantined=10, unresolved=2, unexplained=3, status="succeeded",
             error=None) -> dict:
    s = {"dantai": code, "dantai_name": f"架空市{code}", "run_id": f"R-{code}", "rehearsal": "R3", "gyomu": ["juki"],
         "status": status, "tables": {"juki_kojin_rireki": {"extracted": extracted, "quarantined": quarantined,
                                                            "loaded": extracted - quarantined, "warnings": 4},
                                      "juki_kojin": {"derived": True, "from": "juki_kojin_rireki", "loaded": 400}},
         "moji": {"counts": {"mj": 9000, "unresolved": unresolved}},
         "diff": {"vendor_a_jumin": {"unexplained_cells": {"jusho": unexplained}}},
         "sign_off_blockers": [f"{unresolved} 文字 未同定"] if unresolved else []}
    if error:
        s["error"] = error
    return s


def _record(tmp, code, summary, *, state="COMPLETED", message=None):
    run_dir = tmp / "runs" / code / f"R-{code}"
    run_dir.mkdir(parents=True, exist_ok=True)
    if summary is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
        (run_dir / "report.html").write_text("<html></html>", encoding="utf-8")
    return report.run_record(deployment=f"c.{code}.juki", dantai=code, dantai_name=f"架空市{code}", gyomu=["juki"],
                             rehearsal="R3", run_id=f"R-{code}", run_dir=run_dir, flow_run_id=f"fr-{code}",
                             flow_run_url=None, state=state, state_message=message, summary=summary)


def _campaign(tmp, cid, runs, previous=None):
    rec = report.new_record("c", cid, spec=tmp / "c.yaml", limits={"work_pool": 3, "target_loads": 1},
                            previous=previous)
    rec["runs"] = runs
    report.finish(rec)
    folder = tmp / "campaigns" / "c" / cid
    report.write(folder, rec)
    return folder, rec


def test_the_record_has_per_dantai_figures_the_failure_reason_and_the_trend(tmp_path):
    prev, _ = _campaign(tmp_path, "20261121T020000Z", [_record(tmp_path, "999903", _summary("999903", quarantined=50))])
    err = {"kind": "ExtractError", "stage": "extract", "message": "JUMIN.csv: file not found",
           "message_ja": "ファイルがありません"}
    runs = [_record(tmp_path, "999903", _summary("999903")),
            _record(tmp_path, "999890", _summary("999890", status="failed", error=err), state="FAILED"),
            _record(tmp_path, "999881", None, state="CRASHED", message="worker died")]
    folder, rec = _campaign(tmp_path, "20261128T020000Z", runs, previous=report.previous_campaign(
        tmp_path / "campaigns" / "c" / "20261128T020000Z"))
    assert rec["status"] == "incomplete" and rec["previous_id"] == "20261121T020000Z"
    assert rec["totals"]["succeeded"] == 1 and rec["totals"]["failed"] == 2 and rec["totals"]["loaded"] == 990
    ok, bad, crashed = rec["runs"]
    assert ok["counts"] == {"extracted": 1000, "quarantined": 10, "loaded": 990, "warnings": 4}   # derived not summed
    assert ok["quarantine_rate"] == pytest.approx(0.01)
    assert ok["unexplained_differences"] == 3 and ok["unresolved_gaiji"] == 2
    assert ok["sign_off_blockers"] == ["2 文字 未同定"]
    assert ok["trend"]["quarantine_rate"] == pytest.approx(0.05) and ok["trend"]["loaded"] == 950
    assert bad["status"] == "failed" and bad["error"]["stage"] == "extract" and "file not found" in bad["error"]["message"]
    assert bad["trend"] is None
    assert crashed["status"] == "failed" and crashed["error"]["message"] == "worker died" and crashed["summary"] is None
    on_disk = json.loads((folder / "campaign.json").read_text(encoding="utf-8"))
    assert on_disk["runs"][1]["error"]["message_ja"] == "ファイルがありません"
    html = (folder / "campaign.html").read_text(encoding="utf-8")
    assert "移行リハーサル キャンペーン" in html and "未完了" in html and "ファイルがありません" in html
    assert "保留率" in html and "5.00% → 1.00%" in html and "未解決の外字" in html
    assert 'href="../../../runs/999903/R-999903/report.html"' in html
    assert (folder / "../../../runs/999903/R-999903/report.html").resolve().is_file()


def test_a_retry_replaces_only_the_rerun_entries_and_keeps_their_attempts(tmp_path):
    err = {"kind": "ExtractError", "stage": "extract", "message": "missing", "message_ja": "なし"}
    _, rec = _campaign(tmp_path, "20261128T020000Z", [
        _record(tmp_path, "999903", _summary("999903")),
        _record(tmp_path, "999890", _summary("999890", status="failed", error=err), state="FAILED")])
    again = _record(tmp_path, "999890", _summary("999890"))
    again["run_id"] = "R-999890-2"
    again["attempts"][0]["run_id"] = "R-999890-2"
    report.merge_retry(rec, [again])
    report.finish(rec)
    assert rec["status"] == "complete"
    assert [a["status"] for a in rec["runs"][1]["attempts"]] == ["failed", "succeeded"]
    assert rec["runs"][0]["attempts"][0]["run_id"] == "R-999903"


def test_campaign_html_is_self_contained_and_renders_in_headless_chromium(tmp_path):
    from tests.reports.test_html_reports import _assert_self_contained, screenshot

    err = {"kind": "ExtractError", "stage": "extract", "message": "JUMIN.csv: file not found", "message_ja": "なし"}
    folder, _ = _campaign(tmp_path, "20261128T020000Z", [
        _record(tmp_path, c, _summary(c)) for c in ("999903", "999890", "999881", "999873")] + [
        _record(tmp_path, "999865", _summary("999865", status="failed", error=err), state="FAILED")])
    html = (folder / "campaign.html").read_text(encoding="utf-8")
    _assert_self_contained(html)
    assert '<html lang="ja">' in html and not re.search(r"\d{12}", html)
    data = screenshot(folder / "campaign.html", tmp_path / "campaign.png", window="1280,1400")
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


@pytest.mark.parametrize("state", ["SCHEDULED", "PENDING", "RUNNING", "CANCELLING"])
def test_a_run_not_finished_when_the_wait_ended_is_running_not_failed(tmp_path, state):
    """A `campaign run --timeout` ends the wait, not the run: it is not a failure, has no reason, blocks
    nothing yet, and keeps the campaign running (not incomplete)."""
    r = _record(tmp_path, "999903", None, state=state)
    assert r["status"] == "running" and r["error"] is None and r["sign_off_blockers"] == []
    assert r["attempts"][0]["status"] == "running"
    _, rec = _campaign(tmp_path, "20261128T020000Z", [r, _record(tmp_path, "999890", _summary("999890"))])
    assert rec["status"] == "running" and rec["finished_at"] is None and rec["totals"]["failed"] == 0


def test_a_campaign_of_no_run_is_neither_the_latest_nor_the_previous_campaign(tmp_path):
    """An empty campaign (a `--dantai` that matched nothing) would blank the next campaign's trend."""
    full, _ = _campaign(tmp_path, "20261121T020000Z", [_record(tmp_path, "999903", _summary("999903"))])
    _campaign(tmp_path, "20261122T020000Z", [])
    base = tmp_path / "campaigns" / "c"
    assert report.latest_campaign(base) == full
    assert report.previous_campaign(base / "20261128T020000Z") == full
    _, rec = _campaign(tmp_path, "20261128T020000Z", [_record(tmp_path, "999903", _summary("999903"))],
                       previous=report.previous_campaign(base / "20261128T020000Z"))
    assert rec["previous_id"] == "20261121T020000Z" and rec["runs"][0]["trend"]["loaded"] == 990
