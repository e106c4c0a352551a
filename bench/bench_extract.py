"""Benchmark: extraction of the generator's files (CP932) and of the same rows from PostgreSQL.

    .venv/bin/python bench/bench_extract.py --persons 1000000 [--no-postgres] [--out DIR]
    .venv/bin/python bench/bench_extract.py --persons 200000 --bad-records [--rates 25,1] [--repeat 3]
    .venv/bin/python bench/bench_extract.py --smoke     # 300 persons in a temporary folder (tests)

Every measurement runs in its own fresh process (spawn), so its peak RSS is its own. The raw
limits are measured in the same run on the same input: Python decoding the CP932 bytes (the floor
of any CP932 reader), Polars parsing the same rows as UTF-8, and PostgreSQL streaming the table
with COPY TO STDOUT (the server's own ceiling). Ratios, not absolute times, compare across machines.
The exit code is 1 when a step fails or the readers disagree on the rows of the same data.

--bad-records measures extract_csv on vendor A's JUMIN.csv and on copies of it where a share of the
records (each rate in --rates, percent) is bad in one way: bytes CP932 does not define in 氏名, a field
too many, a quote inside 方書 (`コーポ"A"棟`), a TAB in 住所. All in one process, best of --repeat, as
a factor of the clean file's time: a file with many bad records must not cost per record in Python.

--smoke generates its data, writes its staging and its JSON in a temporary folder and puts the
PostgreSQL table in a schema of its own (dropped at the end); without a reachable server it skips
the database steps (unless IKOU_REQUIRE_SERVICES=1, as in CI). It runs --bad-records too, once, at 25 %.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import SMOKE_HELP, Checks  # noqa: E402

from ikou import REPO_ROOT  # noqa: E402

PG_URL = os.environ.get("IKOU_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_SCHEMA = "bench_extract"


def _peak_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: ru_maxrss survives exec, so a spawned child
    would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- measured steps (run in a child)
def step_decode(path: str) -> dict:
    """Python's cp932 codec over the file in 32 MB blocks: the floor of any CP932 reader."""
    t0 = time.perf_counter()
    n = 0
    with open(path, "rb") as f:
        while block := f.read(32 << 20):
            n += len(block.decode("cp932", errors="replace"))
    return {"seconds": time.perf_counter() - t0}


def step_polars_utf8(path: str) -> dict:
    import polars as pl

    t0 = time.perf_counter()
    df = pl.read_csv(path, infer_schema=False)
    return {"seconds": time.perf_counter() - t0, "rows": df.height}


def step_extract_csv(path: str, layout: str, out: str) -> dict:
    from ikou.extractors import load_layout
    from ikou.extractors.csv_file import extract_csv

    t0 = time.perf_counter()
    r = extract_csv(Path(path), load_layout(layout), out_path=Path(out), source_name="bench", source_ordinal=1,
                    target_table="t", run_id="bench", dantai_code="999997")
    return {"seconds": time.perf_counter() - t0, "rows": r.rows_read, "quarantined": r.quarantine.height}


def step_extract_fixed(path: str, layout: str, out: str) -> dict:
    from ikou.extractors import load_layout
    from ikou.extractors.fixed_width import extract_fixed

    t0 = time.perf_counter()
    r = extract_fixed(Path(path), load_layout(layout), out_path=Path(out), source_name="bench", source_ordinal=1,
                      target_table="t", run_id="bench", dantai_code="999997")
    return {"seconds": time.perf_counter() - t0, "rows": r.rows_read, "quarantined": r.quarantine.height}


def _dsn(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def step_pg_copy(url: str, table: str, schema: str) -> dict:
    import psycopg

    t0 = time.perf_counter()
    n = 0
    with psycopg.connect(_dsn(url)) as conn, conn.cursor() as cur, \
            cur.copy(f'COPY (SELECT * FROM {schema}."{table}") TO STDOUT') as copy:
        for block in copy:
            n += len(block)
    return {"seconds": time.perf_counter() - t0, "bytes": n}


def step_extract_table(url: str, table: str, layout: str, out: str, method: str, schema: str) -> dict:
    from ikou.extractors import load_layout
    from ikou.extractors.database import extract_table

    t0 = time.perf_counter()
    r = extract_table(url, table, load_layout(layout), out_path=Path(out), source_name="bench", source_ordinal=1,
                      run_id="bench", schema=schema, method=method)
    return {"seconds": time.perf_counter() - t0, "rows": r.rows_read, "reader": r.extra.get("reader")}


def _child(q, fn, args):
    try:
        res = fn(*args)
        res["peak_mb"] = round(_peak_mb())
        q.put(res)
    except Exception as exc:  # noqa: BLE001 - reported, not raised, so the other steps still run
        q.put({"error": f"{type(exc).__name__}: {exc}"})


def measure(fn, *args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, fn, args))
    p.start()
    while True:   # a child that dies before it reports (import error, OOM kill) must not hang the bench
        try:
            res = q.get(timeout=1)
            break
        except queue.Empty:
            if not p.is_alive() and q.empty():
                res = {"error": f"the measuring process died (exit code {p.exitcode})"}
                break
    p.join()
    return res


