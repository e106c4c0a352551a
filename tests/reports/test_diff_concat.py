"""The parallel-run diff reads a column the mapping joins from several (`op: concat`, 氏 + 名) as the legacy
columns joined the way the standard writes 氏名 (reports.diff.ParquetSource `joined`): a correct join shows no
difference, a lost 名 or another separator shows one, in DuckDB (the file read in place) as in Polars."""
from __future__ import annotations

import duckdb
import polars as pl
import pytest

from ikou.mappings.spec import MappingSpec
from ikou.reports.diff import ParquetSource, compare, read_table
from ikou.reports.step import joined_names, source_names

LEGACY = {"ATENA": ["01", "02", "03", "04", "05", "06"],
          "SHI": ["藤田", "髙橋  ", "渡邉", None, "\u3000", "齋藤"],
          "MEI": ["太郎", "𠮷子", None, "花子", " ", "\u3000"]}


@pytest.fixture
def staged(tmp_path):
    path = tmp_path / "extract.parquet"
    pl.DataFrame(LEGACY).write_parquet(path)
    return path


def _source(staged, strip=False) -> ParquetSource:
    return ParquetSource(staged, {"ATENA": "atena_no", "SHI": "shimei"}, joined={"shimei": (("SHI", "MEI"), strip)})


@pytest.mark.parametrize("strip", [False, True])
def test_duckdb_and_polars_join_the_legacy_columns_alike(staged, strip):
    src = _source(staged, strip)
    in_duckdb = [r[0] for r in duckdb.sql(f"SELECT {src.joined_sql('shimei')} FROM read_parquet('{staged}') AS s")
                 .fetchall()]
    in_polars = read_table(src)[0].collect()["shimei"].to_list()
    assert in_duckdb == in_polars
    assert in_polars == ["藤田\u3000太郎", ("髙橋\u3000𠮷子" if strip else "髙橋  \u3000𠮷子"), "渡邉", "花子", None, "齋藤"]


def _target(tmp_path, shimei) -> pl.DataFrame:
    path = tmp_path / "target.parquet"
    pl.DataFrame({"atena_no": LEGACY["ATENA"], "shimei": shimei}).write_parquet(path)
    return path


def test_a_correct_join_shows_no_difference(tmp_path, staged):
    right = _target(tmp_path, ["藤田\u3000太郎", "髙橋\u3000𠮷子", "渡邉", "花子", None, "齋藤"])
    r = compare(_source(staged, strip=True), right, key="atena_no")
    assert r.matched == 6 and r.cells.height == 0


def test_the_surname_alone_or_another_separator_is_a_difference(tmp_path, staged):
    surname = compare(_source(staged, strip=True), _target(tmp_path, ["藤田", "髙橋", "渡邉", None, None, "齋藤"]),
                      key="atena_no")
    assert sorted(surname.cells["atena_no"].to_list()) == ["01", "02", "04"]
    half = compare(_source(staged, strip=True),
                   _target(tmp_path, ["藤田 太郎", "髙橋 𠮷子", "渡邉", "花子", None, "齋藤"]), key="atena_no")
    assert sorted(half.cells["atena_no"].to_list()) == ["01", "02"] and half.unexplained_cells == {"shimei": 2}


def test_the_flow_names_a_joined_column_by_its_first_source_and_joins_all_of_them():
    spec = MappingSpec.model_validate({
        "spec_version": 1, "target": "juki_kojin_rireki", "schema": "gyomu:juki",
        "columns": [{"target": "atena_no", "op": "text", "from": "ATENA"},
                    {"target": "shimei", "op": "concat", "from": ["SHI", "MEI"], "strip": True},
                    {"target": "shimei_kana", "op": "kana_fullwidth", "from": "KANA"}]})
    assert source_names(spec) == {"ATENA": "atena_no", "SHI": "shimei", "KANA": "shimei_kana"}
    assert joined_names(spec) == {"shimei": (("SHI", "MEI"), True)}
