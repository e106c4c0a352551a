"""Benchmark: the whole migration flow on generated data, against raw limits in the same run.

    .venv/bin/python bench/bench_flow.py --persons 1000000 [--targets duckdb,postgres]
    .venv/bin/python bench/bench_flow.py --smoke     # 300 persons into DuckDB, in a temporary folder (tests)
    .venv/bin/python bench/bench_flow.py --persons 300000 --targets duckdb --katagaki-chars 1000 \
        [--row-bytes-limit inf]   # wide rows: 1,000 more characters of 方書 on every second record
                                  # (inf: batches by row count only, as before ikou.staging.batch_rows)

Prints rows/s per stage and peak memory, next to the raw limits measured on the same input in
this process: Python decoding the CP932 bytes (the floor of any CP932 reader), Polars parsing the
same rows as UTF-8, and PostgreSQL COPY of the same rows. After the PostgreSQL flow, the load stage
runs again on that run's validated staging, alternating with a raw COPY of every row it writes
(derived tables included), and the ratio of the two is printed (`--load-repeat`). Ratios, not
absolute times, are what compare across machines. The exit code is 1 when a run does not account for every row of the file
(status, extracted = lines of the file = loaded + quarantined, every stage, a DuckDB target's rows).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import polars as pl  # noqa: E402

from benchlib import SMOKE_HELP, Checks  # noqa: E402

from ikou import REPO_ROOT  # noqa: E402

PG_URL = os.environ.get("IKOU_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# the benchmark's own target schema, dropped before and after: a shared PostgreSQL keeps no
# 2M-row run of ours that a test's load would then refuse to shrink (thresholds.max_drop_ratio)
BENCH_SCHEMA = "dantai_999997_bench"


def drop_bench_schemas(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            for s in (BENCH_SCHEMA, BENCH_SCHEMA + "__prev", BENCH_SCHEMA + "__next"):
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
    finally:
        engine.dispose()


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return own / 1024


def raw_limits(csv_path: Path) -> dict:
    data = csv_path.read_bytes()
    t0 = time.perf_counter()
    text = data.decode("cp932", errors="replace")  # the planted bad bytes must not stop the measurement
    t_decode = time.perf_counter() - t0
    utf8 = text.encode("utf-8")
    del text
    t0 = time.perf_counter()
    df = pl.read_csv(io.BytesIO(utf8), has_header=False, infer_schema=False, truncate_ragged_lines=True)
    t_polars = time.perf_counter() - t0
    rows = df.height
    out = {"rows": rows, "cp932_bytes": len(data), "utf8_bytes": len(utf8),
           "python_cp932_decode_s": t_decode, "python_cp932_decode_MBps": len(data) / t_decode / 1e6,
           "polars_read_utf8_s": t_polars, "polars_read_utf8_rows_per_s": rows / t_polars,
           "polars_read_utf8_MBps": len(utf8) / t_polars / 1e6}
    out["pg_copy"] = pg_copy_limit(df)
    return out


def pg_copy_limit(*frames: pl.DataFrame, temp: bool = True) -> dict | None:
    """COPY of the same rows into scratch tables (one per frame, one transaction, rolled back): the
    ceiling of the client COPY path. The CSV text is written before the clock starts. Temporary
    tables by default (no WAL); `temp=False`: ordinary tables, WAL-logged like any durable load."""
    try:
        import psycopg
    except ImportError:
        return None
    try:
        conn = psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), autocommit=False)
    except Exception as exc:  # noqa: BLE001
        return {"error": str(exc).splitlines()[0]}
    bodies = [(df.width, df.write_csv(include_header=False, null_value="\\N").encode("utf-8")) for df in frames]
    with conn:
        with conn.cursor() as cur:
            t0 = time.perf_counter()
            for k, (width, body) in enumerate(bodies):
                cur.execute(f"CREATE {'TEMP ' if temp else ''}TABLE ikou_bench_copy{k} "
                            f"({', '.join(f'c{i} text' for i in range(width))})")
                with cur.copy(f"COPY ikou_bench_copy{k} FROM STDIN (FORMAT csv, NULL '\\N')") as cp:
                    for i in range(0, len(body), 8 << 20):
                        cp.write(body[i:i + (8 << 20)])
            t = time.perf_counter() - t0
        conn.rollback()
    rows = sum(df.height for df in frames)
    return {"rows": rows, "seconds": t, "rows_per_s": rows / t}


def load_vs_copy(validated_dir: Path, repeat: int) -> dict | None:
    """The load stage (`ikou.loaders.load`: derived tables, the one transaction, keys, schema swap)
    against a raw COPY (pg_copy_limit) of every row it writes (validated and derived tables),
    alternating `repeat` times in this process on this run's validated staging, into the bench's
    own schema (dropped before each load and after): best and median of each, and their ratios."""
    import statistics

    from ikou import SPECS
    from ikou.context import RunContext
    from ikou.loaders import load
    from ikou.schema import load_schema

    schema = load_schema(SPECS / "gyomu" / "juki" / "schema.yaml")
    validated = {p.stem: p for p in sorted(validated_dir.glob("*.parquet")) if p.stem in schema.tables}
    loads, copies, logged = [], [], []
    with tempfile.TemporaryDirectory(prefix="ikou-bench-load-") as tmp:
        ctx = RunContext("999997", "bench-load", Path(tmp), rehearsal="BENCH")
        try:
            for _ in range(repeat):
                drop_bench_schemas(PG_URL)
                res = load([(schema, validated)], ctx, PG_URL, BENCH_SCHEMA, max_drop_ratio=None)
                loads.append(res.seconds)
                tables = list(res.metrics["loaded"])
                # the columns the load writes (staging also carries lineage: _row_id, _source …)
                frames = [pl.read_parquet(validated.get(t) or ctx.stage_dir("load") / f"{t}.parquet",
                                          columns=[c.name for c in schema.resolved_table(t).columns]) for t in tables]
                copy = pg_copy_limit(*frames)
                if not copy or "seconds" not in copy:
                    return None
                copies.append(copy["seconds"])
                logged.append(pg_copy_limit(*frames, temp=False)["seconds"])
                del frames
        finally:
            drop_bench_schemas(PG_URL)
    return {"tables": tables, "rows": copy["rows"], "load_s": loads, "copy_s": copies, "copy_logged_s": logged,
            "ratio_best": min(loads) / min(copies),
            "ratio_median": statistics.median(loads) / statistics.median(copies),
            "ratio_logged_best": min(loads) / min(logged)}


# full-table staging writes and reads of the flow (the one pass, issue #17): writes extract, 文字同定
# (map and the row-local checks run in the same pass, in memory), validate; reads the one pass, validate
# twice (the table-wide rules' projection, then the good rows), load, the diff's legacy side. The staged
# design before it: 4 writes (+ map) and 6 reads (map, 文字同定, validate twice, load, diff).
WRITES, READS = 3, 5
STAGED_WRITES, STAGED_READS = 4, 6


def staging_floor(validated: Path, ingest_s: float) -> dict:
    """What the flow's data movement alone costs, with no computation at all: the decode of the source
    (measured in raw_limits), its full-table staging writes and reads (WRITES, READS) and the target's own
    ingest; `staged_io_s` is the same for the staged design before the one pass. Measured on this run's
    validated table with the writer the flow uses (Polars, lz4).
    """
    t0 = time.perf_counter()
    df = pl.read_parquet(validated)
    read_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        df.write_parquet(Path(tmp) / "w.parquet", compression="lz4")
        write_s = time.perf_counter() - t0
    return {"read_s": read_s, "write_s": write_s, "ingest_s": ingest_s,
            "io_s": WRITES * write_s + READS * read_s + ingest_s,
            "staged_io_s": STAGED_WRITES * write_s + STAGED_READS * read_s + ingest_s}


def duckdb_ingest_s(validated: Path) -> float:
    """DuckDB inserting the validated Parquet into a fresh file table (no key): its raw ingest."""
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "i.duckdb"))
        con.execute("SET preserve_insertion_order = false")
        t0 = time.perf_counter()
        con.execute("CREATE TABLE t AS SELECT * FROM read_parquet(?)", [str(validated)])
        con.execute("CHECKPOINT")
        t = time.perf_counter() - t0
        con.close()
    return t


def run_flow(sample_dir: Path, target_url: str, runs_dir: Path, *, max_quarantine_rate: float = 0.05,
             row_bytes_limit: float | None = None) -> dict:
    """The flow in a child process: its stage peaks then start from a clean interpreter, not from
    the memory this process used for the raw limits. `row_bytes_limit`: the child's
    ikou.staging.BATCH_ROW_BYTES (inf: batches sized by row count only)."""
    out = runs_dir / "bench_summary.json"
    runs_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, __file__, "--child-flow", str(sample_dir), target_url, str(runs_dir),
                    str(max_quarantine_rate), str(row_bytes_limit or "")], check=True)
    return json.loads(out.read_text())


def _child_flow(sample_dir: Path, target_url: str, runs_dir: Path, max_quarantine_rate: str = "0.05",
                row_bytes_limit: str = "") -> None:
    from ikou import staging
    from ikou.flows.run_cli import run_config
    from ikou.memory import peak_rss_mb

    if row_bytes_limit:
        staging.BATCH_ROW_BYTES = float(row_bytes_limit)
    cfg = runs_dir / "bench_config.yaml"
    cfg.write_text(f"""spec_version: 1
