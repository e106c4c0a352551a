"""Benchmark: ikou diff vs datacompy on 2 × N rows × 30 columns with planted differences.

    .venv/bin/python bench/bench_diff.py --rows 4000000      # default
    .venv/bin/python bench/bench_diff.py --rows 200000       # quick run
    .venv/bin/python bench/bench_diff.py --smoke             # 2,000 rows (tests)

The pair is generated vectorised (reports.synth) and written to Parquet once; each engine then
runs in its own child process so its peak RSS is its own. ikou's time includes reading the
Parquet files; datacompy's (PandasCompare: its Polars comparison does not run on polars 2)
excludes pandas' read. Both must report the planted counts: the exit code is 1 when an engine
fails or does not.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import SMOKE_HELP, Checks  # noqa: E402


def _peak_mb() -> float:
    """This process's peak RSS (ikou.memory: VmHWM). Not ru_maxrss alone: Linux carries it across
    exec, so a child would report the parent's peak (the generated frames) whenever that is larger."""
    from ikou.memory import peak_rss_mb

    peak = peak_rss_mb()
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ikou(d: Path) -> dict:
    from ikou.reports.diff import compare
    t = time.perf_counter()
    res = compare(d / "left.parquet", d / "right.parquet", key=["atena_no"])
    secs = time.perf_counter() - t
    return {"seconds": secs, "peak_mb": _peak_mb(), "only_left": res.only_left,
            "only_right": res.only_right, "matched": res.matched,
            "changed_rows": res.changed_rows, "changed_cells": res.changed_cells}


def run_datacompy(d: Path) -> dict:
    import datacompy
    import pandas as pd
    left = pd.read_parquet(d / "left.parquet")
    right = pd.read_parquet(d / "right.parquet")
    t = time.perf_counter()
    dc = datacompy.PandasCompare(left, right, join_columns=["atena_no"])
    secs = time.perf_counter() - t
    cells = {s["column"]: int(s["unequal_cnt"]) for s in dc.column_stats
             if s["column"] != "atena_no"}
    return {"seconds": secs, "peak_mb": _peak_mb(), "only_left": len(dc.df1_unq_rows),
            "only_right": len(dc.df2_unq_rows), "matched": len(dc.intersect_rows),
            "changed_rows": int(len(dc.intersect_rows) - dc.count_matching_rows()),
            "changed_cells": cells}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=None, help="rows per side (default 4,000,000; 2,000 with --smoke)")
    ap.add_argument("--cols", type=int, default=30)
    ap.add_argument("--skip-datacompy", action="store_true")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    ap.add_argument("--child", choices=["ikou", "datacompy"], help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        fn = run_ikou if args.child == "ikou" else run_datacompy
        print(json.dumps(fn(Path(args.dir))))
        return 0

    from ikou.sample.diff_pair import planted_pair
    rows = args.rows or (2_000 if args.smoke else 4_000_000)
    check = Checks()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t = time.perf_counter()
        left, right, expected = planted_pair(rows, args.cols)
        left.write_parquet(d / "left.parquet")
        right.write_parquet(d / "right.parquet")
        del left, right
        print(f"generated 2 × {rows:,} rows × {args.cols} columns in "
              f"{time.perf_counter() - t:.1f} s; planted: only_left {expected['only_left']:,}, "
              f"only_right {expected['only_right']:,}, changed_rows {expected['changed_rows']:,}")
        results = {}
        for engine in ["ikou"] + ([] if args.skip_datacompy else ["datacompy"]):
            proc = subprocess.run([sys.executable, __file__, "--child", engine, "--dir", str(d)],
                                  check=False, capture_output=True, text=True)
            if not check(proc.returncode == 0, f"{engine} ran"):
                print(f"{engine}: failed\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            ok = all(r[k] == expected[k] for k in
                     ("only_left", "only_right", "matched", "changed_rows", "changed_cells"))
            results[engine] = r
            print(f"{engine:10s} {r['seconds']:8.2f} s   peak RSS {r['peak_mb']:8.0f} MB   "
                  f"counts {'= planted' if ok else '!= planted: ' + json.dumps(r)}")
            check(ok, f"{engine} reports the planted counts")
        if len(results) == 2:
            a, b = results["ikou"], results["datacompy"]
            print(f"ratio datacompy/ikou: time {b['seconds'] / a['seconds']:.1f}×, "
                  f"peak memory {b['peak_mb'] / a['peak_mb']:.1f}×")
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
