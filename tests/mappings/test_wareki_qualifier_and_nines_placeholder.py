"""A 和暦 date written with its 不詳表記 (昭和45年3月2日頃, 昭和45年3月上旬) is a legal date (DOMAIN.md), the all-nines
"no date / unknown" placeholder is named as such in every format, and full-width digits read alike in every format."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.mappings import ops
from ikou.mappings.wareki import RULE_MESSAGES, wareki_to_iso
from tests.mappings.test_op_diff_rules import JUKI, KANA_LINES, diff, mapped, spec_of

FIELDS = ("iso", "error", "warning", "fumei_flag", "fumei_hyoki")


def convert(values, fmt="kanji", hyoki_column=None) -> pl.DataFrame:
    w = wareki_to_iso(pl.col("v"), fmt, None, hyoki_column)
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(w.parsed.alias("p")).unnest("p")


def one(value, fmt="kanji", hyoki_column=None) -> tuple:
    return tuple(convert([value], fmt, hyoki_column).row(0, named=True)[k] for k in FIELDS)


QUALIFIED = [   # value → (iso, 不詳表記)
    ("昭和45年3月2日頃", "1970-03-02", "頃"),
    ("昭和45年3月2日推定", "1970-03-02", "推定"),
    ("昭和４５年３月２日 頃", "1970-03-02", "頃"),             # full-width digits, a blank before the word
    ("昭和45年3月上旬", "1970-03-00", "上旬"),                # the day is unknown: 00, the word names it
    ("昭和45年3月中旬", "1970-03-00", "中旬"),
    ("昭和45年3月下旬頃", "1970-03-00", "下旬頃"),
    ("昭和45年3月頃", "1970-03-00", "日不詳頃"),              # parts not written are unknown, as 00
    ("昭和45年頃", "1970-00-00", "月日不詳頃"),
    ("昭和64年1月上旬", "1989-01-00", "昭和64年1月上旬"),     # the span crosses into 平成: the era kept
    ("明治5年3月2日頃", "1872-03-02", "頃"),
]


@pytest.mark.parametrize(("value", "iso", "hyoki"), QUALIFIED)
def test_a_kanji_date_with_its_fumei_hyoki_converts_with_flag_and_hyoki(value, iso, hyoki):
    got = one(value, hyoki_column=True)
    assert (got[0], got[1], got[3], got[4]) == (iso, None, "1", hyoki)
    assert got[2] in (None, "wareki.pre_gregorian")   # no finding of its own where the line keeps the 不詳表記


@pytest.mark.parametrize(("value", "iso", "hyoki"), [
    ("昭和45年3月日不詳", "1970-03-00", "日不詳"),   # the module's own forms, written out: as their 00 spelling
    ("昭和45年月日不詳", "1970-00-00", "月日不詳"),
    ("昭和年月日不詳", "0000-00-00", "昭和年月日不詳"),
    ("年月日不詳", "0000-00-00", "年月日不詳"),
])
def test_a_fumei_form_written_after_a_kanji_date_is_its_00_spelling(value, iso, hyoki):
    for hyoki_column in (None, True, False):   # nothing is lost without a 不詳表記 column: the 00 says it
        assert one(value, hyoki_column=hyoki_column) == (iso, None, None, "1", hyoki)


@pytest.mark.parametrize(("value", "iso", "hyoki"), QUALIFIED[:3] + QUALIFIED[4:6])
def test_a_written_fumei_hyoki_is_not_dropped_without_a_column(value, iso, hyoki):
    # the line has no 不詳表記 column: held with its own rule, not loaded without the word
    assert one(value, hyoki_column=False) == (None, "wareki.qualifier_column", None, None, None)
    # the caller does not say: kept, and a warning says that a line without the column drops it
    assert one(value) == (iso, None, "wareki.qualifier", "1", hyoki)
    for rule in ("wareki.qualifier_column", "wareki.qualifier"):
        ja, en = ops.OPS["wareki_date"].rules[rule]
        assert "fumei_hyoki" in ja and "fumei_hyoki" in en and "頃" in ja and "頃" in en


@pytest.mark.parametrize("value", ["昭和45年3月", "昭和45年00月上旬", "昭和45年3月2日上旬", "頃", "昭和45年3月2日頃頃"])
def test_a_kanji_date_that_is_no_date_stays_a_format_error(value):
    assert one(value, hyoki_column=True)[1] == "wareki.format"


def test_the_format_message_does_not_speak_of_non_digits_only():
    ja, en = RULE_MESSAGES["wareki.format"]
    assert "non-digits" not in en and "数字以外" not in ja


def test_a_kanji_date_with_its_hyoki_loads_its_fumei_columns_and_the_diff_explains_it(tmp_path):
    spec = spec_of(JUKI, "juki_kojin_rireki", KANA_LINES + [
        {"target": "seinengappi", "op": "wareki_date", "from": "BIRTH", "format": "kanji",
         "fumei_flag": "seinengappi_fumei_flag", "fumei_hyoki": "seinengappi_fumei_hyoki"}])
    births = ["昭和45年3月2日頃", "昭和45年3月上旬", "昭和45年3月2日"]
    legacy = {"ATENA": ["A0", "A1", "A2"], "RIREKI": ["1"] * 3, "BIRTH": births}
    res, _ = mapped(spec, legacy)
    rows = res.frame.sort("atena_no").select("seinengappi", "seinengappi_fumei_flag", "seinengappi_fumei_hyoki").rows()
    assert rows == [("1970-03-02", "1", "頃"), ("1970-03-00", "1", "上旬"), ("1970-03-02", "0", None)]
    assert res.quarantine.filter(pl.col("severity") == "error").is_empty()
    got = diff(spec, legacy, tmp_path)
    assert {v for k, v in got.items() if k[0] == "seinengappi"} == {"seinengappi.wareki"}   # 0 unexplained


# ------------------------------------------------------------------------ the all-nines placeholder
@pytest.mark.parametrize(("value", "fmt"), [
    ("99999999", "era2_yymmdd"), ("9999999", "era1_yymmdd"), ("99999999", "seireki_yyyymmdd"),
    ("9999-99-99", "seireki_iso"), ("99999999", "kanji"), ("9999999", "letter_yymmdd"), ("9999.99.99", "dotted"),
    (" ９９９９９９９９ ", "era2_yymmdd"),
])
def test_an_all_nines_date_is_held_as_the_legacy_no_date_placeholder(value, fmt):
    assert one(value, fmt) == (None, "wareki.nines_date", None, None, None)


def test_the_nines_message_says_it_is_the_no_date_placeholder_and_is_registered():
    ja, en = ops.OPS["wareki_date"].rules["wareki.nines_date"]
    assert "9" in ja and "日付なし" in ja and "no date" in en and "nines" in en
    assert one("99991231", "seireki_yyyymmdd")[0] == "9999-12-31"   # a real date of nines stays a date


def test_a_nines_date_is_held_by_the_mapping_with_its_own_rule():
    spec = spec_of(JUKI, "juki_kojin_rireki", KANA_LINES + [
        {"target": "seinengappi", "op": "wareki_date", "from": "BIRTH", "format": "seireki_yyyymmdd"}])
    res, _ = mapped(spec, {"ATENA": ["A0", "A1"], "RIREKI": ["1", "1"], "BIRTH": ["99999999", "19700302"]})
    held = res.quarantine.filter(pl.col("severity") == "error")
    assert held["rule"].to_list() == ["wareki.nines_date"] and held["column"].to_list() == ["seinengappi"]


# ------------------------------------------------------------------------ full-width digits, every format
@pytest.mark.parametrize(("value", "fmt", "iso"), [
    ("０３４５０３０２", "era2_yymmdd", "1970-03-02"), ("３４５０３０２", "era1_yymmdd", "1970-03-02"),
    ("２０１９０５０１", "seireki_yyyymmdd", "2019-05-01"), ("２０１９-０５-０１", "seireki_iso", "2019-05-01"),
    ("Ｓ４５０３０２", "letter_yymmdd", "1970-03-02"), ("昭和４５年３月２日", "kanji", "1970-03-02"),
])
def test_full_width_digits_read_alike_in_every_format(value, fmt, iso):
    assert one(value, fmt)[:2] == (iso, None)
