"""Dates the calendar or the format makes ambiguous: 旧暦 明治 dates, the all-zero "no date" placeholder of a 西暦
format, era letters typed in full width, and a 不詳 date whose unknown span reaches into another era."""
from __future__ import annotations

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.extractors import load_layout
from ikou.extractors.csv_file import extract_csv
from ikou.mappings import ops
from ikou.mappings.engine import apply_mapping
from ikou.mappings.spec import load_mapping
from ikou.mappings.wareki import RULE_MESSAGES, wareki_to_iso
from ikou.schema import load_schema

DANTAI = "999997"   # the sample data's 団体コード


def one(value: str, fmt: str = "era2_yymmdd", eras: dict[str, str] | None = None) -> tuple:
    w = wareki_to_iso(pl.col("v"), fmt, eras)
    return pl.DataFrame({"v": [value]}, schema={"v": pl.String}).select(
        w.iso, w.error, w.warning, w.fumei_flag, w.fumei_hyoki).row(0)


# ------------------------------------------------------------------------ #3 明治1–5年: 旧暦
@pytest.mark.parametrize(("value", "fmt", "iso", "warning"), [
    ("01050101", "era2_yymmdd", "1872-01-01", "wareki.pre_gregorian"),   # 旧暦 1/1, Gregorian 1872-02-09: kept
    ("01051202", "era2_yymmdd", "1872-12-02", "wareki.pre_gregorian"),   # the last 旧暦 day
    ("01051203", "era2_yymmdd", "1872-12-03", "wareki.not_in_calendar"),  # 12/3 became 明治6年1月1日
    ("1051231", "era1_yymmdd", "1872-12-31", "wareki.not_in_calendar"),
    ("明治5年12月3日", "kanji", "1872-12-03", "wareki.not_in_calendar"),
    ("M05.12.03", "dotted", "1872-12-03", "wareki.not_in_calendar"),
    ("01030230", "era2_yymmdd", "1870-02-30", "wareki.pre_gregorian"),   # a 旧暦 2月 may have a 30th
    ("01030131", "era2_yymmdd", "1870-01-31", "wareki.not_in_calendar"),  # no 旧暦 month has a 31st
    ("01010125", "era2_yymmdd", "1868-01-25", "wareki.pre_gregorian"),
    # 旧暦 明治元年1月1日 is the era's first day (Gregorian 1868-01-25): its written 1月1日–24日 are in 明治
    ("01010101", "era2_yymmdd", "1868-01-01", "wareki.pre_gregorian"),
    ("01010124", "era2_yymmdd", "1868-01-24", "wareki.pre_gregorian"),
    ("明治元年1月1日", "kanji", "1868-01-01", "wareki.pre_gregorian"),
    ("M01.01.24", "dotted", "1868-01-24", "wareki.pre_gregorian"),
    ("M010101", "letter_yymmdd", "1868-01-01", "wareki.pre_gregorian"),
    ("01051200", "era2_yymmdd", "1872-12-00", "wareki.pre_gregorian"),   # 日不詳 in 旧暦 too
    ("01060101", "era2_yymmdd", "1873-01-01", None),                     # Gregorian from 明治6年
    ("01000302", "era2_yymmdd", "0000-03-02", None),                     # 明治年不詳: maybe Gregorian
    ("18720101", "seireki_yyyymmdd", "1872-01-01", None),                # written in 西暦: Gregorian already
])
def test_a_meiji_date_before_meiji_6_keeps_its_written_month_and_day_with_a_warning(value, fmt, iso, warning):
    got = one(value, fmt)
    assert (got[0], got[1], got[2]) == (iso, None, warning)


def test_the_pre_gregorian_warning_is_registered_with_both_messages():
    assert RULE_MESSAGES["wareki.pre_gregorian"] == (
        "旧暦の日付です（記録どおり西暦の年に換算、月日はそのまま）",
        "a 旧暦 date before 明治6年: year converted, month and day kept as written")
    assert ops.OPS["wareki_date"].rules["wareki.pre_gregorian"] == RULE_MESSAGES["wareki.pre_gregorian"]
    assert "wareki.zero_date" in ops.OPS["wareki_date"].rules


