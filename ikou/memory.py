"""Peak memory per stage: the high-water mark of this process's resident set, reset between stages.

Linux keeps the peak in /proc/self/status (VmHWM) and lets a process reset it by writing "5" to
/proc/self/clear_refs; elsewhere the figures are simply absent (None), never guessed.
"""
from __future__ import annotations

from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR = Path("/proc/self/clear_refs")


def peak_rss_mb() -> float | None:
    """The process's peak resident memory since start or since the last `reset_peak`, in MB."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024   # kB
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Start a new peak from the current resident size; False where the system does not allow it."""
    try:
        _CLEAR.write_text("5")
        return True
    except OSError:
        return False
