"""A table's `primary_key` implies a uniqueness rule (schema.primary_key): a 業務 author who does not copy
juki's `key.unique` still gets a duplicate key held at validate, every row of it with file and row, not a
whole-load failure at commit. Where the rules file holds those duplicates already (juki, kojin_juminzei),
the schema adds nothing: no row is reported twice."""
from __future__ import annotations

import polars as pl
import pytest

from ikou import SPECS
from ikou.schema import load_schema
from ikou.validators.engine import schema_rules, validate
from ikou.validators.spec import RuleSet, load_rules

SCHEMA = """spec_version: 1
gyomu: hoken_test
ja: 保険 (試験)
tables:
  hoken:
    ja: 期別保険料
    primary_key: [atena_no, kibetsu]
    columns:
      - {name: atena_no, ja: 宛名番号, type: text, required: true}
      - {name: kibetsu,  ja: 期別,     type: text, required: true}
"""


@pytest.fixture
def schema(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text(SCHEMA, encoding="utf-8")
    (tmp_path / "rules.yaml").write_text("spec_version: 1\ngyomu: hoken_test\ntables: {}\n", encoding="utf-8")
    return load_schema(path)


def rules(*declared: dict) -> RuleSet:
    return RuleSet.model_validate({"spec_version": 1, "gyomu": "hoken_test", "tables": {"hoken": list(declared)}})


FRAME = pl.DataFrame({"atena_no": ["A1", "A1", "A2", "A1"], "kibetsu": ["01", "02", "01", "01"],
                      "_row_id": [1, 2, 3, 4], "_source": ["C.csv"] * 4, "_source_line": [2, 3, 4, 5]})


def test_a_duplicate_primary_key_is_held_without_a_unique_rule_in_the_rules_file(schema):
    res = validate(FRAME, table="hoken", schema=schema, rules=rules(), run_id="R1", dantai_code="999750")
    q = res.quarantine
    assert sorted(q["source_line"].to_list()) == [2, 5] and set(q["rule"]) == {"schema.primary_key"}
    assert set(q["source"]) == {"C.csv"} and set(q["column"]) == {"atena_no,kibetsu"}
    assert "宛名番号・期別" in q["message_ja"][0]
    assert res.good["_source_line"].to_list() == [3, 4]


@pytest.mark.parametrize("columns", [["atena_no", "kibetsu"], ["kibetsu", "atena_no"], ["atena_no"]])
def test_a_declared_unique_key_on_the_key_or_fewer_columns_is_not_doubled(schema, columns):
    declared = rules({"id": "key.unique", "kind": "unique_key", "params": {"columns": columns}})
    assert not [r for r in schema_rules(schema, "hoken", declared.tables["hoken"]) if r.kind == "unique_key"]
    res = validate(FRAME, table="hoken", schema=schema, rules=declared, run_id="R1", dantai_code="999750")
    assert set(res.quarantine["rule"]) == {"key.unique"}


def test_a_warning_only_unique_rule_still_gets_the_key_rule(schema):
    declared = rules({"id": "key.unique", "kind": "unique_key", "severity": "warning",
                      "params": {"columns": ["atena_no", "kibetsu"]}})
    res = validate(FRAME, table="hoken", schema=schema, rules=declared, run_id="R1", dantai_code="999750")
    assert set(res.quarantine.filter(pl.col("severity") == "error")["rule"]) == {"schema.primary_key"}


@pytest.mark.parametrize("gyomu", ["juki", "kojin_juminzei"])
def test_shipped_gyomu_declare_their_keys_so_the_schema_adds_no_second_rule(gyomu):
    schema = load_schema(SPECS / "gyomu" / gyomu / "schema.yaml")
    rs = load_rules(schema.rules)
    for table in schema.source_tables():
        implied = schema_rules(schema, table, rs.tables.get(table, []))
        assert not [r for r in implied if r.id == "schema.primary_key"], table
