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
