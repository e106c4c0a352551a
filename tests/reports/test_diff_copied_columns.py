"""A legacy column the mapping reads for two target columns (ATENA → atena_no and setai_no; 氏 alone → shimei,
then 氏 + 名 → another column) is compared for both: the diff's legacy side is keyed by compared name, so the
second is never left as a column only the target has (reports.diff.ParquetSource `copies`)."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.mappings.spec import MappingSpec
from ikou.reports.diff import ParquetSource, compare, read_table
from ikou.reports.step import copied_names, joined_names, source_names


@pytest.fixture
def staged(tmp_path):
    path = tmp_path / "extract.parquet"
    pl.DataFrame({"ATENA": ["01", "02", "03"], "SHI": ["藤田", "髙橋", "渡邉"]}).write_parquet(path)
    return path


def _target(tmp_path, setai) -> str:
    path = tmp_path / "target.parquet"
    pl.DataFrame({"atena_no": ["01", "02", "03"], "shimei": ["藤田", "髙橋", "渡邉"], "setai_no": setai}
                 ).write_parquet(path)
    return str(path)


def test_a_legacy_column_feeding_two_target_columns_is_compared_for_both(tmp_path, staged):
    src = ParquetSource(staged, {"ATENA": "atena_no", "SHI": "shimei"}, copies={"setai_no": "ATENA"})
    same = compare(src, _target(tmp_path, ["01", "02", "03"]), key="atena_no")   # DuckDB reads the file in place
    assert same.matched == 3 and same.cells.height == 0 and "setai_no" not in same.right_only_columns
    other = compare(src, _target(tmp_path, ["01", "99", "03"]), key="atena_no")
    assert other.unexplained_cells == {"setai_no": 1} and other.cells["atena_no"].to_list() == ["02"]
    # read by Polars (a crosswalk's path): the same columns
    assert read_table(src)[0].collect().to_dict(as_series=False) == {
        "atena_no": ["01", "02", "03"], "shimei": ["藤田", "髙橋", "渡邉"], "setai_no": ["01", "02", "03"]}


def test_the_flow_names_every_target_a_source_column_feeds():
    spec = MappingSpec.model_validate({
        "spec_version": 1, "target": "juki_kojin_rireki", "schema": "gyomu:juki",
        "columns": [{"target": "atena_no", "op": "text", "from": "ATENA"},
                    {"target": "setai_no", "op": "text", "from": "ATENA"},
                    {"target": "shimei", "op": "text", "from": "SHI"},
                    {"target": "shimei_kana", "op": "concat", "from": ["SHI", "MEI"]}]})
    assert source_names(spec) == {"ATENA": "atena_no", "SHI": "shimei"}
    assert copied_names(spec) == {"setai_no": "ATENA", "shimei_kana": "SHI"}
    assert joined_names(spec) == {"shimei_kana": (("SHI", "MEI"), False)}
