"""map → 文字同定 → row-local validation in one pass over a source's staged extract (issue #17).

The three steps are row-local and deterministic, so their intermediate files are not worth
writing: each batch of the extract staging is mapped (`mappings.step.Mapper`), identified
(`moji.step.Identifier`) and checked by the table's row-local rules (`validators.RowLocal`) in
memory, and only the identified rows (`moji/<source>.parquet`, every row: the table-wide rules
still see the rows a row-local rule holds, as they did) and the findings are written. The validate
step then runs only the table-wide rules, on key-column projections, as before.

What a run records is the same as the staged stages' (loaded rows, quarantine, summary counts,
同定台帳, differences: tests/flows/test_onepass.py); `keep_stages` also writes map/<source>.parquet
for an audit or a debugging session, which with moji/ and validate/ is the staged layout.
"""
from __future__ import annotations

import contextlib
import itertools
import time
from pathlib import Path

import polars as pl

from ikou import memory, progress
from ikou.context import RunContext
from ikou.mappings.spec import MappingSpec
from ikou.mappings.step import MAP_BATCH_ROWS, Mapper
from ikou.moji.step import Identifier
from ikou.schema import TargetSchema
from ikou.stage import ROW_LOCAL_SECONDS, StageResult
from ikou.staging import STAGING_COMPRESSION, sink_batches
from ikou.validators.spec import load_rules
from ikou.validators.engine import RowLocal


def one_pass(spec: MappingSpec, schema: TargetSchema, ctx: RunContext, staged: Path, *, source_name: str,
             gaiji_table: Path | None = None, gaiji_font: Path | None = None, keep_stages: bool = False,
             record: bool = True, batch_rows: int = MAP_BATCH_ROWS,
             held_at_extract: pl.DataFrame | None = None) -> list[StageResult]:
    """The map and 文字同定 results of `source_name` (as `map_source` then `identify_source` give them);
    the 文字同定 result's `outputs["row_local"]` holds the row-local validation findings for
    `validators.validate_table(row_local=…)`. `record`: update the 団体's 同定台帳 here (a concurrent
    run leaves it to `moji.step.record_source`, source after source). `held_at_extract`: the extract's
    quarantine, as `map_source` takes it (a multi-table source holds the persons of those rows). `batch_rows`:
    source rows per batch at most; wide rows come in fewer (`Mapper.batches`: ikou.staging.batch_rows)."""
    peak_known = memory.reset_peak()
    t0 = time.perf_counter()
    # two progress lines, as the staged steps draw: 変換 (source rows read) and 文字同定 (mapped rows)
    with progress.task("map", source_name) as line, progress.task("moji", source_name) as moji_line:
        mapper = Mapper(spec, schema, ctx, staged, source_name=source_name, held_at_extract=held_at_extract)
        line.total = mapper.rows
        with _failing_as("moji"):   # the 外字 table is 文字同定's input: its errors are that stage's
            ident = Identifier(schema, spec.target, ctx, gaiji_table=gaiji_table, source_name=source_name)
        rules = load_rules(schema.rules)
        seconds = {"moji": 0.0, "validate": 0.0}
        checks: list[RowLocal] = []
        kept = _Kept(ctx.stage_dir("map") / f"{source_name}.parquet") if keep_stages else None

        def identified():
            for mapped in mapper.batches(batch_rows):
                if kept is not None:
                    kept.write(mapped)
                t = time.perf_counter()
                with _failing_as("moji"):
                    out = ident(mapped)
                seconds["moji"] += time.perf_counter() - t
                t = time.perf_counter()
                with _failing_as("validate"):
                    if not checks:
                        checks.append(RowLocal(table=spec.target, schema=schema, rules=rules, columns=out.columns,
                                               run_id=ctx.run_id, dantai_code=ctx.dantai_code))
                    checks[0].check(out)
                seconds["validate"] += time.perf_counter() - t
                line.advance(mapper.rows_in - line.done)
                moji_line.advance(out.height)
                yield out

        out_path = ctx.stage_dir("moji") / f"{source_name}.parquet"
        batches = identified()
        first = next(batches)   # gives the schema (an empty source: an empty file with the right columns)
        sink_batches(itertools.chain([first], batches), first.schema, out_path)
        if kept is not None:
            kept.close()
        found = ctx.stage_dir("validate") / f"{source_name}.row_local.parquet"
        checks[0].findings().write_parquet(found, compression=STAGING_COMPRESSION)
        mapped = mapper.result(output=kept.path if kept is not None else None)
        t = time.perf_counter()
        with _failing_as("moji"):
            identified_ = ident.result(out_path, source_name=source_name, gaiji_font=gaiji_font, record=record)
        seconds["moji"] += time.perf_counter() - t
    total = time.perf_counter() - t0
    peak = memory.peak_rss_mb() if peak_known else None
    identified_.outputs["row_local"] = found
    identified_.metrics[ROW_LOCAL_SECONDS] = round(seconds["validate"], 3)
    identified_.seconds = round(seconds["moji"], 3)   # the row-local checks' time counts as validation's
    mapped.seconds = round(total - seconds["moji"] - seconds["validate"], 3)
    mapped.peak_rss_mb = identified_.peak_rss_mb = peak
    mapped.metrics["one_pass"] = True
    return [mapped, identified_]


@contextlib.contextmanager
def _failing_as(stage: str):
    """Name the stage a failure inside the pass belongs to (`ikou_stage`): the run's summary says it."""
    try:
        yield
    except Exception as exc:
        exc.ikou_stage = stage
        raise


class _Kept:
    """map/<source>.parquet written batch by batch beside the one pass (`--keep-stages`)."""

    def __init__(self, path: Path):
        self.path, self._writer = path, None

    def write(self, frame: pl.DataFrame) -> None:
        import pyarrow.parquet as pq

        table = frame.to_arrow()
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema, compression=STAGING_COMPRESSION)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