dantai: {{code: "999997", name: 架空市}}
gyomu: [juki]
rehearsal: BENCH
sources:
  - name: vendor_a_jumin
    kind: file
    path: {sample_dir / 'vendor_a' / 'JUMIN.csv'}
    encoding: cp932
    gaiji_table: {sample_dir / 'vendor_a' / 'gaiji.csv'}
    mapping: {REPO_ROOT / 'specs' / 'vendors' / 'vendor_a' / 'mappings' / 'juki' / 'jumin.yaml'}
target:
  url: {target_url}
  schema: {BENCH_SCHEMA}
runs_dir: {runs_dir}
inbox: [{sample_dir}]
thresholds: {{max_quarantine_rate: {max_quarantine_rate}, max_drop_ratio: null}}
""", encoding="utf-8")
    t0 = time.perf_counter()
    summary = run_config(cfg)
    summary["_wall_s"] = time.perf_counter() - t0
    summary["_peak_rss_mb"] = peak_rss_mb()   # since the last stage began (stages reset the peak)
    (runs_dir / "bench_summary.json").write_text(json.dumps(summary, default=str))


def widen_katagaki(src: Path, dst: Path, chars: int) -> None:
    """A copy of the generated data whose vendor A 住民記録 (JUMIN.csv) carries `chars` more characters of 方書
    on every second record, each its own (its line number first): the wide-field case. The 方書 is the field
    before the last (郵便番号); the rest of each line is kept byte for byte (the planted faults too). Such a
    方書 is longer than the schema allows: validation holds those records (schema.max_length)."""
    shutil.copytree(src, dst, dirs_exist_ok=True)
    filler = "グリーンハイツ第三号棟南側通路奥管理人室気付東京都千代田区霞が関一丁目二番地"
    body = (filler * (chars // len(filler) + 1)).encode("cp932")
    lines = (src / "vendor_a" / "JUMIN.csv").read_bytes().split(b"\r\n")

    def wide(i: int, line: bytes) -> bytes:
        cut = line.rfind(b",")
        if i % 2 or cut < 0:
            return line
        pad = f"{i:08d}".encode() + body[:2 * chars - 8]   # CP932: 2 bytes a character, digits one
        return line[:cut] + pad + line[cut:]

    # data generation, once, before anything is measured: a line at a time is fine here
    (dst / "vendor_a" / "JUMIN.csv").write_bytes(b"\r\n".join(wide(i, x) for i, x in enumerate(lines)))


def batch_sizes(run_dir: Path, row_bytes_limit: float | None = None, source: str = "vendor_a_jumin",
                table: str = "juki_kojin_rireki") -> dict:
    """The rows per batch each stage used on this run's staging (ikou.staging.batch_rows), with the widths."""
    from ikou import staging
    from ikou.loaders.postgres_target import COPY_BATCH_ROWS
    from ikou.mappings.step import MAP_BATCH_ROWS
    from ikou.moji.step import MOJI_BATCH_ROWS
    from ikou.validators.step import VALIDATE_BATCH_ROWS

    files = {"map": (run_dir / "extract" / f"{source}.parquet", MAP_BATCH_ROWS),
             "moji (staged)": (run_dir / "moji" / f"{source}.parquet", MOJI_BATCH_ROWS),
             "validate": (run_dir / "moji" / f"{source}.parquet", VALIDATE_BATCH_ROWS),
             "copy": (run_dir / "validate" / f"{table}.parquet", COPY_BATCH_ROWS)}
    widths = {stage: staging.row_bytes(path) for stage, (path, _) in files.items() if path.is_file()}
    return {stage: {"row_bytes": round(w or 0), "max_rows": files[stage][1],
                    "rows": staging.rows_for_width(files[stage][1], w, row_bytes_limit)} for stage, w in widths.items()}


