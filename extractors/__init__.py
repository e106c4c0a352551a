"""Extract stage: legacy files and tables → Parquet staging with lineage, bad records quarantined.

The stage's one step is `extract(source, ctx, …)` → `StageResult`. Beneath it:
`extract_source(source, ctx, ordinal, target_table)` and its caching twin `cached_extract(...)`.
"""
from __future__ import annotations

from pathlib import Path

from ikou.extractors.cache import cached_extract
from ikou.extractors.csv_file import extract_csv
from ikou.extractors.database import extract_table
from ikou.extractors.fixed_width import extract_fixed
from ikou.extractors.layout import Layout, load_layout
from ikou.extractors.result import ExtractResult

from ikou.stage import StageResult, step

__all__ = ["ExtractResult", "Layout", "cached_extract", "extract", "extract_source", "load_layout"]


def extract_source(source, ctx, *, ordinal: int, target_table: str, layout_path: Path | None = None) -> ExtractResult:
    """Extract one configured source (ikou.config.FileSource / DatabaseSource) into the run's staging."""
    out = ctx.stage_dir("extract") / f"{source.name}.parquet"
    if source.kind == "file":
        layout = load_layout(source.layout or layout_path)
        fn = extract_fixed if layout.format == "fixed" else extract_csv
        return fn(source.path, layout, out_path=out, source_name=source.name, source_ordinal=ordinal,
                  target_table=target_table, run_id=ctx.run_id, dantai_code=ctx.dantai_code,
                  encoding=source.encoding)
    layout = load_layout(layout_path)
    return extract_table(source.url, source.table, layout, out_path=out, source_name=source.name,
                         source_ordinal=ordinal, run_id=ctx.run_id, schema=source.schema_,
                         dantai_code=ctx.dantai_code, target_table=target_table)


@step("extract", name="source.name")
def extract(source, ctx, *, ordinal: int, target_table: str, layout_path: Path | None = None) -> StageResult:
    """The extract step: one configured source into `extract/<source>.parquet`, every column as text.

    An unchanged file (same checksum, layout, encoding) reuses its staging (`extractors.cache`).
    `rows_in` counts the source's records, `rows_out` those staged; the rest are in the quarantine.
    """
    import logging

    r = cached_extract(source, ctx, ordinal=ordinal, target_table=target_table, layout_path=layout_path)
    logging.getLogger("ikou").info("extract %s: %d records read, %d quarantined (%.2fs, cache %s)", source.name,
                                   r.rows_read, r.quarantine.height, r.seconds, r.extra.get("cache", "-"))
    return StageResult(stage="extract", name=source.name, rows_in=r.rows_read, rows_out=r.rows_ok,
                       output=r.staging, quarantine=r.quarantine,
                       metrics={"origin": r.origin, "sha256": r.sha256, "seconds": round(r.seconds, 3), **r.extra})
