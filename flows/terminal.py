"""What `ikou run` shows on the terminal, and where the logs go.

- Progress: one line per stage and source/table (rows done of rows expected, rows per second,
  elapsed), drawn with rich on stderr while the run goes, in Japanese; shown only when stderr is a
  terminal and not `--quiet`. The stage steps report through `ikou.progress` and know nothing of this.
- Logs: Prefect's and ikou's (English) go to the run folder's `run.log`; the terminal sees them only
  with `--verbose`. stdout stays for the results, the run folder last.
"""
from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path

from ikou import progress

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RichReporter:
    """ikou.progress lines as a rich Progress on stderr."""

    def __init__(self, console=None):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        class Rows(ProgressColumn):
            def render(self, task) -> Text:
                done = int(task.completed)
                return Text(f"{done:,} / {int(task.total):,} 件" if task.total is not None else f"{done:,} 件")

        class Rate(ProgressColumn):
            def render(self, task) -> Text:
                secs = task.finished_time if task.finished else task.elapsed
                return Text(f"{task.completed / secs:,.0f} 件/秒" if secs else "— 件/秒")

        self.console = console or Console(stderr=True)
        self.progress = Progress(TextColumn("{task.description:<32}"), BarColumn(bar_width=24), Rows(), Rate(),
                                 TimeElapsedColumn(), console=self.console, transient=False,
                                 redirect_stdout=False, redirect_stderr=False)
        self.ids: dict[int, int] = {}

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def start(self, key, label, total):
        self.ids[key] = self.progress.add_task(label, total=total)

    def update(self, key, done, total):
        self.progress.update(self.ids[key], completed=done, total=total)

    def finish(self, key, done):
        tid = self.ids.pop(key, None)
        if tid is not None:
            task = self.progress.tasks[[t.id for t in self.progress.tasks].index(tid)]
            self.progress.update(tid, completed=done, total=task.total if task.total is not None else done)
            self.progress.stop_task(tid)


@contextmanager
def shown(enabled: bool):
    """Progress lines on the terminal for the block, when `enabled` and stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    reporter = RichReporter()
    before = progress.use(reporter)
    try:
        with reporter:
            yield reporter
    finally:
        progress.use(before)


def _console_handlers(logger: logging.Logger) -> list[logging.Handler]:
    return [h for h in logger.handlers if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
            and getattr(h, "stream", None) in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)
            or type(h).__name__ == "PrefectConsoleHandler"]


class RunLog(logging.FileHandler):
    """run.log. A record it cannot write (a full disk) is dropped quietly, the first error kept in `error`:
    logging's default printed a traceback on stderr for each one, around the one line that ends the run."""

    error: OSError | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            self.error = self.error or exc
            return
        super().handleError(record)


@contextmanager
def logs_to(run_dir: Path, *, verbose: bool):
    """Prefect's and ikou's logs into RUN_DIR/run.log for the block; off the terminal unless `verbose`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = RunLog(run_dir / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.Logger.manager.loggerDict))]
    removed: list[tuple[logging.Logger, logging.Handler]] = []
    if not verbose:
        for lg in loggers:
            for h in _console_handlers(lg):
                lg.removeHandler(h)
                removed.append((lg, h))
    root, ikou_log = logging.getLogger(), logging.getLogger("ikou")
    unpropagated = [lg for lg, _ in removed if lg is not root and not lg.propagate]
    for lg in unpropagated:   # uvicorn & co. do not reach the root: give them the file too
        lg.addHandler(handler)
    root.addHandler(handler)
    level = ikou_log.level
    ikou_log.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        ikou_log.setLevel(level)
        root.removeHandler(handler)
        for lg in unpropagated:
            lg.removeHandler(handler)
        for lg, h in removed:
            lg.addHandler(h)
        try:
            handler.close()
        except OSError as exc:   # its last lines could not be written (a full disk): the first error is raised
            handler.error = handler.error or exc
        if handler.error is not None and sys.exc_info()[1] is None:
            raise handler.error
