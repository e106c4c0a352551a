"""Target schema (ikou/schema.py) and mapping specs (mappings/spec.py) as strict YAML."""
from __future__ import annotations

import pytest

from ikou import REPO_ROOT
from ikou.errors import ConfigError
from ikou.schema import load_schema
from ikou.mappings.spec import load_mapping

SCHEMA_PATH = REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml"


def test_juki_schema_declares_source_and_derived_tables():
    s = load_schema(SCHEMA_PATH)
    assert s.source_tables() == ["juki_kojin_rireki"]
    assert s.derived_tables() == ["juki_kojin", "juki_setai"]
    assert s.resolved_table("juki_kojin").columns == s.tables["juki_kojin_rireki"].columns
    setai = [c.name for c in s.resolved_table("juki_setai").columns]
    assert setai[0] == "setai_no" and "setaiin_su" in setai
    assert s.resolved_table("juki_setai").column("setaiin_su").type == "integer"


def test_code_table_paths_resolve_against_the_schema_file():
    s = load_schema(SCHEMA_PATH)
    for ref in s.code_tables.values():
        assert ref.path.is_absolute() and ref.path.is_file()
    assert set(s.code_values("seibetsu").columns) >= {"code", "name"}


def write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_misspelled_schema_key_names_file_and_key_path(tmp_path):
    text = SCHEMA_PATH.read_text(encoding="utf-8").replace(
        "{name: atena_no,        ja: 宛名番号,     type: text, required: true",
        "{name: atena_no,        ja: 宛名番号,     type: text, requried: true", 1)
    assert "requried" in text
    p = write(tmp_path, "juki.yaml", text)
    with pytest.raises(ConfigError) as exc:
        load_schema(p)
    msg = str(exc.value)
    assert str(p) in msg
    assert "tables.juki_kojin_rireki.columns.1.requried" in msg


def test_column_naming_an_unknown_code_table_is_refused(tmp_path):
    p = write(tmp_path, "s.yaml", """
spec_version: 1
gyomu: t
ja: テスト
tables:
  t:
    ja: 表
    primary_key: [a]
    columns:
      - {name: a, ja: 甲, code_table: nowhere}
""")
    with pytest.raises(ConfigError, match="nowhere"):
        load_schema(p)


def test_primary_key_not_declared_as_a_column_is_refused(tmp_path):
    p = write(tmp_path, "s.yaml", """
spec_version: 1
gyomu: t
ja: テスト
tables:
  t: {ja: 表, primary_key: [b], columns: [{name: a, ja: 甲}]}
""")
    with pytest.raises(ConfigError, match="primary_key"):
        load_schema(p)


def test_misspelled_mapping_key_names_file_and_key_path(tmp_path):
    p = write(tmp_path, "m.yaml", f"""
spec_version: 1
target: juki_kojin_rireki
schema: {SCHEMA_PATH}
columns:
  - {{target: atena_no, op: text, from: ATENA_NO}}
  - {{target: rireki_no, op: integer, form: RIREKI_NO}}
""")
    with pytest.raises(ConfigError) as exc:
        load_mapping(p)
    assert str(p) in str(exc.value)
    assert "columns.1.form" in str(exc.value)


def test_mapping_producing_a_column_twice_is_refused(tmp_path):
    p = write(tmp_path, "m.yaml", f"""
spec_version: 1
target: juki_kojin_rireki
schema: {SCHEMA_PATH}
columns:
  - {{target: seinengappi, op: wareki_date, from: A, fumei_flag: f}}
  - {{target: f, op: text, from: B}}
""")
    with pytest.raises(ConfigError, match="produced twice"):
        load_mapping(p)


def test_mapping_paths_resolve_against_the_mapping_file():
    m = load_mapping(REPO_ROOT / "specs" / "vendors" / "vendor_a" / "mappings" / "juki" / "jumin.yaml")
    assert m.schema_ == SCHEMA_PATH.resolve()
    assert m.layout is not None and m.layout.is_file()
    seibetsu = next(c for c in m.columns if c.target == "seibetsu_code")
    assert seibetsu.table == str((REPO_ROOT / "specs" / "vendors" / "vendor_a" / "code_tables" / "seibetsu.csv").resolve())
    zokugara = next(c for c in m.columns if c.target == "zokugara_code")
    assert zokugara.table == "standard:zokugara"


@pytest.mark.parametrize("vendor", ["vendor_a", "vendor_b"])
def test_shipped_mappings_only_name_known_ops_and_schema_columns(vendor):
    from ikou.mappings import ops

    m = load_mapping(REPO_ROOT / "specs" / "vendors" / vendor / "mappings" / "juki" / "jumin.yaml")
    s = load_schema(m.schema_)
    declared = {c.name for c in s.tables[m.target].columns}
    assert {c.op for c in m.columns} <= set(ops.OPS)
    produced = {c.target for c in m.columns} | {x for c in m.columns for x in (c.fumei_flag, c.fumei_hyoki) if x}
    assert produced <= declared


def test_the_rules_file_is_named_by_the_schema(tmp_path):
    """validate finds the 業務's rules through the schema: its `rules:` path (relative to the schema
    file), by default rules.yaml beside it; a schema elsewhere without one falls back to its 業務's folder."""
    from ikou.validators import rules_path

    assert rules_path(load_schema(SCHEMA_PATH)) == SCHEMA_PATH.parent / "rules.yaml"
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    assert "\nrules: rules.yaml" in text
    own = tmp_path / "own"
    own.mkdir()
    (own / "r.yaml").write_text("spec_version: 1\ngyomu: juki\n", encoding="utf-8")
    s = load_schema(write(own, "schema.yaml", text.replace("\nrules: rules.yaml", "\nrules: r.yaml")))
    assert rules_path(s) == own / "r.yaml"
    beside = tmp_path / "beside"
    beside.mkdir()
    (beside / "rules.yaml").write_text("spec_version: 1\ngyomu: juki\n", encoding="utf-8")
    no_key = text.replace("\nrules: rules.yaml", "\n# (no rules key)")
    assert rules_path(load_schema(write(beside, "schema.yaml", no_key))) == beside / "rules.yaml"
    assert rules_path(load_schema(write(tmp_path, "schema.yaml", no_key))) == SCHEMA_PATH.parent / "rules.yaml"
