"""Run-level failures. Bad rows are never exceptions: they are quarantine rows.

`TransientError` may succeed on retry (a database that is restarting); `TerminalError` will not
(a broken layout, a failed conservation check) and must stop the run with a clear message.
"""


class IkouError(Exception):
    """Root of every ikou error; carries the run id when one is known."""

    def __init__(self, message: str, *, run_id: str | None = None):
        super().__init__(message)
        self.run_id = run_id

    def __str__(self) -> str:
        base = super().__str__()
        return f"[run {self.run_id}] {base}" if self.run_id else base


class TerminalError(IkouError):
    """Retrying will not help."""


class TransientError(IkouError):
    """Retrying may help (connection refused, lock timeout)."""


class ConfigError(TerminalError):
    """A configuration or spec file is wrong; the message names the file and the path inside it."""


class LayoutError(TerminalError):
    """A source does not match its layout (or the file is missing/unreadable)."""


class ConservationError(TerminalError):
    """Counts do not balance at a stage boundary: a row was lost or invented."""


class ThresholdError(TerminalError):
    """Too many rows were quarantined: a mapping mistake must stop the rehearsal."""


class IsolationError(TerminalError):
    """A run tried to touch another 団体's data."""
