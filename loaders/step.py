"""The load step: one 業務's validated tables, plus the tables derived from them, into the target.

Source tables stream from their validated Parquet; derived tables (current person, household) are
computed lazily from them (loaders.derive), sunk to load/<table>.parquet and loaded from there, so
they are as large as the population, never the history, in memory.
"""
from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from ikou.context import RunContext
from ikou.staging import STAGING_COMPRESSION
from ikou.loaders.derive import derive_table
from ikou.stage import StageResult, step

log = logging.getLogger("ikou")


@step("load")
def load(schema, ctx: RunContext, target_url: str, db_schema: str, validated: dict[str, Path]) -> StageResult:
    """Replace the 団体's tables of `schema`'s 業務 in one transaction. Metrics: `loaded` rows per table."""
    from ikou.loaders import load_tables

    sources: dict[str, pl.LazyFrame] = {t: pl.scan_parquet(pth) for t, pth in validated.items()}
    frames: dict[str, Path] = dict(validated)
    for name in schema.derived_tables():   # in dependency order; each computed once
        if schema.tables[name].derive.from_ in sources and name not in validated:
            out = ctx.stage_dir("load") / f"{name}.parquet"
            derive_table(name, schema, sources).lazy().sink_parquet(out, compression=STAGING_COMPRESSION)
            frames[name], sources[name] = out, pl.scan_parquet(out)
    rows_in = sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in validated.values())
    counts = load_tables(frames, schema, target_url, db_schema, run_id=ctx.run_id, dantai_code=ctx.dantai_code)
    log.info("load %s → %s: %s", schema.gyomu, db_schema, counts)
    return StageResult(stage="load", name=schema.gyomu, rows_in=rows_in,
                       rows_out=sum(counts.get(t, 0) for t in validated), metrics={"loaded": counts})
