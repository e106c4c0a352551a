"""What every stage's one public step returns: `StageResult`.

Each stage package has one step (`extractors.extract`, `mappings.map_source`,
`moji.identify_source`, `validators.validate_table`, `loaders.load`, `reports.diff_source`) that
takes its spec, the run context and its inputs and returns one of these. `flows/` only loops over
them; the run summary (`ikou.summary.RunSummary`) is built from the list of results.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ikou import memory
from ikou import quarantine as q


@dataclass
class StageResult:
    stage: str                    # extract / map / moji / validate / load / diff
    name: str                     # the source, target table or 業務 the step worked on
    rows_in: int = 0              # records (not lines) the step was given
    rows_out: int = 0             # records it passed on (written to `output` or loaded)
    output: Path | None = None    # the staging file the next stage reads
    outputs: dict[str, Path] = field(default_factory=dict)   # side files (characters, …)
    quarantine: pl.DataFrame = field(default_factory=q.empty)   # ikou.quarantine schema
    metrics: dict[str, Any] = field(default_factory=dict)     # JSON-able facts of the step
    seconds: float = 0.0
    peak_rss_mb: float | None = None


def step(stage: str):
    """Decorate a stage's public step: measure its seconds and peak resident memory on the result."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs) -> StageResult:
            peak_known = memory.reset_peak()
            t0 = time.perf_counter()
            result: StageResult = fn(*args, **kwargs)
            result.seconds = round(time.perf_counter() - t0, 3)
            result.peak_rss_mb = memory.peak_rss_mb() if peak_known else None
            return result
        wrapper.stage = stage
        return wrapper
    return deco
