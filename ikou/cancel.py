"""Cancelling a run: Ctrl-C or SIGTERM stops it at once, rolls the target back, records `cancelled`.

A cancel is never a transient failure: `requested()` tells retry conditions and the loaders (a
driver may report an interrupted statement as an operational error) that the run is to stop.
The signal handlers raise KeyboardInterrupt, which passes through `except Exception` on its way
out, so nothing half-done is committed; every loader rolls back on any BaseException.

After the first signal a run only stops: further signals are noted, never raised (a second Ctrl-C must
not break the writing of the record the first one asked for), and while the run's record is written
(`deferred()`) none is raised at all. `on_request(hook)` runs once, at the first signal (the command line
turns Prefect's API retries off there: a terminal's Ctrl-C may have stopped its temporary server too).

A KeyboardInterrupt raised while a finalizer runs (a `__del__` the garbage collector called, asyncio's
transports) is printed and dropped by Python: the run would go on and load. Such a cancel is kept
(`sys.unraisablehook`, which also keeps Python's "Exception ignored in …" off the terminal unless
IKOU_DEBUG): the next signal raises again, and so does the next `checkpoint()`.

`checkpoint(name)` marks the points between a run's steps: there a cancel not yet raised stops the run
(outside `deferred()`). Tests stop runs there too (SIGINT, SIGTERM, kill -9): when IKOU_PAUSE_AT names
that point it writes IKOU_PAUSE_MARKER and waits.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

_requested: list[str] = []
_deferring: list[bool] = []
_hooks: list = []
_unheeded: list[str] = []   # a cancel whose KeyboardInterrupt Python dropped (raised in a finalizer)
_unraisable_before: list = []   # the unraisablehook ours passes everything else to


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
    # only the first stops the run (or one after a first that was dropped), never half-way through its record
    if (first or _unheeded) and not _deferring:
        _raise(name)


def _raise(name: str):
    _unheeded.clear()
    exc = KeyboardInterrupt(name)
    exc._ikou_cancel = name   # known again if a finalizer drops it (_unraisable)
    raise exc


def _unraisable(unraisable) -> None:
    """Python drops an exception raised in a finalizer: our cancel is kept for the next signal or
    checkpoint, and its "Exception ignored in …" traceback stays off the terminal (IKOU_DEBUG shows it)."""
    name = getattr(unraisable.exc_value, "_ikou_cancel", None)
    if name is not None:
        _unheeded[:] = [name]
        if not os.environ.get("IKOU_DEBUG"):
            return
    (_unraisable_before[0] if _unraisable_before else sys.__unraisablehook__)(unraisable)


def on_request(hook) -> None:
    """Call `hook()` once, when the first SIGINT/SIGTERM asks the run to stop."""
    if hook not in _hooks:
        _hooks.append(hook)


def install() -> None:
    """SIGINT and SIGTERM cancel the run (main thread only: Python delivers signals there)."""
    _requested.clear()
    _unheeded.clear()
    if sys.unraisablehook is not _unraisable:
        _unraisable_before[:] = [sys.unraisablehook]
        sys.unraisablehook = _unraisable
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
    dropped = list(_unheeded)   # a cancel dropped before the flow began (Prefect's start-up) still stops it
    install()
    _requested.extend(dropped)
    _unheeded.extend(dropped)
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def deferred():
    """Write the run's record whole: a SIGINT/SIGTERM in the block is noted (`requested()`) but raises
    nothing; whoever wrote the record then tells how the run ended (a cancel dropped before is told so too)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    _unheeded.clear()
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
    """Between two steps of a run: a cancel not yet raised (dropped in a finalizer) stops the run here,
    unless its record is being written (`deferred()`). IKOU_PAUSE_AT=name waits here first (tests)."""
    _pause(name)
    if _unheeded and not _deferring:
        logging.getLogger("ikou").info("cancel (%s) stops the run at %s (its first interrupt was dropped in a "
                                       "finalizer)", _unheeded[-1], name)
        _raise(_unheeded[-1])


def _pause(name: str) -> None:
    if os.environ.get("IKOU_PAUSE_AT") != name:
        return
    marker = os.environ.get("IKOU_PAUSE_MARKER")
    if marker:
        Path(marker).write_text(name, encoding="utf-8")
    deadline = time.monotonic() + float(os.environ.get("IKOU_PAUSE_SECONDS", "120"))
    signals = len(_requested)   # a signal noted, not raised (deferred()), ends the wait too
    while time.monotonic() < deadline and len(_requested) == signals:
        time.sleep(0.02)
