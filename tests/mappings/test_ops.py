"""Mapping operations (mappings/ops.py): each op's value, error rule and extra columns."""
from __future__ import annotations

import jaconv
import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.mappings import ops
from ikou.schema import load_schema
from ikou.mappings.spec import ColumnMap

SCHEMA = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")
# new_key reads the crosswalk its `prepare` made (mappings.step): here one legacy key "02" → "0000000019"
CTX = ops.OpContext(schema=SCHEMA, prepared={"t": pl.DataFrame({"legacy_t": ["02"], "t": ["0000000019"]})})
ZOKUGARA = str(REPO_ROOT / "specs" / "gyomu" / "juki" / "code_tables" / "zokugara.csv")


def cm(**kw) -> ColumnMap:
    return ColumnMap.model_validate({"target": "t", **kw})


def run(c: ColumnMap, values: list[str | None]) -> pl.DataFrame:
    """Evaluate an op over a column `v`: value, error, warning and its extra columns."""
    out = ops.build(c, CTX)
    exprs = [pl.col("v"), out.value.alias("value"),
             (out.error if out.error is not None else pl.lit(None, pl.String)).alias("error"),
             (out.warning if out.warning is not None else pl.lit(None, pl.String)).alias("warning")]
    exprs += [e.alias(n) for n, e in out.extra.items()]
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).with_columns(**out.pre).select(exprs)


# --- text -------------------------------------------------------------------------------------

def test_text_turns_blank_and_ideographic_space_into_null():
    df = run(cm(op="text", **{"from": "v"}), ["", "   ", "\u3000\u3000", None, "山田"])
    assert df["value"].to_list() == [None, None, None, None, "山田"]
    assert df["error"].null_count() == df.height


def test_text_keeps_surrounding_spaces_unless_strip_is_set():
    kept = run(cm(op="text", **{"from": "v"}), [" 山田\u3000"])["value"][0]
    stripped = run(cm(op="text", strip=True, **{"from": "v"}), [" 山田\u3000"])["value"][0]
    assert kept == " 山田\u3000"
    assert stripped == "山田"


# --- integer ----------------------------------------------------------------------------------

def test_integer_reads_digits_and_nulls_blanks_without_error():
    df = run(cm(op="integer", **{"from": "v"}), ["1", " 42 ", "007", "-3", "", "  ", None])
    assert df["value"].to_list() == [1, 42, 7, -3, None, None, None]
    assert df["value"].dtype == pl.Int64
    assert df["error"].null_count() == df.height


@pytest.mark.parametrize("bad", ["12a", "1.5", "一", "x", "1 2"])
def test_integer_that_cannot_be_read_is_error_type_integer(bad):
    row = run(cm(op="integer", **{"from": "v"}), [bad]).row(0, named=True)
    assert row["value"] is None
    assert row["error"] == "type.integer"
    assert ops.message("type.integer") == ops.OPS["integer"].rules["type.integer"]


# --- code_table -------------------------------------------------------------------------------

def test_code_table_csv_maps_source_codes_and_flags_unknown(tmp_path):
    csv = tmp_path / "seibetsu_a.csv"
    csv.write_text("source_code,code,note\n1,1,男\n2,2,女\n9,0,不明\n", encoding="utf-8")
    df = run(cm(op="code_table", table=str(csv), **{"from": "v"}), ["1", " 2", "9", "7", "", None])
    assert df["value"].to_list() == ["1", "2", "0", None, None, None]
    assert df["error"].to_list() == [None, None, None, "code_table.unknown", None, None]


