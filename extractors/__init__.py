"""Extract stage: legacy files and tables → Parquet staging with lineage, bad records quarantined.

The stage's one step is `extract(source, ctx, …)` → `StageResult`. Beneath it:
`extract_source(source, ctx, ordinal, target_table)` and its caching twin `cached_extract(...)`.
"""
from __future__ import annotations

from pathlib import Path

from ikou.extractors.cache import cached_extract
from ikou.extractors.csv_file import extract_csv
from ikou.extractors.database import consistent_snapshot, extract_table
from ikou.extractors.fixed_width import extract_fixed
from ikou.extractors.layout import Layout, load_layout
from ikou.extractors.result import ExtractResult

from ikou import quarantine as q
from ikou.stage import StageResult, step

__all__ = ["ExtractResult", "Layout", "cached_extract", "extract", "extract_source", "load_layout"]


def extract_source(source, ctx, *, ordinal: int, target_table: str, layout_path: Path | None = None,
                   key_columns: list[str] | None = None, unread_columns: list[str] | None = None) -> ExtractResult:
    """Extract one configured source (ikou.config.FileSource / DatabaseSource) into the run's staging.

    `key_columns`: the source columns a held record is named by in the quarantine's `record_key`
    (`COL=value,COL=value`, extractors.keys); None: the layout's `key`. `unread_columns`: the columns no
    mapping line reads; a value there holds nothing (checks.not_held)."""
    out = ctx.stage_dir("extract") / f"{source.name}.parquet"
    if source.kind == "file":
        layout = load_layout(source.layout or layout_path)
        fn = extract_fixed if layout.format == "fixed" else extract_csv
        return fn(source.path, layout, out_path=out, source_name=source.name, source_ordinal=ordinal,
                  target_table=target_table, run_id=ctx.run_id, dantai_code=ctx.dantai_code,
                  encoding=source.encoding, key_columns=key_columns, unread_columns=unread_columns or ())
    layout = load_layout(layout_path)
    return extract_table(source.url, source.table, layout, out_path=out, source_name=source.name,
                         source_ordinal=ordinal, run_id=ctx.run_id, schema=source.schema_,
                         dantai_code=ctx.dantai_code, target_table=target_table, key_columns=key_columns,
                         unread_columns=unread_columns or ())


TABLE_ORDINALS = 4096   # a multi-table source's tables are sub-ordinals: row ids stay unique in the run


def table_ordinal(ordinal: int, index: int) -> int:
    """Row-id ordinal of table `index` (0-based) of the multi-table source at `ordinal`; index -1 is the
    records the mapping combines from them."""
    return ordinal * TABLE_ORDINALS + index + 1


