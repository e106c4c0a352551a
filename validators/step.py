"""The validate step: the union of every source feeding one target table, checked by the rules.

Nothing is read whole: row-local rules see `batch_rows` rows at a time, table-wide rules a narrow
projection (validators.engine), and the good rows stream from the inputs to validate/<table>.parquet.
"""
from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from ikou import quarantine as q
from ikou.context import RunContext
from ikou.stage import StageResult, step
from ikou.mappings.combine import PERSON_HELD, trace
from ikou.mappings.step import HELD_ROWS_STAGES, combined_path, held_rows_path, lineage_path
from ikou.staging import ROW_ID, batch_rows as rows_per_batch
from ikou.validators.engine import _IDX, validate_lazy
from ikou.validators.kinds import HELD_BY, held_by
from ikou.validators.spec import load_rules

log = logging.getLogger("ikou")
VALIDATE_BATCH_ROWS = 250_000   # rows per validation batch at most (row-local rules, writing): bounds memory
                                # (wider rows, fewer: ikou.staging.batch_rows)


def rules_path(schema) -> Path:
    """The rules file of the schema's 業務: named by the schema file (default: rules.yaml beside it)."""
    return schema.rules


@step("validate", name="target", total="inputs")
def validate_table(schema, target: str, ctx: RunContext, inputs: list[Path], *,
                   others: dict[str, Path] | None = None, row_local: list[Path] | None = None,
                   held_before: list[pl.DataFrame] | None = None,
                   batch_rows: int = VALIDATE_BATCH_ROWS) -> StageResult:
    """Validate `target` (every input Parquet feeding it); write validate/<target>.parquet.

    `others` are the tables this run has already validated (earlier 業務 included), for cross-table
    (referential) rules. `row_local`: per input, what its row-local checks found where its rows were
    made (ikou.onepass); then only the table-wide rules read the inputs here. `held_before`: the
    quarantine of the stages before (map …) of the sources, whose held records' keys a
    `held_together` rule holds the rest of their group for. Metrics: `rules` (rows failed per rule,
    every rule listed).
    """
    source = pl.concat([pl.scan_parquet(i) for i in inputs], how="diagonal_relaxed")
    batch_rows = rows_per_batch(inputs, batch_rows)   # the widest input's rows decide
    rules = load_rules(rules_path(schema))
    source_frames = {t: pl.scan_parquet(pth) for t, pth in (others or {}).items()}
    found = validate_lazy(source, table=target, schema=schema, rules=rules, run_id=ctx.run_id,
                          dantai_code=ctx.dantai_code, source_frames=source_frames, batch_rows=batch_rows,
                          row_local=_positioned(inputs, row_local) if row_local is not None else None,
                          held_before=_held_keys(held_before, schema.resolved_table(target).primary_key,
                                                 [held_rows_path(ctx, Path(i).stem, stage) for i in inputs
                                                  for stage in HELD_ROWS_STAGES]))
    out = ctx.stage_dir("validate") / f"{target}.parquet"
    found.write_good(source, out, batch_rows=batch_rows)
    log.info("validate %s: %d in, %d held", target, found.rows, found.held.len())
    return StageResult(stage="validate", name=target, rows_in=found.rows, rows_out=found.rows - found.held.len(),
                       output=out, quarantine=q.conform(_traced(found.quarantine, ctx, inputs)),
                       metrics={"rules": found.rule_counts.with_columns(pl.lit(target).alias("table")).to_dicts()})


def _traced(quarantine: pl.DataFrame, ctx: RunContext, inputs: list[Path]) -> pl.DataFrame:
    """Findings on the records a multi-table source combined, named by the vendor's tables, rows and person key
    (mappings.combine.trace), as the map stage names its own."""
    import json

    for i in inputs:
        source = Path(i).stem
        spec = lineage_path(ctx, source)
        if spec.is_file():
            quarantine = trace(quarantine, combined_path(ctx, source), json.loads(spec.read_text(encoding="utf-8")))
    return quarantine


def _positioned(inputs: list[Path], found: list[Path]) -> pl.DataFrame:
    """Each input's row-local findings with their row positions counted in the union of the inputs."""
    import pyarrow.parquet as pq

    if len(found) != len(inputs):
        raise ValueError("validate: row-local findings must be given for every input, or for none")
    parts, offset = [], 0
    for i, f in zip(inputs, found):
        parts.append(pl.read_parquet(f).with_columns((pl.col(_IDX) + offset).cast(pl.UInt32)))
        offset += pq.ParquetFile(i).metadata.num_rows
    # by name: a source without findings writes the empty frame, whose columns come in another order
    return pl.concat(parts, how="diagonal_relaxed")


def _held_keys(quarantines: list[pl.DataFrame] | None, key: list[str],
               held_rows: list[Path] = ()) -> pl.DataFrame | None:
    """The records the earlier stages held as errors, one row each: their key columns, read back from their
    `record_key` (`atena_no=…,rireki_no=…`, written by the mapping from the columns it could map; null when it
    names none of them, as a person a multi-table source's combine held: `KOJIN_KEY=…`), the `record_key`
    itself, why the first error holds it (`HELD_BY`: rule, source, line), and the other columns the stage that
    held it knew (`held_rows`: mappings.step.held_rows_path, where present: what the map stage could still map
    of a record it held, a record 文字同定 held as mapped), so a household rule sees a 世帯主 held at map or at
    文字同定 as the 世帯主 it was, and knows when a held record's household is unknown."""
    cols = ["row_id", "record_key", "rule", "source", "source_line", "stage"]
    held = [f.filter(pl.col("severity") == "error").select(cols) for f in quarantines or [] if f.height]
    if not held:
        return None
    # a record held at extract whose key could not be read is kept, its key columns null: no group to hold with
    # it, but a household's 世帯主 may be among such records (kinds._maybe_held_head)
    rk = pl.concat(held, how="vertical_relaxed").filter(pl.col("record_key").is_not_null()
                                                        | (pl.col("stage") == "extract"))
    rk = rk.unique(["row_id", "record_key"], keep="first", maintain_order=True)   # a record: its first error
    # a person a combine held: the rows that say why first, those held only with it after (kinds: the first cause)
    rk = rk.sort(pl.col("rule") == PERSON_HELD, maintain_order=True)
    out = rk.select(pl.col("row_id").cast(pl.Int64),
                    *(pl.col("record_key").str.extract(rf"(?:^|,){c}=([^,]*)").alias(c) for c in key),
                    "record_key",
                    # a record that says only where it was held (flows.pipeline.held_at_extract: its key alone)
                    pl.when(pl.col("rule").is_null() & pl.col("source").is_null() & pl.col("source_line").is_null())
                    .then(pl.format("the {} stage (see its quarantine)", pl.col("stage").fill_null("?")))
                    .otherwise(held_by(pl.col("rule"), pl.col("source"), pl.col("source_line"))).alias(HELD_BY))
    files = [pl.scan_parquet(f) for f in held_rows if Path(f).is_file()]
    if files:
        known = (pl.concat(files, how="diagonal_relaxed").drop(*key, "record_key", strict=False)
                 .rename({ROW_ID: "row_id"}))
        out = out.join(known.collect(), on="row_id", how="left")
    return out.drop("row_id")
