"""The migration as plain functions, in the order of its diagram:

    extract → map → 文字同定 → validate → (derive) → load → report

Each function takes the run context and Parquet/frames, writes its stage folder and returns a
small result; `flows.migrate` wraps them as Prefect tasks. Nothing here imports Prefect, so every
step is testable on its own.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ikou.extractors import ExtractResult
from ikou.extractors.cache import cached_extract
from ikou.extractors.lineage import ROW_ID, STAGING_COMPRESSION, sink_batches
from ikou import quarantine as q
from ikou.config import RunConfig
from ikou.context import RunContext
from ikou.errors import ConservationError, ThresholdError
from ikou.mappings.derive import derive_table
from ikou.mappings.engine import apply_mapping
from ikou.mappings.schema import TargetSchema, load_schema
from ikou.mappings.spec import MappingSpec, load_mapping

log = logging.getLogger("ikou")
MAP_BATCH_ROWS = 500_000   # rows per mapping batch: bounds memory whatever the source size
VALIDATE_BATCH_ROWS = 250_000   # rows per validation batch (row-local rules, writing): bounds memory


@dataclass
class SourcePlan:
    ordinal: int
    source: object                 # FileSource | DatabaseSource
    mapping: MappingSpec
    schema: TargetSchema


@dataclass
class TableOutcome:
    """What happened to one source on its way to its target table."""
    source: str
    target: str
    extracted: int = 0
    mapped: int = 0
    identified: int = 0
    quarantine: list[pl.DataFrame] = field(default_factory=list)
    moji_counts: dict[str, int] = field(default_factory=dict)
    moji_chars: pl.DataFrame | None = None


def plan(cfg: RunConfig) -> list[SourcePlan]:
    out = []
    for i, s in enumerate(cfg.sources, start=1):
        spec = load_mapping(s.mapping)
        out.append(SourcePlan(ordinal=i, source=s, mapping=spec, schema=load_schema(spec.schema_)))
    return out


def make_context(cfg: RunConfig, run_id: str) -> RunContext:
    ctx = RunContext(dantai_code=cfg.dantai.code, run_id=run_id, runs_dir=cfg.runs_dir,
                     rehearsal=cfg.rehearsal, dantai_name=cfg.dantai.name)
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    return ctx


# ---------------------------------------------------------------- extract
def extract(ctx: RunContext, p: SourcePlan) -> ExtractResult:
    """Extract one source; an unchanged file (same checksum, layout, encoding) reuses its staging."""
    r = cached_extract(p.source, ctx, ordinal=p.ordinal, target_table=p.mapping.target,
                       layout_path=p.mapping.layout)
    log.info("extract %s: %d records read, %d quarantined (%.2fs, cache %s)", p.source.name, r.rows_read,
             r.quarantine.height, r.seconds, r.extra.get("cache", "-"))
    return r


# ---------------------------------------------------------------- map
def map_source(ctx: RunContext, p: SourcePlan, ex: ExtractResult,
               batch_rows: int = MAP_BATCH_ROWS) -> tuple[Path, pl.DataFrame, int]:
    """Apply the mapping in bounded batches; write map/<source>.parquet; return (path, quarantine, rows mapped).

    Mapping is row-local, so memory is bounded by the batch, not by the size of the source. The
    batches are read by Polars (slice pushed down) and streamed into Polars' Parquet sink: pyarrow's
    batch reader and writer took more time than the mapping itself.
    """
    t0 = time.perf_counter()
    out = ctx.stage_dir("map") / f"{p.source.name}.parquet"
    staged = pl.scan_parquet(ex.staging)
    n = staged.select(pl.len()).collect().item()
    quarantines, counts = [], [0, 0]

    def mapped(start: int) -> pl.DataFrame:
        r = apply_mapping(staged.slice(start, batch_rows).collect(), p.mapping, p.schema, run_id=ctx.run_id,
                          dantai_code=ctx.dantai_code)
        quarantines.append(r.quarantine)
        counts[0], counts[1] = counts[0] + r.rows_in, counts[1] + r.rows_out
        return r.frame

    first = mapped(0)   # gives the schema (an empty source: an empty file with the right columns)
    sink_batches(itertools.chain([first], (mapped(s) for s in range(batch_rows, n, batch_rows))),
                 first.schema, out)
    rows_in, rows_out = counts
    log.info("map %s → %s: %d mapped, %d rows quarantined (%.2fs)", p.source.name, p.mapping.target,
             rows_out, rows_in - rows_out, time.perf_counter() - t0)
    return out, q.concat(quarantines), rows_out


# ---------------------------------------------------------------- 文字同定
MOJI_BATCH_ROWS = 250_000   # rows per 文字同定 slice: bounds memory whatever the table size (stage peak
                            # 0.46 GB at 1M persons, 0.57 GB with 500k rows, same time)


def identify(ctx: RunContext, p: SourcePlan, mapped: Path,
             batch_rows: int = MOJI_BATCH_ROWS) -> tuple[Path, pl.DataFrame, dict, pl.DataFrame]:
    """文字同定 of every column the schema marks `moji`; 外字 through the source's table.

    Unresolved characters do not drop the row: they become warning rows (rule moji.unresolved)
    and the flag `_moji_unresolved` that a validation rule reads. The table is never whole in
    memory: characters are judged on the distinct values of the moji columns, then the rewrite and
    the flag are applied slice by slice on the way from map/ to moji/<source>.parquet. Slices,
    not one query over the whole scan: there Polars 2.1 reads ahead of the Parquet sink, and peak
    memory grew with the rows (1.7 GB at 8.6M rows; 0.5 GB in slices, flat from 0.5M to 8.6M).
    """
    from ikou import moji
    from ikou.moji.ledger import Ledger

    t0 = time.perf_counter()
    lf = pl.scan_parquet(mapped)
    table = p.schema.tables[p.mapping.target]
    cols = [c.name for c in table.columns if c.moji]
    gaiji = moji.load_gaiji_table(p.source.gaiji_table) if p.source.gaiji_table else None
    ledger = Ledger.load(ctx.dantai_dir / "moji_ledger")
    dictionary = moji.load_dictionary()
    keys = [ROW_ID] + [k for k in table.primary_key if k in lf.collect_schema()]
    ident = moji.identify_lazy(lf, cols, dictionary=dictionary, gaiji=gaiji, ledger=ledger)
    res = moji.MojiResult(frame=None, chars=ident.chars, counts=ident.counts,
                          unresolved_rows=ident.unresolved_rows(lf, keys).collect(engine="streaming"))
    # Unresolved characters drop nothing: they flag the row for the validation rule moji.unresolved
    # (a warning that blocks sign-off), which shows which column holds which code points.
    flagged = (res.unresolved_rows
               .with_columns(pl.format("{}: {}", "column", pl.col("chars").map_elements(
                   _codepoints, return_dtype=pl.String)).alias("_detail"))
               .group_by(ROW_ID).agg(pl.col("_detail").sort().str.join(" / ").alias("_moji_unresolved_chars"))
               .with_columns(pl.lit(True).alias("_moji_unresolved")))
    n = lf.select(pl.len()).collect().item()
    slices = [lf.slice(start, batch_rows).with_columns(ident.rewrite_exprs())
              .join(flagged.lazy(), on=ROW_ID, how="left", maintain_order="left")
              .with_columns(pl.col("_moji_unresolved").fill_null(False))
              for start in range(0, max(n, 1), batch_rows)]
    out = ctx.stage_dir("moji") / f"{p.source.name}.parquet"
    pl.concat(slices, parallel=False).sink_parquet(out, compression=STAGING_COMPRESSION)
    warn = q.empty()
    chars = res.chars.with_columns(pl.lit(p.source.name).alias("source"))
    chars.write_parquet(ctx.stage_dir("moji") / f"{p.source.name}.chars.parquet")
    ledger.update(res, dictionary=dictionary)
    ledger.save(ctx.dantai_dir / "moji_ledger")
    _record_decision_changes(ctx, ledger)
    log.info("文字同定 %s: %s (%.2fs)", p.source.name, res.counts, time.perf_counter() - t0)
    return out, warn, dict(res.counts), chars


def _record_decision_changes(ctx: RunContext, ledger) -> None:
    """Snapshot the ledger into this run and list decisions changed since the previous run's snapshot."""
    from ikou.moji.ledger import Ledger

    snap = ctx.stage_dir("moji") / "ledger"
    ledger.save(snap)
    earlier = sorted(d for d in ctx.dantai_dir.iterdir()
                     if d.is_dir() and d.name < ctx.run_id and (d / "moji" / "ledger").is_dir())
    if earlier:
        changes = ledger.diff(Ledger.load(earlier[-1] / "moji" / "ledger"))
        changes.write_csv(ctx.stage_dir("moji") / "decision_changes.csv")


