"""A rules file is checked against its schema when the run is planned: a rule naming a column its table
does not have stops the run before anything is read, naming the file and the rule."""
from __future__ import annotations

import shutil

import pytest

from ikou import SPECS
from ikou.errors import ConfigError
from ikou.schema import load_schema
from ikou.validators import load_rules
from ikou.validators.spec import rule_problems


def test_every_shipped_rules_file_names_only_columns_its_schema_has():
    for schema_file in sorted((SPECS / "gyomu").glob("*/schema.yaml")):
        schema = load_schema(schema_file)
        assert rule_problems(load_rules(schema.rules), schema) == []


@pytest.mark.parametrize(("edit", "said"), [
    (("params: {columns: [juminhyo_code], regex:", "params: {columns: [juminhyo_kode], regex:"),
     "rule format.juminhyo_code: columns ['juminhyo_kode'] are not columns of juki_kojin_rireki"),
    (("params: {earlier: seinengappi, later: ido_date}", "params: {earlier: seinengappi, later: ido_day}"),
     "rule date.birth_before_ido: columns ['ido_day']"),
    (("frame: juki_kojin_rireki, frame_column: atena_no}", "frame: juki_kojin_rireki, frame_column: atena}"),
     "rule ref.atena_no: frame_column ['atena']"),
    (("tables:\n  juki_kojin_rireki:", "tables:\n  juki_kojin_rirekii:"), "tables.juki_kojin_rirekii: not a table"),
    (("kind: setainushi\n      params:\n", "kind: setainushi\n      params:\n        zokugara: zokugara_kode\n"),
     "rule setai.one_setainushi: columns ['zokugara_kode']"),
    (("params: {flag: _moji_unresolved, detail: _moji_unresolved_chars}",
      "params: {flag: _moji_unresolved, detail: _moji_unresolved_charz}"), "columns ['_moji_unresolved_charz']"),
])
def test_a_rule_naming_a_column_its_table_lacks_stops_the_plan_naming_file_and_rule(tmp_path, edit, said):
    from ikou.flows.pipeline import _check_rules
    from types import SimpleNamespace

    src = SPECS / "gyomu" / "juki"
    shutil.copytree(src, tmp_path / "juki")
    rules = tmp_path / "juki" / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    assert edit[0] in text
    rules.write_text(text.replace(edit[0], edit[1]), encoding="utf-8")
    schema = load_schema(tmp_path / "juki" / "schema.yaml")
    with pytest.raises(ConfigError) as exc:
        _check_rules([SimpleNamespace(schema=schema)])
    assert str(rules) in str(exc.value) and said in str(exc.value)
