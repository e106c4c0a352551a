"""Each op's deliberate change is explained by the rule it declares, and nothing more: a small legacy frame
is mapped (apply_mapping), the mapping's expected rules are generated (reports.expected) and the parallel-run
diff (reports.diff.compare) compares the legacy frame with the mapped one, where a real change is planted."""
from __future__ import annotations

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.errors import ConfigError
from ikou.mappings.engine import apply_mapping
from ikou.mappings.spec import MappingSpec
from ikou.reports.diff import compare
from ikou.reports.expected import rules_from_mapping
from ikou.reports.rules import load_rules
from ikou.reports.step import source_names
from ikou.schema import load_schema
from ikou.staging import LINEAGE

GYOMU = REPO_ROOT / "specs" / "gyomu"
JUKI = GYOMU / "juki" / "schema.yaml"
ZEI = GYOMU / "kojin_juminzei" / "schema.yaml"
SEIBETSU_A = str(REPO_ROOT / "specs" / "vendors" / "vendor_a" / "code_tables" / "seibetsu.csv")   # 1→1 2→2 9→0
ZOKUGARA = str(GYOMU / "juki" / "code_tables" / "zokugara.csv")
DANTAI, RUN = "999997", "20260101T000000Z-R1-test"
HALF_OR_COMBINING = r"[\uFF61-\uFF9F\u3099\u309A]"


def spec_of(schema_path, target: str, columns: list[dict]) -> MappingSpec:
    return MappingSpec.model_validate({"spec_version": 1, "target": target, "schema": str(schema_path),
                                       "columns": columns}, context={"path": schema_path})


def staged(data: dict[str, list]) -> pl.DataFrame:
    n = len(next(iter(data.values())))
    return pl.DataFrame({"_row_id": list(range(n)), "_source": ["legacy.csv"] * n,
                         "_source_line": list(range(2, n + 2)), **data},
                        schema={"_row_id": pl.Int64, "_source": pl.String, "_source_line": pl.Int64,
                                **{k: pl.String for k in data}})


def mapped(spec: MappingSpec, legacy: dict[str, list], prepared: dict | None = None):
    schema = load_schema(spec.schema_)
    res = apply_mapping(staged(legacy), spec, schema, run_id=RUN, dantai_code=DANTAI, prepared=prepared)
    return res, schema


def diff(spec: MappingSpec, legacy: dict[str, list], rules_dir, *, plant: dict[str, dict[str, str]] | None = None,
         prepared: dict | None = None) -> dict[tuple, str | None]:
    """(column, legacy text, new text) → the rule explaining it (None: unexplained), for every differing
    cell. `plant`: {atena_no: {column: new text}} changes the loaded rows (a real change)."""
    res, schema = mapped(spec, legacy, prepared)
    assert res.quarantine.filter(pl.col("severity") == "error").is_empty(), res.quarantine
    right = res.frame.drop(LINEAGE).with_columns(pl.all().cast(pl.String))
    for atena, cells in (plant or {}).items():
        right = right.with_columns(**{c: pl.when(pl.col("atena_no") == atena).then(pl.lit(v)).otherwise(pl.col(c))
                                      for c, v in cells.items()})
    left = pl.DataFrame(legacy, schema={k: pl.String for k in legacy}).rename(source_names(spec))
    rules = load_rules(rules_from_mapping(spec, rules_dir))
    result = compare(left, right, key=schema.tables[spec.target].primary_key, rules=rules)
    try:
        assert result.only_left == result.only_right == 0
        return {(c, lt, rt): rule for c, lt, rt, rule in result.triples.select("column", "left", "right", "rule").iter_rows()}
    finally:
        result.close()


# --- 1. kana_fullwidth --------------------------------------------------------------------------

KANA_LINES = [{"target": "atena_no", "op": "text", "from": "ATENA"},
              {"target": "rireki_no", "op": "integer", "from": "RIREKI"}]


