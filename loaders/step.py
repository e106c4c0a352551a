"""The load step: every 業務 of a run, plus the tables derived from them, into the target at once.

Source tables stream from their validated Parquet; derived tables (current person, household) are
computed lazily from them (loaders.derive), sunk to load/<table>.parquet and loaded from there, so
they are as large as the population, never the history, in memory. The target then holds this run
and only this run, every 業務 together, or, if anything fails, still the run it held before.
"""
from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from ikou.context import RunContext
from ikou.loaders.derive import derive_table
from ikou.loaders.targets import LoadPart, RunRecord
from ikou.stage import StageResult, step
from ikou.staging import STAGING_COMPRESSION

log = logging.getLogger("ikou")


def derive(schema, ctx: RunContext, validated: dict[str, Path]) -> dict[str, Path]:
    """The 業務's validated tables plus the tables its schema derives from them (in dependency order)."""
    sources: dict[str, pl.LazyFrame] = {t: pl.scan_parquet(pth) for t, pth in validated.items()}
    frames: dict[str, Path] = dict(validated)
    for name in schema.derived_tables():
        if schema.tables[name].derive.from_ in sources and name not in validated:
            out = ctx.stage_dir("load") / f"{name}.parquet"
            derive_table(name, schema, sources).lazy().sink_parquet(out, compression=STAGING_COMPRESSION)
            frames[name], sources[name] = out, pl.scan_parquet(out)
    return frames


@step("load", name="db_schema")
def load(parts: list[tuple[object, dict[str, Path]]], ctx: RunContext, target_url: str, db_schema: str, *,
         max_drop_ratio: float | None = None) -> StageResult:
    """Replace the 団体's target with this run: `parts` = (schema, validated tables) per 業務, in order.

    Metrics: `loaded` rows per table, `gyomu`. Fails before changing anything when a table would be
    emptied or shrink beyond `max_drop_ratio` (loaders.targets.check_counts).
    """
    from ikou.loaders import load_run

    load_parts = [LoadPart(schema, derive(schema, ctx, validated)) for schema, validated in parts]
    rows_in = sum(pl.scan_parquet(p).select(pl.len()).collect().item() for _, v in parts for p in v.values())
    gyomu = tuple(schema.gyomu for schema, _ in parts)
    counts = load_run(load_parts, target_url, db_schema, max_drop_ratio=max_drop_ratio,
                      run=RunRecord(run_id=ctx.run_id, rehearsal=ctx.rehearsal, dantai_code=ctx.dantai_code,
                                    gyomu=gyomu))
    log.info("load %s → %s: %s", "+".join(gyomu), db_schema, counts)
    validated_tables = {t for _, v in parts for t in v}
    return StageResult(stage="load", name="+".join(gyomu), rows_in=rows_in,
                       rows_out=sum(n for t, n in counts.items() if t in validated_tables),
                       metrics={"loaded": counts, "gyomu": list(gyomu)})
