"""The plan checks what a rules file refers to and orders the validation by it (flows.pipeline): a table is
validated after the tables its rules read (`frame`), whatever order the config lists its sources in; a
`frame` no 業務 of the run (or, optional, no shipped 業務) has, a rule on a derived table, a rules file of
another 業務 and a rules file that is not there are refused at plan, naming the file and how to fix it."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import yaml

from ikou import SPECS
from ikou.config import load_config
from ikou.errors import ConfigError, message_ja
from ikou.flows import pipeline as P
from tests.flows.conftest import SAMPLE

ZEI = {"gimusha": ("vendor_a/ZEI_GIMUSHA.csv", "kojin_juminzei/gimusha.yaml"),
       "kazei": ("vendor_a/ZEI_KAZEI.csv", "kojin_juminzei/kazei.yaml"),
       "kojo": ("vendor_a/ZEI_KOJO.csv", "kojin_juminzei/kojo.yaml"),
       "jumin": ("vendor_a/JUMIN.csv", "juki/jumin.yaml")}


def _config(tmp_path: Path, names: list[str], gyomu: list[str], specs: Path = SPECS) -> Path:
    """Vendor A's sources `names`, in that order, with the mappings of the spec tree `specs`."""
    sources = [{"name": f"vendor_a_{n}", "kind": "file", "path": str(SAMPLE / ZEI[n][0]), "encoding": "cp932",
                "mapping": str(specs / "vendors" / "vendor_a" / "mappings" / ZEI[n][1])} for n in names]
    cfg = {"spec_version": 1, "dantai": {"code": "999741", "name": "架空町"}, "gyomu": gyomu, "rehearsal": "R1",
           "sources": sources, "target": {"url": f"duckdb:///{tmp_path / 't.duckdb'}"},
           "runs_dir": str(tmp_path / "runs"), "inbox": [str(SAMPLE), str(tmp_path)]}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def _specs(tmp_path: Path) -> Path:
    """A copy of the shipped spec tree, to be spoilt by a test."""
    shutil.copytree(SPECS, tmp_path / "specs")
    return tmp_path / "specs"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _order(cfg_path: Path) -> list[str]:
    cfg = load_config(cfg_path)
    return [t for t, _, _ in P.tables_in_order(cfg, P.plan(cfg))]


# --- the order of validation (#4) ---------------------------------------------------------------------------

def test_a_table_is_validated_after_the_table_its_rules_refer_to_whatever_the_config_order(tmp_path):
    # 課税 and 控除 refer to 納税義務者 (ref.gimusha): listed first, they must still wait for it
    assert _order(_config(tmp_path, ["kazei", "kojo", "gimusha"], ["kojin_juminzei"])) == [
        "kojin_juminzei_gimusha", "kojin_juminzei_kazei", "kojin_juminzei_kojo"]
    # otherwise the config's order: 控除 before 課税 as listed
    assert _order(_config(tmp_path, ["kojo", "gimusha", "kazei"], ["kojin_juminzei"])) == [
        "kojin_juminzei_gimusha", "kojin_juminzei_kojo", "kojin_juminzei_kazei"]


def test_a_table_of_a_later_gyomu_a_rule_reads_is_validated_first(tmp_path):
    # 納税義務者's optional ref.juki reads 住民記録: listed after 個人住民税, it would be silently not checked
    order = _order(_config(tmp_path, ["gimusha", "kazei", "jumin"], ["kojin_juminzei", "juki"]))
    assert order.index("juki_kojin_rireki") < order.index("kojin_juminzei_gimusha") < order.index(
        "kojin_juminzei_kazei")


def test_rules_of_two_tables_reading_each_other_are_refused_at_plan_naming_the_tables(tmp_path):
    specs = _specs(tmp_path)
    rules = specs / "gyomu" / "kojin_juminzei" / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    anchor = "  kojin_juminzei_kazei:\n"
    assert anchor in text
    rules.write_text(text.replace(anchor, """    - id: ref.kazei
      kind: referential
      params: {column: [atena_no, kazei_nendo], frame: kojin_juminzei_kazei, frame_column: [atena_no, kazei_nendo]}
""" + anchor), encoding="utf-8")
    cfg = load_config(_config(tmp_path, ["gimusha", "kazei"], ["kojin_juminzei"], specs))
    with pytest.raises(ConfigError) as exc:
        P.plan(cfg)
    said = str(exc.value)
    assert "circle" in said and "kojin_juminzei_gimusha" in said and "kojin_juminzei_kazei" in said
    assert "ref.kazei" in said and "ref.gimusha" in said
    assert "互いを参照" in message_ja(exc.value)


