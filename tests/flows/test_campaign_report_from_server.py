"""`ikou campaign report`: the campaign folder of the runs a campaign's schedules fired, read from the server.

Runs are started through the deployments as the scheduler starts them (the server's create_flow_run of a
deployment, no `campaign run`), on the suite's real Prefect server and workers (the `standing` fixture of
test_campaign); the checks read campaign.json, campaign.html and the runs' own summary.json.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import random_tag
from tests.flows.test_campaign import PG, POOL, TARGET_DB, standing  # noqa: F401 - the module's server fixture

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

A, B = "999733", "999750"
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _fire(standing, campaign: str, code: str) -> str:
    """A flow run of the 団体's deployment with the deployment's own parameters, as a schedule fires it."""
    [d] = standing.post("/deployments/filter", {"deployments": {"tags": {"all_": [f"campaign:{campaign}",
                                                                                  f"dantai:{code}"]}}})
    r = httpx.post(f"{standing.api}/deployments/{d['id']}/create_flow_run", json={}, timeout=30)
    r.raise_for_status()
    return r.json()["id"]


def _wait(standing, ids: list[str], timeout: float = 900) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        states = {r["id"]: r["state_type"] for r in standing.post("/flow_runs/filter",
                                                                   {"flow_runs": {"id": {"any_": ids}}})}
        if all(states.get(i) in FINAL for i in ids) or time.monotonic() > deadline:
            return states
        time.sleep(2)


def _report(standing, spec: Path, *args) -> tuple[object, Path, dict]:
    r = standing.ikou("campaign", "report", spec, *args)
    folder = Path(r.stdout.strip().splitlines()[-1])
    return r, folder, json.loads((folder / "campaign.json").read_text(encoding="utf-8"))


def test_report_writes_the_campaign_folder_of_the_runs_the_schedules_fired(standing, tmp_path_factory):
    from ikou.sample.campaign import make_campaign

    out = tmp_path_factory.mktemp("report")
    name = f"sched-{random_tag()}"
    spec = make_campaign(out, [A, B], persons=100, target_url=f"{PG}/{TARGET_DB}", pool=POOL, name=name,
                         max_quarantine_rate=0.2)   # weekly cron: its own coming runs are days ahead, not started
    d = standing.ikou("deploy", spec)
    assert d.returncode == 0, d.stdout + d.stderr

    # only A's deployment ran: B is listed as having no run, not dropped; exit 2 names it
    fa = _fire(standing, name, A)
    assert _wait(standing, [fa]) == {fa: "COMPLETED"}
    first, f1, rec1 = _report(standing, spec)
    assert first.returncode == 2 and B in first.stderr and "no run in the window" in first.stderr, first.stderr
    by = {r["dantai"]: r for r in rec1["runs"]}
    assert sorted(by) == [A, B] and rec1["source"] == "schedule" and rec1["window"]["since"] is None
    assert by[A]["status"] == "succeeded" and by[A]["flow_run_id"] == fa and by[A]["counts"]["loaded"] > 0
    assert by[B]["status"] == "no_run" and by[B]["flow_run_id"] is None and by[B]["counts"]["loaded"] is None
    assert rec1["totals"]["no_run"] == 1 and rec1["status"] == "incomplete"
    html1 = (f1 / "campaign.html").read_text(encoding="utf-8")
    assert "実行なし（期間内）" in html1 and B in html1 and "スケジュール実行の報告" in html1

    # then B's ran too: a new folder, both runs with their status and counts from their summary.json,
    # A's trend against the first report; exit 0
    fb = _fire(standing, name, B)
    assert _wait(standing, [fb]) == {fb: "COMPLETED"}
    second, f2, rec2 = _report(standing, spec)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f2 != f1 and f2.parent == f1.parent and rec2["previous_id"] == f1.name
    by = {r["dantai"]: r for r in rec2["runs"]}
    assert {c: (by[c]["status"], by[c]["flow_run_id"]) for c in (A, B)} == {A: ("succeeded", fa),
                                                                            B: ("succeeded", fb)}
    for c in (A, B):
        summary = json.loads(Path(by[c]["summary"]).read_text(encoding="utf-8"))
        t = summary["tables"]["juki_kojin_rireki"]
        assert by[c]["run_id"] == summary["run_id"] and by[c]["state"] == "COMPLETED"
        assert (by[c]["counts"]["loaded"], by[c]["counts"]["quarantined"]) == (t["loaded"], t["quarantined"]) \
            and t["loaded"] > 0
        assert Path(by[c]["report"]).is_file()
    assert by[A]["trend"]["campaign_id"] == f1.name and by[B]["trend"] is None   # B had no run before
    assert rec2["status"] == "complete" and rec2["source"] == "schedule"
    html = (f2 / "campaign.html").read_text(encoding="utf-8")
    assert A in html and B in html and "完了" in html

    # the same runs reported again: the same folder, brought up to date (not a copy the trend compares with)
    third, f3, rec3 = _report(standing, spec)
    assert third.returncode == 0 and f3 == f2 and rec3["campaign_id"] == rec2["campaign_id"]

    # --dantai: only that 団体; a code the campaign does not list is refused in one line
    only, f4, rec4 = _report(standing, spec, "--dantai", B)
    assert only.returncode == 0 and [r["dantai"] for r in rec4["runs"]] == [B], only.stdout + only.stderr
    bad = standing.ikou("campaign", "report", spec, "--dantai", "999999")
    assert bad.returncode == 2 and "not a 団体 of campaign" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1

    # --since after the runs: every deployment listed with no run
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)).isoformat()
    time.sleep(1.5)
    none, f5, rec5 = _report(standing, spec, "--since", later)
    assert none.returncode == 2 and A in none.stderr and B in none.stderr, none.stderr
    assert {r["dantai"]: r["status"] for r in rec5["runs"]} == {A: "no_run", B: "no_run"}
    assert rec5["window"]["since"] is not None and rec5["source"] == "schedule"
    # --since before them: both found again; a date that is not one is refused in one line
    since, _, rec6 = _report(standing, spec, "--since", (dt.date.today() - dt.timedelta(days=1)).isoformat())
    assert since.returncode == 0 and {r["flow_run_id"] for r in rec6["runs"]} == {fa, fb}, since.stderr
    wrong = standing.ikou("campaign", "report", spec, "--since", "last saturday")
    assert wrong.returncode == 2 and "--since" in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1

    # a run still going is shown running (exit 2, not failed); a later report of the same runs updates that folder
    [db] = standing.post("/deployments/filter", {"deployments": {"tags": {"all_": [f"campaign:{name}",
                                                                                   f"dantai:{B}"]}}})
    fr = httpx.post(f"{standing.api}/deployments/{db['id']}/create_flow_run",
                    json={"name": f"{B}-hold-{random_tag(4)}", "state": {"type": "RUNNING", "name": "Running"}},
                    timeout=30)
    fr.raise_for_status()
    busy = fr.json()["id"]
    going, f7, rec7 = _report(standing, spec)
    by = {r["dantai"]: r for r in rec7["runs"]}
    assert going.returncode == 2 and "still running" in going.stderr and B in going.stderr, going.stderr
    assert (by[A]["status"], by[B]["status"], by[B]["flow_run_id"]) == ("succeeded", "running", busy)
    assert rec7["status"] == "running" and rec7["finished_at"] is None
    httpx.post(f"{standing.api}/flow_runs/{busy}/set_state",
               json={"state": {"type": "CANCELLED", "name": "Cancelled"}, "force": True}, timeout=30).raise_for_status()
    ended, f8, rec8 = _report(standing, spec)
    assert f8 == f7 and ended.returncode == 2 and B in ended.stderr, ended.stderr
    assert {r["dantai"]: r["status"] for r in rec8["runs"]} == {A: "succeeded", B: "cancelled"}


def test_report_without_a_server_says_so_in_one_line(tmp_path):
    import os
    import subprocess

    from tests.flows.test_campaign import IKOU

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    r = subprocess.run([IKOU, "campaign", "report", str(tmp_path / "c.yaml")], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "no Prefect server" in r.stderr and "PREFECT_API_URL" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