def _postgres_unreachable(url: str) -> str | None:
    import psycopg

    try:
        psycopg.connect(_dsn(url), connect_timeout=5).close()
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


def _drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# ---------------------------------------------------------------- bad records
# kind → (column changed, how, the rule each planted record is held or listed by)
BAD_KINDS = {
    "undecodable": ("SHIMEI", lambda v: v + b"\x85\x40", "extract.decode"),
    "field_count": (None, None, "extract.field_count"),
    "stray_quote": ("KATAGAKI", lambda v: "コーポ\"A\"棟".encode("cp932"), "extract.stray_quote"),
    "control_char": ("JUSHO", lambda v: v + b"\t", "extract.control_char"),
}


def plant_bad_records(src: Path, dst: Path, kind: str, rate: float, names: list[str], seed: int = 7) -> int:
    """A copy of `src` (CR LF lines, no quotes, as the generator writes vendor A) with `rate` of its records
    made bad in the way `kind` says; returns how many."""
    import random

    column, how, _ = BAD_KINDS[kind]
    rnd = random.Random(seed)
    lines = src.read_bytes().split(b"\r\n")
    tail = lines.pop() if lines and lines[-1] == b"" else None
    at = names.index(column) if column else None
    n = 0
    for i, line in enumerate(lines):
        fields = line.split(b",")
        if len(fields) != len(names) or rnd.random() >= rate:
            continue
        if at is None:
            fields.append(b"X")
        else:
            fields[at] = how(fields[at])
        lines[i] = b",".join(fields)
        n += 1
    dst.write_bytes(b"\r\n".join(lines) + (b"\r\n" if tail is not None else b""))
    return n


def bench_bad_records(csv_a: Path, work: Path, rates: list[float], repeat: int, check: Checks) -> dict:
    """extract_csv on the clean file and on each bad-record copy, one process, best of `repeat`."""
    import polars as pl

    from ikou.extractors import load_layout
    from ikou.extractors.csv_file import extract_csv

    layout = load_layout(REPO_ROOT / "specs" / "vendors" / "vendor_a" / "layouts" / "jumin.yaml")
    work.mkdir(parents=True, exist_ok=True)
    files = {"clean": (csv_a, 0, None)}
    for rate in rates:
        for kind, (_, _, rule) in BAD_KINDS.items():
            dst = work / f"{kind}_{rate:g}.csv"
            files[f"{kind} {rate:g} %"] = (dst, plant_bad_records(csv_a, dst, kind, rate / 100, layout.names), rule)

    def once(path: Path):
        t0 = time.perf_counter()
        r = extract_csv(path, layout, out_path=work / "staging.parquet", source_name="bench", source_ordinal=1,
                        target_table="t", run_id="bench", dantai_code="999997", key_columns=["ATENA_NO", "RIREKI_NO"])
        return time.perf_counter() - t0, r

    results: dict[str, dict] = {}
    base_rules = once(csv_a)[1].quarantine["rule"].value_counts()
    for name, (path, planted, rule) in files.items():
        best, r = min((once(path) for _ in range(repeat)), key=lambda x: x[0])
        results[name] = {"seconds": best, "planted": planted, "held_or_listed": r.quarantine.height}
        if rule:
            before = base_rules.filter(pl.col("rule") == rule)["count"].sum()
            got = r.quarantine.filter(pl.col("rule") == rule).height
            check(got == before + planted, f"{name}: {got} rows of {rule} = {before} in the clean file + {planted}")
    clean = results["clean"]["seconds"]
    print(f"\nbad records ({repeat} runs each, best; one process): {csv_a.stat().st_size / 1e6:,.0f} MB")
    for name, r in results.items():
        r["factor"] = r["seconds"] / clean
        print(f"  {name:22} {r['seconds']:6.2f} s  {r['factor']:5.2f}× clean  planted {r['planted']:,}")
    return results