# --- what `frame` names (#5) --------------------------------------------------------------------------------

def test_a_misspelt_frame_is_refused_at_plan_naming_file_rule_name_and_a_close_match(tmp_path):
    specs = _specs(tmp_path)
    rules = specs / "gyomu" / "kojin_juminzei" / "rules.yaml"
    _edit(rules, "frame: kojin_juminzei_gimusha,", "frame: kojin_juminzei_gimsha,")
    cfg = load_config(_config(tmp_path, ["gimusha", "kazei", "kojo"], ["kojin_juminzei"], specs))
    with pytest.raises(ConfigError) as exc:
        P.plan(cfg)
    said = str(exc.value)
    assert str(rules) in said and "kojin_juminzei_gimsha" in said
    assert "did you mean kojin_juminzei_gimusha" in said and "(line " in said
    assert "kojin_juminzei_gimsha" in message_ja(exc.value)


def test_a_misspelt_optional_frame_is_refused_even_when_its_gyomu_is_not_in_the_run(tmp_path):
    specs = _specs(tmp_path)
    rules = specs / "gyomu" / "kojin_juminzei" / "rules.yaml"
    _edit(rules, "params: {column: atena_no, frame: juki_kojin_rireki, frame_column: atena_no, optional: true}",
          "params: {column: atena_no, frame: juki_kojin_rirek, frame_column: atena_no, optional: true}")
    for gyomu, names in ((["kojin_juminzei"], ["gimusha", "kazei", "kojo"]),
                         (["juki", "kojin_juminzei"], ["jumin", "gimusha", "kazei", "kojo"])):
        cfg = load_config(_config(tmp_path, names, gyomu, specs))
        with pytest.raises(ConfigError, match=r"rule ref\.juki: frame 'juki_kojin_rirek' .*did you mean "
                                              r"juki_kojin_rireki"):
            P.plan(cfg)


def test_a_frame_of_a_gyomu_the_run_does_not_migrate_is_refused_unless_optional(tmp_path):
    specs = _specs(tmp_path)
    rules = specs / "gyomu" / "kojin_juminzei" / "rules.yaml"
    _edit(rules, "params: {column: atena_no, frame: juki_kojin_rireki, frame_column: atena_no, optional: true}",
          "params: {column: atena_no, frame: juki_kojin_rireki, frame_column: atena_no}")
    cfg = load_config(_config(tmp_path, ["gimusha", "kazei", "kojo"], ["kojin_juminzei"], specs))
    with pytest.raises(ConfigError, match=r"rule ref\.juki: frame 'juki_kojin_rireki' is a table of 業務 juki, "
                                          r"which this run does not migrate.*optional: true"):
        P.plan(cfg)
    # with 住民記録 in the run, the same rule is fine
    P.plan(load_config(_config(tmp_path, ["jumin", "gimusha", "kazei", "kojo"], ["juki", "kojin_juminzei"], specs)))


def test_a_frame_no_source_of_the_run_feeds_is_refused_at_plan(tmp_path):
    # 課税 without 納税義務者: ref.gimusha could only fail at validate
    cfg = load_config(_config(tmp_path, ["kazei"], ["kojin_juminzei"]))
    with pytest.raises(ConfigError, match=r"rule ref\.gimusha: frame 'kojin_juminzei_gimusha' is fed by no source") \
            as exc:
        P.plan(cfg)
    assert "投入するソースがこの実行にありません" in message_ja(exc.value)


def test_a_frame_naming_a_derived_table_is_refused_at_plan(tmp_path):
    specs = _specs(tmp_path)
    rules = specs / "gyomu" / "kojin_juminzei" / "rules.yaml"
    _edit(rules, "params: {column: atena_no, frame: juki_kojin_rireki, frame_column: atena_no, optional: true}",
          "params: {column: atena_no, frame: juki_kojin, frame_column: atena_no, optional: true}")
    cfg = load_config(_config(tmp_path, ["jumin", "gimusha", "kazei", "kojo"], ["juki", "kojin_juminzei"], specs))
    with pytest.raises(ConfigError, match=r"frame 'juki_kojin' is a derived table"):
        P.plan(cfg)