def _vendor_a(tmp_path, seinengappi: list[str]):
    spec = load_mapping(REPO_ROOT / "specs" / "vendors" / "vendor_a" / "mappings" / "juki" / "jumin.yaml")
    schema = load_schema(spec.schema_)
    r = extract_csv(REPO_ROOT / "data" / "sample" / "vendor_a" / "JUMIN.csv", load_layout(spec.layout),
                    out_path=tmp_path / "s.parquet", source_name="a", source_ordinal=1, target_table=spec.target,
                    run_id="r", dantai_code=DANTAI)
    staged = pl.read_parquet(r.staging).head(len(seinengappi)).with_columns(pl.Series("SEINENGAPPI", seinengappi))
    return apply_mapping(staged, spec, schema, run_id="r", dantai_code=DANTAI)


def test_a_meiji_5_birth_date_loads_as_written_and_the_quarantine_lists_its_warning(tmp_path):
    mapped = _vendor_a(tmp_path, ["01050101", "01051203", "03450302"])
    assert mapped.frame["seinengappi"].to_list() == ["1872-01-01", "1872-12-03", "1970-03-02"]
    warned = mapped.quarantine.filter(pl.col("column") == "seinengappi").sort("row_id")
    assert warned.select("rule", "severity").rows() == [("wareki.pre_gregorian", "warning"),
                                                         ("wareki.not_in_calendar", "warning")]


# ------------------------------------------------------------------ #4 the all-zero "no date" placeholder
@pytest.mark.parametrize(("value", "fmt"), [
    ("0000-00-00", "seireki_iso"), ("0000-00-00T00:00:00", "seireki_iso"), ("0000-00-00 00:00:00", "seireki_iso"),
    ("00000000", "seireki_yyyymmdd"), (" 00000000 ", "seireki_yyyymmdd"),
])
def test_an_all_zero_date_of_a_seireki_format_is_held_as_the_no_date_placeholder(value, fmt):
    assert one(value, fmt) == (None, "wareki.zero_date", None, None, None)


def test_the_zero_date_message_says_it_is_no_date_and_what_to_do():
    ja, en = RULE_MESSAGES["wareki.zero_date"]
    assert "日付なし" in ja and "年月日不詳ではありません" in ja and "任意項目" in ja
    assert "no date" in en and "optional" in en and "empty" in en


@pytest.mark.parametrize(("value", "fmt", "iso", "hyoki"), [
    ("0000-03-02", "seireki_iso", "0000-03-02", "年不詳"),      # a part known: a 不詳 date, as before
    ("1985-00-00", "seireki_iso", "1985-00-00", "月日不詳"),
    ("00000302", "seireki_yyyymmdd", "0000-03-02", "年不詳"),
    ("00000000", "era2_yymmdd", "0000-00-00", "年月日不詳"),    # 和暦: 00 is how the layout writes unknown
    ("0000000", "era1_yymmdd", "0000-00-00", "年月日不詳"),
    ("00年00月00日", "kanji", "0000-00-00", "年月日不詳"),
])
def test_a_partly_zero_or_wareki_zero_date_stays_a_fumei_date(value, fmt, iso, hyoki):
    assert one(value, fmt) == (iso, None, None, "1", hyoki)


# ------------------------------------------------------------------------- #7 full-width era letters
@pytest.mark.parametrize(("value", "fmt", "iso"), [
    ("Ｈ０５．０３．０１", "dotted", "1993-03-01"),   # typed wholly in full width
    ("ｈ05.03.01", "dotted", "1993-03-01"),
    ("Ｓ450302", "letter_yymmdd", "1970-03-02"),
    ("ｓ450302", "letter_yymmdd", "1970-03-02"),
    ("Ｓ４５０３０２", "letter_yymmdd", "1970-03-02"),   # typed wholly in full width
    ("ｓ４５０３０２", "letter_yymmdd", "1970-03-02"),
    ("㍼450302", "letter_yymmdd", "1970-03-02"),         # the one-character 昭和 as the era letter
    ("㋿010501", "letter_yymmdd", "2019-05-01"),
    ("㍼45年3月2日", "kanji", "1970-03-02"),           # the one-character 昭和
    ("㍻元年1月8日", "kanji", "1989-01-08"),
])
def test_a_full_width_era_letter_reads_like_its_half_width_one(value, fmt, iso):
    assert one(value, fmt)[:3] == (iso, None, None)