# ---------------------------------------------------------------- driver
def _fixed_width_copy(src_csv: Path, dst: Path, layout_path: Path) -> None:
    """Vendor A's JUMIN rows as fixed-width CP932 records (width = each column's longest value in
    bytes, space padded), to measure the fixed-width reader on the same data."""
    import io

    import polars as pl
    import yaml

    from ikou.extractors import load_layout
    from ikou.extractors.checks import byte_len

    names = load_layout(REPO_ROOT / "specs" / "vendors" / "vendor_a" / "layouts" / "jumin.yaml").names
    text = src_csv.read_bytes().decode("cp932", errors="replace")   # the planted bad line becomes U+FFFD
    df = pl.read_csv(io.StringIO(text), has_header=False, new_columns=names, infer_schema=False,
                     truncate_ragged_lines=True).fill_null("")
    del text
    widths = [int(w) for w in df.select(byte_len(c, "cp932").max().alias(c) for c in names).row(0)]
    layout_path.write_text(yaml.safe_dump({
        "spec_version": 1, "name": "bench.fixed", "format": "fixed", "encoding": "cp932",
        "columns": [{"name": c, "ja": c, "width": w} for c, w in zip(names, widths)]}, allow_unicode=True),
        encoding="utf-8")
    padded = df.select(pl.concat_str([
        pl.col(c).str.pad_end(pl.col(c).str.len_chars() + w - byte_len(c, "cp932")) for c, w in zip(names, widths)
    ]).alias("r"))
    with dst.open("wb") as f:
        for part in padded.iter_slices(200_000):
            f.write(("\r\n".join(part["r"].to_list()) + "\r\n").encode("cp932", errors="replace"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=None, help="persons (default 3,700,000; 300 with --smoke)")
    ap.add_argument("--out", type=Path, default=None,
                    help="generated data folder (default data/generated/bench_<n>; a temporary one with --smoke)")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-fixed", action="store_true")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    ap.add_argument("--bad-records", action="store_true",
                    help="only: extract_csv on files with bad records, as a factor of the clean file's time")
    ap.add_argument("--rates", default="25,1", help="--bad-records: percent of records made bad (default 25,1)")
    ap.add_argument("--repeat", type=int, default=3, help="--bad-records: runs of each file, the best counts")
    args = ap.parse_args()
    args.persons = args.persons or (300 if args.smoke else 3_700_000)
    if args.smoke and args.out is None:
        with tempfile.TemporaryDirectory(prefix="ikou-bench-extract-") as tmp:
            return bench(args, Path(tmp))
    return bench(args, args.out or REPO_ROOT / "data" / "generated" / f"bench_{args.persons}")


