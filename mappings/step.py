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
from ikou.mappings.ops import OPS
from ikou.mappings.engine import apply_mapping
from ikou.schema import TargetSchema
from ikou.mappings.spec import MappingSpec
from ikou.stage import StageResult, step

log = logging.getLogger("ikou")
MAP_BATCH_ROWS = 500_000   # rows per mapping batch: bounds memory whatever the source size


@step("map", name="source_name", total="staged")
def map_source(spec: MappingSpec, schema: TargetSchema, ctx: RunContext, staged: Path, *, source_name: str,
               batch_rows: int = MAP_BATCH_ROWS, held_at_extract: pl.DataFrame | None = None) -> StageResult:
    """Apply `spec` to the staged extract in bounded batches; write map/<source_name>.parquet.
    `held_at_extract`: the extract's quarantine (a multi-table source holds the persons of those rows)."""
    out = ctx.stage_dir("map") / f"{source_name}.parquet"
    m = Mapper(spec, schema, ctx, staged, source_name=source_name, held_at_extract=held_at_extract)
    batches = m.batches(batch_rows)
    first = next(batches)   # gives the schema (an empty source: an empty file with the right columns)
    sink_batches(itertools.chain([first], batches), first.schema, out)
    return m.result(output=out)


class Mapper:
    """A source's mapping, batch by batch: what `map_source` writes to map/, and what the one pass
    (ikou.onepass) hands on to 文字同定 in memory. Ops that decide over the whole source (`prepare`:
    new numbers) and a multi-table source's combine run once, when it is made. `held_at_extract`, the
    extract's quarantine, reaches the combine: a person with a row held at extract is held in every table
    (mappings.combine.combine)."""

    def __init__(self, spec: MappingSpec, schema: TargetSchema, ctx: RunContext, staged: Path, *,
                 source_name: str, held_at_extract: pl.DataFrame | None = None):
        self.spec, self.schema, self.ctx, self.source_name = spec, schema, ctx, source_name
        self.quarantines: list[pl.DataFrame] = []
        self.rows_in = self.rows_out = 0
        self.metrics: dict = {"target": spec.target}
        self.outputs: dict[str, Path] = {}
        if spec.combine is not None:   # a multi-table source: its tables become one frame of records first
            staged, cq, self.metrics["combine"] = _combined(spec, ctx, Path(staged), source_name, held_at_extract)
            self.quarantines.append(cq)
            self.outputs["combined"] = staged
        self.scan = pl.scan_parquet(staged)
        self.rows = self.scan.select(pl.len()).collect().item()
        self.prepared = {}
        for c in spec.columns:   # ops that decide over the whole source once (new numbers), before the batches
            prep = OPS[c.op].prepare
            if prep is not None:
                self.prepared[c.target], self.metrics.setdefault("prepared", {})[c.target] = prep(c, self.scan, ctx)

    def batches(self, batch_rows: int = MAP_BATCH_ROWS):
        """The mapped rows, `batch_rows` source rows at a time (at least one batch, maybe empty)."""
        for start in range(0, max(self.rows, 1), batch_rows):
            r = apply_mapping(self.scan.slice(start, batch_rows).collect(), self.spec, self.schema,
                              run_id=self.ctx.run_id, dantai_code=self.ctx.dantai_code, prepared=self.prepared)
            self.quarantines.append(r.quarantine)
            self.rows_in += r.rows_in
            self.rows_out += r.rows_out
            yield r.frame

    def result(self, *, output: Path | None) -> StageResult:
        log.info("map %s → %s: %d mapped, %d rows quarantined", self.source_name, self.spec.target, self.rows_out,
                 self.rows_in - self.rows_out)
        if self.spec.combine is not None:
            self.metrics["records_in"] = self.rows_in   # the records the target table counts (its `extracted`)
        return StageResult(stage="map", name=self.source_name, rows_in=self.rows_in, rows_out=self.rows_out,
                           output=output, outputs=self.outputs, quarantine=q.concat(self.quarantines),
                           metrics=self.metrics)


def _combined(spec: MappingSpec, ctx: RunContext, staged_dir: Path, source_name: str,
              held_at_extract: pl.DataFrame | None = None):
    """Combine the staged tables (extract/<source>/, tables.json) into map/<source>.combined.parquet."""
    import json

    from ikou.extractors import table_ordinal   # the row-id scheme the extract used
    from ikou.mappings.combine import combine_staged
    from ikou.staging import row_id_base

    manifest = json.loads((staged_dir / "tables.json").read_text(encoding="utf-8"))
    out = ctx.stage_dir("map") / f"{source_name}.combined.parquet"
    # one range of persons at a time (memory bounded by the range, not by the 団体), records streamed to `out`
    r = combine_staged(spec, {a: staged_dir / t["file"] for a, t in manifest["tables"].items()}, out,
                       source_name=source_name, row_id_base=row_id_base(table_ordinal(manifest["ordinal"], -1)),
                       run_id=ctx.run_id, dantai_code=ctx.dantai_code, held_at_extract=held_at_extract)
    for a, e in r.ledger.items():
        log.info("combine %s.%s (%s): %d extracted = %d used + %d quarantined + %d not migrated + %d reference",
                 source_name, a, e["table"], e["extracted"], e["used"], e["quarantined"], e["not_migrated"],
                 e["reference"])
    return out, r.quarantine, {"tables": r.ledger, **r.metrics}
