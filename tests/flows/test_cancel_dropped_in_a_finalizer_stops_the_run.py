"""A SIGTERM at extract whose KeyboardInterrupt Python drops (the handler ran inside a finalizer, as asyncio's
transport `__del__` does under the garbage collector) still cancels the run at its next step: the target holds
the run before, exit 130, the one cancelled line, nothing of Python's "Exception ignored" on the terminal. It
went on to load and said "stands as succeeded", exit 0. A real `ikou run` process; the signal is real, sent by
the process to itself from a finalizer the extract step's first moment collects."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ikou import REPO_ROOT
from ikou.loaders import held_runs
from tests.flows.conftest import SAMPLE, start_run, vendor_a_source, write_config

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]
DANTAI = "999768"

# `ikou run` with the extract step starting by a garbage collection that finalizes an object sending SIGTERM
WRAPPED_RUN = """
import functools, gc, os, signal, sys, time
from ikou import extractors

class SignalledWhileFinalized:
    def __init__(self):
        self.me = self   # a cycle: the garbage collector finalizes it
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)   # ikou's handler runs here, inside the finalizer

real = extractors.extract

@functools.wraps(real)
def extract(*args, **kwargs):
    SignalledWhileFinalized()
    gc.collect()
    return real(*args, **kwargs)

extractors.extract = extract
from ikou.flows.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _jumin_of(tmp_path: Path, code: str) -> Path:
    """Vendor A's sample export (団体 999997) as this 団体's: its 団体コード rewritten byte for byte."""
    raw = (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes()
    assert raw.startswith(b"999997,")
    out = tmp_path / "JUMIN.csv"
    out.write_bytes(code.encode() + raw[6:].replace(b"\n999997,", b"\n" + code.encode() + b","))
    return out


def test_a_sigterm_dropped_in_a_finalizer_at_extract_still_cancels_the_run(tmp_path):
    url = f"duckdb:///{tmp_path / 't.duckdb'}"
    cfg = write_config(tmp_path, source=vendor_a_source(_jumin_of(tmp_path, DANTAI)), target_url=url,
                       dantai=DANTAI)
    first, _ = start_run(cfg, tmp_path)
    assert first.wait(timeout=300) == 0, first.stdout.read()[-3000:]
    first.stdout.close()
    schema = f"dantai_{DANTAI}"
    before = held_runs(url, schema)["current"]
    assert before and str(before["status"]).lower() == "succeeded"

    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if k not in ("IKOU_DEBUG", "IKOU_PAUSE_AT")}
    env.update(PREFECT_API_URL=PREFECT_API_URL.value(), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    p = subprocess.run([sys.executable, "-c", WRAPPED_RUN, "run", "--config", str(cfg)], cwd=REPO_ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 130, out[-3000:]
    assert "Exception ignored" not in out and "Traceback" not in out, out[-3000:]
    run_dir = Path(p.stdout.rstrip("\n").splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "cancelled", summary
    assert summary["error"]["stage"] == "map", summary["error"]   # the step after the extract it came in
    assert "SIGTERM" in summary["error"]["message"] and "not touched" in summary["error"]["message"]
    (line,) = [ln for ln in p.stderr.splitlines() if ln.startswith("ikou: 中断")]
    assert "元の状態のまま" in line and "rolled back" not in line, line
    after = held_runs(url, schema)["current"]
    assert after["run_id"] == before["run_id"] and after["counts"] == before["counts"], after   # target as it was
    assert str(after["status"]).lower() == "succeeded"
