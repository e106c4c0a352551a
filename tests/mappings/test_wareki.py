"""和暦 → ISO: exact cases from DOMAIN.md and property tests against Python's datetime."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikou.errors import ConfigError
from ikou.mappings.wareki import DEFAULT_ERA_CODES, ERAS, FORMATS, RULE_MESSAGES, wareki_to_iso


def lunisolar_warning(era: str, year: int, mm: int, dd: int, fmt: str = "era2_yymmdd") -> str | None:
    """The warning a 明治 date before 明治6年 (旧暦) carries when written in an era format, else None."""
    if fmt in ("seireki_yyyymmdd", "seireki_iso") or era != "明治" or (year, mm, dd) >= (1873, 1, 1):
        return None
    if dd == 31 or (year, mm) == (1872, 12) and dd >= 3:   # no 旧暦 31st; 明治5年12月3日– never were
        return "wareki.not_in_calendar"
    return "wareki.pre_gregorian"


def iso_to_wareki(date: dt.date, fmt: str, era: str) -> str:
    """The inverse, as the oracle of the round trip: `date` written in `fmt`, in `era`."""
    if fmt == "seireki_yyyymmdd":
        return date.strftime("%Y%m%d")
    if fmt == "seireki_iso":   # a DATETIME at midnight, as the extractor writes it
        return date.strftime("%Y-%m-%dT00:00:00")
    if fmt == "kanji":   # 元年 for year 1, no zero padding: 令和元年5月1日
        year = date.year - ERAS[era][0]
        return f"{era}{'元' if year == 1 else year}年{date.month}月{date.day}日"
    if fmt == "dotted":   # H05.03.01
        code = {v: k for k, v in DEFAULT_ERA_CODES["letter_yymmdd"].items()}[era]
        return f"{code}{date.year - ERAS[era][0]:02d}.{date.month:02d}.{date.day:02d}"
    code = {v: k for k, v in DEFAULT_ERA_CODES[fmt].items()}[era]
    return f"{code}{date.year - ERAS[era][0]:02d}{date.month:02d}{date.day:02d}"


def convert(values: list[str | None], fmt: str, eras: dict[str, str] | None = None) -> pl.DataFrame:
    w = wareki_to_iso(pl.col("v"), fmt, eras)
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(
        "v", iso=w.iso, error=w.error, warning=w.warning, flag=w.fumei_flag, hyoki=w.fumei_hyoki
    )


def one(value: str | None, fmt: str = "era2_yymmdd", eras: dict[str, str] | None = None) -> dict:
    return convert([value], fmt, eras).row(0, named=True)


@pytest.mark.parametrize(
    ("value", "fmt", "iso"),
    [
        ("03450302", "era2_yymmdd", "1970-03-02"),
        ("3450302", "era1_yymmdd", "1970-03-02"),
        ("S450302", "letter_yymmdd", "1970-03-02"),
        ("19700302", "seireki_yyyymmdd", "1970-03-02"),
        ("  03450302　", "era2_yymmdd", "1970-03-02"),   # blanks, incl. full-width, trimmed
        ("01450730", "era2_yymmdd", "1912-07-30"),       # 明治45年7月30日
        ("02010730", "era2_yymmdd", "1912-07-30"),       # 大正元年7月30日: same day
        ("02151225", "era2_yymmdd", "1926-12-25"),
        ("03011225", "era2_yymmdd", "1926-12-25"),
        ("03640107", "era2_yymmdd", "1989-01-07"),
        ("04010108", "era2_yymmdd", "1989-01-08"),
        ("04310430", "era2_yymmdd", "2019-04-30"),
        ("05010501", "era2_yymmdd", "2019-05-01"),
        ("01060101", "era2_yymmdd", "1873-01-01"),   # 明治6年1月1日: the first Gregorian day (before: 旧暦)
    ],
)
def test_known_dates_convert(value, fmt, iso):
    row = one(value, fmt)
    assert (row["iso"], row["error"], row["warning"], row["flag"], row["hyoki"]) == (iso, None, None, "0", None)


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("03640108", "wareki.era_range"),   # 昭和64年1月8日 is 平成
        ("04310501", "wareki.era_range"),   # 平成31年5月1日 is 令和
        ("05010430", "wareki.era_range"),   # 令和元年4月30日 is before 令和
        # 明治元年1月24日 is no longer era_range: a 明治1–5年 date is 旧暦 and keeps its written month and day, so
        # 明治 starts on the written 明治元年1月1日 (test_wareki_calendar_edges); 大正元年7月29日 is still before 大正
        ("02010729", "wareki.era_range"),
        ("03451302", "wareki.month"),
        ("03450332", "wareki.day"),
        ("09450302", "wareki.era"),
        ("0345030", "wareki.format"),
        ("0345030X", "wareki.format"),
        ("034503021", "wareki.format"),
    ],
)
def test_bad_dates_name_their_rule(value, rule):
    row = one(value)
    assert row["error"] == rule
    assert row["iso"] is None and row["flag"] is None and rule in RULE_MESSAGES


def test_unknown_era_letter_and_lowercase_letter():
    assert one("X450302", "letter_yymmdd")["error"] == "wareki.era"
    assert one("s450302", "letter_yymmdd")["iso"] == "1970-03-02"


@pytest.mark.parametrize(
    ("value", "fmt", "iso", "hyoki"),
    [
        ("03450300", "era2_yymmdd", "1970-03-00", "日不詳"),
        ("03450000", "era2_yymmdd", "1970-00-00", "月日不詳"),
        ("03000000", "era2_yymmdd", "0000-00-00", "昭和年月日不詳"),   # the era is known
        ("00000000", "era2_yymmdd", "0000-00-00", "年月日不詳"),
        ("R000000", "letter_yymmdd", "0000-00-00", "令和年月日不詳"),
        ("19700000", "seireki_yyyymmdd", "1970-00-00", "月日不詳"),
        ("04310400", "era2_yymmdd", "2019-04-00", "日不詳"),   # 平成31年4月 exists
        ("01010100", "era2_yymmdd", "1868-01-00", "日不詳"),   # January 1868 touches 明治
        ("03000302", "era2_yymmdd", "0000-03-02", "昭和年不詳"),   # month and day known
        ("00000302", "era2_yymmdd", "0000-03-02", "年不詳"),   # no era code either
        ("S000302", "letter_yymmdd", "0000-03-02", "昭和年不詳"),
        ("00000302", "seireki_yyyymmdd", "0000-03-02", "年不詳"),
        ("03450002", "era2_yymmdd", "1970-00-02", "月不詳"),   # day known
        ("03000002", "era2_yymmdd", "0000-00-02", "昭和年月不詳"),
        ("03000300", "era2_yymmdd", "0000-03-00", "昭和年日不詳"),
        ("03000229", "era2_yymmdd", "0000-02-29", "昭和年不詳"),   # some year has it: no calendar warning
    ],
)
def test_unknown_parts_are_kept_and_flagged(value, fmt, iso, hyoki):
    row = one(value, fmt)
    assert (row["iso"], row["error"], row["flag"], row["hyoki"]) == (iso, None, "1", hyoki)


def test_unknown_day_outside_era_month_is_era_range():
    assert one("04310600")["error"] == "wareki.era_range"   # 平成31年6月 does not exist
    assert one("04320000")["error"] == "wareki.era_range"


@pytest.mark.parametrize(("value", "iso"), [("03430229", "1968-02-29"), ("04030229", "1991-02-29"),
                                            ("03450431", "1970-04-31"), ("19000229", "1900-02-29")])
def test_dates_not_in_calendar_are_kept_with_warning(value, iso):
    fmt = "seireki_yyyymmdd" if len(value) == 8 and value.startswith("19") else "era2_yymmdd"
    row = one(value, fmt)
    leap_ok = iso == "1968-02-29"
    assert row["iso"] == iso and row["error"] is None
    assert row["warning"] == (None if leap_ok else "wareki.not_in_calendar")


@pytest.mark.parametrize("fmt", FORMATS)
def test_null_and_blank_are_null_everywhere(fmt):
    """An empty optional date (a NULL column, an empty field) is no date and no error in any format: letter_yymmdd
    read a null as an unknown era code, holding every row without a 資格喪失年月日 or 届出年月日."""
    df = convert([None, "", "   "], fmt)
    assert df.drop("v").null_count().row(0) == (3, 3, 3, 3, 3)


def test_eras_override_replaces_code_table():
    eras = {"7": "昭和", "8": "平成"}
    assert one("7450302", "era1_yymmdd", eras)["iso"] == "1970-03-02"
    assert one("3450302", "era1_yymmdd", eras)["error"] == "wareki.era"
    with pytest.raises(ConfigError):
        wareki_to_iso(pl.col("v"), "era1_yymmdd", {"1": "光文"})
    with pytest.raises(ConfigError):
        wareki_to_iso(pl.col("v"), "kanji_yymmdd")


ERA_DATES = st.sampled_from(list(ERAS)).flatmap(
    lambda era: st.dates(
        min_value=dt.date(int(str(ERAS[era][1])[:4]), int(str(ERAS[era][1])[4:6]), int(str(ERAS[era][1])[6:])),
        max_value=min(dt.date(2099, 12, 31), dt.date(int(str(ERAS[era][2])[:4]), int(str(ERAS[era][2])[4:6]),
                                                       int(str(ERAS[era][2])[6:]))),
    ).map(lambda d: (era, d))
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ERA_DATES, min_size=1, max_size=50), st.sampled_from(FORMATS))
def test_round_trip_iso_wareki_iso_in_every_era(pairs, fmt):
    """Any real date written in its era (either era on a transition day) converts back to itself."""
    values = [iso_to_wareki(d, fmt, era) for era, d in pairs]
    out = convert(values, fmt)
    assert out["iso"].to_list() == [d.isoformat() for _, d in pairs]
    assert out["error"].null_count() == len(pairs)
    assert out["warning"].to_list() == [lunisolar_warning(era, d.year, d.month, d.day, fmt) for era, d in pairs]
    assert set(out["flag"]) == {"0"}


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 99), st.integers(0, 99), st.integers(0, 99), st.sampled_from(list(ERAS)))
def test_any_digits_agree_with_datetime(yy, mm, dd, era):
    """Errors and warnings match what datetime says about the same day."""
    offset, start, end = ERAS[era]
    code = {"明治": "01", "大正": "02", "昭和": "03", "平成": "04", "令和": "05"}[era]
    row = one(f"{code}{yy:02d}{mm:02d}{dd:02d}")
    year = offset + yy
    if mm > 12:
        assert row["error"] == "wareki.month"
    elif dd > 31:
        assert row["error"] == "wareki.day"
    elif mm == 0 or dd == 0:
        assert row["error"] in (None, "wareki.era_range") and (row["error"] or row["flag"] == "1")
    else:
        try:
            real = dt.date(year, mm, dd)
        except ValueError:
            real = None
        ymd = year * 10000 + mm * 100 + dd
        if lunisolar_warning(era, year, mm, dd):   # 旧暦: 明治 starts on the written 明治元年1月1日
            start = 18680101
        if not start <= ymd <= end:
            assert row["error"] == "wareki.era_range"
        else:
            assert row["error"] is None and row["iso"] == f"{year:04d}-{mm:02d}-{dd:02d}"
            gregorian = None if real else "wareki.not_in_calendar"
            assert row["warning"] == (lunisolar_warning(era, year, mm, dd) if ymd < 18730101 else gregorian)


def test_parsed_struct_carries_the_same_five_fields():
    values = ["03450302", "03450300", "0345030", None, "04030229"]
    w = wareki_to_iso(pl.col("v"), "era2_yymmdd")
    df = pl.DataFrame({"v": values}, schema={"v": pl.String})
    via_struct = df.with_columns(p=w.parsed).select(pl.col("p").struct.unnest())
    direct = df.select(iso=w.iso, error=w.error, warning=w.warning, fumei_flag=w.fumei_flag,
                       fumei_hyoki=w.fumei_hyoki)
    assert via_struct.equals(direct)
    assert direct["error"].to_list() == [None, None, "wareki.format", None, None]


def test_works_in_lazy_and_streaming_frames():
    w = wareki_to_iso(pl.col("v"), "letter_yymmdd")
    lf = pl.LazyFrame({"v": ["S450302", "H010108"] * 1000})
    out = lf.select(w.iso).collect(engine="streaming")
    assert out["iso"].unique().sort().to_list() == ["1970-03-02", "1989-01-08"]


def test_unknown_year_with_an_impossible_day_is_kept_as_recorded_with_a_warning():
    row = one("03000431")   # 年不詳 4月31日: no year has it
    assert (row["iso"], row["error"], row["warning"], row["flag"], row["hyoki"]) == (
        "0000-04-31", None, "wareki.not_in_calendar", "1", "昭和年不詳")


def test_an_unknown_year_does_not_excuse_an_unknown_era_code():
    assert one("09000302")["error"] == "wareki.era"


@pytest.mark.parametrize(
    ("value", "fmt", "eras", "hyoki"),
    [
        ("03000302", "era2_yymmdd", None, "昭和年不詳"),     # 昭和 + 00年: the era survives the unknown year
        ("04000000", "era2_yymmdd", None, "平成年月日不詳"),
        ("1000302", "era1_yymmdd", None, "明治年不詳"),
        ("t000300", "letter_yymmdd", None, "大正年日不詳"),   # lowercase letter too
        ("K000302", "letter_yymmdd", {"K": "昭和"}, "昭和年不詳"),   # a vendor's own era codes
        ("00000302", "era2_yymmdd", None, "年不詳"),         # no era written: nothing to keep
        ("00000302", "seireki_yyyymmdd", None, "年不詳"),    # 西暦: no era at all
        ("03450300", "era2_yymmdd", None, "日不詳"),         # year known: the date itself holds the era
    ],
)
def test_an_unknown_year_keeps_the_era_it_was_written_with_in_the_notation(value, fmt, eras, hyoki):
    row = one(value, fmt, eras)
    assert (row["error"], row["flag"], row["hyoki"]) == (None, "1", hyoki)
    assert row["iso"].startswith("0000-") == (hyoki != "日不詳")   # the ISO text cannot hold the era
