"""Benchmark: the ikou validation engine vs the same 住民記録 rules on pandera's Polars backend.

Builds N synthetic 個人履歴 rows (vectorised; 5 planted defect kinds, 0.5 % of rows each), writes them once to Parquet,
then validates them in one child process per engine so each peak RSS is its own. Both engines
produce the same thing: the good rows and the failing (row, rule) pairs; the bench prints their
counts side by side (they must agree), the time ratio and the peak RSS. The ikou time includes
building the quarantine rows (lineage, record key, messages); the pandera time stops at its
failure_cases table, which would still need that conversion.

    .venv/bin/python bench/bench_validate.py [--rows 1000000]
    .venv/bin/python bench/bench_validate.py --smoke     # 2,000 rows, one run per engine (tests)

The rows have exactly the columns of the target schema (specs/gyomu/juki/schema.yaml): the columns
the rules constrain beyond the schema (keys, check digits, households, date order) have their own
generators below; every other column gets a valid value from its schema facts alone (type, length,
code table, the 不詳 pair of a date), so a column added to the schema needs no change here.
Exits 1 when an engine fails or the engines disagree on the good rows, held rows or failures.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import SMOKE_HELP, Checks  # noqa: E402

from ikou import REPO_ROOT  # noqa: E402
from ikou.schema import Column, TargetSchema, load_schema  # noqa: E402
from ikou.checkdigit import atena_check_digit_expr, kojin_no_check_digit_expr  # noqa: E402
from ikou.validators.engine import run_date_of, schema_rules, validate  # noqa: E402
from ikou.validators.kinds import HELD, HELD_BY, KINDS, Context  # noqa: E402
from ikou.validators.spec import load_rules  # noqa: E402

TABLE = "juki_kojin_rireki"
DANTAI = "131016"
SCHEMA_PATH = REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml"
RULES_PATH = REPO_ROOT / "specs" / "gyomu" / "juki" / "rules.yaml"


def _specific_columns() -> dict[str, pl.Expr]:
    """The columns whose values the rules constrain beyond the schema (check digits, households,
    date order …), from the helper columns p (person), birth, r, rireki_no and head."""
    body7 = (pl.col("p") + 1).cast(pl.String).str.zfill(7)
    setai7 = (pl.col("p") // 3 + 1).cast(pl.String).str.zfill(7)
    kojin11 = (pl.col("p") * 7 + 100_000_013).cast(pl.String).str.zfill(11)
    birth_date = pl.lit(0).cast(pl.Date) + pl.duration(days=pl.col("birth"))
    return dict(
        dantai_code=pl.lit(DANTAI),
        atena_no=pl.concat_str(body7, atena_check_digit_expr(body7).cast(pl.String)),
        rireki_no=pl.col("rireki_no"),
        setai_no=pl.concat_str(setai7, atena_check_digit_expr(setai7).cast(pl.String)),
        juminhyo_code=(pl.col("p") + 50_000_000_000).cast(pl.String),
        kojin_no=pl.concat_str(kojin11, kojin_no_check_digit_expr(kojin11).cast(pl.String)),
        shimei=pl.lit("試験　太郎"),
        shimei_kana=pl.lit("シケン　タロウ"),
        seibetsu_code=pl.when(pl.col("r") < 0.5).then(pl.lit("1")).otherwise(pl.lit("2")),
        seinengappi=birth_date.dt.strftime("%Y-%m-%d"),
        zokugara_code=pl.when("head").then(pl.lit("02")).when(pl.col("r") < 0.3).then(pl.lit("12"))
        .otherwise(pl.lit("20")),
        jumin_shubetsu_code=pl.lit("1"),
        jumin_jotai_code=pl.when(~pl.col("head") & (pl.col("r") > 0.97)).then(pl.lit("2")).otherwise(pl.lit("1")),
        ido_jiyu_code=pl.when(pl.col("rireki_no") == 1).then(pl.lit("03")).otherwise(pl.lit("41")),
        ido_date=(birth_date + pl.duration(days=pl.col("rireki_no") * 400)).dt.strftime("%Y-%m-%d"),
        todokede_date=(birth_date + pl.duration(days=pl.col("rireki_no") * 400 + 3)).dt.strftime("%Y-%m-%d"),
        machiaza_code=pl.lit("0012345"),
        jusho=pl.lit("東京都千代田区千代田"),
        banchi=pl.lit("1番1号"),
        katagaki=pl.lit(None, pl.String),
        yubin_no=pl.lit("1000001"),
    )


def generic_value(c: Column, schema: TargetSchema, dates: set[str]) -> pl.Expr:
    """A valid value for a column from its schema facts alone: the 不詳フラグ/不詳表記 of a date
    column say "known" ('0', no 表記), a coded column takes its code table's first code."""
    for suffix, value in (("_fumei_flag", pl.lit("0")), ("_fumei_hyoki", pl.lit(None, pl.String))):
        if c.name.endswith(suffix) and c.name.removesuffix(suffix) in dates:
            return value
    if c.code_table:
        return pl.lit(schema.code_values(c.code_table)["code"][0])
    if c.type == "integer":
        return pl.lit(1, pl.Int64)
    if c.type == "date":
        return pl.lit("2000-01-01")
    if c.type == "decimal":
        return pl.lit("0")
    if c.length:
        return pl.lit("1" * c.length)
    return pl.lit("試験"[: c.max_length or 2])


