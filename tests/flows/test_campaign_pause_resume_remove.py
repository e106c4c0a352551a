"""`ikou campaign pause|resume|remove`: an operator holds a campaign's schedules (a legacy system's maintenance
window, a 団体 asking to wait), starts them again, and takes the campaign's deployments off the server after
cut-over — through the command line, on the suite's real Prefect server (the `standing` fixture of
test_campaign: PostgreSQL database, two workers), read back through Prefect's own client.
"""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import random_tag
from tests.flows.test_campaign import PG, POOL, TARGET_DB, standing  # noqa: F401 - the module's server fixture

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

A, B = "999776", "999822"


def _deployments(api: str, campaign: str) -> dict[str, object]:
    """name -> DeploymentResponse of the campaign, through the Prefect client."""
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
    from prefect.client.schemas.sorting import DeploymentSort

    async def read():
        async with PrefectClient(api) as client:
            ds = await client.read_deployments(deployment_filter=DeploymentFilter(
                tags=DeploymentFilterTags(all_=[f"campaign:{campaign}"])), limit=200, sort=DeploymentSort.NAME_ASC)
            return {d.name: (d, await client.read_deployment_schedules(d.id)) for d in ds}
    return asyncio.run(read())


def _active(api: str, campaign: str) -> dict[str, tuple[bool, list[bool]]]:
    """name -> (deployment paused, [each schedule active])."""
    return {n: (d.paused, [s.active for s in scheds]) for n, (d, scheds) in _deployments(api, campaign).items()}


def _auto_scheduled(standing, campaign: str, code: str) -> int:
    return len([r for r in standing.post("/flow_runs/filter", {
        "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
        "deployments": {"tags": {"all_": [f"campaign:{campaign}", f"dantai:{code}"]}}, "sort": "ID_DESC"})
        if r["auto_scheduled"]])


def _wait_auto_scheduled(standing, campaign: str, code: str, timeout: float = 90) -> int:
    """The server's scheduler (loop 1 s in the fixture) inserts the coming runs of an active schedule."""
    deadline = time.monotonic() + timeout
    while (n := _auto_scheduled(standing, campaign, code)) == 0 and time.monotonic() < deadline:
        time.sleep(1)
    return n


