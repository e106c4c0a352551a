"""Cancelling a run: Ctrl-C or SIGTERM stops it at once, rolls the target back, records `cancelled`.

A cancel is never a transient failure: `requested()` tells retry conditions and the loaders (a
driver may report an interrupted statement as an operational error) that the run is to stop.
The signal handlers raise KeyboardInterrupt, which passes through `except Exception` on its way
out, so nothing half-done is committed; every loader rolls back on any BaseException.

`checkpoint(name)` marks points of a run where tests stop it (SIGINT, SIGTERM, kill -9): it does
nothing unless IKOU_PAUSE_AT names that point, then writes IKOU_PAUSE_MARKER and waits there.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

_requested: list[str] = []


def requested() -> str | None:
    """The signal that asked the run to stop (SIGINT, SIGTERM), or None."""
    return _requested[-1] if _requested else None


def _handler(signum, frame):
    _requested.append(signal.Signals(signum).name)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def install() -> None:
    """SIGINT and SIGTERM cancel the run (main thread only: Python delivers signals there)."""
    _requested.clear()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _handler)


@contextlib.contextmanager
def handling():
    """SIGINT/SIGTERM cancel the run inside the block (Prefect's own SIGTERM handler, which would
    re-send the signal once the flow ends, is set aside); the previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    install()
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def checkpoint(name: str) -> None:
    if os.environ.get("IKOU_PAUSE_AT") != name:
        return
    marker = os.environ.get("IKOU_PAUSE_MARKER")
    if marker:
        Path(marker).write_text(name, encoding="utf-8")
    deadline = time.monotonic() + float(os.environ.get("IKOU_PAUSE_SECONDS", "120"))
    while time.monotonic() < deadline:
        time.sleep(0.02)