def check_run(check: Checks, name: str, summary: dict, lines: int, target_url: str) -> None:
    """The run accounts for every line of the file, every stage ran, the target holds the rows."""
    t = summary["tables"]["juki_kojin_rireki"]
    check(summary["status"] == "succeeded", f"{name}: the run succeeded")
    check(set(summary["stages"]) == {"extract", "map", "moji", "validate", "load", "diff"},
          f"{name}: every stage ran")
    check(t["extracted"] == lines == t["loaded"] + t["quarantined"] and t["loaded"] > 0 and t["quarantined"] > 0,
          f"{name}: extracted {t['extracted']:,} = lines of the file {lines:,} = loaded {t['loaded']:,} "
          f"+ quarantined {t['quarantined']:,} (the planted faults)")
    check(all(summary["tables"][d]["loaded"] > 0 for d in ("juki_kojin", "juki_setai")),
          f"{name}: the derived tables have rows")
    if target_url.startswith("duckdb"):   # a file of this bench's own (a shared PostgreSQL may be written meanwhile)
        import duckdb

        con = duckdb.connect(target_url.split(":///", 1)[1], read_only=True)
        try:
            n = con.execute(f'SELECT count(*) FROM "{BENCH_SCHEMA}".juki_kojin_rireki').fetchall()[0][0]
        finally:
            con.close()
        check(n == t["loaded"], f"{name}: the target holds the {t['loaded']:,} loaded rows ({n:,})")


