"""A mapping is checked against the op registry and its target schema when it loads (mappings/spec.py):
every problem a ConfigError naming the file and the key path, before any row is read."""
from __future__ import annotations

import pytest

from ikou import REPO_ROOT
from ikou.errors import ConfigError
from ikou.mappings.spec import load_mapping

SCHEMA_PATH = REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml"


def mapping(tmp_path, *lines: str, target: str = "juki_kojin_rireki"):
    """A mapping file: atena_no first (columns.0), then `lines` (columns.1 …)."""
    p = tmp_path / "m.yaml"
    body = "\n".join(f"  - {line}" for line in ("{target: atena_no, op: text, from: ATENA_NO}", *lines))
    p.write_text(f"spec_version: 1\ntarget: {target}\nschema: {SCHEMA_PATH}\ncolumns:\n{body}\n", encoding="utf-8")
    return p


def refused(path) -> str:
    with pytest.raises(ConfigError) as exc:
        load_mapping(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: invalid MappingSpec:")
    return msg


def test_unknown_op_names_file_key_path_and_the_known_ops(tmp_path):
    msg = refused(mapping(tmp_path, "{target: rireki_no, op: foo, from: RIREKI_NO}"))
    assert "columns.1.op: unknown op 'foo'; known: ['code_chain', 'code_table', 'constant', 'integer', " \
           "'kana_fullwidth', 'new_key', 'text', 'wareki_date']" in msg


def test_code_table_without_table_is_refused(tmp_path):
    msg = refused(mapping(tmp_path, "{target: zokugara_code, op: code_table, from: ZOKUGARA}"))
    assert "columns.1.table: op 'code_table' needs 'table'" in msg


@pytest.mark.parametrize("op", ["text", "integer", "code_table", "kana_fullwidth", "wareki_date"])
def test_an_op_reading_a_source_column_without_from_is_refused(tmp_path, op):
    msg = refused(mapping(tmp_path, f"{{target: rireki_no, op: {op}, table: standard:zokugara}}"))
    assert f"columns.1.from: op '{op}' needs 'from'" in msg


def test_constant_without_value_is_refused(tmp_path):
    assert "columns.1.value: op 'constant' needs 'value'" in refused(
        mapping(tmp_path, "{target: dantai_code, op: constant}"))


def test_columns_not_in_the_target_schema_are_refused(tmp_path):
    msg = refused(mapping(tmp_path, "{target: shoe_size, op: text, from: X}",
                          "{target: seinengappi, op: wareki_date, from: Y, fumei_hyoki: no_such_hyoki}"))
    assert "columns.1.target: column 'shoe_size' is not in the target table juki_kojin_rireki" in msg
    assert "columns.2.fumei_hyoki: column 'no_such_hyoki' is not in the target table juki_kojin_rireki" in msg


def test_a_target_that_is_not_a_source_table_of_the_schema_is_refused(tmp_path):
    for target in ("juki_kojin", "no_such_table"):   # derived, unknown
        msg = refused(mapping(tmp_path, target=target))
        assert f"target: table '{target}' is not a source table of the schema juki; known: ['juki_kojin_rireki']" in msg


def test_code_tables_are_checked_when_the_mapping_loads(tmp_path):
    dup = tmp_path / "dup.csv"
    dup.write_text("source_code,code\n1,1\n1,2\n", encoding="utf-8")
    msg = refused(mapping(tmp_path, "{target: zokugara_code, op: code_table, from: Z, table: standard:nope}",
                          "{target: seibetsu_code, op: code_table, from: S, table: missing.csv}",
                          f"{{target: jumin_jotai_code, op: code_table, from: J, table: {dup}}}"))
    assert "columns.1.table: no standard code table 'nope' in the schema juki; known: [" in msg
    assert f"columns.2.table: code table file not found: {tmp_path / 'missing.csv'}" in msg
    assert f"columns.3.table: {dup}: source_code repeated: ['1']" in msg


def test_wareki_format_and_eras_are_checked_when_the_mapping_loads(tmp_path):
    msg = refused(mapping(tmp_path, "{target: seinengappi, op: wareki_date, from: A, format: era3_yymmdd}",
                          "{target: ido_date, op: wareki_date, from: B, format: era1_yymmdd, eras: {'1': 光文}}"))
    assert "columns.1.format: wareki format 'era3_yymmdd' is not one of" in msg
    assert "columns.2.eras: wareki eras: unknown era name(s) ['光文']" in msg


def test_every_problem_is_listed_at_once(tmp_path):
    msg = refused(mapping(tmp_path, "{target: rireki_no, op: foo, from: R}",
                          "{target: zokugara_code, op: code_table, from: Z}", "{target: shoe_size, op: text, from: X}"))
    assert [line.split(":")[0].strip() for line in msg.splitlines()[1:]] == [
        "columns.1.op", "columns.2.table", "columns.3.target"]


SHIPPED = sorted((REPO_ROOT / "specs" / "vendors").glob("*/mappings/*/*.yaml"))


def test_shipped_mappings_pass_the_checks():
    assert len(SHIPPED) >= 8
    for path in SHIPPED:
        assert load_mapping(path).columns
