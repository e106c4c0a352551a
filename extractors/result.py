"""What an extractor hands to the next stage: a Parquet staging file plus its quarantine."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl


@dataclass
class ExtractResult:
    source: str                 # source name from the run config
    origin: str                 # file name or database table
    staging: Path               # Parquet: lineage columns + every layout column as text
    rows_read: int              # records seen in the source (good + quarantined)
    rows_ok: int
    quarantine: pl.DataFrame    # ikou.quarantine schema, stage='extract'
    sha256: str | None = None   # of the source file (None for tables)
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def file_result(*, source_name: str, path, out_path, rows_ok: int, quarantine: pl.DataFrame, seconds: float,
                size: int, encoding: str) -> ExtractResult:
    """The result of a file extract: records read = good rows + distinct records held by an error (a
    warning holds nothing: its record is staged, or it is not a record, like a blank line)."""
    from ikou.staging import sha256_file

    held = quarantine.filter(pl.col("severity") == "error")["row_id"].n_unique()
    return ExtractResult(
        source=source_name, origin=path.name, staging=out_path, rows_read=rows_ok + held,
        rows_ok=rows_ok, quarantine=quarantine, sha256=sha256_file(path), seconds=seconds,
        extra={"bytes": size, "encoding": encoding},
    )
