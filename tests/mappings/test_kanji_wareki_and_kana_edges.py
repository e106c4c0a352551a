"""和暦 written in kanji (昭和45年3月2日), era codes beyond ASCII, an impossible day in an era's last month,
and the kana op's edges (a voiced mark that composes with nothing, a 外字 it passes through)."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.errors import ConfigError
from ikou.mappings.wareki import RULE_MESSAGES, wareki_to_iso
from tests.mappings.test_op_diff_rules import JUKI, KANA_LINES, diff, mapped, spec_of


def convert(values, fmt="kanji", eras=None) -> pl.DataFrame:
    w = wareki_to_iso(pl.col("v"), fmt, eras)
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(w.parsed.alias("p")).unnest("p")


def one(value, fmt="kanji", eras=None) -> dict:
    return convert([value], fmt, eras).row(0, named=True)


@pytest.mark.parametrize(("value", "iso"), [
    ("昭和45年3月2日", "1970-03-02"),
    ("昭和45年03月02日", "1970-03-02"),
    ("令和元年5月1日", "2019-05-01"),
    ("令和1年5月1日", "2019-05-01"),            # 元年 and 1年 are the same year
    ("平成 元年 1月 8日", "1989-01-08"),         # spaces inside
    ("平成\u3000元年１月８日", "1989-01-08"),     # a full-width space, full-width digits
    ("　昭和４５年３月２日 ", "1970-03-02"),      # blanks around
    ("明治45年7月30日", "1912-07-30"), ("大正元年7月30日", "1912-07-30"),   # a transition day in both eras
    ("昭和64年1月7日", "1989-01-07"), ("平成31年4月30日", "2019-04-30"),
])
def test_kanji_dates_read_era_names_gannen_full_width_digits_and_spaces(value, iso):
    row = one(value)
    assert (row["iso"], row["error"], row["warning"], row["fumei_flag"]) == (iso, None, None, "0")


@pytest.mark.parametrize(("value", "iso", "hyoki"), [
    ("昭和45年3月00日", "1970-03-00", "日不詳"),
    ("昭和45年00月00日", "1970-00-00", "月日不詳"),
    ("昭和00年00月00日", "0000-00-00", "昭和年月日不詳"),   # the era is known, as with 03000000
    ("00年00月00日", "0000-00-00", "年月日不詳"),           # no era either, as with 00000000
    ("昭和00年3月2日", "0000-03-02", "昭和年不詳"),
])
def test_kanji_dates_keep_unknown_parts_as_the_other_formats_do(value, iso, hyoki):
    row = one(value)
    assert (row["iso"], row["error"], row["fumei_flag"], row["fumei_hyoki"]) == (iso, None, "1", hyoki)


@pytest.mark.parametrize(("value", "rule"), [
    ("昭和64年1月8日", "wareki.era_range"), ("令和元年4月30日", "wareki.era_range"),
    ("光文1年1月1日", "wareki.era"), ("45年3月2日", "wareki.era"),   # a year needs its era
    ("昭和45年13月2日", "wareki.month"), ("昭和45年3月32日", "wareki.day"),
    ("昭和45年3月", "wareki.format"), ("S450302", "wareki.format"),
    ("昭和100年1月1日", "wareki.format"),
])
def test_bad_kanji_dates_name_their_rule(value, rule):
    row = one(value)
    assert row["error"] == rule and row["iso"] is None and rule in RULE_MESSAGES


def test_eras_take_full_width_letters_and_kanji_initials():
    eras = {"昭": "昭和", "Ｓ": "昭和", "平": "平成"}
    assert convert(["昭45年3月2日", "ｓ45年3月2日", "平元年1月8日"], "kanji", eras)["iso"].to_list() == [
        "1970-03-02", "1970-03-02", "1989-01-08"]
    assert one("昭和45年3月2日", "kanji", eras)["error"] == "wareki.era"   # the line's table replaces the default
    letters = convert(["Ｓ450302", "ｓ450302", "昭450302", "S450302"], "letter_yymmdd", {"Ｓ": "昭和", "昭": "昭和"})
    assert letters["iso"].to_list() == ["1970-03-02", "1970-03-02", "1970-03-02", None]
    assert letters["error"].to_list() == [None, None, None, "wareki.era"]
    assert one("４450302", "letter_yymmdd")["error"] == "wareki.format"   # a digit is not an era letter
    for fmt, bad in [("letter_yymmdd", {"SS": "昭和"}), ("letter_yymmdd", {"1": "昭和"}), ("kanji", {"昭1": "昭和"}),
                     ("kanji", {"": "昭和"}), ("kanji", {"昭 和": "昭和"}), ("era2_yymmdd", {"０３": "昭和"})]:
        with pytest.raises(ConfigError):
            wareki_to_iso(pl.col("v"), fmt, bad)


def test_an_impossible_day_in_an_eras_last_month_is_kept_like_any_impossible_day():
    """平成31年4月31日: 4月31日 is in no calendar, like 昭和45年4月31日, which is kept as recorded with a
    warning (DOMAIN.md); its month, 平成31年4月, is 平成. 令和元年4月31日's month is not 令和: held."""
    for value in ("04310431", "平成31年4月31日"):
        row = one(value, "era2_yymmdd" if value.isdigit() else "kanji")
        assert (row["iso"], row["error"], row["warning"]) == ("2019-04-31", None, "wareki.not_in_calendar")
    assert one("05010431", "era2_yymmdd")["error"] == "wareki.era_range"
    assert one("令和元年4月31日")["error"] == "wareki.era_range"
    assert one("04310501", "era2_yymmdd")["error"] == "wareki.era_range"   # a real day past the end: held
    assert one("03640132", "era2_yymmdd")["error"] == "wareki.day"


