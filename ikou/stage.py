"""What every stage's one public step returns: `StageResult`.

Each stage package has one step (`extractors.extract`, `mappings.map_source`,
`moji.identify_source`, `validators.validate_table`, `loaders.load`, `reports.diff_source`) that
takes its spec, the run context and its inputs and returns one of these. `flows/` only loops over
them; the run summary (`ikou.summary.RunSummary`) is built from the list of results.
"""
from __future__ import annotations

import functools
import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ikou import memory, progress
from ikou import quarantine as q


ROW_LOCAL_SECONDS = "row_local_seconds"   # a metric: seconds of row-local validation run inside another step
                                          # (ikou.onepass), counted as the validate stage's


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


def _argument(bound: inspect.BoundArguments, path: str | None):
    """The value of a parameter (`source_name`), or an attribute of one (`source.name`)."""
    if not path:
        return None
    head, *attrs = path.split(".")
    value = bound.arguments.get(head)
    for a in attrs:
        value = getattr(value, a, None)
    return value


def _parquet_rows(value) -> int | None:
    """Rows of the Parquet file(s) a step is given (read from their footers), None if it is given none."""
    paths = value if isinstance(value, (list, tuple)) else [value]
    paths = [Path(p) for p in paths if isinstance(p, (str, Path)) and str(p).endswith(".parquet")]
    if not paths or not all(p.is_file() for p in paths):
        return None
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def step(stage: str, *, name: str | None = None, total: str | None = None):
    """Decorate a stage's public step: measure its seconds and peak resident memory on the result, and
    report its progress line (ikou.progress): `name` names the parameter (or `param.attribute`) that
    says what the step works on, `total` the parameter holding the Parquet input(s) whose rows it expects."""
    def deco(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs) -> StageResult:
            bound = signature.bind_partial(*args, **kwargs)
            label = str(_argument(bound, name) or fn.__name__)
            with progress.task(stage, label, total=_parquet_rows(_argument(bound, total))) as line:
                memory.release()   # what the stage before it freed goes back first: the peak is this stage's
                peak_known = memory.reset_peak()
                t0 = time.perf_counter()
                result: StageResult = fn(*args, **kwargs)
                result.seconds = round(time.perf_counter() - t0, 3)
                result.peak_rss_mb = memory.peak_rss_mb() if peak_known else None
                line.done = result.rows_in
            return result
        wrapper.stage = stage
        return wrapper
    return deco