@pytest.mark.parametrize("strip", [False, True])
def test_kana_fullwidth_leaves_no_halfwidth_or_combining_mark_and_its_rule_explains_exactly_that(tmp_path, strip):
    spec = spec_of(JUKI, "juki_kojin_rireki",
                   KANA_LINES + [{"target": "shimei_kana", "op": "kana_fullwidth", "from": "KANA", "strip": strip}])
    pad = " " if strip else ""
    kana = ["ﾜﾞｦﾞ", "ｶ\u3099ﾝ", "ｳﾞｨｸﾄﾙ", "ｲﾞｴﾞ", "カﾞﾝ", "ﾔﾏﾀﾞ ﾀﾛｳ", "ｶﾞﾝ"]
    legacy = {"ATENA": [f"A{i}" for i in range(len(kana))], "RIREKI": ["1"] * len(kana),
              "KANA": [k + pad for k in kana]}
    res, _ = mapped(spec, legacy)
    loaded = res.frame.sort("_row_id")["shimei_kana"].to_list()
    assert loaded == ["ヷヺ", "ガン", "ヴィクトル", "イ゛エ゛", "ガン", "ヤマダ タロウ", "ガン"]
    assert not any(pl.Series(loaded).str.contains(HALF_OR_COMBINING))
    # all of it full-width kana; only ｲﾞｴﾞ (no letter takes the mark: left as ゛) is listed for a human
    assert res.quarantine.select("rule", "severity").rows() == [("kana.lone_voiced_mark", "warning")]

    got = diff(spec, legacy, tmp_path, plant={"A6": {"shimei_kana": "ガソ"}})   # a real change: ン → ソ
    explained = {(lt, rt): rule for (c, lt, rt), rule in got.items() if c == "shimei_kana"}
    assert explained == {
        ("ﾜﾞｦﾞ" + pad, "ヷヺ"): "shimei_kana.kana_width", ("ｶ\u3099ﾝ" + pad, "ガン"): "shimei_kana.kana_width",
        ("ｳﾞｨｸﾄﾙ" + pad, "ヴィクトル"): "shimei_kana.kana_width", ("ｲﾞｴﾞ" + pad, "イ゛エ゛"): "shimei_kana.kana_width",
        ("カﾞﾝ" + pad, "ガン"): "shimei_kana.kana_width", ("ﾔﾏﾀﾞ ﾀﾛｳ" + pad, "ヤマダ タロウ"): "shimei_kana.kana_width",
        ("ｶﾞﾝ" + pad, "ガソ"): None}


def test_kana_fullwidth_warns_of_what_it_could_not_make_full_width_kana(tmp_path):
    spec = spec_of(JUKI, "juki_kojin_rireki", KANA_LINES + [{"target": "shimei_kana", "op": "kana_fullwidth", "from": "KANA"}])
    kana = ["ｲ\u3099", "ABC ﾀﾛｳ", "山田", "ﾔﾏﾀﾞ\u3000ﾀﾛｳ", "ｰ･ﾞ", "SMITH JOHN", "ＳＭＩＴＨ ２"]
    legacy = {"ATENA": [f"A{i}" for i in range(7)], "RIREKI": ["1"] * 7, "KANA": kana}
    res, _ = mapped(spec, legacy)
    assert res.frame.height == 7   # a warning: the rows are loaded, and listed for a human
    warned = res.quarantine.filter(pl.col("rule") == "kana.not_fullwidth")
    # Latin letters and digits are how a 外国人住民's name is often written: not warned of
    assert sorted(warned["value"].to_list()) == sorted(["ｲ\u3099", "山田"])
    assert set(warned["severity"]) == {"warning"}
    # イ has no voiced letter: the combining mark stays (and is warned of); the diff explains what the op did
    got = diff(spec, legacy, tmp_path)
    assert got[("shimei_kana", "ｲ\u3099", "イ\u3099")] == "shimei_kana.kana_width"
    assert got[("shimei_kana", "ｰ･ﾞ", "ー・゛")] == "shimei_kana.kana_width"


