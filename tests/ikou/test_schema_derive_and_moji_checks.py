"""A derived table's `derive` names only columns its source table has (a derived source too), and `moji` is
for text columns: both refused when the schema loads, naming the key path and line, instead of a column
error at load (after the whole run) or a crash at 文字同定."""
from __future__ import annotations

import shutil

import pytest

from ikou import SPECS
from ikou.errors import ConfigError
from ikou.schema import load_schema


def _schema_with(tmp_path, old: str, new: str):
    shutil.copytree(SPECS / "gyomu" / "juki", tmp_path / "juki")
    path = tmp_path / "juki" / "schema.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


LATEST = "derive: {op: latest, from: juki_kojin_rireki, key: [atena_no], order_by: rireki_no}"


@pytest.mark.parametrize(("old", "new", "said"), [
    (LATEST, LATEST.replace("order_by: rireki_no", "order_by: rireki_number"),
     "tables.juki_kojin.derive.order_by: rireki_number is not a column of juki_kojin_rireki; did you mean rireki_no?"),
    (LATEST, LATEST.replace("key: [atena_no]", "key: [atena_number]"),
     "tables.juki_kojin.derive.key.0: atena_number is not a column of juki_kojin_rireki; did you mean atena_no?"),
    (LATEST, LATEST.replace(", order_by: rireki_no", ""), "tables.juki_kojin.derive: op latest needs order_by"),
    # a derived table's source derived too (juki_setai from juki_kojin): checked against its resolved columns
    ('where: {jumin_jotai_code: ["1"]}', 'where: {jumin_jotai: ["1"]}',
     "tables.juki_setai.derive.where.jumin_jotai: jumin_jotai is not a column of juki_kojin; "
     "did you mean jumin_jotai_code?"),
    ("agg: first, from: machiaza_code}", "agg: first, from: machiaza_kode}",
     "tables.juki_setai.derive.aggregates.3.from: machiaza_kode is not a column of juki_kojin; "
     "did you mean machiaza_code?"),
    ("agg: count, where: {zokugara_code: [\"02\"]}", "agg: count, where: {zokugara: [\"02\"]}",
     "tables.juki_setai.derive.aggregates.1.where.zokugara: zokugara is not a column of juki_kojin"),
    ("agg: first, from: jusho}", "agg: first}", "tables.juki_setai.derive.aggregates.4: agg first needs from"),
    ("  juki_setai:\n    ja: 世帯 (現在の住登者)\n    primary_key: [setai_no]",
     "  juki_setai:\n    ja: 世帯 (現在の住登者)\n    primary_key: [setai_number]",
     "tables.juki_setai.primary_key.0: setai_number is not a column of derived table juki_setai"),
])
def test_a_derive_naming_a_column_its_source_lacks_is_refused_when_the_schema_loads(tmp_path, old, new, said):
    path = _schema_with(tmp_path, old, new)
    with pytest.raises(ConfigError) as exc:
        load_schema(path)
    assert str(path) in str(exc.value) and said in str(exc.value)
    assert "(line " in str(exc.value)


def test_a_wrong_key_of_a_derived_table_is_named_once_not_again_for_the_tables_derived_from_it(tmp_path):
    path = _schema_with(tmp_path, LATEST, LATEST.replace("key: [atena_no]", "key: [atena_number]"))
    with pytest.raises(ConfigError) as exc:
        load_schema(path)
    assert "juki_kojin.derive.key.0" in str(exc.value) and "juki_setai" not in str(exc.value)


@pytest.mark.parametrize("type_", ["integer", "date", "decimal"])
def test_moji_on_a_column_that_is_not_text_is_refused_when_the_schema_loads(tmp_path, type_):
    old = "{name: rireki_no,"
    shutil.copytree(SPECS / "gyomu" / "juki", tmp_path / "juki")
    path = tmp_path / "juki" / "schema.yaml"
    text = path.read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if old in ln)
    assert "type: integer" in line
    path.write_text(text.replace(line, line.replace("type: integer", f"type: {type_}, moji: true")), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tables\.juki_kojin_rireki\.columns\.\d+: .*column rireki_no: moji: true "
                                          rf"applies to text columns only \(this one is type: {type_}\).*\(line \d+\)"):
        load_schema(path)