def generic_columns() -> list[str]:
    specific = _specific_columns()
    return [c.name for c in load_schema(SCHEMA_PATH).resolved_table(TABLE).columns if c.name not in specific]


def synthetic(n: int, seed: int = 7) -> pl.DataFrame:
    """n history rows of ~0.8 n persons in households of 3, in the schema's columns; every value
    valid, then plants."""
    rng = np.random.default_rng(seed)
    persons = int(n * 0.8)
    p = np.sort(np.concatenate([np.arange(persons), rng.integers(0, persons, n - persons)]))
    birth = rng.integers(-14_600, 14_600, n)          # days from 1970-01-01: 1930 … 2009
    df = pl.DataFrame({"p": p, "birth": birth, "r": rng.random(n)}).with_columns(
        rireki_no=(pl.int_range(pl.len()).over("p") + 1).cast(pl.Int64),
        head=pl.col("p") % 3 == 0,
    )
    schema = load_schema(SCHEMA_PATH)
    columns = schema.resolved_table(TABLE).columns
    dates = {c.name for c in columns if c.type == "date"}
    specific = _specific_columns()
    df = df.select((specific[c.name] if c.name in specific else generic_value(c, schema, dates)).alias(c.name)
                   for c in columns)
    # plants: 5 defect kinds, each on 0.5 % of rows
    k = rng.integers(0, 200, n)
    plant = pl.Series("k", k)
    df = df.with_columns(plant).with_columns(
        seibetsu_code=pl.when(pl.col("k") == 0).then(pl.lit("7")).otherwise("seibetsu_code"),
        kojin_no=pl.when(pl.col("k") == 1).then(pl.lit("983205673215")).otherwise("kojin_no"),
        seinengappi=pl.when(pl.col("k") == 2).then(pl.lit("1970-13-01")).otherwise("seinengappi"),
        ido_date=pl.when(pl.col("k") == 3).then(pl.lit("1900-01-01")).otherwise("ido_date"),
        zokugara_code=pl.when(pl.col("k") == 4).then(pl.lit("02")).otherwise("zokugara_code"),  # 2nd head
    ).drop("k")
    return df.with_columns(
        _row_id=pl.int_range(pl.len(), dtype=pl.Int64),
        _source=pl.lit("JUMIN.csv"),
        _source_line=pl.int_range(pl.len(), dtype=pl.Int64) + 2,
    )


def run_ikou(df: pl.DataFrame) -> dict:
    schema, rules = load_schema(SCHEMA_PATH), load_rules(RULES_PATH)
    t = time.perf_counter()
    res = validate(df, table=TABLE, schema=schema, rules=rules, run_id="bench", dantai_code=DANTAI)
    secs = time.perf_counter() - t
    err = res.quarantine.filter(pl.col("severity") == "error")
    return {"seconds": secs, "good": res.good.height, "held": err["row_id"].n_unique(),
            "failures": err.height}