# --- 2. integer -----------------------------------------------------------------------------------

ZEI_LINES = [{"target": "atena_no", "op": "text", "from": "ATENA"},
             {"target": "kazei_nendo", "op": "integer", "from": "NENDO"},
             {"target": "nengaku", "op": "integer", "from": "NENGAKU"}]


def test_integer_normalisation_is_explained_and_a_changed_value_is_not(tmp_path):
    spec = spec_of(ZEI, "kojin_juminzei_kazei", ZEI_LINES)
    legacy = {"ATENA": ["A0", "A1", "A2", "A3", "A4"], "NENDO": ["2025"] * 5,
              "NENGAKU": [" 7229000", "094200", "+99200", "7229000 ", "7229000"]}
    res, _ = mapped(spec, legacy)
    assert res.frame.sort("_row_id")["nengaku"].to_list() == [7229000, 94200, 99200, 7229000, 7229000]
    got = diff(spec, legacy, tmp_path, plant={"A4": {"nengaku": "7229001"}})
    assert got == {("nengaku", " 7229000", "7229000"): "nengaku.integer",
                   ("nengaku", "094200", "94200"): "nengaku.integer",
                   ("nengaku", "+99200", "99200"): "nengaku.integer",
                   ("nengaku", "7229000 ", "7229000"): "nengaku.integer",
                   ("nengaku", "7229000", "7229001"): None}


def test_the_integer_rule_explains_only_what_the_integer_op_reads(tmp_path):
    """The op does no NFKC: ７２２９０００ is held as type.integer, so a target holding 7229000 for it is not
    the op's doing. Integers compare exactly (no float rounding), and a blank is the op's null."""
    spec = spec_of(ZEI, "kojin_juminzei_kazei", ZEI_LINES)
    res, _ = mapped(spec, {"ATENA": ["A0"], "NENDO": ["2025"], "NENGAKU": ["７２２９０００"]})
    assert res.frame.is_empty()
    assert res.quarantine["rule"].to_list() == ["type.integer"]

    legacy = {"ATENA": ["A0"], "NENDO": ["2025"], "NENGAKU": ["1"]}
    odd = [{"atena_no": "F1", "kazei_nendo": "2025", "nengaku": "7229000"},
           {"atena_no": "F2", "kazei_nendo": "2025", "nengaku": "9007199254740992"},
           {"atena_no": "F3", "kazei_nendo": "2025", "nengaku": "1000"},
           {"atena_no": "F4", "kazei_nendo": "2025", "nengaku": None},
           {"atena_no": "F5", "kazei_nendo": "2025", "nengaku": None}]
    left = {"ATENA": ["A0", "F1", "F2", "F3", "F4", "F5"], "NENDO": ["2025"] * 6,
            "NENGAKU": ["1", "７２２９０００", "9007199254740993", "1,000", "   ", "x"]}
    rules = load_rules(rules_from_mapping(spec, tmp_path))
    res, schema = mapped(spec, legacy)
    right = pl.concat([res.frame.drop(LINEAGE).with_columns(pl.all().cast(pl.String)),
                       pl.DataFrame(odd).cast(pl.String)], how="diagonal")
    result = compare(pl.DataFrame(left).rename(source_names(spec)), right,
                     key=schema.tables[spec.target].primary_key, rules=rules)
    try:
        got = {(lt, rt): rule for _, lt, rt, rule in result.triples.select("column", "left", "right", "rule").iter_rows()}
    finally:
        result.close()
    assert got == {("７２２９０００", "7229000"): None, ("9007199254740993", "9007199254740992"): None,
                   ("1,000", "1000"): None, ("   ", None): "nengaku.integer", ("x", None): None}


# --- 3. padded codes, dates and keys (the ops that always trim) -------------------------------------

