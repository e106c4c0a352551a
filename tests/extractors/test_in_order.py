"""extractors.chunks.in_order: chunks processed two at a time, results in file order."""
from __future__ import annotations

import threading
import time

import pytest

from ikou.extractors.chunks import in_order


def test_results_come_in_job_order_even_when_a_later_job_finishes_first():
    def work(i: int, delay: float) -> int:
        time.sleep(delay)
        return i

    jobs = [(0, 0.2), (1, 0.0), (2, 0.1), (3, 0.0), (4, 0.0)]
    assert list(in_order(work, jobs)) == [0, 1, 2, 3, 4]


def test_jobs_run_on_two_threads_at_once_and_never_far_ahead_of_the_consumer():
    running, most, started = [0], [0], []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            started.append(i)
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return i

    seen = []
    for r in in_order(work, ((i,) for i in range(8)), workers=2):
        seen.append(r)
        assert len(started) <= r + 3   # the consumer holds r; at most two more were taken
    assert seen == list(range(8))
    assert most[0] == 2


def test_a_failing_chunk_raises_its_own_error_to_the_consumer():
    def work(i: int) -> int:
        if i == 2:
            raise ValueError("chunk 2 is broken")
        return i

    got = []
    with pytest.raises(ValueError, match="chunk 2 is broken"):
        for r in in_order(work, ((i,) for i in range(5))):
            got.append(r)
    assert got == [0, 1]
