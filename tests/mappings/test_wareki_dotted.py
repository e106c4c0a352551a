"""和暦 written with separators (H05.03.01, 平成5/3/1, R元-5-1), as legacy exports often write it: the `dotted`
format reads them with the same error rules as the other formats."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.errors import ConfigError
from ikou.mappings.wareki import wareki_to_iso


def convert(values: list[str | None], fmt: str = "dotted", eras: dict[str, str] | None = None) -> pl.DataFrame:
    w = wareki_to_iso(pl.col("v"), fmt, eras)
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(
        "v", iso=w.iso, error=w.error, warning=w.warning, flag=w.fumei_flag, hyoki=w.fumei_hyoki)


@pytest.mark.parametrize(("value", "iso"), [
    ("H05.03.01", "1993-03-01"), ("H5.3.1", "1993-03-01"), ("H05/03/01", "1993-03-01"), ("H05-03-01", "1993-03-01"),
    ("h5.3.1", "1993-03-01"), ("平成05.03.01", "1993-03-01"), ("平成5/3/1", "1993-03-01"),
    ("R01.05.01", "2019-05-01"), ("R元.5.1", "2019-05-01"), ("令和元.5.1", "2019-05-01"),   # 元年 = year 1
    (" H 5. 3. 1 ", "1993-03-01"), ("平成５.３.１", "1993-03-01"),   # blanks dropped, full-width digits read
    ("平成０５．０３．０１", "1993-03-01"), ("H5／3／1", "1993-03-01"), ("R元－5－1", "2019-05-01"),   # and separators
    ("M45.07.30", "1912-07-30"), ("T01.07.30", "1912-07-30"),      # a transition day in both eras
    ("S45.03.00", "1970-03-00"),
])
def test_dotted_wareki_reads_letters_or_era_names_with_any_one_separator(value, iso):
    row = convert([value]).row(0, named=True)
    assert (row["iso"], row["error"]) == (iso, None)


@pytest.mark.parametrize(("value", "rule"), [
    ("H05.13.01", "wareki.month"), ("H05.03.32", "wareki.day"), ("X05.03.01", "wareki.era"),
    ("R01.04.30", "wareki.era_range"), ("S64.01.08", "wareki.era_range"),
    ("H05.03/01", "wareki.format"),    # two different separators
    ("H5.3", "wareki.format"), ("H005.3.1", "wareki.format"), ("H05.03.01.", "wareki.format"),
    ("H050301", "wareki.format"), ("平成5年3月1日", "wareki.format"),
])
def test_dotted_wareki_errors_follow_the_rules_of_the_other_formats(value, rule):
    assert convert([value]).row(0, named=True)["error"] == rule


def test_dotted_wareki_keeps_a_day_the_calendar_lacks_and_unknown_parts_as_the_other_formats():
    out = convert(["H05.02.29", "S00.00.00", "00.00.00", "H05.00.00", None, "  "])
    assert out.select("iso", "error", "warning", "flag", "hyoki").rows() == [
        ("1993-02-29", None, "wareki.not_in_calendar", "0", None),
        ("0000-00-00", None, None, "1", "昭和年月日不詳"),
        ("0000-00-00", None, None, "1", "年月日不詳"),
        ("1993-00-00", None, None, "1", "月日不詳"),
        (None, None, None, None, None), (None, None, None, None, None)]


def test_dotted_wareki_eras_override_and_its_refusals():
    assert convert(["昭45.3.2", "S45.3.2"], eras={"昭": "昭和"})["error"].to_list() == [None, "wareki.era"]
    with pytest.raises(ConfigError, match="dotted"):
        wareki_to_iso(pl.col("v"), "dotted", {"S.": "昭和"})

