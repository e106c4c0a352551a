"""Progress of a run's steps: one line per stage and source/table (rows done of rows expected).

Stage steps report through here and nothing else; by default nothing is shown (a no-op reporter),
so stage packages stay free of Prefect and of any terminal library. `ikou run` plugs in a rich
reporter when attached to a terminal (flows.run_cli). Every finished step is also logged in
English on the `ikou` logger (the run's run.log).

    with progress.task("map", "vendor_a_jumin", total=2129):   # the `ikou.stage.step` decorator does this
        ...
        progress.advance(500_000)                               # a step's batch loop may report as it goes
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Protocol

log = logging.getLogger("ikou.progress")

STAGE_JA = {"extract": "抽出", "map": "変換", "moji": "文字同定", "validate": "検証", "load": "投入",
            "diff": "並行稼働比較"}


class Reporter(Protocol):
    def start(self, key: int, label: str, total: int | None) -> None: ...
    def update(self, key: int, done: int, total: int | None) -> None: ...
    def finish(self, key: int, done: int) -> None: ...


class _Nothing:
    def start(self, key, label, total):
        pass

    def update(self, key, done, total):
        pass

    def finish(self, key, done):
        pass


_reporter: Reporter = _Nothing()
_current = threading.local()
_keys = iter(range(1, 1 << 62))


def use(reporter: Reporter | None) -> Reporter:
    """Install `reporter` (None: nothing shown); returns the one it replaces."""
    global _reporter
    before, _reporter = _reporter, reporter or _Nothing()
    return before


class Task:
    def __init__(self, stage: str, name: str, total: int | None):
        self.key, self.stage, self.name, self.total, self.done = next(_keys), stage, name, total, 0
        self.started = time.perf_counter()

    @property
    def label(self) -> str:
        return f"{STAGE_JA.get(self.stage, self.stage)} {self.name}"

    def advance(self, rows: int) -> None:
        self.done += int(rows)
        _reporter.update(self.key, self.done, self.total)


@contextmanager
def task(stage: str, name: str, total: int | None = None):
    """One step's progress line, from start to finish; `done` is set by advance() or on finish."""
    t = Task(stage, name, total)
    outer = getattr(_current, "task", None)
    _current.task = t
    _reporter.start(t.key, t.label, total)
    try:
        yield t
    finally:
        _current.task = outer
        _reporter.finish(t.key, t.done)
        log.info("%s %s: %d of %s rows in %.2f s", stage, name, t.done, "?" if t.total is None else t.total,
                 time.perf_counter() - t.started)


def advance(rows: int) -> None:
    """Report `rows` more rows done by the step running in this thread (nothing if none)."""
    t = getattr(_current, "task", None)
    if t is not None:
        t.advance(rows)
