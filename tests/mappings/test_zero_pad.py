"""A number the legacy database keeps in a numeric column lost its leading zeros (宛名番号 0488120352 stored as
BIGINT 488120352): `op: zero_pad` with `width` writes it back as the legacy system does, the diff reads the
legacy key through the op (the record meets its loaded row) and explains the zeros put back, nothing more."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.errors import ConfigError
from ikou.mappings.ops import zero_pad_expr
from ikou.mappings.spec import MappingSpec
from ikou.reports.diff import ParquetSource, compare
from ikou.reports.expected import rules_from_mapping
from ikou.reports.rules import load_rules
from ikou.reports.step import key_reading, source_names


def test_digits_shorter_than_the_width_get_their_zeros_back():
    got = pl.DataFrame({"v": ["488120352", " 17 ", "0488120352", "12345678901", "A123", "", None]}).select(
        zero_pad_expr(pl.col("v"), 10).alias("v"))["v"].to_list()
    assert got == ["0488120352", "0000000017", "0488120352", "12345678901", "A123", None, None]


def _spec(width=10) -> MappingSpec:
    return MappingSpec.model_validate({
        "spec_version": 1, "target": "juki_kojin_rireki", "schema": "gyomu:juki",
        "columns": [{"target": "atena_no", "op": "zero_pad", "from": "ATENA", **({"width": width} if width else {})},
                    {"target": "rireki_no", "op": "integer", "from": "RIREKI"},
                    {"target": "setai_no", "op": "zero_pad", "from": "SETAI", "width": 10}]})


def test_a_zero_pad_line_needs_its_width():
    from ikou.mappings.spec import check_mapping
    from ikou.schema import load_schema

    spec = _spec(width=None)
    with pytest.raises(ConfigError, match="needs 'width'"):
        check_mapping(spec, load_schema(spec.schema_), "m.yaml")


def test_the_diff_meets_the_loaded_record_and_explains_only_the_zeros(tmp_path):
    staged = tmp_path / "extract.parquet"
    pl.DataFrame({"ATENA": ["488120352", "1000000017"], "RIREKI": ["1", "1"], "SETAI": ["77", "1000000025"]}
                 ).write_parquet(staged)
    target = tmp_path / "target.parquet"
    pl.DataFrame({"atena_no": ["0488120352", "1000000017"], "rireki_no": ["1", "1"],
                  "setai_no": ["0000000077", "1000000099"]}).write_parquet(target)
    spec = _spec()
    key = ["atena_no", "rireki_no"]
    r = compare(ParquetSource(staged, source_names(spec), keys=key_reading(spec, key)), target, key=key,
                rules=load_rules(rules_from_mapping(spec, tmp_path / "diff")))
    assert (r.matched, r.only_left, r.only_right) == (2, 0, 0)
    # setai_no 77 → 0000000077 is the op's doing; 1000000025 → 1000000099 is not
    assert r.unexplained_cells == {"setai_no": 1}
    assert r.explained["setai_no.zero_pad"]["by_column"] == {"setai_no": 1}