def test_a_vendors_half_width_letter_code_reads_a_full_width_letter_too():
    assert one("Ｓ45年3月2日", "kanji", {"S": "昭和"})[:2] == ("1970-03-02", None)
    assert one("Ｒ01.05.01", "dotted", {"R": "令和"})[:2] == ("2019-05-01", None)
    assert one("Ｘ450302", "letter_yymmdd")[1] == "wareki.era"   # still no era
    assert one("Ｓ４５０３０２", "letter_yymmdd", {"S": "昭和"})[:2] == ("1970-03-02", None)
    assert one("㍼450302", "letter_yymmdd", {"S": "昭和"})[:2] == ("1970-03-02", None)


def test_a_vendors_full_width_letter_code_still_wins_over_its_half_width_reading():
    """Only the digits are width-folded: the vendor's own `Ｓ` is not read as its `S`."""
    assert one("Ｓ４５０３０２", "letter_yymmdd", {"Ｓ": "平成", "S": "昭和"})[1] == "wareki.era_range"   # 平成45年
    assert one("Ｓ０５０３０１", "letter_yymmdd", {"Ｓ": "平成", "S": "昭和"})[:2] == ("1993-03-01", None)


@pytest.mark.parametrize("value", ["５450302", "S①50302", "S４５０３０", "S45 0302"])
def test_a_letter_date_with_no_letter_or_not_six_digits_is_still_a_format_error(value):
    assert one(value, "letter_yymmdd")[1] == "wareki.format"


# -------------------------------------------------------------- #9 不詳 spans reaching into another era
@pytest.mark.parametrize(("value", "fmt", "iso", "hyoki"), [
    ("03640100", "era2_yymmdd", "1989-01-00", "昭和64年1月日不詳"),
    ("04010100", "era2_yymmdd", "1989-01-00", "平成元年1月日不詳"),
    ("04010000", "era2_yymmdd", "1989-00-00", "平成元年月日不詳"),
    ("03640000", "era2_yymmdd", "1989-00-00", "昭和64年月日不詳"),
    ("04010015", "era2_yymmdd", "1989-00-15", "平成元年月不詳"),     # the day is known: in the ISO text
    ("01450700", "era2_yymmdd", "1912-07-00", "明治45年7月日不詳"),
    ("02010700", "era2_yymmdd", "1912-07-00", "大正元年7月日不詳"),
    ("02151200", "era2_yymmdd", "1926-12-00", "大正15年12月日不詳"),
    ("03011200", "era2_yymmdd", "1926-12-00", "昭和元年12月日不詳"),
    ("04310000", "era2_yymmdd", "2019-00-00", "平成31年月日不詳"),
    ("R010000", "letter_yymmdd", "2019-00-00", "令和元年月日不詳"),
    ("昭和64年1月00日", "kanji", "1989-01-00", "昭和64年1月日不詳"),
    # within one era: the ISO text says which, the notation stays short
    ("04310400", "era2_yymmdd", "2019-04-00", "日不詳"),   # 平成31年4月 ends on 4/30, 平成's last day
    ("05010500", "era2_yymmdd", "2019-05-00", "日不詳"),
    ("04010200", "era2_yymmdd", "1989-02-00", "日不詳"),
    ("04020000", "era2_yymmdd", "1990-00-00", "月日不詳"),
    ("01010100", "era2_yymmdd", "1868-01-00", "日不詳"),   # no era before 明治 is written
    ("03000100", "era2_yymmdd", "0000-01-00", "昭和年日不詳"),
])
def test_a_fumei_date_whose_span_crosses_an_era_boundary_keeps_its_era_in_the_notation(value, fmt, iso, hyoki):
    got = one(value, fmt)
    assert (got[0], got[1], got[3], got[4]) == (iso, None, "1", hyoki)


def test_showa_64_and_heisei_1_january_day_unknown_can_be_told_apart_after_loading(tmp_path):
    mapped = _vendor_a(tmp_path, ["03640100", "04010100"])
    got = mapped.frame.select("seinengappi", "seinengappi_fumei_flag", "seinengappi_fumei_hyoki").rows()
    assert got == [("1989-01-00", "1", "昭和64年1月日不詳"), ("1989-01-00", "1", "平成元年1月日不詳")]
