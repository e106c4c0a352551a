"""The map step: a staged extract → `map/<source>.parquet` in the target schema, bad rows quarantined.

Mapping is row-local, so memory is bounded by the batch, not by the size of the source. The
batches are read by Polars (slice pushed down) and streamed into Polars' Parquet sink: pyarrow's
batch reader and writer took more time than the mapping itself.
"""
from __future__ import annotations

import itertools
import logging
from pathlib import Path

import polars as pl

from ikou import quarantine as q
from ikou.context import RunContext
from ikou.staging import sink_batches
from ikou.mappings.engine import apply_mapping
from ikou.schema import TargetSchema
from ikou.mappings.spec import MappingSpec
from ikou.stage import StageResult, step

log = logging.getLogger("ikou")
MAP_BATCH_ROWS = 500_000   # rows per mapping batch: bounds memory whatever the source size


@step("map", name="source_name", total="staged")
def map_source(spec: MappingSpec, schema: TargetSchema, ctx: RunContext, staged: Path, *, source_name: str,
               batch_rows: int = MAP_BATCH_ROWS) -> StageResult:
    """Apply `spec` to the staged extract in bounded batches; write map/<source_name>.parquet."""
    out = ctx.stage_dir("map") / f"{source_name}.parquet"
    scan = pl.scan_parquet(staged)
    n = scan.select(pl.len()).collect().item()
    quarantines, counts = [], [0, 0]

    def mapped(start: int) -> pl.DataFrame:
        r = apply_mapping(scan.slice(start, batch_rows).collect(), spec, schema, run_id=ctx.run_id,
                          dantai_code=ctx.dantai_code)
        quarantines.append(r.quarantine)
        counts[0], counts[1] = counts[0] + r.rows_in, counts[1] + r.rows_out
        return r.frame

    first = mapped(0)   # gives the schema (an empty source: an empty file with the right columns)
    sink_batches(itertools.chain([first], (mapped(s) for s in range(batch_rows, n, batch_rows))), first.schema, out)
    rows_in, rows_out = counts
    log.info("map %s → %s: %d mapped, %d rows quarantined", source_name, spec.target, rows_out, rows_in - rows_out)
    return StageResult(stage="map", name=source_name, rows_in=rows_in, rows_out=rows_out, output=out,
                       quarantine=q.concat(quarantines), metrics={"target": spec.target})
