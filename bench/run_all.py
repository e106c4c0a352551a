"""Run every benchmark at the sizes the issues name, one after another (each prints its ratios).

    .venv/bin/python bench/run_all.py [--quick | --smoke]

--quick runs them at a tenth of the size (the figures in bench/README.md come from the full
sizes). --smoke runs each with its own --smoke: the same code at a tiny size, outputs in temporary
folders, a non-zero exit when a benchmark fails or its consistency checks do (what the tests run).
Each benchmark compares against a baseline run in the same process, so its ratios, not its
absolute times, are what compare across machines.
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
    ("bench_campaign.py", ["--dantai", "20", "--persons", "50000"]),
]
QUICK = [
    ("bench_flow.py", ["--persons", "100000"]),
    ("bench_extract.py", ["--persons", "370000"]),
    ("bench_moji.py", ["--rows", "200000"]),
    ("bench_validate.py", ["--rows", "100000", "--repeat", "1"]),
    ("bench_diff.py", ["--rows", "400000"]),
    ("bench_campaign.py", ["--dantai", "4", "--persons", "5000"]),
]
SMOKE = [(script, ["--smoke"]) for script, _ in FULL]


def main() -> int:
    ap = argparse.ArgumentParser()
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true")
    size.add_argument("--smoke", action="store_true")
    ap.add_argument("--only", action="append", help="run only this script (repeatable)")
    args = ap.parse_args()
    failed = []
    runs = SMOKE if args.smoke else QUICK if args.quick else FULL
    runs = [r for r in runs if not args.only or r[0] in args.only]
    for script, extra in runs:
        print(f"\n===== {script} {' '.join(extra)}", flush=True)
        if subprocess.call([sys.executable, str(HERE / script), *extra]):
            failed.append(script)
    print(f"\n{len(runs) - len(failed)} of {len(runs)} benchmarks passed"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