def bench(args: argparse.Namespace, out: Path) -> int:
    check = Checks()
    if args.bad_records:
        csv_a = out / "vendor_a" / "JUMIN.csv"
        if not csv_a.is_file():
            from ikou.sample.generate import generate

            generate(out, args.persons)
        rates = [float(x) for x in args.rates.split(",")]
        results = bench_bad_records(csv_a, out / "_bench_bad_records", rates, args.repeat, check)
        dest = REPO_ROOT / "bench" / "out" / f"extract_bad_records_{args.persons}.json"
        dest.parent.mkdir(exist_ok=True)
        dest.write_text(json.dumps({"persons": args.persons, "rates": rates, "results": results}, indent=2),
                        encoding="utf-8")
        print(f"written {dest.relative_to(REPO_ROOT)}")
        return check.exit_code()
    pg_schema = f"{PG_SCHEMA}_smoke_{os.getpid()}" if args.smoke else PG_SCHEMA
    use_pg = not args.no_postgres
    if use_pg and args.smoke and (err := _postgres_unreachable(PG_URL)):
        if os.environ.get("IKOU_REQUIRE_SERVICES") == "1":
            check(False, f"PostgreSQL reachable at {PG_URL} ({err})")
        else:
            print(f"PostgreSQL not reachable ({err}): the database steps are skipped")
        use_pg = False
    csv_a = out / "vendor_a" / "JUMIN.csv"
    csv_b = out / "vendor_b" / "B_JUMIN.csv"
    if not csv_a.is_file():
        from ikou.sample.generate import generate

        t0 = time.perf_counter()
        counts = generate(out, args.persons)
        print(f"generated {counts} in {time.perf_counter() - t0:.1f}s")
    mb_a = csv_a.stat().st_size / 1e6
    mb_b = csv_b.stat().st_size / 1e6
    stage = out / "_bench_staging"
    stage.mkdir(exist_ok=True)
    layout_a = REPO_ROOT / "specs" / "vendors" / "vendor_a" / "layouts" / "jumin.yaml"
    results: dict[str, dict] = {}
    results["raw_decode_cp932"] = measure(step_decode, str(csv_a))
    results["raw_polars_utf8"] = measure(step_polars_utf8, str(csv_b))
    results["extract_csv_cp932"] = measure(step_extract_csv, str(csv_a), str(layout_a), str(stage / "a.parquet"))
    if not args.no_fixed:
        fixed, flayout = out / "vendor_a" / "JUMIN.dat", stage / "fixed.yaml"
        if not fixed.is_file() or not flayout.is_file():
            _fixed_width_copy(csv_a, fixed, flayout)
        results["raw_decode_fixed"] = measure(step_decode, str(fixed))
        results["extract_fixed_cp932"] = measure(step_extract_fixed, str(fixed), str(flayout), str(stage / "f.parquet"))
        results["raw_decode_fixed"]["mb"] = results["extract_fixed_cp932"]["mb"] = fixed.stat().st_size / 1e6
    if use_pg:
        from ikou.sample.legacy_db import install_vendor_table

        try:
            t0 = time.perf_counter()
            install_vendor_table(csv_b, PG_URL, "B_JUMIN", schema=pg_schema)
            print(f"installed B_JUMIN into PostgreSQL in {time.perf_counter() - t0:.1f}s")
            layout_b = str(REPO_ROOT / "specs" / "vendors" / "vendor_b" / "layouts" / "b_jumin.yaml")
            results["raw_pg_copy"] = measure(step_pg_copy, PG_URL, "B_JUMIN", pg_schema)
            for method in ("adbc", "dbapi"):
                results[f"extract_pg_{method}"] = measure(step_extract_table, PG_URL, "B_JUMIN", layout_b,
                                                          str(stage / f"pg_{method}.parquet"), method, pg_schema)
        finally:
            if args.smoke:
                _drop_schema(PG_URL, pg_schema)
    for k in ("raw_decode_cp932", "extract_csv_cp932"):
        results[k]["mb"] = mb_a
    results["raw_polars_utf8"]["mb"] = mb_b
    for r in results.values():
        if "mb" in r and "seconds" in r:
            r["mb_per_s"] = round(r["mb"] / r["seconds"], 1)
    print(f"\npersons={args.persons:,}  JUMIN.csv {mb_a:,.0f} MB (CP932)  B_JUMIN.csv {mb_b:,.0f} MB (UTF-8)")
    print(f"{'step':24} {'seconds':>8} {'MB/s':>8} {'rows/s':>11} {'peak MB':>8}  note")
    for name, r in results.items():
        if "error" in r:
            print(f"{name:24} ERROR {r['error']}")
            continue
        rows = r.get("rows")
        rps = f"{rows / r['seconds']:,.0f}" if rows else ""
        print(f"{name:24} {r['seconds']:8.2f} {r.get('mb_per_s', ''):>8} {rps:>11} {r['peak_mb']:8,}  "
              f"{r.get('reader', '')}")
    check(not any("error" in r for r in results.values()), "every step ran")
    ratios = {}
    e, d, p = results["extract_csv_cp932"], results["raw_decode_cp932"], results["raw_polars_utf8"]
    if not any("error" in r for r in (e, d, p)):
        ratios["extract_csv / python cp932 decode (time)"] = e["seconds"] / d["seconds"]
        ratios["extract_csv MB/s / polars utf-8 MB/s"] = e["mb_per_s"] / p["mb_per_s"]
    if "extract_fixed_cp932" in results and "error" not in results["extract_fixed_cp932"]:
        ratios["extract_fixed / python cp932 decode (time)"] = (results["extract_fixed_cp932"]["seconds"]
                                                              / results["raw_decode_fixed"]["seconds"])
    if "raw_pg_copy" in results and "error" not in results["raw_pg_copy"]:
        for m in ("adbc", "dbapi"):
            if "error" not in results[f"extract_pg_{m}"]:
                ratios[f"extract_pg_{m} / COPY TO STDOUT (time)"] = (results[f"extract_pg_{m}"]["seconds"]
                                                                     / results["raw_pg_copy"]["seconds"])
    print("\nratios (1.0 = at the raw limit; time ratios: lower is better)")
    for k, v in ratios.items():
        print(f"  {k:45} {v:6.2f}")
    # the same rows through every reader: vendor A's file as CSV and fixed width, vendor B's as a table
    same = {"vendor A file": [results.get(k, {}).get("rows") for k in ("extract_csv_cp932", "extract_fixed_cp932")
                              if k in results],
            "vendor B": [results.get(k, {}).get("rows") for k in ("raw_polars_utf8", "extract_pg_adbc", "extract_pg_dbapi")
                         if k in results]}
    for what, counts in same.items():
        check(len(set(counts)) == 1 and None not in counts, f"every reader of {what} has the same rows {counts}")
    if args.smoke:
        bench_bad_records(csv_a, out / "_bench_bad_records", [25.0], 1, check)
    dest = (out if args.smoke else REPO_ROOT / "bench" / "out") / f"extract_{args.persons}.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps({"persons": args.persons, "results": results, "ratios": ratios}, indent=2),
                    encoding="utf-8")
    print(f"\nwritten {dest.relative_to(REPO_ROOT) if dest.is_relative_to(REPO_ROOT) else dest}")
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
