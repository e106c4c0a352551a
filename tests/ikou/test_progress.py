"""ikou.progress: a stage step reports one line (what it works on, rows expected from its Parquet
input, rows done) to whatever reporter the command line plugged in; by default nothing is shown."""
from __future__ import annotations

import polars as pl

from ikou import progress
from ikou.stage import StageResult, step


class Recorder:
    def __init__(self):
        self.events = []

    def start(self, key, label, total):
        self.events.append(("start", label, total))

    def update(self, key, done, total):
        self.events.append(("update", done, total))

    def finish(self, key, done):
        self.events.append(("finish", done))


@step("map", name="source_name", total="staged")
def _map(spec, staged, *, source_name: str) -> StageResult:
    progress.advance(2)
    return StageResult(stage="map", name=source_name, rows_in=5, rows_out=4)


@step("extract", name="source.name")
def _extract(source) -> StageResult:
    return StageResult(stage="extract", name=source.name, rows_in=3)


def test_a_step_reports_its_label_the_rows_of_its_parquet_input_and_the_rows_done(tmp_path):
    staged = tmp_path / "s.parquet"
    pl.DataFrame({"a": range(5)}).write_parquet(staged)
    rec = Recorder()
    before = progress.use(rec)
    try:
        _map(None, staged, source_name="vendor_a_jumin")
        _extract(type("Source", (), {"name": "vendor_b_jumin"})())
    finally:
        progress.use(before)
    assert rec.events == [("start", "変換 vendor_a_jumin", 5), ("update", 2, 5), ("finish", 5),
                          ("start", "抽出 vendor_b_jumin", None), ("finish", 3)]


def test_advance_outside_a_step_reports_nothing_even_after_a_step_has_run():
    rec = Recorder()
    before = progress.use(rec)
    try:
        progress.advance(10)
        _extract(type("Source", (), {"name": "x"})())
        progress.advance(10)
    finally:
        progress.use(before)
    assert rec.events == [("start", "抽出 x", None), ("finish", 3)]


def test_by_default_a_step_shows_nothing_and_returns_its_result():
    assert type(progress.use(None)).__name__ == "_Nothing"   # the default: no reporter plugged in
    assert _extract(type("Source", (), {"name": "x"})()).rows_in == 3