def _codepoints(chars: str) -> str:
    """'\ue700' → 'U+E700 (\ue700)': readable even where the 外字 has no glyph (one call per unresolved cell)."""
    return " ".join(f"U+{ord(ch):04X}" for ch in chars) + f" ({chars})"


# ---------------------------------------------------------------- validate
def rules_path(schema: TargetSchema) -> Path:
    return schema.rules   # named by the schema file (default: rules.yaml beside it)


def validate(ctx: RunContext, target: str, schema: TargetSchema, inputs: list[Path],
             others: dict[str, Path] | None = None, batch_rows: int = VALIDATE_BATCH_ROWS):
    """Validate the union of every source feeding `target`; write validate/<target>.parquet.

    `others` are the tables this run has already validated (earlier 業務 included), for cross-table
    (referential) rules.
    Nothing is read whole: row-local rules see `batch_rows` rows at a time, the others a narrow
    projection (validators.engine), and the good rows are streamed from the inputs to the output.
    """
    from ikou import validators

    t0 = time.perf_counter()
    source = pl.concat([pl.scan_parquet(i) for i in inputs], how="diagonal_relaxed")
    rules = validators.load_rules(rules_path(schema))
    source_frames = {t: pl.scan_parquet(pth) for t, pth in (others or {}).items()}
    found = validators.validate_lazy(source, table=target, schema=schema, rules=rules, run_id=ctx.run_id,
                                     dantai_code=ctx.dantai_code, source_frames=source_frames, batch_rows=batch_rows)
    out = ctx.stage_dir("validate") / f"{target}.parquet"
    found.write_good(source, out, batch_rows=batch_rows)
    log.info("validate %s: %d in, %d held (%.2fs)", target, found.rows, found.held.len(), time.perf_counter() - t0)
    return out, q.conform(found.quarantine), found.rule_counts, found.rows


