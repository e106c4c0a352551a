"""Staging: the Parquet files every stage writes under the run folder, and the lineage they carry.

Every staged row carries lineage columns; `_row_id` = source ordinal × 2^40 + physical line (or row
number): unique in a run, stable across re-runs of the same source, and readable back to its file
and line. `sink_batches` is the one writer of staging files built batch by batch.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import polars as pl

ROW_ID = "_row_id"
SOURCE = "_source"
SOURCE_LINE = "_source_line"
LINEAGE = (ROW_ID, SOURCE, SOURCE_LINE)
ROW_ID_SHIFT = 1 << 40
# Staging files live for one run: favour write speed (lz4) over size (zstd was 3× slower to write).
STAGING_COMPRESSION = "lz4"


def row_id_base(source_ordinal: int) -> int:
    return source_ordinal * ROW_ID_SHIFT


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sink_batches(batches: Iterable[pl.DataFrame], schema: pl.Schema, out: Path) -> None:
    """Stream frames into one staging Parquet file through Polars' sink, batch by batch.

    Polars writes Parquet about twice as fast as pyarrow's ParquetWriter here (2.15M rows × 23
    text columns, lz4: 1.2 s against 2.1 s). An exception raised while producing the batches is
    re-raised as itself, not wrapped by the sink; no batches at all gives an empty file with the
    schema's columns.
    """
    from polars.io.plugins import register_io_source

    it, failed, used = iter(batches), [], []

    def source(with_columns, predicate, n_rows, batch_size):
        if predicate is not None or n_rows is not None or used:
            raise RuntimeError("sink_batches: the batches are read once, whole")   # never rows twice
        used.append(True)
        while True:
            try:
                frame = next(it)
            except StopIteration:
                return
            except Exception as exc:   # noqa: BLE001 (re-raised below)
                failed.append(exc)
                return
            yield frame if with_columns is None else frame.select(with_columns)

    try:
        register_io_source(source, schema=schema).sink_parquet(out, compression=STAGING_COMPRESSION)
    except Exception:
        if not failed:
            raise
    if failed:
        raise failed[0]
