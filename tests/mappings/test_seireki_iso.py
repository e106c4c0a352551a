"""A database DATE or DATETIME, as the extractor writes it (1985-06-01, 1985-06-01T00:00:00.000000), maps to a
date with `wareki_date` format `seireki_iso`, with seireki_yyyymmdd's checks; a time of day other than midnight
is not a date and is held (wareki.format), never cut off."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.mappings.wareki import wareki_to_iso


def convert(values):
    w = wareki_to_iso(pl.col("v"), "seireki_iso")
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(iso=w.iso, error=w.error,
                                                                       warning=w.warning).rows()


@pytest.mark.parametrize(("value", "want"), [
    ("1985-06-01", ("1985-06-01", None, None)),
    ("1985-06-01T00:00:00", ("1985-06-01", None, None)),
    ("1985-06-01T00:00:00.000000", ("1985-06-01", None, None)),
    ("1985-06-01 00:00", ("1985-06-01", None, None)),
    ("1985-06-00", ("1985-06-00", None, None)),                       # a day not known, as seireki_yyyymmdd
    ("1985-02-30", ("1985-02-30", None, "wareki.not_in_calendar")),   # kept as recorded, with a warning
    ("1985-06-01T09:30:00", (None, "wareki.format", None)),           # a time of day: not a date
    ("1985-13-01", (None, "wareki.month", None)),
    ("19850601", (None, "wareki.format", None)), ("1985/06/01", (None, "wareki.format", None)),
    ("", (None, None, None)), (None, (None, None, None)),
])
def test_a_database_date_or_midnight_datetime_maps_to_the_date(value, want):
    assert convert([value]) == [want]
