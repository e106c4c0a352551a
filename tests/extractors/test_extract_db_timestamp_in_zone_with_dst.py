"""A MariaDB TIMESTAMP is staged as the wall time of the layout's `time_zone` by that zone's own rules, DST
included, whether or not the server has time-zone tables: read in UTC and converted column-wise. (The reader
set a zone the server could not name to the zone's offset *today*: in winter every summer value was an hour
off, and a value near midnight changed its date.) Asia/Tokyo, the default, needs no zone tables either."""
from __future__ import annotations

import polars as pl
import pytest
import sqlalchemy as sa

from ikou.extractors.database import extract_table
from ikou.extractors.layout import Layout
from tests.conftest import random_tag

ROWS = [  # ID, TIMESTAMP (as UTC), TIMESTAMP(6) (as UTC), DATETIME (no zone)
    ("1", "2020-07-01 12:00:00", "2020-07-01 22:30:00.250000", "2020-07-01 12:00:00"),   # Berlin: CEST, +2
    ("2", "2020-01-01 12:00:00", "2020-01-01 23:30:00", "2020-01-01 12:00:00"),          # Berlin: CET, +1
    ("3", "2020-03-29 00:59:59", None, None),        # Berlin: the last second before the switch to summer time
    ("4", "2020-03-29 01:00:00", None, None),        # … and the first after it (02:00 CET became 03:00 CEST)
    ("5", "0000-00-00 00:00:00", None, None),        # MariaDB's zero time stamp: held as written
]
WANT = {
    "Europe/Berlin": [("1", "2020-07-01T14:00:00", "2020-07-02T00:30:00.250000", "2020-07-01T12:00:00"),
                      ("2", "2020-01-01T13:00:00", "2020-01-02T00:30:00", "2020-01-01T12:00:00"),
                      ("3", "2020-03-29T01:59:59", None, None), ("4", "2020-03-29T03:00:00", None, None)],
    "Asia/Tokyo": [("1", "2020-07-01T21:00:00", "2020-07-02T07:30:00.250000", "2020-07-01T12:00:00"),
                   ("2", "2020-01-01T21:00:00", "2020-01-02T08:30:00", "2020-01-01T12:00:00"),
                   ("3", "2020-03-29T09:59:59", None, None), ("4", "2020-03-29T10:00:00", None, None)],
}


@pytest.fixture
def tzt(mariadb_url):
    """(url, database) of a MariaDB database of this test only holding TZT, dropped afterwards."""
    db = f"fxb_{random_tag()}"
    engine = sa.create_engine(mariadb_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{db}`")
        conn.exec_driver_sql("SET SESSION sql_mode = ''")     # a legacy server that accepted zero dates
        conn.exec_driver_sql("SET time_zone = '+00:00'")
        conn.exec_driver_sql(f"CREATE TABLE `{db}`.TZT (ID varchar(2), TS timestamp NULL, TS6 timestamp(6) NULL, "
                             "DT datetime)")
        conn.execute(sa.text(f"INSERT INTO `{db}`.TZT VALUES (:i, :ts, :ts6, :dt)"),
                     [dict(zip(("i", "ts", "ts6", "dt"), r)) for r in ROWS])
    yield mariadb_url, db
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{db}`")
    engine.dispose()


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Asia/Tokyo"])
def test_mariadb_timestamps_are_the_wall_time_of_the_layout_zone_by_its_dst_rules(tzt, tmp_path, zone):
    url, db = tzt
    layout = Layout.model_validate({
        "spec_version": 1, "name": "fxb.tz", "format": "table", "encoding": "utf-8", "key": ["ID"],
        "time_zone": zone, "columns": [{"name": n, "ja": n} for n in ("ID", "TS", "TS6", "DT")]})
    r = extract_table(url, "TZT", layout, out_path=tmp_path / "s.parquet", source_name="fxb_tz", source_ordinal=1,
                      run_id="r", schema=db, dantai_code="999741", target_table="t")
    assert pl.read_parquet(r.staging).select("ID", "TS", "TS6", "DT").rows() == WANT[zone]
    assert r.quarantine.select("source_line", "column", "rule", "value").rows() == [
        (5, "TS", "extract.invalid_value", "0000-00-00 00:00:00")]
