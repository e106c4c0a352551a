"""The map stage holds a row of another 団体 by the column the schema says holds the 団体コード, whatever
its name: a new 業務 names its columns as its standard does."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.mappings.engine import apply_mapping
from ikou.mappings.spec import MappingSpec
from ikou.schema import load_schema


def _schema(tmp_path, flag: str):
    (tmp_path / "rules.yaml").write_text("spec_version: 1\ngyomu: inkan\ntables: {}\n", encoding="utf-8")
    f = tmp_path / "schema.yaml"
    f.write_text(f"""spec_version: 1
gyomu: inkan
ja: 印鑑登録
tables:
  inkan_toroku:
    ja: 印鑑登録
    primary_key: [toroku_no]
    columns:
      - {{name: shichoson_code, ja: 市町村コード, required: true{flag}}}
      - {{name: toroku_no, ja: 登録番号, required: true}}
""", encoding="utf-8")
    return f


@pytest.mark.parametrize(("flag", "held"), [(", dantai: true", ["131016"]), ("", [])])
def test_a_row_of_another_dantai_is_held_by_the_column_marked_dantai(tmp_path, flag, held):
    path = _schema(tmp_path, flag)
    spec = MappingSpec.model_validate(
        {"spec_version": 1, "target": "inkan_toroku", "schema": str(path),
         "columns": [{"target": "shichoson_code", "op": "text", "from": "CITY"},
                     {"target": "toroku_no", "op": "text", "from": "NO"}]}, context={"path": path})
    df = pl.DataFrame({"_row_id": [1, 2], "_source": ["x.csv"] * 2, "_source_line": [1, 2],
                       "CITY": ["999997", "131016"], "NO": ["1", "2"]},
                      schema_overrides={"_row_id": pl.Int64, "_source_line": pl.Int64})
    res = apply_mapping(df, spec, load_schema(path), run_id="R", dantai_code="999997")
    iso = res.quarantine.filter(pl.col("rule") == "isolation.dantai_mismatch")
    assert iso["value"].to_list() == held
    assert res.rows_out == 2 - len(held)