# ---------------------------------------------------------------- load
def load(ctx: RunContext, cfg: RunConfig, schema: TargetSchema, validated: dict[str, Path]) -> dict[str, int]:
    """Derive the dependent tables, then load everything in one transaction.

    Source tables stream from their validated Parquet; derived tables (current person, household)
    are computed lazily from it and are as large as the population, not the history.
    """
    from ikou.loaders import load_tables

    t0 = time.perf_counter()
    sources: dict[str, pl.LazyFrame | pl.DataFrame] = {t: pl.scan_parquet(pth) for t, pth in validated.items()}
    frames: dict[str, Path | pl.DataFrame] = dict(validated)
    for name in schema.derived_tables():   # in dependency order; each computed once
        if schema.tables[name].derive.from_ in sources and name not in validated:
            derived = derive_table(name, schema, sources)
            out = ctx.stage_dir("load") / f"{name}.parquet"
            # sunk, not collected: the derived table is never whole in memory, and loads from its file
            derived.lazy().sink_parquet(out, compression=STAGING_COMPRESSION)
            frames[name], sources[name] = out, pl.scan_parquet(out)
    counts = load_tables(frames, schema, cfg.target.url, cfg.target_schema, run_id=ctx.run_id,
                         dantai_code=ctx.dantai_code)
    log.info("load %s → %s: %s (%.2fs)", schema.gyomu, cfg.target_schema, counts, time.perf_counter() - t0)
    return counts


