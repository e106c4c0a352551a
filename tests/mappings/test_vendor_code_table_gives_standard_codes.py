"""A vendor code table (legacy code → standard code) into a column the schema checks against a standard code
table is refused at plan when it gives a code the standard table lacks: otherwise every record with that legacy
code was held at validation (schema.code_value), one finding per row, with the vendor table's typo named nowhere."""
from __future__ import annotations

import pytest

from ikou.errors import ConfigError
from ikou.mappings.spec import load_mapping

SCHEMA = """spec_version: 1
gyomu: kbt_test
ja: 区分 (試験)
code_tables:
  kubun: {ja: 区分, path: kubun.csv}
tables:
  t:
    ja: 試験
    primary_key: [atena_no]
    columns:
      - {name: atena_no,   ja: 宛名番号, type: text, required: true}
      - {name: kubun_code, ja: 区分,     type: text, code_table: kubun}
"""
LAYOUT = """spec_version: 1
name: v.T
format: csv
encoding: utf-8
header: true
columns:
  - {name: ATENA, ja: 宛名番号}
  - {name: KUBUN, ja: 区分}
"""


def _mapping(tmp_path, vendor_rows: str):
    (tmp_path / "schema.yaml").write_text(SCHEMA, encoding="utf-8")
    (tmp_path / "rules.yaml").write_text("spec_version: 1\ngyomu: kbt_test\ntables: {}\n", encoding="utf-8")
    (tmp_path / "kubun.csv").write_text("code,name\n01,一\n02,二\n", encoding="utf-8")
    (tmp_path / "layout.yaml").write_text(LAYOUT, encoding="utf-8")
    (tmp_path / "vendor_kubun.csv").write_text("source_code,code\n" + vendor_rows, encoding="utf-8")
    path = tmp_path / "m.yaml"
    path.write_text("spec_version: 1\ntarget: t\nschema: schema.yaml\nlayout: layout.yaml\ncolumns:\n"
                    "  - {target: atena_no, op: text, from: ATENA}\n"
                    f"  - {{target: kubun_code, op: code_table, from: KUBUN, table: {tmp_path / 'vendor_kubun.csv'}}}\n",
                    encoding="utf-8")
    return path


def test_a_vendor_code_table_giving_standard_codes_loads(tmp_path):
    assert [c.target for c in load_mapping(_mapping(tmp_path, "A,01\nB,02\nC,01\n")).columns] == ["atena_no",
                                                                                                    "kubun_code"]


def test_a_vendor_code_table_giving_a_code_the_standard_table_lacks_is_refused_naming_file_and_codes(tmp_path):
    path = _mapping(tmp_path, "A,01\nB,2\nC,03\n")   # 2: the leading zero lost in a spreadsheet; 03: no such code
    with pytest.raises(ConfigError) as exc:
        load_mapping(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: invalid MappingSpec:") and "columns.1.table" in msg, msg
    assert "vendor_kubun.csv" in msg and "B→2" in msg and "C→03" in msg and "A→01" not in msg, msg
    assert "standard code table kubun" in msg and "(line " in msg, msg
