"""Staging: the Parquet files every stage writes under the run folder, and the lineage they carry.

Every staged row carries lineage columns; `_row_id` = source ordinal × 2^40 + physical line (or row
number): unique in a run, stable across re-runs of the same source, and readable back to its file
and line. `sink_batches` is the one writer of staging files built batch by batch; `batch_rows` sizes the
batches the stages read them in.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

ROW_ID = "_row_id"
SOURCE = "_source"
SOURCE_LINE = "_source_line"
LINEAGE = (ROW_ID, SOURCE, SOURCE_LINE)
ROW_ID_SHIFT = 1 << 40
# Staging files live for one run: favour write speed (lz4) over size (zstd was 3× slower to write).
STAGING_COMPRESSION = "lz4"
# The widest rows the stages' row-count batch sizes (MAP_BATCH_ROWS, MOJI_BATCH_ROWS, VALIDATE_BATCH_ROWS,
# COPY_BATCH_ROWS) are read in whole, in bytes per row as `row_bytes` counts them (decoded, Arrow); wider rows
# come in proportionally fewer (`batch_rows`). The generator's rows (2026-11-30): vendor A/B 住民記録 extract
# 368, after 文字同定 481-485; vendor C's combined records 715 (the widest); 個人住民税 101-167: all within, so
# their batches are the row counts, as before. A 1,000-character 方書 on every second record makes ~1,870.
BATCH_ROW_BYTES = 1_000
ROW_BYTES_SAMPLE = 10_000   # rows decoded at each of three places of a file by `row_bytes`


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


def row_bytes(paths: Path | Sequence[Path], columns: Sequence[str] | None = None,
              sample_rows: int = ROW_BYTES_SAMPLE) -> float | None:
    """Bytes per row of staging Parquet files (`columns`: only those), the widest file's; None when none has rows.

    A file's width is the larger of its footer's uncompressed size over its rows (every row, nothing decoded)
    and the Arrow size of `sample_rows` rows decoded at the start, middle and end of the file: the footer
    counts a value its column's dictionary holds once however many rows repeat it (the same long 方書 on every
    second record), the decoded sample each time, as memory does."""
    import pyarrow.parquet as pq

    widest = None
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        pf = pq.ParquetFile(path, pre_buffer=False)   # pre-buffered, the sample would read whole row groups
        meta = pf.metadata
        if not meta.num_rows:
            continue
        names = [n for n in pf.schema_arrow.names if columns is None or n in columns]
        chunks = (rg.column(c) for rg in map(meta.row_group, range(meta.num_row_groups)) for c in range(rg.num_columns))
        footer = sum(ch.total_uncompressed_size for ch in chunks if ch.path_in_schema in names)
        seen = decoded = 0
        for g in sorted({0, meta.num_row_groups // 2, meta.num_row_groups - 1}):
            batch = next(pf.iter_batches(batch_size=sample_rows, row_groups=[g], columns=names), None)
            if batch is not None:
                seen, decoded = seen + batch.num_rows, decoded + batch.nbytes
        widest = max(widest or 0.0, footer / meta.num_rows, decoded / seen if seen else 0.0)
    return widest


def rows_for_width(max_rows: int, width: float | None, row_bytes_limit: float | None = None) -> int:
    """Rows per batch for rows `width` bytes wide: `max_rows` (a stage's row-count batch size, the upper bound)
    up to `row_bytes_limit` (default BATCH_ROW_BYTES) bytes a row, proportionally fewer beyond, so a batch of
    wide rows (a long 方書 on many rows) holds no more bytes than a batch of ordinary rows may."""
    limit = BATCH_ROW_BYTES if row_bytes_limit is None else row_bytes_limit
    if not width or width <= limit:
        return max_rows
    return max(1, int(max_rows * limit / width))


def batch_rows(paths: Path | Sequence[Path], max_rows: int, columns: Sequence[str] | None = None) -> int:
    """Rows per batch for reading the staging files `paths` (`rows_for_width` of their `row_bytes`): what
    every stage reading staging in batches uses, with its row-count constant as `max_rows`."""
    return rows_for_width(max_rows, row_bytes(paths, columns))
