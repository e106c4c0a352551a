"""A spec error names the line of the YAML key it is about, not only its 0-based key path (columns.7.target)."""
from __future__ import annotations

import re

import pytest

from ikou import SPECS
from ikou.errors import ConfigError
from ikou.mappings.spec import load_mapping
from ikou.validators.spec import load_rules

LAYOUT = SPECS / "vendors" / "vendor_a" / "layouts" / "jumin.yaml"


def _line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def _error(fn, path) -> str:
    with pytest.raises(ConfigError) as info:
        fn(path)
    return str(info.value)


def test_a_misspelt_target_column_names_its_line(tmp_path):
    text = (f"spec_version: 1\ntarget: juki_kojin_rireki\nschema: gyomu:juki\nlayout: {LAYOUT}\n"
            "columns:\n"
            "  - {target: dantai_code, op: text, from: DANTAI_CD}\n"
            "  - target: atena_no\n"
            "    op: text\n"
            "    from: ATENA_NO\n"
            "  - {target: rireki_no, op: integer, from: RIREKI_NO}\n"
            "  - target: shimeii\n"
            "    op: text\n"
            "    from: SHIMEI\n")
    f = tmp_path / "m.yaml"
    f.write_text(text, encoding="utf-8")
    msg = _error(load_mapping, f)
    assert re.search(rf"columns\.3\.target: column 'shimeii' is not in the target table .*\(line "
                     rf"{_line_of(text, 'shimeii')}\)", msg), msg


def test_an_unknown_key_of_a_mapping_line_names_its_line(tmp_path):
    text = (f"spec_version: 1\ntarget: juki_kojin_rireki\nschema: gyomu:juki\nlayout: {LAYOUT}\n"
            "columns:\n"
            "  - {target: dantai_code, op: text, from: DANTAI_CD}\n"
            "  - {target: atena_no, op: text, form: ATENA_NO}\n")
    f = tmp_path / "m.yaml"
    f.write_text(text, encoding="utf-8")
    msg = _error(load_mapping, f)
    assert f"columns.1.form: Extra inputs are not permitted (line {_line_of(text, 'form:')})" in msg, msg


def test_a_bad_rule_param_names_the_rule_line(tmp_path):
    text = ("spec_version: 1\ngyomu: juki\ntables:\n  juki_kojin_rireki:\n"
            "    - id: atena.length\n      kind: length\n      params: {columns: [atena_no], length: 10}\n"
            "    - id: atena.pattern\n      kind: pattern\n      params: {columns: [atena_no], regx: '^[0-9]+$'}\n")
    f = tmp_path / "rules.yaml"
    f.write_text(text, encoding="utf-8")
    msg = _error(load_rules, f)
    assert "tables.juki_kojin_rireki.1:" in msg and "params of kind pattern" in msg, msg
    # the misspelt key is named first, then what its absence left missing
    assert "params of kind pattern: regx: Extra inputs are not permitted; regex: Field required" in msg, msg
    assert f"(line {_line_of(text, 'id: atena.pattern')})" in msg, msg


def test_a_missing_required_key_names_the_line_of_its_parent(tmp_path):
    text = "spec_version: 1\nname: x\nformat: csv\ncolumns:\n  - name: A\n    ja: a\n  - name: B\n"
    f = tmp_path / "layout.yaml"
    f.write_text(text, encoding="utf-8")
    from ikou.extractors.layout import load_layout

    msg = _error(load_layout, f)
    assert f"columns.1.ja: Field required (line {_line_of(text, 'name: B')})" in msg, msg


def test_the_japanese_half_of_a_spec_error_names_the_file_and_the_line_to_fix(tmp_path):
    """pydantic's words are English; a Japanese reader still gets the file and each place (key path, line)."""
    text = (f"spec_version: 1\ntarget: juki_kojin_rireki\nschema: gyomu:juki\nlayout: {LAYOUT}\n"
            "columns:\n"
            "  - {target: atena_no, op: text, from: ATENA_NO}\n"
            "  - target: shimeii\n"
            "    op: text\n"
            "    from: SHIMEI\n")
    f = tmp_path / "m.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_mapping(f)
    ja = info.value.ja
    assert str(f) in ja and "columns.1.target" in ja and f"({_line_of(text, 'shimeii')} 行目)" in ja
    assert ja != ConfigError.ja