def test_pause_stops_the_schedules_resume_starts_them_remove_takes_the_deployments_off_the_server(
        standing, tmp_path_factory):
    from ikou.sample.campaign import make_campaign

    out = tmp_path_factory.mktemp("hold")
    name = f"hold-{random_tag()}"
    spec = make_campaign(out, [A, B], persons=100, target_url=f"{PG}/{TARGET_DB}", pool=POOL, name=name,
                         max_quarantine_rate=0.2)   # weekly cron: the coming runs are days ahead
    da, db = f"{name}.{A}.juki", f"{name}.{B}.juki"
    d = standing.ikou("deploy", spec)
    assert d.returncode == 0, d.stdout + d.stderr
    assert _active(standing.api, name) == {da: (False, [True]), db: (False, [True])}
    assert _wait_auto_scheduled(standing, name, A) > 0   # the schedule has queued its coming runs

    # one 団体
    p = standing.ikou("campaign", "pause", spec, "--dantai", A)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"  {da}  paused" in p.stdout and db not in p.stdout and "一時停止" in p.stdout, p.stdout
    assert _active(standing.api, name) == {da: (True, [False]), db: (False, [True])}
    assert _auto_scheduled(standing, name, A) == 0        # its queued runs are gone, the other's stay
    assert _wait_auto_scheduled(standing, name, B) > 0

    # the whole campaign, twice: the second says so and changes nothing
    p = standing.ikou("campaign", "pause", spec)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"  {da}  already paused" in p.stdout and f"  {db}  paused" in p.stdout, p.stdout
    p2 = standing.ikou("campaign", "pause", spec)
    assert p2.returncode == 0 and "paused the schedules of 0 deployment(s)" in p2.stdout, p2.stdout
    assert _active(standing.api, name) == {da: (True, [False]), db: (True, [False])}
    time.sleep(3)                                          # scheduler loops: nothing queued while paused
    assert _auto_scheduled(standing, name, A) == _auto_scheduled(standing, name, B) == 0

    # a code the campaign does not list is refused, nothing changes (the file without B, same campaign)
    only_a = out / "only_a.yaml"
    only_a.write_text(spec.read_text(encoding="utf-8").replace(f"  - config: {B}/run.yaml\n", ""), encoding="utf-8")
    for cmd in ("pause", "resume", "remove"):
        r = standing.ikou("campaign", cmd, only_a, "--dantai", B)
        assert r.returncode == 2 and f"--dantai {B}: not a 団体 of campaign {name}" in r.stderr, r.stderr
        assert "キャンペーン" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert _active(standing.api, name) == {da: (True, [False]), db: (True, [False])}

    # a paused campaign still runs by hand (through its deployments), and stays paused after
    run = standing.ikou("campaign", "run", spec, "--dantai", A, "--timeout", 900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    folder = Path(run.stdout.strip().splitlines()[-1])
    rec = json.loads((folder / "campaign.json").read_text(encoding="utf-8"))
    assert [(r["dantai"], r["status"]) for r in rec["runs"]] == [(A, "succeeded")]
    assert _active(standing.api, name) == {da: (True, [False]), db: (True, [False])}

    # resume one 団体, then all (idempotent)
    r = standing.ikou("campaign", "resume", spec, "--dantai", B)
    assert r.returncode == 0 and f"  {db}  resumed" in r.stdout and da not in r.stdout, r.stdout + r.stderr
    assert _active(standing.api, name) == {da: (True, [False]), db: (False, [True])}
    r = standing.ikou("campaign", "resume", spec)
    assert r.returncode == 0 and f"  {da}  resumed" in r.stdout and f"  {db}  already resumed" in r.stdout, r.stdout
    assert _active(standing.api, name) == {da: (False, [True]), db: (False, [True])}
    assert _wait_auto_scheduled(standing, name, A) > 0    # the schedule fires again

    # remove: refused, naming the run, while one of B's runs is running; nothing removed
    fr = httpx.post(f"{standing.api}/deployments/{_deployments(standing.api, name)[db][0].id}/create_flow_run",
                    json={"name": f"{B}-hold-{random_tag(4)}", "state": {"type": "RUNNING", "name": "Running"}},
                    timeout=30)
    fr.raise_for_status()
    busy = fr.json()
    refused = standing.ikou("campaign", "remove", spec)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert busy["name"] in refused.stderr and "RUNNING" in refused.stderr and "nothing was removed" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert set(_active(standing.api, name)) == {da, db}

    # --dantai: only A's deployment goes (B's running run does not concern it); the history stays
    r = standing.ikou("campaign", "remove", spec, "--dantai", A)
    assert r.returncode == 0 and f"  {da}" in r.stdout and db not in r.stdout, r.stdout + r.stderr
    assert set(_active(standing.api, name)) == {db}
    history = standing.post("/flow_runs/filter", {"flow_runs": {"id": {"any_": [rec["runs"][0]["flow_run_id"]]}}})
    assert [h["state_type"] for h in history] == ["COMPLETED"]
    assert _auto_scheduled(standing, name, A) == 0

    # the run ends: the rest goes (its future scheduled runs with it), a second remove has nothing to do
    httpx.post(f"{standing.api}/flow_runs/{busy['id']}/set_state",
               json={"state": {"type": "CANCELLED", "name": "Cancelled"}, "force": True}, timeout=30).raise_for_status()
    r = standing.ikou("campaign", "remove", spec)
    assert r.returncode == 0 and f"  {db}" in r.stdout and "removed 1 deployment(s)" in r.stdout, r.stdout + r.stderr
    assert _active(standing.api, name) == {}
    again = standing.ikou("campaign", "remove", spec)
    assert again.returncode == 0 and "nothing to remove" in again.stdout, again.stdout + again.stderr
    assert (folder / "campaign.json").is_file()            # the campaign folder on disk is untouched
    kept = standing.post("/flow_runs/filter", {"flow_runs": {"id": {"any_": [busy["id"]]}}})
    assert [h["state_type"] for h in kept] == ["CANCELLED"]
    p = standing.ikou("campaign", "pause", spec)           # nothing on the server: said, not an error
    assert p.returncode == 0 and "no deployment" in p.stdout, p.stdout + p.stderr


def test_without_a_server_each_command_says_so_in_one_line(tmp_path):
    import os
    import subprocess

    from tests.flows.test_campaign import IKOU

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    for cmd in ("pause", "resume", "remove"):
        r = subprocess.run([IKOU, "campaign", cmd, str(tmp_path / "c.yaml")], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 2 and "no Prefect server" in r.stderr and "PREFECT_API_URL" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    unreachable = {**env, "PREFECT_API_URL": "http://127.0.0.1:9/api"}   # nothing listens on port 9
    spec = tmp_path / "c.yaml"
    from ikou.sample.campaign import write_run_config

    (tmp_path / A / "vendor_a").mkdir(parents=True)
    write_run_config(tmp_path, A, target_url=f"{PG}/unused", runs_dir=tmp_path / "runs")
    spec.write_text(f"spec_version: 1\ncampaign: hold-{random_tag()}\nwork_pool: {{name: {POOL}}}\n"
                    f"rehearsals:\n  - config: {A}/run.yaml\n", encoding="utf-8")
    for cmd in ("pause", "resume", "remove"):
        r = subprocess.run([IKOU, "campaign", cmd, str(spec)], env=unreachable, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 2 and "サーバーに接続できません" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_redeploy_that_drops_a_dantai_is_refused_while_its_run_is_running(standing, tmp_path_factory):
    """`ikou deploy` of a file without a 団体 removes its deployment, but not from under a run a worker has taken:
    refused, changing nothing, naming the run; once the run has ended, the same deploy removes it."""
    from ikou.sample.campaign import make_campaign

    out = tmp_path_factory.mktemp("drop")
    name = f"drop-{random_tag()}"
    spec = make_campaign(out, [A, B], persons=100, target_url=f"{PG}/{TARGET_DB}", pool=POOL, name=name,
                         max_quarantine_rate=0.2)
    da, db = f"{name}.{A}.juki", f"{name}.{B}.juki"
    d = standing.ikou("deploy", spec)
    assert d.returncode == 0, d.stdout + d.stderr
    fr = httpx.post(f"{standing.api}/deployments/{_deployments(standing.api, name)[db][0].id}/create_flow_run",
                    json={"name": f"{B}-drop-{random_tag(4)}", "state": {"type": "RUNNING", "name": "Running"}},
                    timeout=30)
    fr.raise_for_status()
    busy = fr.json()
    without_b = out / "without_b.yaml"
    without_b.write_text(spec.read_text(encoding="utf-8").replace(f"  - config: {B}/run.yaml\n", ""), encoding="utf-8")
    refused = standing.ikou("deploy", without_b)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert busy["name"] in refused.stderr and "RUNNING" in refused.stderr, refused.stderr
    assert "nothing was deployed or removed" in refused.stderr and "何も登録・削除していません" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert set(_active(standing.api, name)) == {da, db}

    httpx.post(f"{standing.api}/flow_runs/{busy['id']}/set_state",
               json={"state": {"type": "CANCELLED", "name": "Cancelled"}, "force": True}, timeout=30).raise_for_status()
    r = standing.ikou("deploy", without_b)
    assert r.returncode == 0 and f"removed {db}" in r.stdout, r.stdout + r.stderr
    assert set(_active(standing.api, name)) == {da}
    r = standing.ikou("campaign", "remove", spec)
    assert r.returncode == 0, r.stdout + r.stderr
