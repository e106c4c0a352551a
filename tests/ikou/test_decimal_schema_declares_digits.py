"""A `type: decimal` column declares its digits (scale, optional precision) when the schema loads, the DDL
gives NUMERIC(precision, scale) on every target (never a bare NUMERIC: DECIMAL(18,3) in DuckDB, which
rounds 0.0001 to 0.000), and the schema-implied `schema.decimal` rule holds what that type cannot hold
exactly. Also refused at schema load: control_total on a column that is no amount, a 業務 id no run config
can name."""
from __future__ import annotations

import re
from decimal import Decimal

import duckdb
import polars as pl
import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from ikou.errors import ConfigError
from ikou.loaders.ddl import sa_tables
from ikou.schema import load_schema
from ikou.validators.engine import decimal_regex, schema_rules, validate
from ikou.validators.spec import RuleSet

SCHEMA = """spec_version: 1
gyomu: {gyomu}
ja: 保険 (試験)
tables:
  hoken:
    ja: 保険料
    primary_key: [atena_no]
    columns:
      - {{name: atena_no, ja: 宛名番号, type: text, required: true}}
      - {{name: gaku,     ja: 調定額,   {gaku}}}
"""


def schema_file(tmp_path, gaku: str = "type: decimal, precision: 12, scale: 4", gyomu: str = "hoken_test"):
    path = tmp_path / "schema.yaml"
    path.write_text(SCHEMA.format(gaku=gaku, gyomu=gyomu), encoding="utf-8")
    (tmp_path / "rules.yaml").write_text(f"spec_version: 1\ngyomu: {gyomu}\ntables: {{}}\n", encoding="utf-8")
    return path


def test_a_decimal_without_scale_is_refused_with_the_reason_and_line(tmp_path):
    with pytest.raises(ConfigError, match=r"tables\.hoken\.columns\.1: .*column gaku: type: decimal needs `scale`.*"
                                          r"DECIMAL\(18,3\) in DuckDB and rounds 0\.0001.*\(line \d+\)"):
        load_schema(schema_file(tmp_path, "type: decimal"))


@pytest.mark.parametrize("gaku, said", [
    ("type: decimal, precision: 2, scale: 4", "scale 4 is more than precision 2"),
    ("type: decimal, precision: 39, scale: 2", "less than or equal to 38"),
    ("type: integer, scale: 2", "precision/scale apply to type: decimal only"),
    ("type: text, control_total: true", "control_total: true sums an amount: the column must be type: integer or "
                                        "decimal (this one is type: text)"),
])
def test_digits_and_control_totals_that_cannot_work_are_refused(tmp_path, gaku, said):
    with pytest.raises(ConfigError, match=re.escape(said)):
        load_schema(schema_file(tmp_path, gaku))


def test_a_gyomu_id_a_run_config_cannot_name_is_refused_with_why(tmp_path):
    with pytest.raises(ConfigError, match=r"gyomu '国保資格': a 業務 id is romanised lower case .*run config"):
        load_schema(schema_file(tmp_path, gyomu="国保資格"))


def test_ddl_declares_numeric_with_precision_and_scale_and_duckdb_keeps_every_digit(tmp_path):
    schema = load_schema(schema_file(tmp_path))
    ddl = str(CreateTable(sa_tables(schema, "dantai_999750", ["hoken"])["hoken"]).compile(
        dialect=postgresql.dialect()))
    assert "gaku NUMERIC(12, 4)" in ddl
    con = duckdb.connect()
    con.execute("CREATE SCHEMA dantai_999750")
    con.execute(ddl)
    con.execute("INSERT INTO dantai_999750.hoken VALUES ('A1', '0.0001'), ('A2', '99999999.9999')")
    assert [str(v) for (v,) in con.execute("SELECT gaku FROM dantai_999750.hoken ORDER BY atena_no").fetchall()] \
        == ["0.0001", "99999999.9999"]


def test_a_decimal_default_precision_is_38(tmp_path):
    schema = load_schema(schema_file(tmp_path, "type: decimal, scale: 2"))
    ddl = str(CreateTable(sa_tables(schema, "s", ["hoken"])["hoken"]).compile(dialect=postgresql.dialect()))
    assert "gaku NUMERIC(38, 2)" in ddl


@pytest.mark.parametrize("value, fits", [
    ("0.0001", True), ("12345678.9999", True), ("-12.5", True), ("+3", True), (".5", True), ("12.", True),
    ("0012.5000", True), ("1.23000000", True),            # leading zeros / trailing zeros after the point: same value
    ("abc", False), ("1,000", False), ("1e5", False), ("１２", False), (" 12", False), ("", False), (".", False),
    ("123456789", False),                                 # 9 digits before the point: (12, 4) holds 8
    ("0.00001", False),                                   # 5 after: would be rounded
])
def test_decimal_rule_holds_what_numeric_12_4_cannot_hold_exactly(value, fits):
    assert bool(re.match(decimal_regex(12, 4), value)) is fits
    if fits:   # and what it lets through, DuckDB takes without changing the value
        got = duckdb.sql(f"SELECT CAST('{value}' AS DECIMAL(12, 4))").fetchall()[0][0]
        assert got == Decimal(value if value not in (".5", "12.") else value + "0")


def test_a_bad_decimal_is_held_at_validate_naming_row_and_column(tmp_path):
    schema = load_schema(schema_file(tmp_path))
    rules = RuleSet.model_validate({"spec_version": 1, "gyomu": "hoken_test"})
    df = pl.DataFrame({"atena_no": ["A1", "A2", "A3"], "gaku": ["0.0001", "abc", "123456789.1"],
                       "_row_id": [1, 2, 3], "_source": ["H.csv"] * 3, "_source_line": [2, 3, 4]})
    res = validate(df, table="hoken", schema=schema, rules=rules, run_id="R1", dantai_code="999750")
    assert res.good["atena_no"].to_list() == ["A1"]
    q = res.quarantine.sort("source_line")
    assert q.select("rule", "column", "source", "source_line", "value").rows() == [
        ("schema.decimal", "gaku", "H.csv", 3, "abc"), ("schema.decimal", "gaku", "H.csv", 4, "123456789.1")]
    assert "全体 12 桁・小数 4 桁" in q["message_ja"][0] and "NUMERIC(12,4)" in q["message_en"][0]
    assert [r.id for r in schema_rules(schema, "hoken") if r.kind == "pattern"] == ["schema.decimal"]