def test_an_optional_rule_whose_gyomu_is_not_in_the_run_is_listed_in_run_log_as_not_checked(tmp_path, caplog):
    cfg = load_config(_config(tmp_path, ["gimusha", "kazei", "kojo"], ["kojin_juminzei"]))
    with caplog.at_level(logging.INFO, logger="ikou"):
        P.checked_plan(cfg)
    lines = [r.getMessage() for r in caplog.records if "not checked" in r.getMessage()]
    assert any("ref.juki " in ln and "juki_kojin_rireki" in ln for ln in lines)
    assert any("ref.juki_spelling" in ln for ln in lines)
    caplog.clear()
    cfg = load_config(_config(tmp_path, ["jumin", "gimusha", "kazei", "kojo"], ["juki", "kojin_juminzei"]))
    with caplog.at_level(logging.INFO, logger="ikou"):
        P.checked_plan(cfg)
    assert not [r for r in caplog.records if "not checked" in r.getMessage()]


# --- rules on a derived table (#8), rules of another 業務 (#12), a rules file not there (#9) ---------------

def test_rules_written_for_a_derived_table_are_refused_at_plan(tmp_path):
    specs = _specs(tmp_path)
    rules = specs / "gyomu" / "juki" / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    rules.write_text(text.rstrip("\n") + """
  juki_setai:
    - id: setai.size
      kind: pattern
      params: {columns: [setaiin_su], regex: '^[1-9][0-9]?$'}
""", encoding="utf-8")
    cfg = load_config(_config(tmp_path, ["jumin"], ["juki"], specs))
    with pytest.raises(ConfigError) as exc:
        P.plan(cfg)
    said = str(exc.value)
    assert str(rules) in said and "tables.juki_setai" in said and "derived table" in said
    assert "loaded source tables" in said and "派生テーブル" in message_ja(exc.value)


def test_a_rules_file_naming_another_gyomu_is_refused_at_plan(tmp_path):
    specs = _specs(tmp_path)
    rules = specs / "gyomu" / "juki" / "rules.yaml"
    _edit(rules, "gyomu: juki\n", "gyomu: jukii\n")
    cfg = load_config(_config(tmp_path, ["jumin"], ["juki"], specs))
    with pytest.raises(ConfigError, match=r"gyomu: jukii is not its schema's 業務 juki.*\(line 4\)"):
        P.plan(cfg)


def test_a_rules_file_the_schema_names_that_is_not_there_is_refused_at_plan_saying_how_to_fix_it(tmp_path):
    specs = _specs(tmp_path)
    (specs / "gyomu" / "juki" / "rules.yaml").rename(specs / "gyomu" / "juki" / "old_rules.yaml")
    cfg = load_config(_config(tmp_path, ["jumin"], ["juki"], specs))
    with pytest.raises(ConfigError) as exc:
        P.plan(cfg)
    said = str(exc.value)
    assert "schema.yaml (業務 juki)" in said and str(specs / "gyomu" / "juki" / "rules.yaml") in said
    assert "spec_version: 1, gyomu: juki, tables: {}" in said and "rules:" in said
    assert "gyomu: juki, tables: {}" in message_ja(exc.value)


def test_a_schema_without_rules_key_and_no_rules_file_beside_it_is_refused_at_plan(tmp_path):
    from types import SimpleNamespace

    from ikou.schema import load_schema

    shutil.copytree(SPECS / "gyomu" / "juki", tmp_path / "inkan")
    (tmp_path / "inkan" / "rules.yaml").unlink()
    _edit(tmp_path / "inkan" / "schema.yaml", "rules: rules.yaml", "")
    _edit(tmp_path / "inkan" / "schema.yaml", "gyomu: juki", "gyomu: inkan")   # no shipped rules to fall back on
    schema = load_schema(tmp_path / "inkan" / "schema.yaml")
    with pytest.raises(ConfigError, match=r"業務 inkan\): its rules file .*rules\.yaml \(rules\.yaml beside it\) "
                                          r"does not exist: create it \(spec_version: 1, gyomu: inkan, tables: \{\}"):
        P._check_rules([SimpleNamespace(schema=schema)])
