"""Chunks of a source processed on a small thread pool, results in file order."""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

CHUNK_THREADS = 2   # chunks in flight: one decoding (Python's codecs hold the GIL) while another is parsed


def in_order(fn, jobs: Iterable[tuple], workers: int = CHUNK_THREADS):
    """`fn(*job)` for every job on a small thread pool, results yielded in job order.

    At most `workers` jobs run ahead of the consumer, so memory stays bounded by a few chunks. It
    pays because only part of a chunk's work holds the GIL (the decode); pyarrow's parser, numpy
    and Polars release it: at 1M persons the CSV extract went 6.6 → 5.5 s on 2 cores, same output.
    """
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ikou-chunk") as pool:
        try:
            for job in jobs:
                pending.append(pool.submit(fn, *job))
                while len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()