def test_a_padded_code_is_explained_for_a_vendor_and_a_standard_code_table(tmp_path):
    spec = spec_of(JUKI, "juki_kojin_rireki", KANA_LINES + [
        {"target": "seibetsu_code", "op": "code_table", "from": "SEX", "table": SEIBETSU_A},
        {"target": "zokugara_code", "op": "code_table", "from": "ZOKU", "table": "standard:zokugara"}])
    legacy = {"ATENA": ["A0", "A1", "A2", "A3"], "RIREKI": ["1"] * 4,
              "SEX": [" 1", "9 ", "\u30002", "2"], "ZOKU": [" 02", "11\u3000", "02", "02"]}
    res, _ = mapped(spec, legacy)
    assert res.frame.sort("_row_id")["seibetsu_code"].to_list() == ["1", "0", "2", "2"]
    got = diff(spec, legacy, tmp_path, plant={"A3": {"seibetsu_code": "1", "zokugara_code": "11"}})
    assert got == {("seibetsu_code", " 1", "1"): "seibetsu_code.code_table",
                   ("seibetsu_code", "9 ", "0"): "seibetsu_code.code_table",
                   ("seibetsu_code", "\u30002", "2"): "seibetsu_code.code_table",
                   ("seibetsu_code", "2", "1"): None,
                   ("zokugara_code", " 02", "02"): "zokugara_code.trim",
                   ("zokugara_code", "11\u3000", "11"): "zokugara_code.trim",
                   ("zokugara_code", "02", "11"): None}


def test_a_padded_code_chain_and_wareki_date_are_explained(tmp_path):
    spec = spec_of(JUKI, "juki_kojin_rireki", KANA_LINES + [
        {"target": "zokugara_code", "op": "code_chain", "from": "ZOKU", "table": ZOKUGARA, "separator": "の",
         "chain": ["zokugara_code_2"]},
        {"target": "seinengappi", "op": "wareki_date", "from": "BIRTH", "format": "era2_yymmdd"}])
    legacy = {"ATENA": ["A0", "A1", "A2"], "RIREKI": ["1"] * 3, "ZOKU": [" 子の妻", "妻\u3000", "妻"],
              "BIRTH": [" 03450302", "04010108  ", "03450302"]}
    got = diff(spec, legacy, tmp_path, plant={"A2": {"zokugara_code": "11", "seinengappi": "1970-03-03"}})
    assert got == {("zokugara_code", " 子の妻", "20"): "zokugara_code.code_chain",
                   ("zokugara_code", "妻\u3000", "12"): "zokugara_code.code_chain",
                   ("zokugara_code", "妻", "11"): None,
                   ("seinengappi", " 03450302", "1970-03-02"): "seinengappi.wareki",
                   ("seinengappi", "04010108  ", "1989-01-08"): "seinengappi.wareki",
                   ("seinengappi", "03450302", "1970-03-03"): None}


def test_the_wareki_rule_reads_the_lines_own_era_codes(tmp_path):
    eras = {"11": "明治", "12": "大正", "13": "昭和", "14": "平成", "15": "令和"}
    spec = spec_of(JUKI, "juki_kojin_rireki", KANA_LINES + [
        {"target": "seinengappi", "op": "wareki_date", "from": "BIRTH", "format": "era2_yymmdd", "eras": eras}])
    legacy = {"ATENA": ["A0", "A1"], "RIREKI": ["1", "1"], "BIRTH": ["13450302", "13450302"]}
    got = diff(spec, legacy, tmp_path, plant={"A1": {"seinengappi": "1970-03-03"}})
    assert got == {("seinengappi", "13450302", "1970-03-02"): "seinengappi.wareki",
                   ("seinengappi", "13450302", "1970-03-03"): None}