# ---------------------------------------------------------------- parallel-run diff
def diff_source(ctx: RunContext, p: SourcePlan, ex: ExtractResult, target_url: str, db_schema: str,
                chars: pl.DataFrame | None, sensitive: set[str]) -> dict:
    """Compare the legacy extract with what the target now holds, on the table's primary key.

    Left = the source rows as the legacy system had them (renamed to target names through the
    mapping); right = the loaded target table. Differences the migration caused on purpose are
    explained by rules generated from the same mapping (codes, 和暦, kana width, 外字).

    Neither side is held in memory: the diff reads the staged extract where it lies, under the
    target's names, and the target table in place (DuckDB) or streamed to
    `diff/<table>.target.parquet` (PostgreSQL; kept: it is what was compared, as of this run).
    """
    from ikou.loaders import diff_input
    from ikou.reports.diff import ParquetSource, compare
    from ikou.reports.expected import rules_from_mapping
    from ikou.reports.report import write_diff_outputs
    from ikou.reports.rules import load_rules

    t0 = time.perf_counter()
    table = p.schema.tables[p.mapping.target]
    rename: dict[str, str] = {}
    for c in p.mapping.columns:
        if c.from_ and c.from_ not in rename and c.target not in rename.values():
            rename[c.from_] = c.target
    left = ParquetSource(ex.staging, rename)
    right = diff_input(target_url, db_schema, p.mapping.target,
                       ctx.run_dir / "diff" / f"{p.mapping.target}.target.parquet")
    out_dir = ctx.run_dir / "diff" / p.source.name
    char_map = None
    moji_cols = [c.name for c in table.columns if c.moji]
    if chars is not None and {"char", "output", "status"} <= set(chars.columns):
        char_map = (chars.filter((pl.col("status") == "gaiji") & (pl.col("char") != pl.col("output")))
                    .select(pl.col("char").alias("from"), pl.col("output").alias("to")))
    rules = load_rules(rules_from_mapping(p.mapping, out_dir, char_map=char_map, moji_columns=moji_cols))
    result = compare(left, right, key=table.primary_key, rules=rules,
                     left_name=f"旧 {ex.origin}", right_name=f"新 {db_schema}.{p.mapping.target}")
    try:
        summary = write_diff_outputs(result, out_dir, sensitive=sensitive)
    finally:
        result.close()
    log.info("diff %s ⇔ %s: matched %s, only legacy %s, only new %s, changed rows %s (%.2fs)", p.source.name,
             p.mapping.target, summary.get("matched"), summary.get("only_left"), summary.get("only_right"),
             summary.get("changed_rows"), time.perf_counter() - t0)
    return summary


# ---------------------------------------------------------------- conservation
def check_balances(tables: dict[str, dict], run_id: str) -> None:
    """Every source row is loaded or quarantined, at every stage boundary; else fail loudly."""
    for name, t in tables.items():
        if t.get("derived"):
            continue
        if t["extracted"] != t["loaded"] + t["quarantined"]:
            raise ConservationError(
                f"{name}: extracted {t['extracted']} ≠ loaded {t['loaded']} + quarantined {t['quarantined']}",
                run_id=run_id)
        if t["validated"] != t["loaded"]:
            raise ConservationError(f"{name}: validated {t['validated']} rows but loaded {t['loaded']}",
                                    run_id=run_id)


def pre_load_counts(plans: list[SourcePlan], outcomes: dict[str, TableOutcome],
                    quarantines: list[pl.DataFrame]) -> dict[str, dict]:
    """Per target table: rows extracted and rows quarantined so far (before anything is loaded)."""
    qdf = q.concat(quarantines).filter(pl.col("severity") == "error")
    out: dict[str, dict] = {}
    for p in plans:
        t = out.setdefault(p.mapping.target, {"extracted": 0, "quarantined": 0})
        t["extracted"] += outcomes[p.source.name].extracted if p.source.name in outcomes else 0
    for name, t in out.items():
        t["quarantined"] = qdf.filter(pl.col("table") == name)["row_id"].n_unique()
    return out


def check_thresholds(tables: dict[str, dict], max_rate: float, run_id: str) -> None:
    for name, t in tables.items():
        if t.get("derived") or not t["extracted"]:
            continue
        rate = t["quarantined"] / t["extracted"]
        if rate > max_rate:
            raise ThresholdError(
                f"{name}: {t['quarantined']} of {t['extracted']} rows quarantined ({rate:.1%}) exceeds the "
                f"limit {max_rate:.1%}: a mapping mistake must stop the rehearsal", run_id=run_id)


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
