"""Rehearsal campaigns on a standing Prefect server, run by workers — all real parts.

One Prefect server (database on PostgreSQL) on a free port for the whole module, a process work
pool, two `ikou worker start` subprocesses; campaigns of generated 団体 deployed and run through
the `ikou` command line; the checks read the target database, the run and campaign folders, and
the server's own records (flow and task runs with their start and end times, artifacts).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from ikou.errors import ConfigError
from ikou.flows.server import (drop_database, free_port, recreate_database, spawn_server, spawn_worker, stop,
                               wait_until_up)
from ikou.sample.campaign import fictional_codes, make_campaign, write_run_config
from ikou.sample.generate import generate

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

IKOU = str(Path(sys.executable).parent / "ikou")
PG = "postgresql://postgres@127.0.0.1:5432"
# per process: other checkouts run these tests against the same PostgreSQL
SERVER_DB = f"ikou_prefect_test_{os.getpid()}"     # the Prefect server's own database
TARGET_DB = f"ikou_campaign_test_{os.getpid()}"    # the 団体' targets (one schema each)
POOL = "ikou-test"


@dataclass
class Standing:
    api: str
    env: dict
    workers: list
    logs: Path

    def ikou(self, *args, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([IKOU, *map(str, args)], env=self.env, capture_output=True, text=True, timeout=timeout)

    def post(self, path: str, body: dict) -> list[dict]:
        r = httpx.post(f"{self.api}{path}", json={"limit": 200, "offset": 0, **body}, timeout=30)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="module")
def standing(tmp_path_factory, postgres_url):
    logs = tmp_path_factory.mktemp("prefect")
    recreate_database(f"{PG}/{SERVER_DB}")
    recreate_database(f"{PG}/{TARGET_DB}")
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env = {**base, "PREFECT_HOME": str(logs / "home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1"}
    server = spawn_server(port=port, database_url=f"{PG}/{SERVER_DB}", log=logs / "server.log", env=env)
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_until_up(api, server, log=logs / "server.log")   # nothing asserts on how long it takes
    except ConfigError as exc:
        pytest.fail(str(exc))
    client_env = {**env, "PREFECT_API_URL": api}
    workers = [spawn_worker(api_url=api, pool=POOL, name=f"w{i}", log=logs / f"worker{i}.log", env=client_env)
               for i in (1, 2)]
    yield Standing(api, client_env, workers, logs)
    for p in [*workers, server]:
        stop(p)
    drop_database(f"{PG}/{SERVER_DB}")
    drop_database(f"{PG}/{TARGET_DB}")


def _max_overlap(intervals: list[tuple[str, str]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])   # an end before a start
    n = best = 0
    for _, d in events:
        n += d
        best = max(best, n)
    return best


def _t(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def _target_rows(code: str) -> tuple[int, list[str]]:
    with psycopg.connect(f"{PG}/{TARGET_DB}") as conn:
        n = conn.execute(f"SELECT count(*) FROM dantai_{code}.juki_kojin_rireki").fetchone()[0]
        runs = [r[0] for r in conn.execute(f"SELECT run_id FROM dantai_{code}.ikou_run").fetchall()]
    return n, runs


def test_a_campaign_loads_each_dantai_alone_a_broken_one_fails_alone_and_retry_completes_it_within_limits(
        standing, tmp_path_factory):
    out = tmp_path_factory.mktemp("campaign")
    codes = fictional_codes(5)
    spec = make_campaign(out, codes, persons=120, target_url=f"{PG}/{TARGET_DB}", pool=POOL, pool_limit=3,
                         load_limit=1, max_quarantine_rate=0.2)   # the planted faults weigh more in a small 団体
    broken = codes[2]
    jumin = out / broken / "vendor_a" / "JUMIN.csv"
    held = jumin.with_name("JUMIN.held")
    jumin.rename(held)                       # the broken source: its export is missing

    first = standing.ikou("campaign", "run", spec, "--timeout", 900)
    assert first.returncode == 2, first.stdout[-3000:] + first.stderr[-3000:]
    assert broken in first.stderr and "campaign retry" in first.stderr
    folder = Path(first.stdout.strip().splitlines()[-1])
    rec = json.loads((folder / "campaign.json").read_text(encoding="utf-8"))
    by = {r["dantai"]: r for r in rec["runs"]}
    assert sorted(by) == sorted(codes) and rec["status"] == "incomplete"
    assert {c: by[c]["status"] for c in codes} == {c: "failed" if c == broken else "succeeded" for c in codes}
    assert by[broken]["error"]["stage"] == "extract" and "source file not found" in by[broken]["error"]["message"]
    assert by[broken]["error"]["message_ja"]
    for code in set(codes) - {broken}:
        r = by[code]
        summary = json.loads(Path(r["summary"]).read_text(encoding="utf-8"))
        t = summary["tables"]["juki_kojin_rireki"]
        assert t["extracted"] == t["loaded"] + t["quarantined"] > 100
        assert _target_rows(code) == (t["loaded"], [r["run_id"]])   # its own schema holds its own run
        assert r["counts"]["loaded"] == t["loaded"] and Path(r["report"]).is_file()
    with psycopg.connect(f"{PG}/{TARGET_DB}") as conn:
        assert not conn.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                                (f"dantai_{broken}",)).fetchone()
    html = (folder / "campaign.html").read_text(encoding="utf-8")
    assert "未完了" in html and "source file not found" in html

    held.rename(jumin)                       # fixed
    again = standing.ikou("campaign", "retry", spec, "--timeout", 900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert Path(again.stdout.strip().splitlines()[-1]) == folder
    rec2 = json.loads((folder / "campaign.json").read_text(encoding="utf-8"))
    by2 = {r["dantai"]: r for r in rec2["runs"]}
    assert rec2["status"] == "complete" and rec2["totals"]["succeeded"] == 5
    assert [a["status"] for a in by2[broken]["attempts"]] == ["failed", "succeeded"]
    assert all(by2[c]["run_id"] == by[c]["run_id"] for c in codes if c != broken)   # only the failed one re-ran
    n, runs = _target_rows(broken)
    assert n == by2[broken]["counts"]["loaded"] > 100 and runs == [by2[broken]["run_id"]]

    # the limit, from the server's records: rehearsals ran side by side, their loads one at a time
    ids = [a["flow_run_id"] for r in rec2["runs"] for a in r["attempts"]]
    loads = standing.post("/task_runs/filter", {"flow_runs": {"id": {"any_": ids}},
                                                "task_runs": {"name": {"like_": "load-"}},
                                                "sort": "EXPECTED_START_TIME_DESC"})
    spans = [(_t(x["start_time"]), _t(x["end_time"])) for x in loads if x["start_time"] and x["end_time"]]
    assert len(spans) == 5, loads            # the four healthy loads and the retried one (the broken never loaded)
    assert _max_overlap(spans) == 1
    flows = standing.post("/flow_runs/filter", {"flow_runs": {"id": {"any_": ids}}, "sort": "ID_DESC"})
    assert len(flows) == 6 and all(f["start_time"] and f["end_time"] for f in flows)
    # (the pool's concurrency_limit is applied when workers fetch runs: with two workers polling at once
    # it can be exceeded for a moment, so it is not what bounds the loads; the global limit's slots do)
    assert _max_overlap([(_t(f["start_time"]), _t(f["end_time"])) for f in flows]) >= 2
    assert {f["work_pool_name"] for f in flows} == {POOL}


def test_a_schedule_fires_without_a_command_and_a_dantai_removed_from_the_file_loses_its_deployment(
        standing, tmp_path_factory):
    out = tmp_path_factory.mktemp("scheduled")
    scheduled, dropped = fictional_codes(7)[5:]
    for i, code in enumerate((scheduled, dropped)):
        generate(out / code, 100, seed=7 + i, dantai=code)
        write_run_config(out, code, target_url=f"{PG}/{TARGET_DB}", runs_dir=out / "runs", max_quarantine_rate=0.2)
    # far enough ahead that `ikou deploy` has made the deployment before it (on a busy machine it took
    # longer than 8 s once, and a schedule never fires for a time already past)
    anchor = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=45)).isoformat()
    spec = out / "campaign.yaml"
    body = f"""spec_version: 1