def pandera_schemas(df: pl.DataFrame):
    """The same rules on pandera: built-in checks where pandera has them, custom Polars-expression
    checks (the only way pandera's Polars backend takes custom logic) for the rest."""
    import pandera.polars as pa

    schema, rules = load_schema(SCHEMA_PATH), load_rules(RULES_PATH)
    t = schema.resolved_table(TABLE)
    # the run's date, as the ikou engine reads it for run_id "bench" (date_range's `max: run_date`)
    ctx = Context(TABLE, t, schema, frozenset(df.columns), DANTAI, run_date=run_date_of("bench"))

    def expr_check(rule, phase_name):
        checks = KINDS[rule.kind].build(rule.parsed_params(), ctx)
        def fn(d, c):
            lf = d.lazyframe
            for stage in c.stages:
                lf = lf.with_columns(**stage)
            return lf.select((~c.failed.fill_null(False)).alias("ok"))
        return [pa.Check(lambda d, c=c: fn(d, c), name=f"{rule.id}:{c.column}") for c in checks]

    columns: dict[str, pa.Column] = {}
    for c in t.columns:
        checks = []
        if c.required:
            checks.append(pa.Check.str_length(min_value=1) if c.type != "integer" else pa.Check.ge(-2**62))
        if c.length:
            checks.append(pa.Check.str_length(c.length, c.length))
        if c.max_length:
            checks.append(pa.Check.str_length(max_value=c.max_length))
        if c.code_table:
            checks.append(pa.Check.isin(schema.code_values(c.code_table)["code"].to_list()))
        dtype = pl.Int64 if c.type == "integer" else pl.String
        columns[c.name] = pa.Column(dtype, checks=checks, nullable=not c.required)
    frame_checks, group_checks = [], []
    implicit_dates = [r for r in schema_rules(schema, TABLE) if r.kind == "date_valid"]
    for rule in implicit_dates + list(rules.tables[TABLE]):
        if rule.kind == "unique_key":
            continue   # pandera's own `unique=` below
        if KINDS[rule.kind].phase == 3:
            continue   # groups held together: after both schemas (run_pandera), as the ikou engine does
        (group_checks if KINDS[rule.kind].phase == 2 else frame_checks).extend(expr_check(rule, rule.id))
    row_schema = pa.DataFrameSchema(columns, checks=frame_checks, unique=["atena_no", "rireki_no"])
    group_schema = pa.DataFrameSchema(checks=group_checks)
    return row_schema, group_schema


def run_pandera(df: pl.DataFrame) -> dict:
    from pandera.errors import SchemaErrors

    row_schema, group_schema = pandera_schemas(df)
    t = time.perf_counter()
    failures = []
    try:
        row_schema.validate(df, lazy=True)
    except SchemaErrors as exc:
        failures.append(exc.failure_cases.select("index", "check"))
    held = pl.concat(failures)["index"].unique() if failures else pl.Series([], dtype=pl.Int32)
    survivors = df.with_row_index("__i").filter(~pl.col("__i").is_in(held.cast(pl.UInt32).implode()))
    try:   # phase 2 on the survivors, as the ikou engine does
        group_schema.validate(survivors.drop("__i"), lazy=True)
    except SchemaErrors as exc:
        idx = exc.failure_cases["index"].cast(pl.UInt32)
        mapped = survivors["__i"].gather(idx)
        failures.append(pl.DataFrame({"index": mapped.cast(pl.Int32), "check": exc.failure_cases["check"]}))
    held = pl.concat(failures)["index"].unique() if failures else pl.Series([], dtype=pl.Int32)
    # phase 3 (a group with a held row held whole, households): every row, those held marked, as the ikou engine
    # does; the kinds' own Polars expressions, as for the custom checks above
    schema = load_schema(SCHEMA_PATH)
    ctx = Context(TABLE, schema.resolved_table(TABLE), schema, frozenset(df.columns), DANTAI,
                  run_date=run_date_of("bench"))
    marked = df.with_row_index("__i").with_columns(pl.col("__i").is_in(held.cast(pl.UInt32).implode()).alias(HELD),
                                                   pl.lit(None, pl.String).alias(HELD_BY))
    for rule in load_rules(RULES_PATH).tables[TABLE]:
        if KINDS[rule.kind].phase == 3:
            for c in KINDS[rule.kind].build(rule.parsed_params(), ctx):
                lf = marked.lazy()
                for stage in c.stages:
                    lf = lf.with_columns(**stage)
                extra = lf.filter(c.failed.fill_null(False)).select("__i").collect()["__i"]
                failures.append(pl.DataFrame({"index": extra.cast(pl.Int32), "check": [rule.id] * extra.len()}))
    allf = pl.concat(failures) if failures else pl.DataFrame({"index": [], "check": []})
    held = allf["index"].unique()
    good = df.with_row_index("__i").filter(~pl.col("__i").is_in(held.cast(pl.UInt32).implode())).drop("__i")
    secs = time.perf_counter() - t
    return {"seconds": secs, "good": good.height, "held": held.len(), "failures": allf.height}