def extract_tables(source, ctx, *, ordinal: int, tables: dict, key_columns: list[str] | None = None,
                   unread_columns: list[str] | None = None) -> StageResult:
    """A multi-table source: each table of the mapping's `tables:` into `extract/<source>/<alias>.parquet`
    with its own lineage, and `tables.json` naming them with their row counts.

    `key_columns` name a held row of a table that has them all (the person's key, in every table of a
    vendor's schema); a table without them all is named by its layout's `key`.

    All the tables are read from one snapshot of the legacy database (extractors.database.consistent_snapshot),
    taken anew at each call (a retried extract): a person changed while the extract runs is in every table as
    they were before, never half moved. Other sources on the same url are read in snapshots of
    their own (each its own extract step and retry). `metrics["snapshot"]` names it; None: a file database."""
    import json
    import time

    out_dir = ctx.stage_dir("extract") / source.name
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"source": source.name, "ordinal": ordinal, "tables": {}}
    rows = 0
    t0 = time.perf_counter()
    held = []
    byte_columns: list[str] = []   # alias.COLUMN read as bytes (extractors.database: a latin1 column of SJIS)
    label = ", ".join(f"{source.schema_}.{t.table}" if source.schema_ else t.table for t in tables.values())
    with consistent_snapshot(source.url, source_name=source.name, label=label, run_id=ctx.run_id) as snapshot:
        for i, (alias, t) in enumerate(tables.items()):
            layout = load_layout(t.layout)
            keys = key_columns if key_columns and set(key_columns) <= set(layout.names) else None
            r = extract_table(source.url, t.table, layout, out_path=out_dir / f"{alias}.parquet",
                              source_name=f"{source.name}.{alias}", source_ordinal=table_ordinal(ordinal, i),
                              run_id=ctx.run_id, schema=source.schema_, dantai_code=ctx.dantai_code,
                              target_table=alias, key_columns=keys, snapshot=snapshot,
                              unread_columns=[c.split(".", 1)[1] for c in unread_columns or ()
                                              if c.startswith(f"{alias}.")])
            held.append(r.quarantine)
            byte_columns += [f"{alias}.{c}" for c in r.extra.get("byte_columns") or ()]
            # rows staged: a row held at extract (a control character) is in the quarantine, not in the file
            manifest["tables"][alias] = {"table": r.origin, "file": f"{alias}.parquet", "rows": r.rows_ok,
                                         "reader": r.extra.get("reader")}
            rows += r.rows_read
    seconds = time.perf_counter() - t0   # the snapshot's start included
    manifest["snapshot"] = snapshot.label if snapshot else None
    (out_dir / "tables.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    origin = ", ".join(t["table"] for t in manifest["tables"].values())
    quarantine = q.concat(held)
    return StageResult(stage="extract", name=source.name, rows_in=rows, rows_out=rows - quarantine["row_id"].n_unique(),
                       output=out_dir, quarantine=quarantine,
                       metrics={"origin": origin, "sha256": None, "seconds": round(seconds, 3),
                                "byte_columns": byte_columns, "snapshot": manifest["snapshot"],
                                "tables": {a: t["rows"] for a, t in manifest["tables"].items()}})


@step("extract", name="source.name")
def extract(source, ctx, *, ordinal: int, target_table: str, layout_path: Path | None = None,
            tables: dict | None = None, key_columns: list[str] | None = None,
            unread_columns: list[str] | None = None) -> StageResult:
    """The extract step: one configured source into `extract/<source>.parquet`, every column as text.

    An unchanged file (same checksum, layout, encoding, key columns) reuses its staging (`extractors.cache`).
    `rows_in` counts the source's records, `rows_out` those staged; the rest are in the quarantine, each
    row naming its record by `record_key` = `COL=value,COL=value` over `key_columns` (source column names,
    in that order; None: the layout's `key`), null when a key field could not be read (extractors.keys).
    `unread_columns` (the mapping's `not_migrated` and unread columns): a bad value there is a warning and holds
    nothing (a table's columns, a fixed-width record's fields and a CSV's cut fields are read one by one).
    """
    import logging

    if tables:
        r = extract_tables(source, ctx, ordinal=ordinal, tables=tables, key_columns=key_columns,
                           unread_columns=unread_columns)
        logging.getLogger("ikou").info("extract %s: %d rows from %d tables%s", source.name, r.rows_in, len(tables),
                                       f", read in one {r.metrics['snapshot']}" if r.metrics.get("snapshot") else "")
        return r
    r = cached_extract(source, ctx, ordinal=ordinal, target_table=target_table, layout_path=layout_path,
                       key_columns=key_columns, unread_columns=unread_columns)
    logging.getLogger("ikou").info("extract %s: %d records read, %d quarantined (%.2fs, cache %s)", source.name,
                                   r.rows_read, r.quarantine.height, r.seconds, r.extra.get("cache", "-"))
    return StageResult(stage="extract", name=source.name, rows_in=r.rows_read, rows_out=r.rows_ok,
                       output=r.staging, quarantine=r.quarantine,
                       metrics={"origin": r.origin, "sha256": r.sha256, "seconds": round(r.seconds, 3), **r.extra})
