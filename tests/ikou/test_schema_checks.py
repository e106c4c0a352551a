"""A target schema is checked whole when it loads: a derived table must come from a loaded one (a ring
would never load), and a standard code table must list each code once."""
from __future__ import annotations

import pytest

from ikou.errors import ConfigError
from ikou.schema import load_schema

BASE = """spec_version: 1
gyomu: inkan
ja: 印鑑登録
code_tables:
  jotai: {ja: 状態, path: jotai.csv}
tables:
  inkan_toroku:
    ja: 印鑑登録
    primary_key: [toroku_no]
    columns:
      - {name: toroku_no, ja: 登録番号, type: text, required: true}
      - {name: jotai_code, ja: 状態, code_table: jotai}
"""


def _schema(tmp_path, extra: str = "", codes: str = "code,name\n1,登録\n2,廃止\n"):
    (tmp_path / "jotai.csv").write_text(codes, encoding="utf-8")
    (tmp_path / "rules.yaml").write_text("spec_version: 1\ngyomu: inkan\ntables: {}\n", encoding="utf-8")
    f = tmp_path / "schema.yaml"
    f.write_text(BASE + extra, encoding="utf-8")
    return f


def test_a_schema_with_a_derived_table_loads(tmp_path):
    s = load_schema(_schema(tmp_path, """  inkan_genzai:
    ja: 現在
    primary_key: [toroku_no]
    derive: {op: latest, from: inkan_toroku, key: [toroku_no], order_by: toroku_no}
"""))
    assert s.derived_tables() == ["inkan_genzai"]


@pytest.mark.parametrize("extra", [
    """  a:
    ja: 自分から
    primary_key: [toroku_no]
    derive: {op: latest, from: a, key: [toroku_no]}
""",
    """  a:
    ja: 輪1
    primary_key: [toroku_no]
    derive: {op: latest, from: b, key: [toroku_no]}
  b:
    ja: 輪2
    primary_key: [toroku_no]
    derive: {op: latest, from: a, key: [toroku_no]}
"""])
def test_a_derived_table_that_comes_from_itself_is_refused_at_load_not_a_hang(tmp_path, extra):
    with pytest.raises(ConfigError, match=r"(?s)schema.yaml.*derive.from goes round in a circle \(a → "):
        load_schema(_schema(tmp_path, extra))


def test_a_standard_code_table_listing_a_code_twice_is_refused_naming_file_and_code(tmp_path):
    with pytest.raises(ConfigError, match=r"(?s)code_tables.jotai: .*jotai.csv: code\(s\) listed more than once: \['2'\]"):
        load_schema(_schema(tmp_path, codes="code,name\n1,登録\n2,廃止\n2,抹消\n"))
    with pytest.raises(ConfigError, match=r"jotai.csv: a code table needs a column `code`"):
        load_schema(_schema(tmp_path, codes="cd,name\n1,登録\n"))
    (tmp_path / "jotai.csv").write_bytes(b"code,name\n1,\x82\xa0\n")   # CP932, not UTF-8
    with pytest.raises(ConfigError, match=r"jotai.csv: cannot read the code table"):
        load_schema(tmp_path / "schema.yaml")


def test_every_shipped_schema_passes_the_checks():
    from ikou import SPECS
    for f in sorted((SPECS / "gyomu").glob("*/schema.yaml")):
        assert load_schema(f).tables
