"""Re-extracting an unchanged source reuses its staging; any change to its inputs does not."""
from __future__ import annotations

import polars as pl

from ikou.extractors import cached_extract
from ikou.config import FileSource
from ikou.context import RunContext
from tests.extractors.conftest import write_layout


def _source(tmp_path, path, layout):
    return FileSource(name="src", kind="file", path=path, layout=layout, mapping=tmp_path / "unused.yaml")


def test_unchanged_file_and_layout_hit_the_cache_and_give_the_same_staging(tmp_path):
    layout = write_layout(tmp_path)
    path = tmp_path / "f.csv"
    path.write_bytes("0000000001,山田,1\r\n".encode("cp932") + b"0000000002,\x85\x40,2\r\n")   # 2nd undecodable
    runs = tmp_path / "runs"
    first = cached_extract(_source(tmp_path, path, layout), RunContext("999997", "run1", runs), ordinal=1,
                           target_table="t")
    second = cached_extract(_source(tmp_path, path, layout), RunContext("999997", "run2", runs), ordinal=1,
                            target_table="t")
    assert first.extra["cache"] == "miss" and second.extra["cache"] == "hit"
    assert (runs / "999997" / "_cache" / "extract" / first.extra["cache_key"] / "staging.parquet").is_file()
    assert second.staging == runs / "999997" / "run2" / "extract" / "src.parquet"
    assert pl.read_parquet(first.staging).equals(pl.read_parquet(second.staging))
    assert (second.rows_read, second.rows_ok, second.sha256) == (first.rows_read, first.rows_ok, first.sha256)
    assert second.quarantine["run_id"].to_list() == ["run2"]          # re-stamped for this run
    assert second.quarantine.drop("run_id").equals(first.quarantine.drop("run_id"))


def test_a_changed_file_or_layout_misses_the_cache(tmp_path):
    layout = write_layout(tmp_path)
    path = tmp_path / "f.csv"
    path.write_bytes(b"0000000001,a,1\r\n")
    runs = tmp_path / "runs"
    a = cached_extract(_source(tmp_path, path, layout), RunContext("999997", "r1", runs), ordinal=1, target_table="t")
    path.write_bytes(b"0000000001,a,1\r\n0000000002,b,2\r\n")
    b = cached_extract(_source(tmp_path, path, layout), RunContext("999997", "r2", runs), ordinal=1, target_table="t")
    layout.write_text(layout.read_text(encoding="utf-8").replace("test.layout", "test.layout2"), encoding="utf-8")
    c = cached_extract(_source(tmp_path, path, layout), RunContext("999997", "r3", runs), ordinal=1, target_table="t")
    assert [x.extra["cache"] for x in (a, b, c)] == ["miss", "miss", "miss"]
    assert len({a.extra["cache_key"], b.extra["cache_key"], c.extra["cache_key"]}) == 3
    assert b.rows_ok == 2


def test_a_renamed_file_names_itself_not_the_file_the_cache_was_made_from(tmp_path):
    layout = write_layout(tmp_path)
    old, new = tmp_path / "JUMIN.csv", tmp_path / "JUMIN_20261101.csv"
    data = "0000000001,山田,1\r\n".encode("cp932") + b"0000000002,\x85\x40,2\r\n"   # 2nd held at extract
    old.write_bytes(data)
    runs = tmp_path / "runs"
    first = cached_extract(_source(tmp_path, old, layout), RunContext("999997", "r1", runs), ordinal=1, target_table="t")
    old.rename(new)   # same bytes, another name
    second = cached_extract(_source(tmp_path, new, layout), RunContext("999997", "r2", runs), ordinal=1,
                            target_table="t")
    assert first.origin == "JUMIN.csv" and first.quarantine["source"].to_list() == ["JUMIN.csv"]
    assert second.origin == "JUMIN_20261101.csv"
    assert second.quarantine["source"].to_list() == ["JUMIN_20261101.csv"]
    assert pl.read_parquet(second.staging)["_source"].unique().to_list() == ["JUMIN_20261101.csv"]
    # the name is part of the key: the renamed file is read again, and then reused under its new name
    third = cached_extract(_source(tmp_path, new, layout), RunContext("999997", "r3", runs), ordinal=1,
                           target_table="t")
    assert [first.extra["cache"], second.extra["cache"], third.extra["cache"]] == ["miss", "miss", "hit"]
    assert third.origin == "JUMIN_20261101.csv"
    assert pl.read_parquet(third.staging).equals(pl.read_parquet(second.staging))
