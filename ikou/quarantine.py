"""One quarantine schema for every stage (the pandera habit: failures are one long table).

A quarantine row says which source row failed (file and line, or table and key), at which
stage, which rule, on which column, with the original value verbatim and a message in Japanese
and English. Nothing is dropped silently: a row is either loaded or here.
"""
from __future__ import annotations

import polars as pl

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String,
    "dantai_code": pl.String,    # 団体コード
    "stage": pl.String,          # extract / map / moji / validate / load
    "table": pl.String,          # target table (or source table at extract)
    "source": pl.String,         # source file or table
    "source_line": pl.Int64,     # physical line (files) or row number (tables)
    "row_id": pl.Int64,          # ikou's lineage id of the source row within the run
    "record_key": pl.String,     # business key when known (宛名番号/履歴番号 …), never a name
    "column": pl.String,
    "rule": pl.String,           # rule id, e.g. code_table.unknown, checkdigit.kojin_no
    "severity": pl.String,       # error (row quarantined) / warning (row passes, listed)
    "value": pl.String,          # original value verbatim (masked in reports when sensitive)
    "message_ja": pl.String,
    "message_en": pl.String,
}


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def conform(df: pl.DataFrame) -> pl.DataFrame:
    """Add missing columns as nulls, cast and order: every stage emits the same shape."""
    exprs = []
    for name, dtype in QUARANTINE_SCHEMA.items():
        if name in df.columns:
            exprs.append(pl.col(name).cast(dtype))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return df.select(exprs)


def concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [conform(f) for f in frames if f is not None and f.height]
    return pl.concat(frames) if frames else empty()
