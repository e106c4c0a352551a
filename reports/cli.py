"""`ikou diff` (parallel-run comparison) and `ikou run-report` (a run directory's report.html).

Exit codes of `ikou diff`: 0 when the comparison ran (differences are findings, not failures);
2 when an input is unusable (missing key column, unreadable file, bad rules file) or when a side
has duplicate keys (reported in the outputs, never collapsed).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ikou.errors import IkouError


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _tolerances(items: list[str]) -> dict[str, tuple[float, float]]:
    """`col=abs` or `col=abs:rel`."""
    out = {}
    for item in items or []:
        col, _, spec = item.partition("=")
        a, _, r = spec.partition(":")
        out[col.strip()] = (float(a or 0), float(r or 0))
    return out


def _sensitive(args: argparse.Namespace) -> set[str]:
    cols = set(_split(args.sensitive))
    if args.schema:
        from ikou.privacy import schema_sensitive_columns
        cols |= schema_sensitive_columns(args.schema)
    return cols


def _run_diff(args: argparse.Namespace) -> int:
    import polars as pl

    from ikou.reports.diff import compare
    from ikou.reports.report import write_diff_outputs
    try:
        result = compare(args.left, args.right, key=_split(args.key), rules=args.rules,
                         columns=_split(args.columns) or None, crosswalk=args.crosswalk,
                         numeric=_split(args.numeric), dates=_split(args.dates),
                         tolerance=_tolerances(args.tolerance))
        summary = write_diff_outputs(result, Path(args.out), sensitive=_sensitive(args),
                                     reveal=args.reveal)
    except (IkouError, OSError, pl.exceptions.PolarsError) as exc:
        print(f"ikou diff: エラー / error: {exc}", file=sys.stderr)
        return 2
    print(f"旧 {summary['left_rows']:,} 件 / 新 {summary['right_rows']:,} 件: "
          f"一致キー {summary['matched']:,}, 旧のみ {summary['only_left']:,}, "
          f"新のみ {summary['only_right']:,}, 差異行 {summary['changed_rows']:,} "
          f"→ {Path(args.out) / 'report.html'}")
    dup = summary["duplicates"]
    if dup["left"]["keys"] or dup["right"]["keys"]:
        print(f"ikou diff: エラー / error: duplicate keys on key {args.key}: "
              f"left {dup['left']['keys']} key(s) ({dup['left']['rows']} rows), "
              f"right {dup['right']['keys']} key(s) ({dup['right']['rows']} rows); "
              f"they were left out of the comparison, see duplicates_*.csv in {args.out}",
              file=sys.stderr)
        return 2
    return 0


def _run_report(args: argparse.Namespace) -> int:
    import polars as pl

    from ikou.quarantine import empty
    from ikou.reports.reconcile import load_summary
    from ikou.reports.report import render_run_report
    try:
        run_dir = Path(args.run_dir)
        summary = load_summary(run_dir)
        qpath = Path(args.quarantine) if args.quarantine else run_dir / "quarantine.parquet"
        quarantine = pl.read_parquet(qpath) if qpath.is_file() else empty()
        previous = load_summary(args.previous) if args.previous else None
        diff = load_summary(args.diff) if args.diff else None
        out = render_run_report(summary, quarantine, Path(args.out or run_dir / "report.html"),
                                diff=diff, previous_summary=previous,
                                sensitive=_sensitive(args), reveal=args.reveal)
    except IkouError as exc:
        print(f"ikou run-report: エラー / error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "diff", help="並行稼働比較: compare two tables on a key",
        description="Compare LEFT (legacy) and RIGHT (new) on a key. A table is a .csv (UTF-8, "
                    "header), a .parquet, or SQLALCHEMY_URL#table (e.g. sqlite:///old.db#t).")
    p.add_argument("left")
    p.add_argument("right")
    p.add_argument("--key", required=True, help="key column(s), comma-separated")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--rules", help="expected-difference rules (YAML)")
    p.add_argument("--columns", help="compare only these columns (comma-separated)")
    p.add_argument("--crosswalk", help="key crosswalk CSV: legacy_<key>,<key> for each key column")
    p.add_argument("--numeric", help="columns compared as numbers (comma-separated)")
    p.add_argument("--dates", help="columns compared as dates (comma-separated)")
    p.add_argument("--tolerance", action="append", metavar="COL=ABS[:REL]",
                   help="numeric tolerance for a column (repeatable)")
    p.add_argument("--sensitive", default="kojin_no,shimei,shimei_kana",
                   help="columns masked in the outputs (default: %(default)s)")
    p.add_argument("--schema", help="target schema YAML: its sensitive columns are masked too")
    p.add_argument("--reveal", action="store_true", help="show sensitive values unmasked")
    p.set_defaults(func=_run_diff)

    r = subparsers.add_parser("run-report", help="移行レポート: render a run directory's report.html")
    r.add_argument("run_dir")
    r.add_argument("--quarantine", help="quarantine Parquet (default RUN_DIR/quarantine.parquet)")
    r.add_argument("--previous", help="previous rehearsal's run directory or summary.json")
    r.add_argument("--diff", help="a diff's summary.json to include")
    r.add_argument("--out", help="output HTML (default RUN_DIR/report.html)")
    r.add_argument("--sensitive", default="kojin_no,shimei,shimei_kana")
    r.add_argument("--schema", help="target schema YAML: its sensitive columns are masked too")
    r.add_argument("--reveal", action="store_true")
    r.set_defaults(func=_run_report)
