"""Benchmark: vendor C (a normalized database, 8 tables) from PostgreSQL, end to end.

    .venv/bin/python bench/bench_vendor_c.py --persons 1000000 [--target duckdb|postgres] [--schema vc_bench]
    .venv/bin/python bench/bench_vendor_c.py --smoke    # 300 persons, temporary folder (tests)

Generates the sample at the size asked (data/generated/vendor_c_<n>/, reused when present), loads
vendor C's tables into PostgreSQL (schema vc_bench or --schema; DuckDB when PostgreSQL is unreachable, said so),
runs the whole flow and prints the seconds and peak memory per stage, the rows per second of the
combine (8 tables → 個人履歴) and the time the database load of the legacy tables took. The exit code
is 1 when the run does not account for every row: status, every vendor table's ledger
(extracted = used + quarantined + not migrated + reference) and the records (extracted = loaded +
quarantined).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import SMOKE_HELP, Checks  # noqa: E402

from ikou import REPO_ROOT  # noqa: E402

PG_URL = os.environ.get("IKOU_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MAPPING = REPO_ROOT / "specs" / "vendors" / "vendor_c" / "mappings" / "juki" / "jumin.yaml"


def _pg_reachable() -> bool:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL)
    try:
        with engine.connect():
            return True
    except Exception:   # noqa: BLE001
        return False
    finally:
        engine.dispose()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--target", choices=("duckdb", "postgres"), default="duckdb")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    ap.add_argument("--schema", default="vc_bench",
                    help="PostgreSQL schema for the legacy tables (dropped after; the server is shared: take your own)")
    args = ap.parse_args(argv)
    from ikou.flows.run_cli import run_config
    from ikou.sample.generate import generate
    from ikou.sample.legacy_db import install_vendor_c

    tmp = Path(tempfile.mkdtemp(prefix="ikou-bench-vc-"))
    persons = 300 if args.smoke else args.persons
    data = tmp / "data" if args.smoke else REPO_ROOT / "data" / "generated" / f"vendor_c_{persons}"
    checks = Checks()
    try:
        if not (data / "vendor_c" / "C_KOJIN.csv").is_file():
            t0 = time.perf_counter()
            generate(data, persons, gyomu=("juki",))
            print(f"generate {persons} persons: {time.perf_counter() - t0:.1f}s", flush=True)
        on_pg = _pg_reachable()
        legacy = PG_URL if on_pg else f"duckdb:///{tmp / 'legacy.duckdb'}"
        schema = f"vc_bench_{os.getpid()}" if args.smoke else args.schema
        t0 = time.perf_counter()
        rows = install_vendor_c(data / "vendor_c", legacy, schema=schema)
        t_install = time.perf_counter() - t0
        print(f"legacy database: {'PostgreSQL' if on_pg else 'DuckDB (PostgreSQL unreachable)'}, "
              f"{sum(rows.values())} rows in 8 tables loaded in {t_install:.1f}s", flush=True)
        target = PG_URL if args.target == "postgres" else f"duckdb:///{tmp / 'target.duckdb'}"
        cfg = tmp / "run.yaml"
        cfg.write_text(f"""spec_version: 1
dantai: {{code: "999997", name: 架空市}}
gyomu: [juki]
rehearsal: BENCH
sources:
  - name: vendor_c_juki
    kind: database
    url: {legacy}
    schema: {schema}
    gaiji_table: {data / 'vendor_a' / 'gaiji.csv'}
    mapping: {MAPPING}
target:
  url: {target}
{'  schema: dantai_999997_vcbench' + chr(10) if args.target == 'postgres' else ''}runs_dir: {tmp / 'runs'}
inbox: [{data}, {tmp}]
thresholds: {{max_quarantine_rate: 0.05}}
""", encoding="utf-8")
        t0 = time.perf_counter()
        summary = run_config(cfg)
        wall = time.perf_counter() - t0
        print(f"vendor C flow ({persons} persons, legacy {'PostgreSQL' if on_pg else 'DuckDB'} → {args.target}): "
              f"wall {wall:.1f}s", flush=True)
        for stage, s in summary.get("stages", {}).items():
            print(f"  {stage:<9} {s['seconds']:>8.1f}s  rows {s['rows']:>10}  peak {s.get('peak_rss_mb', '-')} MB")
        checks(summary["status"] == "succeeded", f"run succeeded ({summary.get('error')})")
        combined = summary.get("combined", {}).get("vendor_c_juki", {})
        for alias, t in combined.get("tables", {}).items():
            checks(t["extracted"] == t["used"] + t["quarantined"] + t["not_migrated"] + t["reference"],
                   f"{t['table']}: {t['extracted']} = used + quarantined + not migrated + reference")
        checks(sum(t["extracted"] for t in combined.get("tables", {}).values()) == sum(rows.values()),
               "every row installed was extracted")
        c = summary["tables"]["juki_kojin_rireki"]
        checks(c["extracted"] == c["loaded"] + c["quarantined"], "records: extracted = loaded + quarantined")
        xw = combined.get("crosswalks", {}).get("atena_no", {})
        checks(xw.get("issued", 0) > 0, f"crosswalk atena_no: {xw}")
        out = {"persons": persons, "legacy": "postgres" if on_pg else "duckdb", "target": args.target,
               "legacy_install_s": round(t_install, 1), "wall_s": round(wall, 1), "stages": summary.get("stages"),
               "records": c}
        print(json.dumps(out, ensure_ascii=False))
        if on_pg:
            import sqlalchemy as sa

            engine = sa.create_engine(PG_URL)
            with engine.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                if args.target == "postgres":
                    conn.execute(sa.text("DROP SCHEMA IF EXISTS dantai_999997_vcbench CASCADE"))
            engine.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
