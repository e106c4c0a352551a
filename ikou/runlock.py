"""One run of a 団体 at a time: a second `ikou run` (or a rollback) while one is going is refused at once.

Two runs of one 団体 into one target would load over each other, and the later one's diff would read the
earlier one's rows half-way through. The lock is an exclusive `flock` on `runs/<団体>/.run.lock`, held by
the process doing the run for as long as it lasts and removed as it lets go; the kernel frees it when that
process ends, however it ends (kill -9 too: the file stays, unlocked), so a dead run never blocks the next. The file names who holds it (run id, process),
never anything personal. Within one process the lock is re-entrant (`ikou run` takes it before Prefect
starts, the flow again for runs started by a worker).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from pathlib import Path

from ikou.errors import TerminalError

LOCK_FILE = ".run.lock"

_held: dict[str, list[int]] = {}   # lock path → [fd, depth]


class RunInProgress(TerminalError):
    """Another run (or a rollback) of the same 団体 holds its runs folder."""

    ja = "この団体の別の実行 (またはロールバック) が進行中です (終わってから実行してください)"


@contextlib.contextmanager
def dantai_lock(dantai_dir: Path, holder: str, *, wait: float = 0.0):
    """Hold the 団体's run lock for the block, or raise RunInProgress naming the holder; `wait` seconds
    first, polling (a campaign starts two rehearsals of one 団体 together: the second waits its turn)."""
    import time

    deadline = time.monotonic() + wait
    with contextlib.ExitStack() as stack:
        while True:
            try:
                stack.enter_context(_lock(dantai_dir, holder))
                break
            except RunInProgress:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(min(2.0, max(0.05, deadline - time.monotonic())))
        yield


@contextlib.contextmanager
def _lock(dantai_dir: Path, holder: str):
    dantai_dir = Path(dantai_dir)
    path = dantai_dir / LOCK_FILE
    key = str(path.absolute())
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    dantai_dir.mkdir(parents=True, exist_ok=True)
    while True:
        # O_NOFOLLOW: a link planted in the 団体's folder must not make the lock truncate a file elsewhere
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                other = json.loads(os.pread(fd, 4096, 0) or b"{}")
            except ValueError:
                other = {}
            os.close(fd)
            who = ", ".join(f"{k} {other[k]}" for k in ("holder", "pid", "since") if other.get(k)) or "unknown"
            raise RunInProgress(f"{dantai_dir.name}: another run or rollback of this 団体 is in progress ({who}); "
                                "wait for it to finish") from None
        try:   # the holder before us removes the file as it lets go: ours must still be the one at `path`
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"holder": holder, "pid": os.getpid(),
                              "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}).encode(), 0)
    _held[key] = [fd, 1]
    try:
        yield
    finally:
        _held[key][1] -= 1
        if _held[key][1] == 0:
            del _held[key]
            with contextlib.suppress(OSError):   # no file left behind when no run holds the 団体
                os.unlink(path)
            os.close(fd)   # closing the descriptor releases the flock