def check_same_as_staged(check: Checks, name: str, run_dir: Path, work: Path) -> None:
    """The one pass's validated rows and quarantine equal the staged steps' (map → 文字同定 → validate, each
    through its own Parquet file as before issue #17) on the same extract staging."""
    from ikou.config import load_config
    from ikou.flows import pipeline as P
    from ikou.mappings import map_source
    from ikou.moji import identify_source
    from ikou.validators import validate_table

    cfg = load_config(run_dir.parent.parent / "bench_config.yaml")
    cfg = cfg.model_copy(update={"runs_dir": work / "runs_staged"})
    ctx = P.make_context(cfg, run_dir.name)
    t0 = time.perf_counter()
    plans, moji, held, before = P.plan(cfg), {}, [], {}
    run_q = pl.read_parquet(run_dir / "quarantine.parquet")
    for p in plans:
        mp = map_source(p.mapping, p.schema, ctx, run_dir / "extract" / f"{p.source.name}.parquet",
                        source_name=p.source.name)
        mo = identify_source(p.schema, p.target, ctx, mp.output, source_name=p.source.name,
                             gaiji_table=p.source.gaiji_table)
        moji[p.source.name] = mo.output
        held += [mp.quarantine, mo.quarantine]
        # what the flow hands the validation: the records held at map, at 文字同定 and at extract (the run's own
        # extract findings of this source's file)
        extract_q = run_q.filter((pl.col("stage") == "extract") & (pl.col("source") == Path(p.source.path).name))
        before[p.source.name] = [mp.quarantine, mo.quarantine, P.held_at_extract(p, extract_q)]
    same = True
    for target, schema, feeding in P.tables_in_order(cfg, plans):
        v = validate_table(schema, target, ctx, [moji[p.source.name] for p in feeding],
                           held_before=[h for p in feeding for h in before[p.source.name]])
        held.append(v.quarantine)
        same &= pl.read_parquet(v.output).equals(pl.read_parquet(run_dir / "validate" / f"{target}.parquet"))
    cols = [c for c in held[0].columns if c != "run_id"]
    staged = pl.concat(held).select(cols).sort(cols, nulls_last=True)
    fused = (pl.read_parquet(run_dir / "quarantine.parquet").filter(pl.col("stage").is_in(["map", "moji", "validate"]))
             .select(cols).sort(cols, nulls_last=True))
    check(same and staged.equals(fused),
          f"{name}: validated rows and quarantine ({fused.height:,} findings) equal the staged steps' "
          f"(re-run in {time.perf_counter() - t0:.1f}s)")
    shutil.rmtree(work / "runs_staged", ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=None, help="persons (default 1,000,000; 300 with --smoke)")
    ap.add_argument("--targets", default=None, help="default duckdb,postgres; duckdb with --smoke")
    ap.add_argument("--keep", default=None, help="directory for generated data (default: temp)")
    ap.add_argument("--load-repeat", type=int, default=3,
                    help="after the PostgreSQL flow: the load stage again vs a raw COPY of the same rows, "
                         "alternating N times (default 3; 0: not measured)")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    ap.add_argument("--katagaki-chars", type=int, default=0,
                    help="wide rows: this many more characters of 方書 on every second record (default 0)")
    ap.add_argument("--row-bytes-limit", type=float, default=None,
                    help="ikou.staging.BATCH_ROW_BYTES for the flow (inf: batches by row count only)")
    ap.add_argument("--child-flow", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_flow:
        _child_flow(*(Path(a) if i in (0, 2) else a for i, a in enumerate(args.child_flow)))
        return 0
    args.persons = args.persons or (300 if args.smoke else 1_000_000)
    args.targets = args.targets or ("duckdb" if args.smoke else "duckdb,postgres")
    if args.smoke and not args.keep:
        with tempfile.TemporaryDirectory(prefix="ikou-bench-flow-") as tmp:
            return bench(args, Path(tmp))
    return bench(args, Path(args.keep or tempfile.mkdtemp(prefix="ikou-bench-")))


def bench(args: argparse.Namespace, work: Path) -> int:
    from ikou.sample.generate import generate

    check = Checks()
    sample = work / "data"
    t0 = time.perf_counter()
    if not (sample / "vendor_a" / "JUMIN.csv").is_file():
        generate(sample, persons=args.persons, seed=20261123)
    print(f"generated {args.persons:,} persons in {time.perf_counter() - t0:.1f}s → {sample}")
    if args.katagaki_chars:
        wide = work / f"data_katagaki{args.katagaki_chars}"
        if not (wide / "vendor_a" / "JUMIN.csv").is_file():
            widen_katagaki(sample, wide, args.katagaki_chars)
        sample = wide
        print(f"方書 {args.katagaki_chars:,} characters longer on every second record → {sample}")
    csv_path = sample / "vendor_a" / "JUMIN.csv"
    limits = raw_limits(csv_path)
    rows = limits["rows"]
    print(f"\nraw limits on the same input ({rows:,} rows, {limits['cp932_bytes'] / 1e6:.0f} MB CP932):")
    print(f"  Python cp932 decode   {limits['python_cp932_decode_MBps']:8.0f} MB/s  ({limits['python_cp932_decode_s']:.2f}s)")
    print(f"  Polars read UTF-8     {limits['polars_read_utf8_rows_per_s']:8.0f} rows/s ({limits['polars_read_utf8_MBps']:.0f} MB/s)")
    if limits.get("pg_copy") and "rows_per_s" in limits["pg_copy"]:
        print(f"  PostgreSQL COPY       {limits['pg_copy']['rows_per_s']:8.0f} rows/s ({limits['pg_copy']['seconds']:.2f}s)")
    results = {"persons": args.persons, "limits": limits, "targets": {}}
    targets = {"duckdb": f"duckdb:///{work / 'target.duckdb'}", "postgres": PG_URL}
    for name in args.targets.split(","):
        # a fresh runs folder per target and run: a flow must not reuse an earlier run's staging cache
        # (with --keep, the folder of the previous benchmark is still there)
        shutil.rmtree(work / f"runs_{name}", ignore_errors=True)
        if name == "postgres":
            drop_bench_schemas(PG_URL)
        try:
            # wide 方書 are longer than the schema allows: half the records held, and with them nearly every
            # person's other records (held_together): by design of the case
            summary = run_flow(sample, targets[name], work / f"runs_{name}",
                               max_quarantine_rate=1.0 if args.katagaki_chars else 0.05,
                               row_bytes_limit=args.row_bytes_limit)
        finally:
            if name == "postgres":
                drop_bench_schemas(PG_URL)
        results["targets"][name] = {"stages": summary["stages"], "wall_s": summary["_wall_s"],
                                    "tables": summary["tables"]}
        print(f"\nflow into {name}: wall {summary['_wall_s']:.1f}s (incl. Prefect start-up)")
        slowest = min(limits["python_cp932_decode_MBps"] * 1e6 / limits["cp932_bytes"] * rows,
                      (limits.get("pg_copy") or {}).get("rows_per_s", float("inf")))
        for stage, s in summary["stages"].items():
            rps = s["rows"] / s["seconds"] if s["seconds"] else float("inf")
            peak = f"{s['peak_rss_mb']:8,.0f} MB peak" if s.get("peak_rss_mb") is not None else ""
            print(f"  {stage:<9} {s['rows']:>10,} rows {s['seconds']:7.2f}s {rps:12,.0f} rows/s {peak}")
        total = sum(s["seconds"] for s in summary["stages"].values())
        peaks = [s["peak_rss_mb"] for s in summary["stages"].values() if s.get("peak_rss_mb") is not None]
        if peaks:
            results["targets"][name]["flow_peak_rss_mb"] = max(peaks)
            print(f"  flow peak RSS (largest stage peak, child process): {max(peaks):,.0f} MB")
        print(f"  stages total {total:.2f}s = {rows / total:,.0f} rows/s; slowest raw limit {slowest:,.0f} rows/s; "
              f"ratio {rows / total / slowest:.2f}")
        validated = next((work / f"runs_{name}").glob(f"*/{summary['run_id']}/validate/juki_kojin_rireki.parquet"))
        sizes = batch_sizes(validated.parent.parent, args.row_bytes_limit)
        results["targets"][name]["batch_rows"] = sizes
        print("  rows per batch, of at most (bytes per row): " + ", ".join(
            f"{stage} {s['rows']:,} of {s['max_rows']:,} ({s['row_bytes']:,})" for stage, s in sizes.items()))
        ingest = (duckdb_ingest_s(validated) if name == "duckdb"
                  else (limits.get("pg_copy") or {}).get("seconds", 0.0))
        floor = staging_floor(validated, ingest)
        floor["s"] = limits["python_cp932_decode_s"] + floor["io_s"]
        floor["ceiling_ratio"] = rows / floor["s"] / slowest
        floor["staged_ceiling_ratio"] = rows / (limits["python_cp932_decode_s"] + floor["staged_io_s"]) / slowest
        results["targets"][name]["staging_floor"] = floor
        results["targets"][name]["ratio"] = rows / total / slowest
        # what the design can still win: the flow's time over the time its I/O alone takes (1.0 = nothing but I/O)
        results["targets"][name]["over_floor"] = total / floor["s"]
        print(f"  floor with no computation: decode {limits['python_cp932_decode_s']:.2f}s + {WRITES} staging writes "
              f"× {floor['write_s']:.2f}s + {READS} reads × {floor['read_s']:.2f}s + target ingest {ingest:.2f}s "
              f"= {floor['s']:.2f}s → the best ratio the one pass allows here: {floor['ceiling_ratio']:.2f} "
              f"(staged design: {floor['staged_ceiling_ratio']:.2f})")
        print(f"  all stages ÷ floor: {total / floor['s']:.2f}× (1.00× would be nothing but the floor's I/O)")
        if name == "postgres" and args.load_repeat:
            same = load_vs_copy(validated.parent, args.load_repeat)
            if same:
                results["targets"][name]["load_vs_copy"] = same
                print(f"  load stage again on this run's staging vs a raw COPY of the same {same['rows']:,} rows "
                      f"({', '.join(same['tables'])}), alternating {args.load_repeat}x: load "
                      f"{', '.join(f'{x:.2f}' for x in same['load_s'])}s; COPY "
                      f"{', '.join(f'{x:.2f}' for x in same['copy_s'])}s (temporary tables, as the limit above); "
                      f"ratio {same['ratio_best']:.2f}x (best), {same['ratio_median']:.2f}x (median); COPY into "
                      f"ordinary (WAL-logged) tables {', '.join(f'{x:.2f}' for x in same['copy_logged_s'])}s: "
                      f"ratio {same['ratio_logged_best']:.2f}x (best)")
        check_run(check, name, summary, rows, targets[name])
        if name == args.targets.split(",")[0]:
            check_same_as_staged(check, name, validated.parent.parent, work)
    results["peak_rss_mb"] = peak_rss_mb()
    print(f"\npeak RSS of the benchmark process (raw limits): {results['peak_rss_mb']:.0f} MB")
    out = work if args.smoke else REPO_ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    wide = f"_katagaki{args.katagaki_chars}" if args.katagaki_chars else ""
    limit = f"_limit{args.row_bytes_limit:g}" if args.row_bytes_limit else ""
    (out / f"flow_{args.persons}{wide}{limit}.json").write_text(json.dumps(results, indent=2, default=str))
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
