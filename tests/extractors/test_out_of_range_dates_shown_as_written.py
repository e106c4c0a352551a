"""A PostgreSQL date or time stamp outside years 0001–9999 is held and shown as the server writes it
(`0044-03-15 BC`, `5874897-12-31`), from ADBC as from SQLAlchemy; it was shown as `-735160 days from 1970-01-01`."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa

from ikou.extractors.database import extract_table
from ikou.extractors.layout import Layout
from ikou.extractors.text import Column, render
from tests.conftest import random_tag

ROWS = [  # ID, D (date), TS (timestamp), TZ (timestamptz, session UTC)
    ("1", "0044-03-15 BC", "4713-01-01 00:00:00 BC", None),
    ("2", "5874897-12-31", "294276-12-31 23:59:59.5", None),
    ("3", "0001-12-31 BC", "0001-12-31 23:59:59.25 BC", "0001-12-31 23:59:59+00 BC"),
    ("4", "2020-01-31", "2020-01-31 12:00:00", "2020-01-31 03:00:00+00"),
]


@pytest.fixture
def pg(postgres_url):
    name = f"ikoutest_{random_tag()}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        conn.exec_driver_sql(f'CREATE TABLE "{name}".vt_far ("ID" text, "D" date, "TS" timestamp, "TZ" timestamptz)')
        conn.execute(sa.text(f'INSERT INTO "{name}".vt_far VALUES (:i, CAST(:d AS date), CAST(:ts AS timestamp), '
                             'CAST(:tz AS timestamptz))'), [dict(zip(["i", "d", "ts", "tz"], r)) for r in ROWS])
    yield postgres_url, name
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    engine.dispose()


def _layout() -> Layout:
    return Layout.model_validate({"spec_version": 1, "name": "test.far", "format": "table", "key": ["ID"],
                                  "time_zone": "UTC",
                                  "columns": [{"name": n, "ja": f"{n}項目"} for n in ("ID", "D", "TS", "TZ")]})


@pytest.mark.parametrize("method", ["adbc", "dbapi"])
def test_a_postgres_date_beyond_years_1_to_9999_is_held_as_the_server_writes_it(pg, tmp_path, method):
    url, schema = pg
    r = extract_table(url, "vt_far", _layout(), out_path=tmp_path / "s.parquet", source_name="b", source_ordinal=1,
                      run_id="r", schema=schema, dantai_code="999717", target_table="t", method=method)
    held = sorted(r.quarantine.select("source_line", "column", "rule", "value").rows())
    assert held == [
        (1, "D", "extract.invalid_value", "0044-03-15 BC"),
        (1, "TS", "extract.invalid_value", "4713-01-01 00:00:00 BC"),
        (2, "D", "extract.invalid_value", "5874897-12-31"),
        (2, "TS", "extract.invalid_value", "294276-12-31 23:59:59.5"),
        (3, "D", "extract.invalid_value", "0001-12-31 BC"),
        (3, "TS", "extract.invalid_value", "0001-12-31 23:59:59.25 BC"),
        (3, "TZ", "extract.invalid_value", "0001-12-31 23:59:59+00 BC")]


def _col() -> Column:
    return Column(name="D", ja="日付", encoding="utf-8", time_zone="Asia/Tokyo")


def test_an_arrow_date_or_time_stamp_out_of_range_is_shown_as_iso_text_with_bc():
    dates = render(pa.array([-735_160, 2_145_042_905, 0], pa.date32()), _col(), source_name="s", table="t",
                   run_id=None)
    assert [h["value"] for h in dates.held] == ["0044-03-15 BC", "5874897-12-31"]
    assert dates.text.to_pylist() == ["0044-03-15 BC", "5874897-12-31", "1970-01-01"]
    stamps = render(pa.array([-210_863_520_000_000_000, -62_135_596_800, 0], pa.timestamp("us")), _col(),
                    source_name="s", table="t", run_id=None)
    assert [h["value"] for h in stamps.held] == ["4713-01-01 00:00:00 BC"]
    seconds = render(pa.array([-62_135_596_801, 253_402_300_800], pa.timestamp("s", tz="UTC")), _col(),
                     source_name="s", table="t", run_id=None)
    assert [h["value"] for h in seconds.held] == ["0001-12-31 23:59:59+00 BC", "10000-01-01 00:00:00+00"]


def test_the_integer_calendar_agrees_with_python_dates_over_years_1_to_9999():
    from ikou.extractors.text import _server_text

    days = np.random.default_rng(717).integers(-719_162, 2_932_897, 20_000)
    want = [(dt.date(1970, 1, 1) + dt.timedelta(days=int(d))).isoformat() for d in days]
    assert _server_text(days, "date", "days", False) == want