def test_code_table_csv_with_repeated_source_code_is_refused(tmp_path):
    csv = tmp_path / "dup.csv"
    csv.write_text("source_code,code\n1,1\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="repeated"):
        ops.build(cm(op="code_table", table=str(csv), **{"from": "v"}), CTX)


def test_code_table_csv_without_required_columns_is_refused(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("from,to\n1,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="source_code,code"):
        ops.build(cm(op="code_table", table=str(csv), **{"from": "v"}), CTX)


def test_code_table_standard_accepts_only_the_standard_codes():
    known = SCHEMA.code_values("zokugara")["code"].to_list()
    assert "02" in known and "99x" not in known
    df = run(cm(op="code_table", table="standard:zokugara", **{"from": "v"}), ["02", "2", "99x", None])
    assert df["value"].to_list() == ["02", None, None, None]
    assert df["error"].to_list() == [None, "code_table.unknown", "code_table.unknown", None]


def test_code_table_without_table_is_an_error():
    with pytest.raises(ValueError, match="needs 'table'"):
        ops.build(cm(op="code_table", **{"from": "v"}), CTX)


# --- kana_fullwidth ---------------------------------------------------------------------------

HALFWIDTH_KATAKANA = [chr(c) for c in range(0xFF61, 0xFFA0)]


def test_kana_fullwidth_equals_jaconv_except_where_jaconv_leaves_a_halfwidth_mark():
    """jaconv.h2z for every form and voiced pair, except that the op never leaves a half-width ﾞ/ﾟ in the
    full-width field: ﾜﾞ → ヷ, ｦﾞ → ヺ, and a mark no letter takes becomes ゛/゜."""
    forms = HALFWIDTH_KATAKANA + [ch + m for ch in HALFWIDTH_KATAKANA for m in "ﾞﾟ"]
    df = run(cm(op="kana_fullwidth", **{"from": "v"}), forms)
    expected = [{"ﾜﾞ": "ヷ", "ｦﾞ": "ヺ"}.get(f) or jaconv.h2z(f).replace("ﾞ", "゛").replace("ﾟ", "゜") for f in forms]
    mismatches = [(f, g, e) for f, g, e in zip(forms, df["value"].to_list(), expected) if g != e]
    assert mismatches == []
    assert not [v for v in df["value"].to_list() if v and ("ﾞ" in v or "ﾟ" in v)]


def test_kana_fullwidth_converts_names_with_voiced_and_semivoiced_marks():
    names = ["ﾔﾏﾀﾞ ﾀﾛｳ", "ｳﾞｨｸﾄﾙ", "ﾎﾟﾝﾃﾞｨ", "ABC 123", "ﾊﾟﾊﾟﾊﾞﾊﾞ"]
    df = run(cm(op="kana_fullwidth", **{"from": "v"}), names)
    assert df["value"].to_list() == [jaconv.h2z(n) for n in names]
    assert df["value"][1] == "ヴィクトル"
    assert df["value"][4] == "パパババ"


def test_kana_fullwidth_blank_is_null():
    assert run(cm(op="kana_fullwidth", **{"from": "v"}), ["  ", None])["value"].to_list() == [None, None]


def test_kana_fullwidth_with_strip_trims_fixed_width_padding():
    padded = ["ｱﾍﾞ ｺｳｼﾞ     ", "\u3000ｱｵｷ ﾊﾙﾄ\u3000 ", "     "]
    stripped = run(cm(op="kana_fullwidth", strip=True, **{"from": "v"}), padded)["value"].to_list()
    kept = run(cm(op="kana_fullwidth", **{"from": "v"}), padded)["value"].to_list()
    assert stripped == ["アベ コウジ", "アオキ ハルト", None]
    assert kept == ["アベ コウジ     ", "\u3000アオキ ハルト\u3000 ", None]   # without strip: as before


def test_kana_fullwidth_with_strip_declares_the_trim_as_an_expected_difference():
    rule = ops.OPS["kana_fullwidth"].expected_rule(cm(op="kana_fullwidth", strip=True, **{"from": "v"}))
    assert rule["condition"] == {"type": "kana_fullwidth", "trim": True}
    plain = ops.OPS["kana_fullwidth"].expected_rule(cm(op="kana_fullwidth", **{"from": "v"}))
    assert plain["condition"] == {"type": "kana_fullwidth", "trim": False}


@pytest.mark.parametrize("name", ["integer", "code_table", "wareki_date", "code_chain", "new_key"])
def test_ops_that_always_trim_give_the_same_value_for_padded_input(name):
    values = ["02", " 02 ", "子の妻", " 子の妻\u3000", "03450302", "03450302  ", "1", " 1 "]
    df = run(cm(op=name, **LINES[name]), values)
    assert df["value"].to_list()[1::2] == df["value"].to_list()[0::2]


def test_every_op_declares_what_strip_means_to_it():
    assert {n: e.strip for n, e in ops.OPS.items()} == {
        "text": "option", "kana_fullwidth": "option", "constant": "none", "integer": "always",
        "code_table": "always", "wareki_date": "always", "code_chain": "always", "new_key": "always",
        "concat": "option", "zero_pad": "always", "digits": "always"}


# --- wareki_date ------------------------------------------------------------------------------

def test_wareki_date_writes_fumei_flag_and_hyoki_columns_when_named():
    c = cm(op="wareki_date", format="era2_yymmdd", fumei_flag="f_flag", fumei_hyoki="f_hyoki", **{"from": "v"})
    df = run(c, ["03450302", "03450300", "03450000", "0345XX02", None])
    assert df.columns[-2:] == ["f_flag", "f_hyoki"]
    assert df["value"].to_list() == ["1970-03-02", "1970-03-00", "1970-00-00", None, None]
    assert df["f_flag"].to_list() == ["0", "1", "1", None, None]
    assert df["f_hyoki"].to_list() == [None, "日不詳", "月日不詳", None, None]
    assert df["error"].to_list()[:3] == [None, None, None]
    assert df["error"][3] == "wareki.format"
    assert "wareki.format" in ops.OPS["wareki_date"].rules


def test_wareki_date_without_fumei_targets_adds_no_columns_and_warns_on_impossible_date():
    df = run(cm(op="wareki_date", format="era2_yymmdd", **{"from": "v"}), ["04030229"])
    assert df.columns == ["v", "value", "error", "warning"]
    assert df.row(0, named=True) == {"v": "04030229", "value": "1991-02-29", "error": None,
                                     "warning": "wareki.not_in_calendar"}


# --- constant and registry --------------------------------------------------------------------

def test_constant_fills_every_row_regardless_of_source():
    df = run(cm(op="constant", value="999997"), ["a", None, ""])
    assert df["value"].to_list() == ["999997"] * 3
    assert df["value"].dtype == pl.String


def test_unknown_op_is_an_error_naming_the_op():
    with pytest.raises(ValueError, match="'kanji_magic'"):
        ops.build(cm(op="kanji_magic", **{"from": "v"}), CTX)


def test_op_needing_a_source_column_refuses_a_missing_from():
    with pytest.raises(ValueError, match="needs 'from'"):
        ops.build(cm(op="integer"), CTX)


# --- what each registry entry declares ----------------------------------------------------------

# one mapping line per registered op, and values that make each give whatever rules it can
LINES = {
    "text": {"from": "v"},
    "constant": {"value": "x"},
    "integer": {"from": "v"},
    "code_table": {"from": "v", "table": "standard:zokugara"},
    "kana_fullwidth": {"from": "v"},
    "wareki_date": {"from": "v", "format": "era2_yymmdd"},
    "code_chain": {"from": "v", "table": ZOKUGARA, "separator": "の", "chain": ["t2"]},
    "new_key": {"from": "v", "numbering": {"digits": 10}},
    "concat": {"from": ["v"]},
    "zero_pad": {"from": "v", "width": 10},
    "digits": {"from": "v"},
}
ODD = ["子の妻", "子の妻の父", "子の友人", "", " ", None, "x", "1.5", "02", "ﾔﾏﾀﾞ", "03450302", "0345XX02", "04030229", "09450302", "03451302",
       "03450332", "01450302", "05010101", "04310501"]


def test_every_rule_an_op_gives_is_declared_with_its_messages():
    assert set(LINES) == set(ops.OPS), "give every registered op a line here"
    for name, entry in ops.OPS.items():
        df = run(cm(op=name, **LINES[name]), ODD)
        given = set(df["error"].drop_nulls()) | set(df["warning"].drop_nulls())
        assert given <= set(entry.rules), (name, given - set(entry.rules))
        for rule, (ja, en) in entry.rules.items():
            assert ja and en and ops.message(rule) == (ja, en)
    assert {"type.integer", "code_table.unknown", "wareki.format", "wareki.not_in_calendar"} <= set(ops.RULE_MESSAGES)


def test_per_value_and_needs_are_declared_by_the_ops():
    assert ops.PER_VALUE == {n for n, e in ops.OPS.items() if e.per_value}
    assert ops.PER_VALUE == {"integer", "code_table", "kana_fullwidth", "wareki_date", "code_chain", "new_key",
                             "zero_pad", "digits"}
    assert ops.OPS["code_table"].needs == ("from", "table")
    assert ops.OPS["constant"].needs == ("value",)


@pytest.fixture
def upper_op():
    """A plug-in op registered for one test, then removed."""
    def expected(c):
        return {"name": f"{c.target}.upper", "columns": [c.target],
                "condition": {"type": "normalize", "trim": False, "width": True}, "reason": "大文字にしたため"}

    ops.op("test_upper", needs=("from",), rules={"test_upper.blank": ("空欄です", "blank")}, expected=expected)(
        lambda c, ctx: ops.OpOut(pl.col(c.from_).str.to_uppercase(),
                                 error=pl.when(pl.col(c.from_) == "").then(pl.lit("test_upper.blank"))))
    yield "test_upper"
    del ops.OPS["test_upper"]
    del ops.RULE_MESSAGES["test_upper.blank"]


def test_a_registered_op_is_usable_with_its_messages(upper_op):
    df = run(cm(op=upper_op, **{"from": "v"}), ["abc", ""])
    assert df["value"].to_list() == ["ABC", ""] and df["error"].to_list() == [None, "test_upper.blank"]
    assert ops.message("test_upper.blank") == ("空欄です", "blank")
    assert ops.OPS[upper_op].expected_rule(cm(op=upper_op, **{"from": "v"}))["name"] == "t.upper"


def test_an_op_name_or_a_rule_id_is_registered_once(upper_op):
    with pytest.raises(ValueError, match="registered twice"):
        ops.op(upper_op, needs=("from",))(lambda c, ctx: None)
    with pytest.raises(ValueError, match="other messages"):
        ops.op("test_clash", needs=("from",), rules={"type.integer": ("別", "other")})(lambda c, ctx: None)
    assert "test_clash" not in ops.OPS and ops.message("type.integer") == ("整数として読めません", "not an integer")


def test_new_key_holds_a_legacy_key_the_crosswalk_also_holds_in_another_spelling():
    """050000009 and 50000009 would get two new numbers: one household split in two."""
    ctx = ops.OpContext(schema=SCHEMA, prepared={"t": pl.DataFrame(
        {"legacy_t": ["050000009", "50000009", "０５０００００１７", "70000001"],
         "t": ["0000000019", "0000000027", "0000000035", "0000000043"]})})
    out = ops.build(cm(op="new_key", numbering={"digits": 10}, **{"from": "v"}), ctx)
    df = pl.DataFrame({"v": ["050000009", "50000009", "70000001", "０５０００００１７", "99"]}).select(
        out.value.alias("value"), out.error.alias("error"))
    assert df["error"].to_list() == ["new_key.spelled_twice", "new_key.spelled_twice", None, None,
                                     "new_key.unissued"]
    assert "new_key.spelled_twice" in ops.OPS["new_key"].rules


def test_new_key_never_holds_all_zero_legacy_keys_as_one_number_spelled_twice():
    """'0', '000' and '０' are one number once normalised (ikou.spelling: '0'), but an all-zero key is no
    person's number: new_key held only keys that normalise to a number, and still does."""
    ctx = ops.OpContext(schema=SCHEMA, prepared={"t": pl.DataFrame(
        {"legacy_t": ["0", "000", "０", "0012", "12"],
         "t": ["0000000019", "0000000027", "0000000035", "0000000043", "0000000051"]})})
    out = ops.build(cm(op="new_key", numbering={"digits": 10}, **{"from": "v"}), ctx)
    df = pl.DataFrame({"v": ["0", "000", "０", "0012", "12"]}).select(out.value.alias("value"), out.error.alias("error"))
    assert df["value"].to_list() == ["0000000019", "0000000027", "0000000035", "0000000043", "0000000051"]
    assert df["error"].to_list() == [None, None, None, "new_key.spelled_twice", "new_key.spelled_twice"]
