"""What the benchmarks share for `--smoke`: the checks that decide the exit code.

`--smoke` runs a benchmark's own code path at a tiny size in a temporary folder, so that the
tests (tests/bench/test_bench_smoke.py) notice a benchmark that no longer runs, or whose engines
no longer agree, long before anyone needs its figures. Times are printed, never checked.
"""
from __future__ import annotations

import sys

SMOKE_HELP = ("tiny size, outputs in a temporary folder, exit 1 when a consistency check fails "
              "(what the tests run)")


class Checks:
    """Consistency checks of one benchmark run: each prints one line; `exit_code()` is 1 when any failed."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def __call__(self, ok: bool, what: str) -> bool:
        print(f"  check {'ok' if ok else 'FAILED'}: {what}", flush=True)
        if not ok:
            self.failed.append(what)
        return ok

    def exit_code(self) -> int:
        if self.failed:
            print(f"{len(self.failed)} check(s) failed: {'; '.join(self.failed)}", file=sys.stderr)
            return 1
        return 0
