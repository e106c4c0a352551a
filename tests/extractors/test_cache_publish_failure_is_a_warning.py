"""Publishing a miss's staging into the extract cache is an aid, not the run: on a full disk it is a warning and
leaves no half entry (`<key>.tmp<pid>`) behind; and where the cache shares the run folder's file system the entry
is a hard link of the staging, not a second copy (a miss needed twice the staging's space)."""
from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from ikou.config import FileSource
from ikou.context import RunContext
from ikou.extractors import cached_extract
from tests.conftest import fill_disk
from tests.extractors.conftest import write_layout

DANTAI = "999784"


def _source(tmp_path: Path) -> FileSource:
    path = tmp_path / "f.csv"
    # distinct values: the staging does not compress to nothing
    path.write_bytes("".join(f"{i:010d},name{i * 7919 % 100003:06d},{i}\r\n" for i in range(20000)).encode("cp932"))
    return FileSource(name="src", kind="file", path=path, layout=write_layout(tmp_path),
                      mapping=tmp_path / "unused.yaml")


def test_a_full_disk_while_publishing_the_cache_is_a_warning_and_leaves_no_half_entry(tmp_path, caplog, small_tmpfs):
    source = _source(tmp_path)
    cache = small_tmpfs(tmp_path / "cache", "256k")
    fill_disk(cache)
    with caplog.at_level(logging.WARNING, logger="ikou"):
        r = cached_extract(source, RunContext(DANTAI, "run1", tmp_path / "runs"), ordinal=1, target_table="t",
                           cache_dir=cache / "extract")
    assert r.rows_ok == 20000 and pl.read_parquet(r.staging).height == 20000   # the run goes on
    assert r.extra["cache"] == "miss"
    assert [p.name for p in cache.rglob("*") if p.name != "filler"] in ([], ["extract"]), list(cache.rglob("*"))
    (warning,) = [rec for rec in caplog.records if "cache not written" in rec.getMessage()]
    assert warning.levelno == logging.WARNING and "No space left on device" in warning.getMessage()


def test_a_miss_publishes_the_staging_as_a_hard_link_on_the_same_file_system(tmp_path):
    source = _source(tmp_path)
    runs = tmp_path / "runs"
    first = cached_extract(source, RunContext(DANTAI, "run1", runs), ordinal=1, target_table="t")
    entry = runs / DANTAI / "_cache" / "extract" / first.extra["cache_key"]
    assert first.extra["cache"] == "miss"
    assert (entry / "staging.parquet").stat().st_ino == first.staging.stat().st_ino
    second = cached_extract(source, RunContext(DANTAI, "run2", runs), ordinal=1, target_table="t")
    assert second.extra["cache"] == "hit" and pl.read_parquet(second.staging).equals(pl.read_parquet(first.staging))
