"""A terminal's Ctrl-C reaches the whole process group: with no PREFECT_API_URL, Prefect's temporary server
(started by the run itself) stops with the run. The run still ends at once: cancelled, exit 130, the one
line on a line of its own, the 団体's lock free; no retries of the stopped API (counted in run.log, where
Prefect's client logs each attempt at DEBUG). This test needs its own temporary server, unlike the others."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ikou import REPO_ROOT
from ikou.runlock import dantai_lock
from tests.conftest import random_tag
from tests.flows.conftest import vendor_a_source, write_config

pytestmark = pytest.mark.slow


def test_ctrl_c_to_the_process_group_ends_the_run_at_once_with_the_temporary_server(tmp_path):
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    marker = tmp_path / f"paused-{random_tag(6)}"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "prefect_home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_LOGGING_LEVEL="DEBUG", IKOU_PAUSE_AT="map.vendor_a_jumin", IKOU_PAUSE_MARKER=str(marker))
    proc = subprocess.Popen([sys.executable, "-m", "ikou.flows.cli", "run", "--config", str(cfg)], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)   # its own group, as a terminal's foreground job
    try:
        import time

        t0 = time.monotonic()
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() - t0 < 240, "the run never reached map"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)   # Ctrl-C: the run and Prefect's temporary server
        out, err = proc.communicate(timeout=150)   # generous: the run must end, not wait for retries to run out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err[-3000:]
    run_dir = Path(out.rstrip("\n").splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "cancelled" and summary["error"]["stage"] == "map"
    assert [ln for ln in err.splitlines() if ln.startswith("ikou: 中断 (map)")], err[-3000:]   # a line of its own
    assert "Error logging to API" not in err and "connection attempts failed" not in err, err[-3000:]
    log = (run_dir / "run.log").read_text(encoding="utf-8")
    assert log.count("Another attempt will be made") == 0, log[-3000:]   # no retries of the stopped server
    with dantai_lock(tmp_path / "runs" / "999997", "next run"):   # free: the next run may start
        pass