def test_a_diff_of_a_kanji_date_source_explains_every_valid_date(tmp_path):
    spec = spec_of(JUKI, "juki_kojin_rireki", KANA_LINES + [
        {"target": "seinengappi", "op": "wareki_date", "from": "BIRTH", "format": "kanji",
         "fumei_flag": "seinengappi_fumei_flag", "fumei_hyoki": "seinengappi_fumei_hyoki"}])
    births = ["昭和45年3月2日", "令和元年5月1日", "令和1年5月2日", " 平成 元年 1月 8日", "昭和４５年３月２日",
              "昭和45年3月00日", "平成31年4月31日"]
    legacy = {"ATENA": [f"A{i}" for i in range(len(births))], "RIREKI": ["1"] * len(births), "BIRTH": births}
    got = diff(spec, legacy, tmp_path)
    dates = {k: v for k, v in got.items() if k[0] == "seinengappi"}
    assert len(dates) == len(births)
    assert set(dates.values()) == {"seinengappi.wareki"}   # 0 unexplained
    got = diff(spec, legacy, tmp_path, plant={"A0": {"seinengappi": "1970-03-03"}})
    assert got[("seinengappi", "昭和45年3月2日", "1970-03-03")] is None   # a real change is not explained


def test_a_voiced_mark_that_composes_with_nothing_is_warned_of():
    spec = spec_of(JUKI, "juki_kojin_rireki", KANA_LINES + [{"target": "shimei_kana", "op": "kana_fullwidth",
                                                             "from": "KANA"}])
    kana = ["ｱﾞｲ ﾞ", "ﾟ", "ｶﾞｷﾞ", "ﾊﾟﾋﾟ"]
    legacy = {"ATENA": [f"A{i}" for i in range(4)], "RIREKI": ["1"] * 4, "KANA": kana}
    res, _ = mapped(spec, legacy)
    assert res.frame.sort("_row_id")["shimei_kana"].to_list() == ["ア゛イ ゛", "゜", "ガギ", "パピ"]
    warned = res.quarantine.filter(pl.col("rule") == "kana.lone_voiced_mark")
    assert sorted(warned["value"]) == sorted(["ｱﾞｲ ﾞ", "ﾟ"]) and set(warned["severity"]) == {"warning"}
    assert "濁点" in warned["message_ja"][0] and "voiced" in warned["message_en"][0]


def test_a_private_use_character_the_kana_op_passes_through_is_not_explained_by_its_rule(tmp_path):
    """Validation holds it (schema.private_use); a target that shows it anyway is a defect, not the op's doing."""
    spec = spec_of(JUKI, "juki_kojin_rireki", KANA_LINES + [{"target": "shimei_kana", "op": "kana_fullwidth",
                                                             "from": "KANA"}])
    legacy = {"ATENA": ["A0", "A1"], "RIREKI": ["1", "1"], "KANA": ["ﾔﾏ\ue000ﾀﾛｳ", "ﾔﾏﾀﾞﾀﾛｳ"]}
    got = diff(spec, legacy, tmp_path)
    assert got[("shimei_kana", "ﾔﾏ\ue000ﾀﾛｳ", "ヤマ\ue000タロウ")] is None
    assert got[("shimei_kana", "ﾔﾏﾀﾞﾀﾛｳ", "ヤマダタロウ")] == "shimei_kana.kana_width"
