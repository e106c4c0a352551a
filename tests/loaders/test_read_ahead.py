"""The PostgreSQL COPY reads its next Parquet batch on a thread while it sends the current one."""
from __future__ import annotations

import threading

import pytest

from ikou.loaders.postgres_target import _read_ahead


def test_items_come_in_order_and_the_thread_ends():
    assert list(_read_ahead(iter(range(50)), depth=2)) == list(range(50))
    assert not [t for t in threading.enumerate() if t.name == "ikou-copy-read-ahead"]


def test_the_producers_error_reaches_the_consumer():
    def batches():
        yield 1
        raise ValueError("bad batch")

    got = []
    with pytest.raises(ValueError, match="bad batch"):
        for b in _read_ahead(batches()):
            got.append(b)
    assert got == [1]


def test_a_consumer_that_stops_early_stops_the_producer():
    produced = []

    def batches():
        for i in range(1000):
            produced.append(i)
            yield i

    gen = _read_ahead(batches(), depth=1)
    assert next(gen) == 0
    gen.close()   # what a failed COPY does to its reader
    assert len(produced) < 10
    assert not [t for t in threading.enumerate() if t.name == "ikou-copy-read-ahead"]
