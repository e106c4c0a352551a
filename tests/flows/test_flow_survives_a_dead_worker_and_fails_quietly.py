"""A flow run as a worker starts it (`python -m prefect.engine`, the flow's entrypoint in the environment):
its worker killed with kill -9 leaves its stdout a pipe nobody reads, and the run still ends with its record
(summary.json, the target's `ikou_run` not left `running`); a SystemExit in a stage is recorded as a failure
before it ends the process; an ordinary failure puts one line, not a traceback, in the flow run's logs."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ikou import REPO_ROOT
from ikou.flows import migrate as M
from ikou.loaders import held_runs
from tests.conftest import random_tag
from tests.flows.conftest import vendor_a_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
CODE = "999717"   # this module's 団体 (an empty export only: no sample rows carry it)


async def _new_flow_run(parameters: dict) -> str:
    from prefect import get_client

    async with get_client() as client:
        fr = await client.create_flow_run(M.migration_flow, parameters=parameters)
    return str(fr.id)


def _engine(flow_run_id: str, *, stdout, env: dict | None = None) -> subprocess.Popen:
    """The flow-run process a Prefect worker starts for a deployment of ikou's flow."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT__FLOW_ENTRYPOINT": "ikou.flows.migrate:migration_flow", **(env or {})}
    env.pop("IKOU_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "prefect.engine", flow_run_id], cwd=REPO_ROOT, env=env,
                            stdout=stdout, stderr=subprocess.STDOUT)


async def _logs(flow_run_id: str) -> list[str]:
    from prefect import get_client

    async with get_client() as client:   # posted whole: this server refuses the null filters the client sends
        r = await client.request("POST", "/logs/filter", json={
            "logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200, "offset": 0, "sort": "TIMESTAMP_ASC"})
    return [row["message"] for row in r.json()]


def test_a_flow_run_whose_stdout_reader_is_gone_still_ends_with_its_record(tmp_path):
    url = f"duckdb:///{tmp_path / 't.duckdb'}"
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=url)
    flow_run_id = asyncio.run(_new_flow_run({"config_path": str(cfg)}))
    marker = tmp_path / f"paused-{random_tag(6)}"
    read, write = os.pipe()
    proc = _engine(flow_run_id, stdout=write, env={"IKOU_PAUSE_AT": "extract.vendor_a_jumin",
                                                   "IKOU_PAUSE_MARKER": str(marker), "IKOU_PAUSE_SECONDS": "2"})
    os.close(write)
    try:
        t0 = time.monotonic()
        while not marker.exists():   # the child's output is read until the run stands at extract
            assert proc.poll() is None and time.monotonic() - t0 < 240, "the run never reached extract"
            time.sleep(0.1)
        os.close(read)   # the worker is gone: every later line of the run meets a broken pipe
        read = None
        proc.wait(timeout=300)
    finally:
        if read is not None:
            os.close(read)
        if proc.poll() is None:
            proc.kill()
    (record,) = (tmp_path / "runs" / "999997").glob("*/summary.json")
    summary = json.loads(record.read_text(encoding="utf-8"))
    assert summary["status"] == "succeeded", summary.get("error")
    current = held_runs(url, "dantai_999997")["current"]
    assert (current["run_id"], current["status"]) == (summary["run_id"], "succeeded")


def test_a_system_exit_after_the_load_is_recorded_failed_before_it_ends_the_run(tmp_path, monkeypatch):
    url = f"duckdb:///{tmp_path / 't.duckdb'}"
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=url)

    class Exits:   # the diff task as a console on a broken pipe left it: rich raises SystemExit(1)
        def with_options(self, **kw):
            return self

        def __call__(self, *a, **kw):
            raise SystemExit(1)

    monkeypatch.setattr(M, "diff_task", Exits())
    with pytest.raises(SystemExit):
        M.migration_flow(config_path=str(cfg))
    (record,) = (tmp_path / "runs" / "999997").glob("*/summary.json")
    summary = json.loads(record.read_text(encoding="utf-8"))
    assert (summary["status"], summary["error"]["stage"], summary["error"]["kind"]) == ("failed", "diff", "SystemExit")
    assert "holds this run" in summary["error"]["message"] and "反映済み" in summary["error"]["message_ja"]
    current = held_runs(url, "dantai_999997")["current"]
    assert (current["run_id"], current["status"]) == (summary["run_id"], "failed")


def test_an_ordinary_failure_leaves_one_line_and_no_traceback_in_the_flow_run_logs(tmp_path):
    empty = tmp_path / "JUMIN.csv"
    empty.write_bytes(b"")
    cfg = write_config(tmp_path, source=vendor_a_source(path=empty), dantai=CODE,
                       target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    flow_run_id = asyncio.run(_new_flow_run({"config_path": str(cfg)}))
    proc = _engine(flow_run_id, stdout=subprocess.PIPE)
    out = proc.communicate(timeout=300)[0].decode("utf-8", "replace")
    (record,) = (tmp_path / "runs" / CODE).glob("*/summary.json")
    summary = json.loads(record.read_text(encoding="utf-8"))
    assert (summary["status"], summary["error"]["stage"]) == ("failed", "extract"), summary.get("error")
    assert "Traceback" not in out, out[-3000:]
    logs = asyncio.run(_logs(flow_run_id))
    assert logs and any("run failed at extract" in m for m in logs), logs
    assert not [m for m in logs if "Traceback" in m], logs
