"""A signal never breaks the writing of a run's record: one (or a second Ctrl-C) while summary.json, the
target's end and the report are written is noted, the record is finished, and summary.json, the exit code
and the target give one verdict. A signal during the plan check (Prefect's import) is recorded as stage
plan, in one line, exit 130. Real `ikou run` processes stopped at named points (ikou.cancel.checkpoint)."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from ikou import cancel
from ikou.loaders import held_runs
from tests.flows.conftest import start_run, vendor_a_source, wait_for_pause, write_config

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]


def _summary(out: str) -> tuple[Path, dict]:
    run_dir = Path(out.rstrip("\n").splitlines()[-1])
    return run_dir, json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("signals", [(signal.SIGINT,), (signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGINT)])
def test_a_signal_while_the_record_is_written_leaves_one_verdict(tmp_path, signals):
    url = f"duckdb:///{tmp_path / 't.duckdb'}"
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=url)
    proc, marker = start_run(cfg, tmp_path, "record")   # summary.json says succeeded; the target's end not yet
    wait_for_pause(proc, marker, "record")
    for sig in signals:
        proc.send_signal(sig)
    out = proc.communicate(timeout=120)[0]
    assert "Traceback" not in out, out[-3000:]
    run_dir, summary = _summary(out)
    # one verdict: the run was recorded whole as succeeded, the target says so, and so does the exit code
    assert proc.returncode == 0, out[-3000:]
    assert summary["status"] == "succeeded"
    assert (run_dir / "report.html").is_file()
    current = held_runs(url, "dantai_999997")["current"]
    assert current["run_id"] == summary["run_id"] and str(current["status"]).lower() == "succeeded", current
    assert "the cancel came after the run was recorded" in out


def test_a_signal_during_the_plan_check_is_recorded_in_one_line(tmp_path):
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    proc, marker = start_run(cfg, tmp_path, "plan")
    wait_for_pause(proc, marker, "plan")
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    run_dir, summary = _summary(out)
    assert summary["status"] == "cancelled" and summary["error"]["stage"] == "plan"
    assert [ln for ln in out.splitlines() if ln.startswith("ikou: 中断 (plan)")]
    assert not (tmp_path / "t.duckdb").exists()


def test_only_the_first_signal_stops_a_run_and_none_inside_its_record(monkeypatch):
    """In process: the first SIGINT raises; a second one, or any inside deferred(), is only noted."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(cancel, "_hooks", [])   # not the command line's: this process's Prefect stays as it is
    try:
        cancel.install()
        with cancel.deferred():
            os.kill(os.getpid(), signal.SIGTERM)   # noted, not raised: the record goes on
        assert cancel.requested() == "SIGTERM"
        cancel.install()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            signal.pthread_sigmask(signal.SIG_BLOCK, [])   # let the handler run here
        os.kill(os.getpid(), signal.SIGINT)   # a second Ctrl-C: no second KeyboardInterrupt
        signal.pthread_sigmask(signal.SIG_BLOCK, [])
        assert cancel._requested == ["SIGINT", "SIGINT"]
    finally:
        cancel._requested.clear()
        for s, h in before.items():
            signal.signal(s, h)
