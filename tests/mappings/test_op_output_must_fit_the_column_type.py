"""The mapping loader refuses an op whose value the target column's type cannot hold, naming the file and
line: `op: integer` into a text code column (期別 01 loaded as 1, explained away by the diff), a string op
into an integer column (stopped by a strict cast at map), a 和暦 date into a number. A required target
column with no mapping line is refused when the whole mapping is checked (every row would be held by
schema.required). Every shipped mapping still loads."""
from __future__ import annotations

import pytest

from ikou import SPECS
from ikou.errors import ConfigError
from ikou.mappings.spec import check_mapping, load_mapping
from ikou.schema import load_schema

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
      - {name: kaisu,    ja: 回数,     type: integer}
      - {name: gaku,     ja: 調定額,   type: decimal, scale: 2}
      - {name: nokigen,  ja: 納期限,   type: date}
"""
LAYOUT = """spec_version: 1
name: v.CHOSHU
format: csv
encoding: utf-8
header: true
columns:
  - {name: ATENA, ja: 宛名番号}
  - {name: KI,    ja: 期別}
  - {name: KAISU, ja: 回数}
  - {name: GAKU,  ja: 調定額}
  - {name: NOKI,  ja: 納期限}
"""
FINE = {"atena_no": "op: text, from: ATENA", "kibetsu": "op: text, from: KI", "kaisu": "op: integer, from: KAISU",
        "gaku": "op: text, from: GAKU", "nokigen": "op: wareki_date, from: NOKI, format: kanji"}


def mapping(tmp_path, **lines: str | None):
    (tmp_path / "schema.yaml").write_text(SCHEMA, encoding="utf-8")
    (tmp_path / "rules.yaml").write_text("spec_version: 1\ngyomu: hoken_test\ntables: {}\n", encoding="utf-8")
    (tmp_path / "layout.yaml").write_text(LAYOUT, encoding="utf-8")
    cols = {**FINE, **lines}
    body = "".join(f"  - {{target: {t}, {line}}}\n" for t, line in cols.items() if line is not None)
    path = tmp_path / "m.yaml"
    path.write_text("spec_version: 1\ntarget: hoken\nschema: schema.yaml\nlayout: layout.yaml\n"
                    f"not_migrated: {{{', '.join(f'{s}: unused' for s in _unread(cols))}}}\ncolumns:\n{body}",
                    encoding="utf-8")
    return path


def _unread(cols: dict) -> list[str]:
    read = {ln.split("from: ")[1].split(",")[0] for ln in cols.values() if ln and "from: " in ln}
    return [c for c in ("ATENA", "KI", "KAISU", "GAKU", "NOKI") if c not in read]


def test_a_mapping_whose_ops_fit_their_columns_loads(tmp_path):
    assert [c.target for c in load_mapping(mapping(tmp_path)).columns] == list(FINE)
    load_mapping(mapping(tmp_path, gaku="op: integer, from: GAKU"))   # an integer is a decimal exactly
    load_mapping(mapping(tmp_path, nokigen="op: text, from: NOKI"))   # an ISO date as text: schema.date judges it
    load_mapping(mapping(tmp_path, kaisu="op: constant, value: '3'"))


@pytest.mark.parametrize("target, line, said", [
    ("kibetsu", "op: integer, from: KI", "columns.1.op: op 'integer' gives an integer, but target column kibetsu is "
                                         "type: text (01 would be loaded as 1)"),
    ("kaisu", "op: text, from: KAISU", "columns.2.op: op 'text' gives a text, but target column kaisu is type: integer"),
    ("kaisu", "op: code_table, from: KAISU, table: standard:none",
     "columns.2.op: op 'code_table' gives a text, but target column kaisu is type: integer"),
    ("gaku", "op: wareki_date, from: GAKU", "columns.3.op: op 'wareki_date' gives a date, but target column gaku is "
                                            "type: decimal"),
    ("kaisu", "op: constant, value: 'abc'", "columns.2.op: constant 'abc' is not an integer"),
])
def test_an_op_whose_value_does_not_fit_the_column_is_refused_with_file_and_line(tmp_path, target, line, said):
    path = mapping(tmp_path, **{target: line})
    with pytest.raises(ConfigError) as exc:
        load_mapping(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: invalid MappingSpec:") and said in msg, msg
    assert f"{said}" in msg and "(line " in msg.split(said, 1)[1].split("\n", 1)[0]


def test_a_required_column_with_no_mapping_line_is_refused_as_a_whole_mapping(tmp_path):
    """`whole=True`: what the run's plan checks (a mapping loaded for a few columns, as tools do, is not)."""
    path = mapping(tmp_path, kibetsu=None)
    spec = load_mapping(path)
    with pytest.raises(ConfigError, match=r"columns: required target column kibetsu \(期別\) has no mapping line.*"
                                          r"\(line \d+\)"):
        check_mapping(spec, load_schema(spec.schema_), str(path), path=path, whole=True)
    check_mapping(load_mapping(mapping(tmp_path)), load_schema(spec.schema_), str(path), whole=True)


def test_every_shipped_mapping_still_loads():
    files = sorted((SPECS / "vendors").glob("*/mappings/*/*.yaml"))
    assert len(files) >= 5
    for f in files:
        load_mapping(f)