def child(engine: str, data: Path, repeat: int) -> None:
    df = pl.read_parquet(data)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    runs = [run_ikou(df) if engine == "ikou" else run_pandera(df) for _ in range(repeat)]
    out = runs[-1] | {"seconds": sorted(r["seconds"] for r in runs)[len(runs) // 2]}
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["rss_before_mb"] = base / 1024
    print(json.dumps(out))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=None, help="rows (default 1,000,000; 2,000 with --smoke)")
    ap.add_argument("--engine", choices=["ikou", "pandera"])
    ap.add_argument("--data", type=Path)
    ap.add_argument("--repeat", type=int, default=None,
                    help="timed runs per engine; the median is shown (default 3; 1 with --smoke)")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = ap.parse_args()
    rows = args.rows or (2_000 if args.smoke else 1_000_000)
    repeat = args.repeat or (1 if args.smoke else 3)
    if args.engine:
        child(args.engine, args.data, repeat)
        return 0
    check = Checks()
    with tempfile.TemporaryDirectory(prefix="ikou-bench-validate-") as tmp:
        data = Path(tmp) / "rows.parquet"
        t = time.perf_counter()
        df = synthetic(rows)
        df.write_parquet(data)
        print(f"{os.cpu_count()} CPUs; median of {repeat} runs per engine")
        print(f"built {df.height:,} rows × {df.width} columns in {time.perf_counter() - t:.2f} s "
              f"(polars {pl.__version__}); from the schema alone: {', '.join(generic_columns())}")
        results = {}
        for engine in ("ikou", "pandera"):
            proc = subprocess.run([sys.executable, __file__, "--engine", engine, "--data", str(data),
                                   "--repeat", str(repeat)],
                                  capture_output=True, text=True)
            if not check(proc.returncode == 0, f"{engine} engine ran"):
                print(proc.stderr[-3000:], file=sys.stderr)
                continue
            results[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
            r = results[engine]
            print(f"{engine:8s} {r['seconds']:6.2f} s  good {r['good']:,}  held {r['held']:,}  "
                  f"failures {r['failures']:,}  peak RSS {r['peak_rss_mb']:,.0f} MB "
                  f"(after reading data {r['rss_before_mb']:,.0f} MB)")
            check(r["good"] + r["held"] == rows and r["held"] > 0,
                  f"{engine}: good + held = {rows:,} rows, the plants held")
        if len(results) == 2:
            i, p = results["ikou"], results["pandera"]
            print(f"pandera / ikou time ratio: {p['seconds'] / i['seconds']:.2f}; "
                  f"same good rows: {i['good'] == p['good']}")
            check(all(i[k] == p[k] for k in ("good", "held", "failures")),
                  "both engines find the same good rows, held rows and (row, rule) failures")
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
