"""`ikou run --config CONFIG.yaml` and `ikou demo`: run the migration flow and name its run folder.

Whatever fails, the command prints one line (Japanese and English) naming the stage and what to
fix, then the run folder (with its summary.json) as the last line, and exits 2; tracebacks only
with `--debug`.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
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


class _NoTraceback(logging.Filter):
    """Prefect logs a failed task with its traceback; the command line shows one clear line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def _tracebacks_off() -> None:
    names = ["", *[n for n in logging.Logger.manager.loggerDict if n.startswith("prefect")]]
    for name in names:
        for h in logging.getLogger(name).handlers:
            if not any(isinstance(f, _NoTraceback) for f in h.filters):
                h.addFilter(_NoTraceback())


def start(config: Path, *, run_id: str | None = None, target_url: str | None = None, debug: bool = False):
    """Run the flow for `config`; return (its final Prefect state, the run folder)."""
    _quiet_prefect()
    from ikou.config import load_config
    from ikou.context import new_run_id

    cfg = load_config(config)
    run_id = run_id or new_run_id(cfg.rehearsal)
    from ikou.flows.migrate import migration_flow

    if debug:
        os.environ["IKOU_DEBUG"] = "1"
    else:
        _tracebacks_off()
    state = migration_flow(config_path=str(Path(config).resolve()), run_id=run_id, target_url=target_url,
                           return_state=True)
    return state, cfg.runs_dir / cfg.dantai.code / run_id


def run_config(config: Path, *, run_id: str | None = None, target_url: str | None = None) -> dict:
    """Run the flow; return its summary, or raise the error that failed it."""
    state, _ = start(config, run_id=run_id, target_url=target_url)
    return state.result()


def prepare_demo_legacy_db(config: Path) -> None:
    """Vendor B's tables live in a database: build the demo's legacy DuckDB from the sample CSV."""
    from ikou.config import load_config
    from ikou.sample.legacy_db import install_vendor_table

    cfg = load_config(config)
    for s in cfg.sources:
        if s.kind == "database":
            csv = SAMPLE / "vendor_b" / f"{s.table}.csv"
            install_vendor_table(csv, s.url, s.table, schema=s.schema_)


def _print_result(summary: dict, run_dir: Path) -> None:
    """Counts per table, then the run folder as the very last line (scripts read it): Prefect's
    notice that it stops its temporary server, logged at exit, must not come after it."""
    logging.getLogger("prefect").setLevel(logging.WARNING)
    for t, c in summary.get("tables", {}).items():
        if c.get("derived"):
            print(f"  {t:<22} derived   loaded={c['loaded']}")
        else:
            print(f"  {t:<22} extracted={c['extracted']} quarantined={c['quarantined']} loaded={c['loaded']} "
                  f"warnings={c['warnings']}")
    print(run_dir, flush=True)


def failure_line(error: dict | None, fallback: str) -> str:
    """The one line a failed run prints: stage, Japanese, English."""
    if not error:
        return f"ikou: 失敗しました — failed: {fallback}"
    return (f"ikou: 失敗 ({error.get('stage') or '-'}): {error.get('message_ja') or ''} — "
            f"failed at {error.get('stage') or '-'}: {error['message']}")


def execute(config: Path, *, run_id=None, target_url=None, debug: bool = False) -> int:
    """Run one config end to end as the command line does; return the exit code."""
    from ikou.errors import IkouError, message_ja, one_line

    try:
        state, run_dir = start(config, run_id=run_id, target_url=target_url, debug=debug)
    except Exception as exc:   # noqa: BLE001 - before a run folder exists: the config itself
        if debug:
            traceback.print_exc()
        kind = "config" if isinstance(exc, IkouError) else "start"
        print(f"ikou: 失敗 ({kind}): {message_ja(exc)} — failed at {kind}: {one_line(exc)}", file=sys.stderr)
        return 2
    f = run_dir / "summary.json"
    summary = json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}
    if state.is_failed() or summary.get("status") != "succeeded":
        if debug:
            exc = state.result(raise_on_failure=False)
            if isinstance(exc, BaseException):
                traceback.print_exception(exc)
        logging.getLogger("prefect").setLevel(logging.WARNING)
        print(failure_line(summary.get("error"), state.message or "see summary.json"), file=sys.stderr, flush=True)
        print(run_dir, flush=True)
        return 2
    _print_result(summary, run_dir)
    return 0


def _run(args) -> int:
    return execute(Path(args.config), run_id=args.run_id, target_url=args.target_url, debug=args.debug)


def _demo(args) -> int:
    config = DEMO_CONFIGS[args.vendor]
    prepare_demo_legacy_db(config)
    return execute(config, target_url=args.target_url, debug=args.debug)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a migration (one 団体 × 業務 × rehearsal) from a config file")
    p.add_argument("--config", required=True, help="run configuration YAML")
    p.add_argument("--run-id", default=None, help="reuse a run id (default: new, time-sorted)")
    p.add_argument("--target-url", default=None, help="override the config's target database URL")
    p.add_argument("--debug", action="store_true", help="show tracebacks of failures")
    p.set_defaults(func=_run)
    d = sub.add_parser("demo", help="migrate the sample 団体 (架空市) end to end into DuckDB")
    d.add_argument("--vendor", choices=sorted(DEMO_CONFIGS), default="a",
                   help="a: vendor A's 中間標準レイアウト files, 住民記録 + 個人住民税 (default); "
                        "a-juki: 住民記録 only; b: vendor B's tables in a database")
    d.add_argument("--target-url", default=None, help="override the target (e.g. postgresql://…)")
    d.add_argument("--debug", action="store_true", help="show tracebacks of failures")
    d.set_defaults(func=_demo)
