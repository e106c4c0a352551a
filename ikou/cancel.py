"""Cancelling a run: Ctrl-C or SIGTERM stops it at once, rolls the target back, records `cancelled`.

A cancel is never a transient failure: `requested()` tells retry conditions and the loaders (a
driver may report an interrupted statement as an operational error) that the run is to stop.
The signal handlers raise KeyboardInterrupt, which passes through `except Exception` on its way
out, so nothing half-done is committed; every loader rolls back on any BaseException.

After the first signal a run only stops: further signals are noted, never raised (a second Ctrl-C must
not break the writing of the record the first one asked for), and while the run's record is written
(`deferred()`) none is raised at all. `on_request(hook)` runs once, at the first signal (the command line
turns Prefect's API retries off there: a terminal's Ctrl-C may have stopped its temporary server too).

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
_deferring: list[bool] = []
_hooks: list = []


def requested() -> str | None:
    """The signal that asked the run to stop (SIGINT, SIGTERM), or None."""
    return _requested[-1] if _requested else None


def _handler(signum, frame):
    name = signal.Signals(signum).name
    first = not _requested
    _requested.append(name)
    if first:
        for hook in list(_hooks):
            with contextlib.suppress(Exception):
                hook()
    if first and not _deferring:   # only the first stops the run, and never half-way through its record
        raise KeyboardInterrupt(name)


def on_request(hook) -> None:
    """Call `hook()` once, when the first SIGINT/SIGTERM asks the run to stop."""
    if hook not in _hooks:
        _hooks.append(hook)


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


@contextlib.contextmanager
def deferred():
    """Write the run's record whole: a SIGINT/SIGTERM in the block is noted (`requested()`) but raises
    nothing; whoever wrote the record then tells how the run ended."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    _deferring.append(True)
    for sig in before:
        signal.signal(sig, _handler)
    try:
        yield
    finally:
        _deferring.pop()
        for sig, handler in before.items():
            signal.signal(sig, handler)


def checkpoint(name: str) -> None:
    if os.environ.get("IKOU_PAUSE_AT") != name:
        return
    marker = os.environ.get("IKOU_PAUSE_MARKER")
    if marker:
        Path(marker).write_text(name, encoding="utf-8")
    deadline = time.monotonic() + float(os.environ.get("IKOU_PAUSE_SECONDS", "120"))
    signals = len(_requested)   # a signal noted, not raised (deferred()), ends the wait too
    while time.monotonic() < deadline and len(_requested) == signals:
        time.sleep(0.02)
