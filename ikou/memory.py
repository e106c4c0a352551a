"""Peak memory per stage: the high-water mark of this process's resident set, reset between stages.

Linux keeps the peak in /proc/self/status (VmHWM) and lets a process reset it by writing "5" to
/proc/self/clear_refs; elsewhere the figures are simply absent (None), never guessed.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR = Path("/proc/self/clear_refs")


def _status_mb(field: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024   # kB
    except OSError:
        pass
    return None


def peak_rss_mb() -> float | None:
    """The process's peak resident memory since start or since the last `reset_peak`, in MB."""
    return _status_mb("VmHWM:")


def rss_mb() -> float | None:
    """The process's resident memory now, in MB."""
    return _status_mb("VmRSS:")


def reset_peak() -> bool:
    """Start a new peak from the current resident size; False where the system does not allow it."""
    try:
        _CLEAR.write_text("5")
        return True
    except OSError:
        return False


def release() -> None:
    """Hand memory the process no longer uses back to the system (Python's cycles, Arrow's pool,
    glibc's free heap): every stage calls it before it starts (ikou.stage.step), so a stage that sizes
    its own memory to what the process holds (the diff's DuckDB) sees what is really held."""
    import gc
    import sys

    gc.collect()
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        pa.default_memory_pool().release_unused()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass   # not glibc


BUDGET_DEFAULT = "3GB"


def size_mb(text: str) -> float:
    """'3GB', '2500MB', '1.5 GiB' → MB (a DuckDB-style size; GB and GiB both count 1024 MB here)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B)\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"not a memory size: {text!r} (e.g. 3GB, 2500MB)")
    return float(m.group(1)) * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 ** 2}[m.group(2)[0].upper()]


def budget_mb() -> float:
    """The run's memory budget (IKOU_MEMORY_BUDGET, default 3GB): what stages that size their own
    engine's memory (the diff's DuckDB) plan to stay within, together with what the process holds."""
    return size_mb(os.environ.get("IKOU_MEMORY_BUDGET") or BUDGET_DEFAULT)
