"""The map step: a staged extract → `map/<source>.parquet` in the target schema, bad rows quarantined.

Mapping is row-local, so memory is bounded by the batch, not by the size of the source. The
batches are read by Polars (slice pushed down) and streamed into Polars' Parquet sink: pyarrow's
batch reader and writer took more time than the mapping itself.
"""
from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import polars as pl

from ikou import quarantine as q
from ikou.context import RunContext
from ikou.staging import ROW_ID, batch_rows as rows_per_batch, sink_batches
from ikou.mappings.ops import OPS
from ikou.mappings.combine import lineage, trace
from ikou.mappings.engine import apply_mapping
from ikou.schema import TargetSchema
from ikou.mappings.spec import MappingSpec
from ikou.stage import StageResult, step

log = logging.getLogger("ikou")
MAP_BATCH_ROWS = 500_000   # rows per mapping batch at most: bounds memory whatever the source size
                           # (wider rows, fewer: ikou.staging.batch_rows)


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
        self._held: list[pl.DataFrame] = []   # the records held here, with what of them could be mapped
        if spec.combine is not None:   # a multi-table source: its tables become one frame of records first
            staged, cq, self.metrics["combine"] = _combined(spec, ctx, Path(staged), source_name, held_at_extract)
            self.quarantines.append(cq)
            self.outputs["combined"] = staged
            # what names a finding on a record by the legacy rows (mappings.combine.trace), for the validation too
            lineage_path(ctx, source_name).write_text(json.dumps(lineage(spec), ensure_ascii=False), encoding="utf-8")
        self.staged = Path(staged)
        self.scan = pl.scan_parquet(staged)
        self.rows = self.scan.select(pl.len()).collect().item()
        self.prepared = {}
        for c in spec.columns:   # ops that decide over the whole source once (new numbers), before the batches
            prep = OPS[c.op].prepare
            if prep is not None:
                self.prepared[c.target], self.metrics.setdefault("prepared", {})[c.target] = prep(c, self.scan, ctx)

    def batches(self, batch_rows: int = MAP_BATCH_ROWS):
        """The mapped rows, up to `batch_rows` source rows at a time, fewer when the rows are wide
        (`ikou.staging.batch_rows`) (at least one batch, maybe empty)."""
        batch_rows = rows_per_batch(self.staged, batch_rows)
        for start in range(0, max(self.rows, 1), batch_rows):
            batch = self.scan.slice(start, batch_rows).collect()
            r = apply_mapping(batch, self.spec, self.schema,
                              run_id=self.ctx.run_id, dantai_code=self.ctx.dantai_code, prepared=self.prepared)
            found = r.quarantine
            if self.spec.combine is not None:   # a record of the combined view: named by the vendor's tables and key
                found = trace(found, self.outputs["combined"], lineage(self.spec))
            self.quarantines.append(found)
            self._held.append(self._as_far_as_mapped(batch, r.quarantine))
            self.rows_in += r.rows_in
            self.rows_out += r.rows_out
            yield r.frame

    def _as_far_as_mapped(self, batch: pl.DataFrame, quarantine: pl.DataFrame) -> pl.DataFrame:
        """The rows of `batch` held here, each mapped by every line but those that failed on it (as far as it
        goes), without the columns the schema marks sensitive or 文字同定 reads (names): what the validation's
        household rule needs to know of a 世帯主 held here (its 世帯番号, 続柄, 住民状態), never a name. Rows
        that failed on the same lines are mapped together (a handful of mappings per batch)."""
        errors = quarantine.filter(pl.col("severity") == "error")
        if not errors.height:
            return pl.DataFrame()
        sets = errors.group_by("row_id").agg(pl.col("column").drop_nulls().unique().sort().str.join("\x1f").alias("f"))
        found = []
        for (failed_on,), ids in sets.group_by("f", maintain_order=True):
            rows = batch.filter(pl.col(ROW_ID).is_in(ids["row_id"].implode()))
            failed = set(failed_on.split("\x1f")) if failed_on else set()
            for _ in range(len(self.spec.columns)):   # a line failing once others are left out: leave it too
                lines = [c for c in self.spec.columns if not failed & {c.target, *c.outputs().values()}]
                if not lines or not rows.height:
                    break
                r = apply_mapping(rows, self.spec.model_copy(update={"columns": lines}), self.schema,
                                  run_id=self.ctx.run_id, dantai_code=self.ctx.dantai_code, prepared=self.prepared)
                found.append(r.frame)
                again = r.quarantine.filter(pl.col("severity") == "error")
                rows = rows.filter(pl.col(ROW_ID).is_in(again["row_id"].unique().implode()))
                failed |= set(again["column"].drop_nulls())
        out = pl.concat([f for f in found if f.height], how="diagonal_relaxed") if any(f.height for f in found) \
            else pl.DataFrame()
        return without_private(out, self.schema, self.spec.target)

    def result(self, *, output: Path | None) -> StageResult:
        held = [h for h in self._held if h.height]
        if held:   # for the validation (validators.step): the records held here, as far as they could be mapped
            pl.concat(held, how="diagonal_relaxed").write_parquet(held_rows_path(self.ctx, self.source_name))
        log.info("map %s → %s: %d mapped, %d rows quarantined", self.source_name, self.spec.target, self.rows_out,
                 self.rows_in - self.rows_out)
        if self.spec.combine is not None:
            self.metrics["records_in"] = self.rows_in   # the records the target table counts (its `extracted`)
        return StageResult(stage="map", name=self.source_name, rows_in=self.rows_in, rows_out=self.rows_out,
                           output=output, outputs=self.outputs, quarantine=q.concat(self.quarantines),
                           metrics=self.metrics)


