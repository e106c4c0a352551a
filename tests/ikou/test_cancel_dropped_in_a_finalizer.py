"""A cancel whose KeyboardInterrupt Python drops (raised while a finalizer runs: a `__del__` the garbage collector
called, as asyncio's transports do) is not lost: the next signal raises again, so does the next checkpoint, and
Python's "Exception ignored in …" traceback stays off the terminal. Inside deferred() (the run's record) it is
still only noted. Real signals sent to this process, real finalizers."""
from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time

import pytest

from ikou import REPO_ROOT, cancel


class _SignalledWhileFinalized:
    """Sends `sig` to its own process from its finalizer: the handler runs inside `__del__`."""

    def __init__(self, sig):
        self.sig = sig
        self.me = self   # a cycle: only the garbage collector finalizes it

    def __del__(self):
        os.kill(os.getpid(), self.sig)
        time.sleep(0.05)   # the handler runs here; its KeyboardInterrupt is dropped by Python


def _dropped(sig=signal.SIGTERM) -> None:
    _SignalledWhileFinalized(sig)
    gc.collect()


@pytest.fixture
def handlers(monkeypatch):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    hook = sys.unraisablehook
    monkeypatch.setattr(cancel, "_hooks", [])   # not the command line's: this process's Prefect stays as it is
    monkeypatch.delenv("IKOU_DEBUG", raising=False)
    monkeypatch.delenv("IKOU_PAUSE_AT", raising=False)
    cancel.install()
    yield
    cancel._requested.clear()
    cancel._unheeded.clear()
    sys.unraisablehook = hook
    for s, h in before.items():
        signal.signal(s, h)


def _let_the_handler_run() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_a_cancel_dropped_in_a_finalizer_stops_at_the_next_checkpoint(handlers):
    _dropped()   # no KeyboardInterrupt reaches this frame
    assert cancel.requested() == "SIGTERM"
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        cancel.checkpoint("map.vendor_a_jumin")
    cancel.checkpoint("validate.juki")   # raised once: the run is stopping now


def test_a_second_signal_after_a_dropped_one_raises_again(handlers):
    _dropped()
    with pytest.raises(KeyboardInterrupt, match="SIGINT"):   # the operator's second Ctrl-C works
        os.kill(os.getpid(), signal.SIGINT)
        _let_the_handler_run()
    os.kill(os.getpid(), signal.SIGINT)   # that one reached the run: a third is only noted
    _let_the_handler_run()
    assert cancel._requested == ["SIGTERM", "SIGINT", "SIGINT"]
    cancel.checkpoint("load.begin")


def test_a_dropped_cancel_is_only_noted_while_the_record_is_written(handlers):
    _dropped()
    with cancel.deferred():
        cancel.checkpoint("record")   # the record is written whole
        os.kill(os.getpid(), signal.SIGINT)
        _let_the_handler_run()
    assert cancel.requested() == "SIGINT"
    cancel.checkpoint("after")   # the record told how the run ended


def test_a_dropped_cancel_before_the_flow_still_stops_it(handlers):
    _dropped()   # while Prefect starts (the command line's handler)
    with cancel.handling():
        assert cancel.requested() == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            cancel.checkpoint("extract.vendor_a_jumin")


def test_other_unraisable_exceptions_are_still_printed(handlers):
    seen = []
    cancel._unraisable_before[:] = [seen.append]

    class Broken:
        def __del__(self):
            raise ValueError("not a cancel")

    Broken()
    gc.collect()
    assert [type(u.exc_value) for u in seen] == [ValueError]
    assert not cancel._unheeded


SCRIPT = f"""
import gc, os, signal, sys, time
sys.path.insert(0, {str(REPO_ROOT)!r})
from ikou import cancel
cancel.install()
class F:
    def __init__(self): self.me = self
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
F(); gc.collect()
print("went on", cancel.requested(), flush=True)
try:
    cancel.checkpoint("map.x")
except KeyboardInterrupt as exc:
    print("stopped", exc, flush=True)
"""


@pytest.mark.parametrize("debug", [False, True])
def test_the_dropped_interrupt_prints_no_traceback_without_debug(debug):
    env = {k: v for k, v in os.environ.items() if k not in ("IKOU_DEBUG", "IKOU_PAUSE_AT")}
    if debug:
        env["IKOU_DEBUG"] = "1"
    p = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60)
    assert p.stdout.splitlines() == ["went on SIGTERM", "stopped SIGTERM"], p.stdout + p.stderr
    assert ("Exception ignored in" in p.stderr) is debug, p.stderr
