"""`ikou run --config CONFIG.yaml` and `ikou demo`: run the migration flow and name its run folder."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ikou import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample"
DEMO_CONFIGS = {
    "a": SAMPLE / "demo_vendor_a_all.yaml",      # 住民記録 + 個人住民税 from vendor A's files (default)
    "a-juki": SAMPLE / "demo_vendor_a.yaml",     # 住民記録 only
    "b": SAMPLE / "demo_vendor_b.yaml",          # 住民記録 from vendor B's tables in a database
}


def _quiet_prefect() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")


def run_config(config: Path, *, run_id: str | None = None, target_url: str | None = None) -> dict:
    _quiet_prefect()
    from ikou.flows.migrate import migration_flow

    return migration_flow(config_path=str(Path(config).resolve()), run_id=run_id, target_url=target_url)


def prepare_demo_legacy_db(config: Path) -> None:
    """Vendor B's tables live in a database: build the demo's legacy DuckDB from the sample CSV."""
    from ikou.config import load_config
    from ikou.legacy_db import install_vendor_table

    cfg = load_config(config)
    for s in cfg.sources:
        if s.kind == "database":
            csv = SAMPLE / "vendor_b" / f"{s.table}.csv"
            install_vendor_table(csv, s.url, s.table, schema=s.schema_)


def _print_result(summary: dict, run_dir: Path) -> None:
    """Counts per table, then the run folder as the very last line (scripts read it): Prefect's
    notice that it stops its temporary server, logged at exit, must not come after it."""
    import logging

    logging.getLogger("prefect").setLevel(logging.WARNING)
    for t, c in summary["tables"].items():
        if c.get("derived"):
            print(f"  {t:<22} derived   loaded={c['loaded']}")
        else:
            print(f"  {t:<22} extracted={c['extracted']} quarantined={c['quarantined']} loaded={c['loaded']} "
                  f"warnings={c['warnings']}")
    print(run_dir, flush=True)


def _run(args) -> int:
    from ikou.errors import IkouError

    try:
        summary = run_config(Path(args.config), run_id=args.run_id, target_url=args.target_url)
    except IkouError as exc:
        print(f"ikou: run failed: {exc}", file=sys.stderr)
        return 2
    run_dir = _run_dir(Path(args.config), summary)
    _print_result(summary, run_dir)
    return 0


def _run_dir(config: Path, summary: dict) -> Path:
    from ikou.config import load_config

    cfg = load_config(config)
    return cfg.runs_dir / summary["dantai"] / summary["run_id"]


def _demo(args) -> int:
    from ikou.errors import IkouError

    config = DEMO_CONFIGS[args.vendor]
    prepare_demo_legacy_db(config)
    try:
        summary = run_config(config, target_url=args.target_url)
    except IkouError as exc:
        print(f"ikou: demo failed: {exc}", file=sys.stderr)
        return 2
    _print_result(summary, _run_dir(config, summary))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a migration (one 団体 × 業務 × rehearsal) from a config file")
    p.add_argument("--config", required=True, help="run configuration YAML")
    p.add_argument("--run-id", default=None, help="reuse a run id (default: new, time-sorted)")
    p.add_argument("--target-url", default=None, help="override the config's target database URL")
    p.set_defaults(func=_run)
    d = sub.add_parser("demo", help="migrate the sample 団体 (架空市) end to end into DuckDB")
    d.add_argument("--vendor", choices=sorted(DEMO_CONFIGS), default="a",
                   help="a: vendor A's 中間標準レイアウト files, 住民記録 + 個人住民税 (default); "
                        "a-juki: 住民記録 only; b: vendor B's tables in a database")
    d.add_argument("--target-url", default=None, help="override the target (e.g. postgresql://…)")
    d.set_defaults(func=_demo)