campaign: nightly
work_pool: {{name: {POOL}}}
rehearsals:
  - config: {scheduled}/run.yaml
    schedule: {{interval_seconds: 3600, anchor: "{anchor}"}}
"""
    spec.write_text(body + f"  - config: {dropped}/run.yaml\n    unscheduled: true\n", encoding="utf-8")
    d = standing.ikou("deploy", spec)
    assert d.returncode == 0, d.stderr[-3000:]
    assert f"nightly.{scheduled}.juki" in d.stdout and f"nightly.{dropped}.juki" in d.stdout

    deadline = time.monotonic() + 300        # no command from here on: the server's scheduler and a worker
    done = None
    while done is None and time.monotonic() < deadline:
        for f in (out / "runs" / scheduled).glob("*/summary.json"):
            s = json.loads(f.read_text(encoding="utf-8"))
            done = s if s["status"] == "succeeded" else done
        time.sleep(2)
    assert done is not None, (standing.logs / "worker1.log").read_text()[-2000:]
    assert not (out / "runs" / dropped).exists()

    spec.write_text(body, encoding="utf-8")  # the dropped 団体 leaves the file
    d = standing.ikou("deploy", spec)
    assert d.returncode == 0 and f"removed nightly.{dropped}.juki" in d.stdout, d.stdout + d.stderr
    names = [x["name"] for x in standing.post("/deployments/filter", {
        "deployments": {"tags": {"all_": ["campaign:nightly"]}}, "sort": "NAME_ASC"})]
    assert names == [f"nightly.{scheduled}.juki"]

    # the history outlives the workers: list and show read the server
    for p in standing.workers:
        stop(p)
    listed = standing.ikou("runs", "list", "--dantai", scheduled, "--json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    rows = json.loads(listed.stdout)
    assert [(r["run_id"], r["state"]) for r in rows] == [(done["run_id"], "COMPLETED")]
    shown = standing.ikou("runs", "show", done["run_id"], "--json")
    assert shown.returncode == 0, shown.stderr[-2000:]
    r = json.loads(shown.stdout)
    assert r["summary"] == done                        # summary.json, as the server holds it
    assert r["report"] == (out / "runs" / scheduled / done["run_id"] / "report.html").resolve().as_uri()
    assert {f"ikou-{scheduled}-counts", f"ikou-{scheduled}-summary", f"ikou-{scheduled}-report"} <= {
        a["key"] for a in r["artifacts"]}
    text = standing.ikou("runs", "show", done["run_id"])
    assert text.returncode == 0 and f"loaded={done['tables']['juki_kojin_rireki']['loaded']}" in text.stdout
    missing = standing.ikou("runs", "show", "20000101T000000Z-R0-0000")
    assert missing.returncode == 2 and "no run" in missing.stderr


def test_a_timed_out_campaign_is_running_and_retry_waits_for_it_then_reruns_only_the_cancelled(
        standing, tmp_path_factory):
    """A `--timeout` ends the wait, not the runs: they are reported running (not failed); a retry while
    they are queued refuses (it used to start them a second time: the target loaded twice) and corrects
    the record; once they have finished it records the one that succeeded and re-runs only the cancelled."""
    from ikou.flows.server import spawn_worker

    out = tmp_path_factory.mktemp("late")
    done, cancelled = fictional_codes(9)[7:]
    pool = "ikou-test-late"                  # no worker on it until the test starts one
    spec = make_campaign(out, [done, cancelled], persons=100, target_url=f"{PG}/{TARGET_DB}", pool=pool,
                         name="late", schedule="null", max_quarantine_rate=0.2)

    first = standing.ikou("campaign", "run", spec, "--timeout", 3)
    assert first.returncode == 2, first.stdout[-3000:] + first.stderr[-3000:]
    assert "still running" in first.stderr and "did not succeed" not in first.stderr, first.stderr[-3000:]
    folder = Path(first.stdout.strip().splitlines()[-1])
    rec = json.loads((folder / "campaign.json").read_text(encoding="utf-8"))
    by = {r["dantai"]: r for r in rec["runs"]}
    assert rec["status"] == "running" and {r["status"] for r in rec["runs"]} == {"running"}
    assert all(r["error"] is None for r in rec["runs"])

    refused = standing.ikou("campaign", "retry", spec, "--timeout", 3)
    assert refused.returncode == 2 and "not finished yet" in refused.stderr, refused.stdout + refused.stderr
    assert [ln for ln in refused.stderr.splitlines() if ln.startswith("ikou:")] == [refused.stderr.strip()]
    tagged = {"flow_runs": {"tags": {"all_": ["campaign:late"]}}, "sort": "ID_DESC"}
    assert len(standing.post("/flow_runs/filter", tagged)) == 2        # nothing started twice

    r = httpx.post(f"{standing.api}/flow_runs/{by[cancelled]['flow_run_id']}/set_state",
                   json={"state": {"type": "CANCELLED", "name": "Cancelled"}, "force": True}, timeout=30)
    r.raise_for_status()
    worker = spawn_worker(api_url=standing.api, pool=pool, name="late", log=standing.logs / "worker-late.log",
                          env=standing.env)
    try:
        deadline = time.monotonic() + 600
        state = None
        while state != "COMPLETED" and time.monotonic() < deadline:
            state = httpx.get(f"{standing.api}/flow_runs/{by[done]['flow_run_id']}", timeout=30).json()["state_type"]
            time.sleep(2)
        assert state == "COMPLETED", (standing.logs / "worker-late.log").read_text()[-2000:]

        again = standing.ikou("campaign", "retry", spec, "--timeout", 900)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    finally:
        stop(worker)
    rec2 = json.loads((folder / "campaign.json").read_text(encoding="utf-8"))
    by2 = {r["dantai"]: r for r in rec2["runs"]}
    assert rec2["status"] == "complete"
    assert by2[done]["run_id"] == by[done]["run_id"] and [a["status"] for a in by2[done]["attempts"]] == ["succeeded"]
    assert [a["status"] for a in by2[cancelled]["attempts"]] == ["cancelled", "succeeded"]
    assert len(standing.post("/flow_runs/filter", tagged)) == 3        # only the cancelled one ran again
    assert _target_rows(done)[1] == [by[done]["run_id"]]               # loaded once
    assert _target_rows(cancelled)[1] == [by2[cancelled]["run_id"]]
