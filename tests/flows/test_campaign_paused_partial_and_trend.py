"""A redeploy keeps what an operator paused, `--dantai` deploys only its 団体, the trend walks back past a
partial campaign, and a failed or crashed run says what the target holds (never "loaded 0 as if nothing
happened"). The server is stubbed (the same paths against a real server: tests/flows/test_campaign.py).
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from ikou.campaign import load_campaign
from ikou.flows import campaign as C
from ikou.reports import campaign as report
from ikou.sample.campaign import fictional_codes, write_run_config

MINE = "999725"
OTHER = fictional_codes(1)[0]


def _campaign(tmp: Path):
    for code in (MINE, OTHER):
        (tmp / code).mkdir(parents=True, exist_ok=True)
        write_run_config(tmp, code, target_url="duckdb:///t.duckdb", runs_dir=tmp / "runs")
    p = tmp / "campaign.yaml"
    p.write_text("spec_version: 1\ncampaign: fx\nschedule: {cron: \"0 2 * * *\", timezone: Asia/Tokyo}\n"
                 f"rehearsals:\n  - config: {MINE}/run.yaml\n  - config: {OTHER}/run.yaml\n", encoding="utf-8")
    return load_campaign(p)


class _Client:
    """The few calls `_deploy` makes, answering with the deployments already on the server."""

    def __init__(self, existing):
        self.existing, self.created, self.deleted = existing, [], []

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    async def create_flow_from_name(self, name):
        return "flow-id"

    async def read_deployments(self, **kw):
        return self.existing if kw.get("offset", 0) == 0 else []

    async def create_deployment(self, **kw):
        self.created.append(kw)

    async def delete_deployment(self, id_):
        self.deleted.append(id_)


def _server(monkeypatch, campaign, *, paused: str | None):
    """Both deployments on the server; `paused` (a 団体) had its schedule and deployment paused by hand."""
    import prefect
    from prefect.client.schemas.schedules import CronSchedule

    async def nothing(*a, **k):
        return None

    cron = CronSchedule(cron="0 2 * * *", timezone="Asia/Tokyo")   # what the file says: unchanged
    existing = [SimpleNamespace(name=e.deployment, id=f"id-{e.dantai}", paused=e.dantai == paused,
                                schedules=[SimpleNamespace(schedule=cron, active=e.dantai != paused)])
                for e in campaign.entries()]
    client = _Client(existing)
    monkeypatch.setattr(C, "_ensure_pool", nothing)
    monkeypatch.setattr(C, "_ensure_load_limit", nothing)
    monkeypatch.setattr(prefect, "get_client", lambda: client)
    return client


def test_a_redeploy_keeps_a_schedule_and_deployment_an_operator_paused(tmp_path, monkeypatch):
    campaign = _campaign(tmp_path)
    client = _server(monkeypatch, campaign, paused=OTHER)
    C.deploy(campaign)
    by = {kw["name"].split(".")[1]: kw for kw in client.created}
    assert [s.active for s in by[OTHER]["schedules"]] == [False] and by[OTHER]["paused"] is True
    assert [s.active for s in by[MINE]["schedules"]] == [True] and by[MINE]["paused"] is False
    assert client.deleted == []


def test_a_dantai_option_deploys_only_its_entries_and_removes_no_other(tmp_path, monkeypatch):
    campaign = _campaign(tmp_path)
    client = _server(monkeypatch, campaign, paused=None)
    client.existing.append(SimpleNamespace(name="fx.dropped.juki", id="id-dropped", paused=False, schedules=[]))
    out = C.deploy(campaign, only={MINE})
    assert [kw["name"] for kw in client.created] == [f"fx.{MINE}.juki"]
    assert out == {"deployed": [f"fx.{MINE}.juki"], "removed": []} and client.deleted == []

    started = {}
    monkeypatch.setattr(C, "deploy", lambda c, only=None: started.setdefault("only", only))
    monkeypatch.setattr(C, "_start", lambda c, entries, cid: [])
    monkeypatch.setattr(C, "wait", lambda ids, timeout=None: {})
    C.run(campaign, spec_path=tmp_path / "campaign.yaml", only={MINE})
    assert started["only"] == {MINE}


def _rec(tmp, code, *, status="succeeded", loaded=621, summary=True, state=None, holds=None):
    run_dir = tmp / "runs" / code / f"R-{code}-{status}"
    s = {"status": status, "tables": {"juki_kojin_rireki": {"extracted": 640, "quarantined": 19,
                                                             "loaded": loaded, "warnings": 0}}}
    if status != "succeeded":
        s["error"] = {"kind": "SourceMissingError", "stage": "extract", "message": "JUMIN.csv is empty",
                      "message_ja": "ファイルが空です"}
    return report.run_record(deployment=f"fx.{code}.juki", dantai=code, dantai_name=f"架空市{code}",
                             gyomu=["juki"], rehearsal="R3", run_id=run_dir.name, run_dir=run_dir,
                             flow_run_id=f"fr-{code}", flow_run_url=None,
                             state=state or ("COMPLETED" if status == "succeeded" else "FAILED"),
                             state_message="Execution was aborted by Python system exit call.",
                             summary=s if summary else None,
                             **({} if holds is None else {"target_holds_run": holds}))


def _write(tmp, cid, runs):
    folder = tmp / "campaigns" / "fx" / cid
    rec = report.new_record("fx", cid, spec=tmp / "c.yaml", limits={"work_pool": None, "target_loads": None},
                            previous=report.previous_campaign(folder))
    rec["runs"] = runs
    report.finish(rec)
    report.write(folder, rec)
    return folder, rec


def test_after_a_partial_campaign_each_dantai_is_compared_with_its_own_last_rehearsal(tmp_path):
    _write(tmp_path, "20261128T020000Z", [_rec(tmp_path, MINE, loaded=600), _rec(tmp_path, OTHER, loaded=500)])
    _write(tmp_path, "20261129T020000Z", [_rec(tmp_path, OTHER, loaded=510)])   # campaign run --dantai OTHER
    folder, rec = _write(tmp_path, "20261130T020000Z", [_rec(tmp_path, MINE), _rec(tmp_path, OTHER)])
    by = {r["dantai"]: r for r in rec["runs"]}
    assert rec["previous_id"] == "20261129T020000Z"
    assert by[MINE]["trend"] is not None and by[MINE]["trend"]["loaded"] == 600   # not 初回
    assert by[OTHER]["trend"]["loaded"] == 510 and by[OTHER]["trend"]["campaign_id"] == "20261129T020000Z"
    assert by[MINE]["trend"]["campaign_id"] == "20261128T020000Z"
    html = (folder / "campaign.html").read_text(encoding="utf-8")
    assert "初回" not in html and "600 → 621" in html and "（20261128T020000Z と比較）" in html


def test_a_failed_run_that_left_the_target_unchanged_is_not_shown_as_loading_zero(tmp_path):
    _write(tmp_path, "20261128T020000Z", [_rec(tmp_path, MINE)])
    folder, rec = _write(tmp_path, "20261129T020000Z", [_rec(tmp_path, MINE, status="failed", loaded=0)])
    r = rec["runs"][0]
    html = (folder / "campaign.html").read_text(encoding="utf-8")
    assert "621 → 0" not in html and "投入 変更なし（前回の実行を保持）" in html
    assert (r.get("outcome") or {}).get("target") == "unchanged"
    assert "unchanged (target kept the previous run)" in r["outcome"]["en"]
    # the next night does not read "0 → 621" either: the failed run's 0 was never what the target held
    folder, rec = _write(tmp_path, "20261130T020000Z", [_rec(tmp_path, MINE)])
    assert rec["runs"][0]["trend"]["loaded"] is None and rec["runs"][0]["trend"]["target_unchanged"] is True
    html = (folder / "campaign.html").read_text(encoding="utf-8")
    assert "0 → 621" not in html and "（前回は変更なし） → 621" in html


@pytest.mark.parametrize("holds", [True, False, None])
def test_a_run_that_crashed_without_a_record_says_so_and_what_the_target_holds(tmp_path, holds):
    folder, rec = _write(tmp_path, "20261129T020000Z", [
        _rec(tmp_path, MINE, status="failed", summary=False, state="CRASHED", holds=holds)])
    r = rec["runs"][0]
    assert r["counts"]["loaded"] is None and r["status"] == "failed" and r["target_holds_run"] is holds
    assert "crashed without a record" in r["outcome"]["en"] and "記録を残さずに異常終了" in r["error"]["message_ja"]
    said = {True: "the target holds this unfinished run", False: "target unchanged (target kept the previous run)",
            None: "what the target holds is not known"}[holds]
    assert said in r["outcome"]["en"]
    on_disk = json.loads((folder / "campaign.json").read_text(encoding="utf-8"))["runs"][0]
    assert on_disk["counts"]["loaded"] is None and on_disk["outcome"] == r["outcome"]
    html = (folder / "campaign.html").read_text(encoding="utf-8")
    assert r["outcome"]["ja"] in html and r["outcome"]["en"] in html
    if holds:
        assert any("the target holds this unfinished run" in b for b in r["sign_off_blockers"])


def test_the_campaign_reads_from_the_target_whether_it_holds_a_crashed_run(tmp_path, monkeypatch):
    import ikou.loaders

    seen = []

    def held_runs(url, schema):
        seen.append((url, schema))
        return {"current": {"run_id": "R-crashed", "status": "running"}, "previous": None}

    monkeypatch.setattr(ikou.loaders, "held_runs", held_runs)
    cfg = SimpleNamespace(target=SimpleNamespace(url="duckdb:///t.duckdb"), target_schema=f"dantai_{MINE}")
    fr = SimpleNamespace(state=SimpleNamespace(type=SimpleNamespace(value="CRASHED"), message="aborted"))
    meta = {"deployment": f"fx.{MINE}.juki", "dantai": MINE, "dantai_name": "-", "gyomu": ["juki"], "rehearsal": "R3"}
    r = C._record(meta, "R-crashed", "fr-1", tmp_path / "R-crashed", fr, cfg)
    assert seen == [("duckdb:///t.duckdb", f"dantai_{MINE}")]
    assert r["target_holds_run"] is True and r["outcome"]["target"] == "this_run"
