"""A column the diff compares as a number (`numeric`, no tolerance) is compared exactly, not as a float:
the target's scale (12345.67 → 12345.6700) is no difference, a lost digit (0.0001 → 0.000) is one, and so is
a change in the 17th significant digit, which a Float64 cannot see."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.reports.diff import compare, equal_expr


@pytest.mark.parametrize("left, right, equal", [
    ("12345.67", "12345.6700", True),
    ("0012.50", "12.5", True),
    ("+12.5", "12.500", True),
    ("-0", "0.00", True),
    (".5", "0.50", True),
    ("1,000", "1000", True),
    ("0.0001", "0.000", False),
    ("1234567890123456.78", "1234567890123456.79", False),
    ("12345678901234567890.1", "12345678901234567890.2", False),
    ("-1.5", "1.5", False),
    ("abc", "abc", True),       # not numbers: as written
    ("abc", "abd", False),
])
def test_numbers_are_equal_exactly_by_value(left, right, equal):
    df = pl.DataFrame({"l": [left], "r": [right]})
    assert df.select(equal_expr(pl.col("l"), pl.col("r"), kind="numeric")).item() is equal


def test_a_tolerance_still_compares_within_it():
    df = pl.DataFrame({"l": ["100.00"], "r": ["100.004"]})
    assert df.select(equal_expr(pl.col("l"), pl.col("r"), kind="numeric", tolerance=(0.01, 0.0))).item() is True


def test_the_diff_lists_only_the_decimal_that_lost_a_digit():
    left = pl.DataFrame({"k": ["1", "2", "3"], "gaku": ["12345.67", "0.0001", "2000.10"]})
    right = pl.DataFrame({"k": ["1", "2", "3"], "gaku": ["12345.6700", "0.0000", "2000.1000"]})
    result = compare(left, right, key=["k"], numeric=["gaku"])
    try:
        assert result.triples.select("left", "right").rows() == [("0.0001", "0.0000")]
    finally:
        result.close()
