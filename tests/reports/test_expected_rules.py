"""Expected-difference rules (reports/expected.py) come from the op registry (mappings/ops.py): each op
declares its own rule, and the rules for the shipped mappings are those generated before the registry."""
from __future__ import annotations

import polars as pl
import yaml

from ikou import REPO_ROOT
from ikou.mappings.spec import MappingSpec, load_mapping
from ikou.reports.expected import OWNER, rules_from_mapping
from ikou.reports.rules import load_rules
from tests.mappings.test_ops import upper_op  # noqa: F401  (a plug-in op, registered for one test)

SCHEMA_PATH = REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml"
# the mappings shipped before the registry (vendor C's came after it: tests/flows/test_vendor_c.py)
SHIPPED = sorted(p for p in (REPO_ROOT / "specs" / "vendors").glob("*/mappings/*/*.yaml") if "vendor_c" not in p.parts)
CHAR_MAP = pl.DataFrame({"from": ["\ue000", "\ue001"], "to": ["髙", "﨑"]})


def previous_rules(spec) -> list[dict]:
    """The op rules spelled out by op name, as reports/expected.py wrote them before the registry (its
    if/elif over op names), with what each op's rule has said since: a code is read trimmed, an integer
    as the op reads it, half-width kana as the op converts it."""
    rules = []
    for c in spec.columns:
        if c.op == "code_table" and c.table and not c.table.startswith("standard:"):
            rules.append({"name": f"{c.target}.code_table", "columns": [c.target],
                          "condition": {"type": "code_table", "table": str(c.table), "trim": True},
                          "reason": f"旧コード ({c.from_}) を標準コードに置き換えたため", "owner": OWNER})
        elif c.op == "code_table":
            rules.append({"name": f"{c.target}.trim", "columns": [c.target], "condition": {"type": "trimmed"},
                          "reason": "コードの前後の空白を除いたため", "owner": OWNER})
        elif c.op == "wareki_date":
            cond = {"type": "wareki", "format": c.format or "era2_yymmdd"} | ({"eras": dict(c.eras)} if c.eras else {})
            rules.append({"name": f"{c.target}.wareki", "columns": [c.target], "condition": cond,
                          "reason": "旧システムは" + {"seireki_yyyymmdd": "西暦 YYYYMMDD (区切りなし) ",
                                                     "seireki_iso": "日付型 (日時の 00:00:00 を含む) "}.get(
                              c.format, f"和暦 ({c.format}) ") + "で保持、標準は西暦 YYYY-MM-DD のため",
                          "owner": OWNER})
        elif c.op == "kana_fullwidth":
            rules.append({"name": f"{c.target}.kana_width", "columns": [c.target],
                          "condition": {"type": "kana_fullwidth", "trim": bool(c.strip)},
                          "reason": "半角カナを全角カナにしたため", "owner": OWNER})
        elif c.op == "integer":
            rules.append({"name": f"{c.target}.integer", "columns": [c.target], "condition": {"type": "integer"},
                          "reason": "旧システムの数字の表記 (前後の空白・先頭のゼロ・+ 符号) を整数として読んだため",
                          "owner": OWNER})
        elif c.op == "text" and c.strip:
            rules.append({"name": f"{c.target}.trim", "columns": [c.target], "condition": {"type": "text", "trim": True},
                          "reason": "前後の空白を除いたため", "owner": OWNER})
        elif c.op == "text":
            rules.append({"name": f"{c.target}.blank", "columns": [c.target], "condition": {"type": "text", "trim": False},
                          "reason": "空白だけの値を空 (null) としたため", "owner": OWNER})
    return rules


def moji_rule() -> dict:
    return {"name": "moji.gaiji", "columns": ["shimei"], "condition": {"type": "moji", "char_map": "moji_char_map.csv"},
            "reason": "外字を団体の外字表により文字情報基盤 (MJ) の文字に置き換えたため (文字同定)", "owner": OWNER}


def written(spec, out) -> tuple[str, dict]:
    path = rules_from_mapping(spec, out, char_map=CHAR_MAP, moji_columns=["shimei"])
    load_rules(path)   # the diff can read what was written
    text = path.read_text(encoding="utf-8")
    return text, yaml.safe_load(text)


def test_the_shipped_mappings_get_the_rules_they_got_before_the_registry(tmp_path):
    assert len(SHIPPED) >= 8
    for path in SHIPPED:
        spec = load_mapping(path)
        text, doc = written(spec, tmp_path / path.stem)
        want = {"spec_version": 1, "rules": previous_rules(spec) + [moji_rule()]}
        assert doc == want, path.name
        assert text == yaml.safe_dump(want, allow_unicode=True, sort_keys=False), path.name   # byte for byte


def spec_of(columns: list[dict]) -> MappingSpec:
    return MappingSpec.model_validate({"spec_version": 1, "target": "juki_kojin_rireki", "schema": str(SCHEMA_PATH),
                                       "columns": columns}, context={"path": SCHEMA_PATH})


def test_every_op_variant_gets_the_rule_it_got_before(tmp_path):
    csv = REPO_ROOT / "specs" / "vendors" / "vendor_a" / "code_tables" / "seibetsu.csv"
    spec = spec_of([
        {"target": "dantai_code", "op": "constant", "value": "999997"},
        {"target": "atena_no", "op": "text", "from": "A", "strip": True},
        {"target": "rireki_no", "op": "integer", "from": "R", "strip": True},
        {"target": "setai_no", "op": "text", "from": "S"},
        {"target": "shimei_kana", "op": "kana_fullwidth", "from": "K"},
        {"target": "seibetsu_code", "op": "code_table", "from": "SEX", "table": str(csv)},
        {"target": "zokugara_code", "op": "code_table", "from": "Z", "table": "standard:zokugara"},
        {"target": "seinengappi", "op": "wareki_date", "from": "B", "format": "letter_yymmdd"},
    ])
    _, doc = written(spec, tmp_path)
    assert doc["rules"] == previous_rules(spec) + [moji_rule()]
    assert [r["name"] for r in doc["rules"]] == ["atena_no.trim", "rireki_no.integer", "setai_no.blank", "shimei_kana.kana_width",
                                                 "seibetsu_code.code_table", "zokugara_code.trim", "seinengappi.wareki",
                                                 "moji.gaiji"]


def test_a_wareki_line_without_format_names_the_default_format_in_its_reason(tmp_path):
    _, doc = written(spec_of([{"target": "seinengappi", "op": "wareki_date", "from": "B"}]), tmp_path)
    assert doc["rules"][0]["condition"] == {"type": "wareki", "format": "era2_yymmdd"}
    assert "(era2_yymmdd)" in doc["rules"][0]["reason"]   # was "(None)"


def test_a_registered_op_brings_its_own_rule(tmp_path, upper_op):
    _, doc = written(spec_of([{"target": "shimei", "op": upper_op, "from": "N"}]), tmp_path)
    assert doc["rules"][0] == {"name": "shimei.upper", "columns": ["shimei"],
                               "condition": {"type": "normalize", "trim": False, "width": True},
                               "reason": "大文字にしたため", "owner": OWNER}