def test_a_padded_legacy_key_given_a_new_number_is_explained(tmp_path):
    """new_key looks the trimmed legacy key up in the 団体's crosswalk; so does its rule (the crosswalk
    the diff reads sits at ../../../crosswalk/ from diff/<source>/ of a run)."""
    rules_dir = tmp_path / "runs" / "run1" / "diff" / "src"
    crosswalk = tmp_path / "runs" / "crosswalk" / "setai_no.csv"
    crosswalk.parent.mkdir(parents=True)
    table = pl.DataFrame({"legacy_setai_no": ["S1", "S2"], "setai_no": ["5000000001", "5000000028"]})
    table.with_columns(rehearsal=pl.lit("R1"), run_id=pl.lit(RUN)).write_csv(crosswalk)
    spec = spec_of(JUKI, "juki_kojin_rireki", KANA_LINES + [
        {"target": "setai_no", "op": "new_key", "from": "SETAI", "numbering": {"digits": 10, "check_digit": "mod11"}}])
    legacy = {"ATENA": ["A0", "A1", "A2"], "RIREKI": ["1"] * 3, "SETAI": [" S1", "S2\u3000", "S1"]}
    got = diff(spec, legacy, rules_dir, prepared={"setai_no": table}, plant={"A2": {"setai_no": "5000000028"}})
    assert got == {("setai_no", " S1", "5000000001"): "setai_no.new_key",
                   ("setai_no", "S2\u3000", "5000000028"): "setai_no.new_key",
                   ("setai_no", "S1", "5000000028"): None}


# --- the rules as written ---------------------------------------------------------------------------

def test_the_ops_declare_rules_the_rules_file_model_accepts_and_refuses_unknown_options(tmp_path):
    spec = spec_of(JUKI, "juki_kojin_rireki", KANA_LINES + [
        {"target": "shimei_kana", "op": "kana_fullwidth", "from": "KANA"},
        {"target": "seibetsu_code", "op": "code_table", "from": "SEX", "table": SEIBETSU_A},
        {"target": "zokugara_code", "op": "code_table", "from": "ZOKU", "table": "standard:zokugara"}])
    rules = load_rules(rules_from_mapping(spec, tmp_path))
    assert {r["name"]: r["condition"] for r in rules.metadata()} == {
        "atena_no.blank": "text", "rireki_no.integer": "integer", "shimei_kana.kana_width": "kana_fullwidth",
        "seibetsu_code.code_table": "code_table", "zokugara_code.trim": "trimmed"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec_version: 1\nrules:\n  - {name: n, columns: [n], condition: {type: integer, abs: 1},"
                   " reason: r, owner: o}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="abs"):
        load_rules(bad)


def test_a_text_field_of_spaces_loaded_as_null_and_its_padding_are_explained(tmp_path):
    """The text op turns a field of spaces into null (always) and trims padding (with strip): both are
    explained, and a changed value is not."""
    from ikou.mappings.ops import read_text
    from ikou.reports.diff import compare

    rules = tmp_path / "r.yaml"
    rules.write_text("spec_version: 1\nrules:\n"
                     "  - {name: b, columns: [b], condition: {type: text}, reason: r, owner: o}\n"
                     "  - {name: t, columns: [t], condition: {type: text, trim: true}, reason: r, owner: o}\n",
                     encoding="utf-8")
    left = pl.DataFrame({"k": ["1", "2", "3"], "b": ["   ", "\u3000", " x "], "t": [" 方書 ", "a", "b"]})
    right = left.select("k", read_text(pl.col("b"), strip=False).alias("b"), read_text(pl.col("t"), strip=True).alias("t"))
    right = right.with_columns(pl.when(pl.col("k") == "3").then(pl.lit("y")).otherwise(pl.col("t")).alias("t"))
    r = compare(left, right, key="k", rules=load_rules(rules))
    try:
        assert r.changed_cells == {"b": 2, "t": 2} and r.unexplained_cells == {"b": 0, "t": 1}
    finally:
        r.close()
