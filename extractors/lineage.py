"""Lineage columns carried by every staged row, and the row id that makes a row traceable.

`_row_id` = source ordinal × 2^40 + physical line (or row number): unique in a run, stable across
re-runs of the same source, and readable back to its file and line.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

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
