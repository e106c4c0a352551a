"""Run every benchmark at the sizes the issues name, one after another (each prints its ratios).

    .venv/bin/python bench/run_all.py [--quick]

--quick runs them at a tenth of the size (for a smoke test; the figures in bench/README.md come
from the full sizes). Each benchmark compares against a baseline run in the same process, so its
ratios, not its absolute times, are what compare across machines.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL = [
    ("bench_flow.py", ["--persons", "1000000"]),
    ("bench_extract.py", ["--persons", "3700000"]),
    ("bench_moji.py", []),
    ("bench_validate.py", ["--rows", "1000000"]),
    ("bench_diff.py", ["--rows", "4000000"]),
]
QUICK = [
    ("bench_flow.py", ["--persons", "100000"]),
    ("bench_extract.py", ["--persons", "370000"]),
    ("bench_moji.py", ["--rows", "200000"]),
    ("bench_validate.py", ["--rows", "100000", "--repeat", "1"]),
    ("bench_diff.py", ["--rows", "400000"]),
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rc = 0
    for script, extra in (QUICK if args.quick else FULL):
        print(f"\n===== {script} {' '.join(extra)}", flush=True)
        rc |= subprocess.call([sys.executable, str(HERE / script), *extra])
    return rc


if __name__ == "__main__":
    sys.exit(main())