def held_rows_path(ctx: RunContext, source_name: str, stage: str = "map") -> Path:
    """<stage>/<source>.held.parquet: the records a stage held before validation, with the columns they have
    (no names, no 個人番号: `without_private`), read by the validation (validators.step) for its household rule.
    `map`: what the map stage could still map of a record it held; `moji`: a record 文字同定 held, mapped whole."""
    return ctx.stage_dir(stage) / f"{source_name}.held.parquet"


HELD_ROWS_STAGES = ("map", "moji")   # the stages that keep what they know of the records they hold (held_rows_path)


def without_private(frame: pl.DataFrame, schema: TargetSchema, target: str) -> pl.DataFrame:
    """`frame` without the columns the schema marks sensitive or 文字同定 reads (names, 個人番号 …): what a held
    record may keep for the validation's household rule (its 世帯番号, 続柄, 住民状態)."""
    private = {c.name for c in schema.tables[target].columns if c.sensitive or c.moji}
    return frame.drop([c for c in frame.columns if c in private])


def lineage_path(ctx: RunContext, source_name: str) -> Path:
    """map/<source>.lineage.json, beside a multi-table source's combined records: mappings.combine.lineage."""
    return ctx.stage_dir("map") / f"{source_name}.lineage.json"


def combined_path(ctx: RunContext, source_name: str) -> Path:
    """map/<source>.combined.parquet: a multi-table source's records as combined, before the column ops."""
    return ctx.stage_dir("map") / f"{source_name}.combined.parquet"


def _combined(spec: MappingSpec, ctx: RunContext, staged_dir: Path, source_name: str,
              held_at_extract: pl.DataFrame | None = None):
    """Combine the staged tables (extract/<source>/, tables.json) into map/<source>.combined.parquet."""
    import json

    from ikou.extractors import table_ordinal   # the row-id scheme the extract used
    from ikou.mappings.combine import combine_staged
    from ikou.staging import row_id_base

    manifest = json.loads((staged_dir / "tables.json").read_text(encoding="utf-8"))
    out = combined_path(ctx, source_name)
    # one range of persons at a time (memory bounded by the range, not by the 団体), records streamed to `out`
    r = combine_staged(spec, {a: staged_dir / t["file"] for a, t in manifest["tables"].items()}, out,
                       source_name=source_name, row_id_base=row_id_base(table_ordinal(manifest["ordinal"], -1)),
                       run_id=ctx.run_id, dantai_code=ctx.dantai_code, held_at_extract=held_at_extract)
    for a, e in r.ledger.items():
        log.info("combine %s.%s (%s): %d extracted = %d used + %d quarantined + %d not migrated + %d reference",
                 source_name, a, e["table"], e["extracted"], e["used"], e["quarantined"], e["not_migrated"],
                 e["reference"])
    return out, r.quarantine, {"tables": r.ledger, **r.metrics}
