"""Vendor tables with typed and odd columns: every value is staged as text by its type, or held with its row
(table, key, column), or the run stops naming the table and column; never an Arrow error, never wrong text."""
from __future__ import annotations


import polars as pl
import pytest
import sqlalchemy as sa

from ikou.errors import LayoutError, TerminalError, one_line
from ikou.extractors.database import extract_table
from ikou.extractors.layout import Layout
from ikou.extractors.text import ColumnTypeError
from tests.conftest import random_tag


def table_layout(*names: str, key=(), encoding: str = "utf-8", line_breaks=()) -> Layout:
    return Layout.model_validate({
        "spec_version": 1, "name": "test.table", "format": "table", "encoding": encoding, "key": list(key),
        "columns": [{"name": n, "ja": f"{n}項目", **({"line_breaks": True} if n in line_breaks else {})}
                    for n in names]})


@pytest.fixture
def pg(postgres_url):
    """(url, schema, engine): a PostgreSQL schema of this test only, dropped afterwards."""
    name = f"ikoutest_{random_tag()}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    yield postgres_url, name, engine
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    engine.dispose()


@pytest.fixture
def maria(mariadb_url):
    """(url, database, engine): a MariaDB database of this test only (zero dates allowed), dropped afterwards."""
    name = f"ikoutest_{random_tag()}"
    engine = sa.create_engine(mariadb_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    yield mariadb_url, name, engine
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    engine.dispose()


def _extract(url, schema, table, layout, tmp_path, *, method="auto", key_columns=None, out="s.parquet"):
    r = extract_table(url, table, layout, out_path=tmp_path / out, source_name="b", source_ordinal=1, run_id="r",
                      schema=schema, dantai_code="999997", target_table="t", method=method,
                      **({} if key_columns is None else {"key_columns": key_columns}))
    return r, pl.read_parquet(r.staging)


def _held(r) -> list[tuple]:
    return sorted(r.quarantine.select("source_line", "column", "rule", "value", "record_key").rows())


# ------------------------------------------------------------------------------------------- line breaks
LINE_BREAK_ROWS = [("1000000001", "佐藤　太郎", None), ("1000000002", "山田\r\n花子", None),
                   ("1000000003", "鈴木　一", "101号室\n"), ("1454893464\n", "田中　誠", None)]


def _line_break_table(kind, request, tmp_path):
    if kind == "duckdb":
        url, schema = f"duckdb:///{tmp_path / 'legacy.duckdb'}", None
        engine = sa.create_engine(url)
    else:
        url, schema, engine = request.getfixturevalue("pg" if kind == "postgresql" else "maria")
    q = (lambda n: f"`{schema}`.{n}") if kind == "mariadb" else ((lambda n: f'"{schema}".{n}') if schema else str)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {q('vt_lb')} (KOJIN_ID varchar(20), NAME_KANJI varchar(40), "
                             "KATAGAKI varchar(40))")
        conn.execute(sa.text(f"INSERT INTO {q('vt_lb')} VALUES (:a, :b, :c)"),
                     [dict(zip("abc", r)) for r in LINE_BREAK_ROWS])
    if kind == "duckdb":
        engine.dispose()
    return url, schema


@pytest.mark.parametrize("method", ["auto", "dbapi"])
@pytest.mark.parametrize("kind", ["postgresql", "mariadb", "duckdb"])
def test_line_breaks_in_a_table_column_are_held_unless_the_layout_allows_them(kind, method, request, tmp_path):
    """CR/LF in a name, a 方書 or the key never reach the target silently (the key loaded as 11 characters
    ending in LF); a column marked `line_breaks: true` keeps them, the key never may."""
    url, schema = _line_break_table(kind, request, tmp_path)
    names = ("KOJIN_ID", "NAME_KANJI", "KATAGAKI")
    r, df = _extract(url, schema, "vt_lb", table_layout(*names, key=["KOJIN_ID"]), tmp_path, method=method)
    assert df["KOJIN_ID"].to_list() == ["1000000001"]
    assert (r.rows_read, r.rows_ok) == (4, 1)
    held = r.quarantine
    assert held.select("source_line", "column", "rule", "value", "record_key").rows() == [
        (2, "NAME_KANJI", "extract.control_char", "山田\r\n花子", "KOJIN_ID=1000000002"),
        (3, "KATAGAKI", "extract.control_char", "101号室\n", "KOJIN_ID=1000000003"),
        (4, "KOJIN_ID", "extract.control_char", "1454893464\n", None)]   # a key holding a control character: no key
    messages = held["message_en"].to_list() + held["message_ja"].to_list()
    assert all("line_breaks: true" in m and "\n" not in m for m in messages)

    allowed = table_layout(*names, key=["KOJIN_ID"], line_breaks=["NAME_KANJI", "KATAGAKI"])
    r, df = _extract(url, schema, "vt_lb", allowed, tmp_path, method=method, out="allowed.parquet")
    assert df.select(*names).rows() == LINE_BREAK_ROWS[:3]
    assert r.quarantine.select("column", "rule").rows() == [("KOJIN_ID", "extract.control_char")]


def test_a_key_column_cannot_be_declared_to_hold_line_breaks():
    with pytest.raises(ValueError, match="key column never holds a line break"):
        table_layout("KOJIN_ID", "NAME", key=["KOJIN_ID"], line_breaks=["KOJIN_ID"])
    with pytest.raises(ValueError, match="table layouts only"):
        Layout.model_validate({"spec_version": 1, "name": "c", "format": "csv",
                               "columns": [{"name": "A", "ja": "a", "line_breaks": True}]})


# --------------------------------------------------------------------------------------- MariaDB types
MARIA_DDL = ("CREATE TABLE `{db}`.VT_TYPES (ID varchar(10), D date, DT datetime, DT6 datetime(6), TS timestamp NULL, "
             "TM time, B1 bit(1), B10 bit(10), BL blob, VB varbinary(20), DE decimal(10,2), CH char(5), Y year)")
MARIA_ROWS = [   # ID, D, DT, DT6, TS, TM, B1, B10, BL, VB, DE, CH, Y
    ("0001", "2020-01-31", "2020-01-31 12:34:56", "2020-01-31 12:34:56.5", "2020-01-31 12:34:56", "12:00:00", 1,
     0b1010000001, "佐藤".encode("cp932"), "ﾃｽﾄ".encode("cp932"), "123.40", "ab", 2024),
    ("0002", "0000-00-00", "2020-01-31 00:00:00", None, None, "838:59:59", 0, 1, b"", None, "-0.50", None, None),
    ("0003", "2020-02-01", "0000-00-00 00:00:00", None, None, None, None, None, None, None, None, None, None),
    ("0004", "2020-02-01", None, None, None, None, None, None, b"\x82", None, None, None, None),
    ("0005", "2020-02-01", None, None, None, None, None, None, b"\x82\xa0\xfd", None, None, None, None),
    ("0006", "2020-00-15", "1985-06-00 00:00:00", None, None, "-01:00:00", 0, 1023, None, b"abc", None, "x", None),
]


def test_mariadb_typed_columns_are_staged_as_text_by_their_type(maria, tmp_path):
    """Zero dates held per row, partial dates kept (not `ArrowTypeError … cannot be converted to int` for the whole run); TIME as
    HH:MM:SS, not microseconds; BIT as digits, not '\\x01'; BLOB/VARBINARY decoded as CP932, undecodable
    bytes held per row; TIMESTAMP in the layout's time zone (Asia/Tokyo); DECIMAL exact."""
    url, db, engine = maria
    with engine.begin() as conn:
        conn.exec_driver_sql("SET SESSION sql_mode = ''")          # a legacy server that accepted zero dates
        conn.exec_driver_sql("SET time_zone = '+09:00'")           # the TIMESTAMP written at 12:34:56 JST
        conn.exec_driver_sql(MARIA_DDL.format(db=db))
        conn.execute(sa.text(f"INSERT INTO `{db}`.VT_TYPES VALUES (:id, :d, :dt, :dt6, :ts, :tm, :b1, :b10, :bl, :vb, "
                             ":de, :ch, :y)"),
                     [dict(zip(["id", "d", "dt", "dt6", "ts", "tm", "b1", "b10", "bl", "vb", "de", "ch", "y"], r))
                      for r in MARIA_ROWS])
    names = ("ID", "D", "DT", "DT6", "TS", "TM", "B1", "B10", "BL", "VB", "DE", "CH", "Y")
    r, df = _extract(url, db, "VT_TYPES", table_layout(*names, key=["ID"], encoding="cp932"), tmp_path)
    assert r.extra["reader"] == "sqlalchemy"
    assert df.select(*names).rows() == [
        ("0001", "2020-01-31", "2020-01-31T12:34:56", "2020-01-31T12:34:56.500000", "2020-01-31T12:34:56", "12:00:00",
         "1", "1010000001", "佐藤", "ﾃｽﾄ", "123.40", "ab", "2024"),
        # a partial date (an unknown month, day) is a date with a 不詳 part: kept as written for the mapping
        ("0006", "2020-00-15", "1985-06-00T00:00:00", None, None, "-01:00:00", "0", "1111111111", None, "abc", None,
         "x", None)]
    assert _held(r) == [
        (2, "D", "extract.invalid_value", "0000-00-00", "ID=0002"),
        (3, "DT", "extract.invalid_value", "0000-00-00 00:00:00", "ID=0003"),
        (4, "BL", "extract.decode", "\\x82", "ID=0004"),
        (5, "BL", "extract.undefined_byte", "あ\\xfd", "ID=0005")]
    assert (r.rows_read, r.rows_ok) == (6, 2)
    msgs = r.quarantine.select("message_ja", "message_en").rows()
    assert all("\n" not in m and "佐藤" not in m for pair in msgs for m in pair)


def test_mariadb_time_and_bit_values_beyond_the_ordinary(maria, tmp_path):
    """TIME over a day or negative as the server writes it; BIT(10) with all its digits, 0 as '0'."""
    url, db, engine = maria
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE `{db}`.VT_T (ID varchar(4), TM time(6), B1 bit(1), B10 bit(10))")
        conn.exec_driver_sql(f"INSERT INTO `{db}`.VT_T VALUES ('1', '838:59:59.5', b'0', b'1111111111'), "
                             "('2', '-01:00:00', b'1', b'0'), ('3', NULL, NULL, NULL)")
    r, df = _extract(url, db, "VT_T", table_layout("ID", "TM", "B1", "B10", key=["ID"]), tmp_path)
    assert df.select("TM", "B1", "B10").rows() == [("838:59:59.500000", "0", "1111111111"),
                                                   ("-01:00:00", "1", "0000000000"), (None, None, None)]
    assert r.quarantine.height == 0


# ------------------------------------------------------------------------------------ PostgreSQL types
PG_DDL = ('CREATE TABLE "{s}".vt_types ("ID" text, "D" date, "TS" timestamp, "TZ" timestamptz, "TM" time, '
          '"BY" bytea, "B1" bit(1), "B3" bit(3), "VB" varbit, "N" numeric, "CH" char(5), "BO" boolean)')
PG_ROWS = [
    ("0001", "2020-01-31", "2020-01-31 12:34:56.5", "2020-01-31 12:34:56+09", "12:00:00", "佐藤".encode("cp932"),
     "1", "101", "10110", "123.40", "ab", True),
    ("0002", "1999-12-31", "2020-01-31 12:34:56", "2020-01-31 03:34:56+00", "23:59:59.25", b"", "0", "000", "", "1.5",
     None, False),
    ("0003", "infinity", None, None, None, None, None, None, None, None, None, None),
    ("0004", "2020-01-31", "-infinity", None, None, None, None, None, None, None, None, None),
    ("0005", "2020-01-31", None, "infinity", None, b"\x82", None, None, None, None, None, None),
]
PG_STAGED = [
    ("0001", "2020-01-31", "2020-01-31T12:34:56.500000", "2020-01-31T12:34:56", "12:00:00", "佐藤", "1", "101",
     "10110", "123.40", "ab", "true"),   # CHAR(5) without its padding, as MariaDB reads it (test_char_padding)
    ("0002", "1999-12-31", "2020-01-31T12:34:56", "2020-01-31T12:34:56", "23:59:59.250000", "", "0", "000", "", "1.5",
     None, "false")]


def _pg_types(pg):
    url, s, engine = pg
    with engine.begin() as conn:
        conn.exec_driver_sql(PG_DDL.format(s=s))
        conn.execute(sa.text(f'INSERT INTO "{s}".vt_types VALUES (:id, CAST(:d AS date), CAST(:ts AS timestamp), '
                             'CAST(:tz AS timestamptz), CAST(:tm AS time), :by, CAST(:b1 AS bit(1)), '
                             'CAST(:b3 AS bit(3)), CAST(:vb AS varbit), CAST(:n AS numeric), :ch, :bo)'),
                     [dict(zip(["id", "d", "ts", "tz", "tm", "by", "b1", "b3", "vb", "n", "ch", "bo"], r))
                      for r in PG_ROWS])
    return url, s


@pytest.mark.parametrize("method", ["adbc", "dbapi"])
def test_postgres_typed_columns_are_staged_as_text_by_their_type(pg, tmp_path, method):
    """bytea decoded as CP932 (not `Invalid UTF8 payload`), bit as digits, infinity held per row (not
    '<value out of range: -2147472692>'), timestamptz as the wall time in Asia/Tokyo (not UTC with 'Z'),
    timestamps ISO without zone, numeric exact, char padded as the server returns it."""
    url, s = _pg_types(pg)
    names = ("ID", "D", "TS", "TZ", "TM", "BY", "B1", "B3", "VB", "N", "CH", "BO")
    r, df = _extract(url, s, "vt_types", table_layout(*names, key=["ID"], encoding="cp932"), tmp_path, method=method)
    assert r.extra["reader"] == ("adbc" if method == "adbc" else "sqlalchemy")
    assert df.select(*names).rows() == PG_STAGED
    assert _held(r) == [
        (3, "D", "extract.invalid_value", "infinity", "ID=0003"),
        (4, "TS", "extract.invalid_value", "-infinity", "ID=0004"),
        (5, "BY", "extract.decode", "\\x82", "ID=0005"),
        (5, "TZ", "extract.invalid_value", "infinity", "ID=0005")]


def test_postgres_readers_and_mariadb_agree_on_the_same_wall_time(pg, maria, tmp_path):
    """ADBC, SQLAlchemy and MariaDB give the same staging for the same rows (the readers disagreed: UTC
    with 'Z' from ADBC, local wall time from MariaDB)."""
    url, s = _pg_types(pg)
    names = ("ID", "D", "TS", "TZ", "TM", "BY", "B1", "B3", "VB", "N", "CH", "BO")
    layout = table_layout(*names, key=["ID"], encoding="cp932")
    a, da = _extract(url, s, "vt_types", layout, tmp_path, method="adbc", out="a.parquet")
    b, db = _extract(url, s, "vt_types", layout, tmp_path, method="dbapi", out="b.parquet")
    assert da.equals(db)
    assert a.quarantine.equals(b.quarantine)
    murl, mdb, engine = maria
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE `{mdb}`.vt_dt (ID varchar(4), TZ timestamp NULL, DT datetime)")
        conn.exec_driver_sql("SET time_zone = '+00:00'")
        conn.exec_driver_sql(f"INSERT INTO `{mdb}`.vt_dt VALUES ('0001', '2020-01-31 03:34:56', '2020-01-31 12:34:56')")
    _, dm = _extract(murl, mdb, "vt_dt", table_layout("ID", "TZ", "DT", key=["ID"]), tmp_path, out="m.parquet")
    assert dm.select("TZ", "DT").row(0) == (da["TZ"][0], da["TZ"][0]) == ("2020-01-31T12:34:56",) * 2


@pytest.mark.parametrize("method", ["adbc", "dbapi"])
@pytest.mark.parametrize("ddl", ["interval", "money", "int[]"])
def test_a_type_without_a_text_form_stops_the_run_in_one_line_naming_table_and_column(pg, tmp_path, method, ddl):
    url, s, engine = pg
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE TABLE "{s}".vt_odd ("ID" text, "X" {ddl})')
        conn.exec_driver_sql(f"""INSERT INTO "{s}".vt_odd VALUES ('1', '{{1}}')""" if ddl == "int[]" else
                             f"""INSERT INTO "{s}".vt_odd VALUES ('1', '1')""")
    with pytest.raises(ColumnTypeError) as got:
        _extract(url, s, "vt_odd", table_layout("ID", "X", key=["ID"]), tmp_path, method=method)
    exc = got.value
    assert isinstance(exc, TerminalError)
    line = one_line(exc)
    assert "\n" not in line and "\n" not in exc.ja
    assert f"{s}.vt_odd" in line and "column X" in line and f"{s}.vt_odd" in exc.ja and "列 X" in exc.ja


# ---------------------------------------------------------------------------------- column name matching
def test_an_exact_column_name_wins_over_one_that_differs_in_case(pg, tmp_path):
    """Columns "V" and "v": layout V reads "V" (it read "v"), layout v reads "v"."""
    url, s, engine = pg
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE TABLE "{s}".vt_case ("ID" text, "V" text, "v" text, "Ab" text, "aB" text, '
                             'name text)')
        conn.exec_driver_sql(f"INSERT INTO \"{s}\".vt_case VALUES ('1', 'upper', 'lower', 'x', 'y', 'n')")
    for method in ("adbc", "dbapi"):
        _, df = _extract(url, s, "vt_case", table_layout("ID", "V", "NAME", key=["ID"]), tmp_path, method=method)
        assert df.select("V", "NAME").row(0) == ("upper", "n")       # NAME: the only case-insensitive match
        _, df = _extract(url, s, "vt_case", table_layout("ID", "v"), tmp_path, method=method)
        assert df["v"].to_list() == ["lower"]
    with pytest.raises(LayoutError, match=r"vt_case.*AB → \['Ab', 'aB'\]"):
        _extract(url, s, "vt_case", table_layout("ID", "AB"), tmp_path)


# ------------------------------------------------------------------------------------------ record_key
def test_record_key_of_a_table_row_follows_key_columns_and_is_null_when_a_key_field_is_unreadable(maria, tmp_path):
    url, db, engine = maria
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE `{db}`.vt_key (KOJIN varbinary(10), SEQ int, NAME varchar(20))")
        conn.execute(sa.text(f"INSERT INTO `{db}`.vt_key VALUES (:k, :s, :n)"),
                     [{"k": b"0001", "s": 1, "n": "a\tb"}, {"k": b"\x82", "s": 2, "n": "ok"},
                      {"k": b"0003", "s": None, "n": "c\x1bd"}])
    layout = table_layout("KOJIN", "SEQ", "NAME", key=["KOJIN"], encoding="cp932")
    r, _ = _extract(url, db, "vt_key", layout, tmp_path)
    assert r.quarantine.select("rule", "record_key").rows() == [      # rows in KOJIN order: 0001, 0003, 0x82
        ("extract.control_char", "KOJIN=0001"), ("extract.control_char", "KOJIN=0003"), ("extract.decode", None)]
    r, _ = _extract(url, db, "vt_key", layout, tmp_path, key_columns=["KOJIN", "SEQ"], out="k2.parquet")
    assert r.quarantine["record_key"].to_list() == ["KOJIN=0001,SEQ=1", "KOJIN=0003,SEQ=", None]
    r, _ = _extract(url, db, "vt_key", layout, tmp_path, key_columns=["SEQ"], out="k3.parquet")
    assert r.quarantine["record_key"].to_list() == ["SEQ=1", "SEQ=", "SEQ=2"]
    with pytest.raises(LayoutError, match=r"key columns \['NOPE'\]"):
        _extract(url, db, "vt_key", layout, tmp_path, key_columns=["NOPE"], out="k4.parquet")


# ---------------------------------------------------------------------------------- values at the edges
@pytest.mark.parametrize("method", ["adbc", "dbapi"])
def test_postgres_time_24_00_and_numeric_nan_stage_the_same_from_both_readers(pg, tmp_path, method):
    """time '24:00:00' (the end of a day PostgreSQL allows) was staged as NULL through ADBC, silently;
    numeric 'NaN' was 'nan' through ADBC and 'NaN' through SQLAlchemy: both readers give the server's text."""
    url, s, engine = pg
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE TABLE "{s}".vt_edge ("ID" text, "TM" time, "TM6" time(6), "N" numeric, '
                             '"N2" numeric(10,2))')
        conn.exec_driver_sql(f"""INSERT INTO "{s}".vt_edge VALUES ('1', '24:00:00', '23:59:59.5', 'NaN', 'NaN'),
                                 ('2', '00:00:00', '24:00:00', '1.50', '-2.5'), ('3', NULL, NULL, NULL, NULL)""")
    r, df = _extract(url, s, "vt_edge", table_layout("ID", "TM", "TM6", "N", "N2", key=["ID"]), tmp_path,
                     method=method)
    assert df.select("ID", "TM", "TM6", "N", "N2").rows() == [
        ("1", "24:00:00", "23:59:59.500000", "NaN", "NaN"),
        ("2", "00:00:00", "24:00:00", "1.50", "-2.50"),
        ("3", None, None, None, None)]
    assert r.quarantine.height == 0


def test_mariadb_bigint_unsigned_stages_its_exact_digits(maria, tmp_path):
    """18446744073709551615 (BIGINT UNSIGNED's largest) stopped the run ("values are of several kinds: int")."""
    url, db, engine = maria
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE `{db}`.vt_big (ID varchar(4), U bigint unsigned, S bigint)")
        conn.exec_driver_sql(f"INSERT INTO `{db}`.vt_big VALUES ('1', 18446744073709551615, -9223372036854775808), "
                             "('2', 9223372036854775808, 9223372036854775807), ('3', 0, NULL), ('4', NULL, 1)")
    r, df = _extract(url, db, "vt_big", table_layout("ID", "U", "S", key=["ID"]), tmp_path)
    assert df.select("ID", "U", "S").sort("ID").rows() == [
        ("1", "18446744073709551615", "-9223372036854775808"), ("2", "9223372036854775808", "9223372036854775807"),
        ("3", "0", None), ("4", None, "1")]
    assert r.quarantine.height == 0


UNICODE_BREAK_ROWS = [("1000000001", "山田\u2028花子", None), ("1000000002", "鈴木\u2029一", None),
                      ("1000000003", "佐藤\x85誠", "101号室\u2028")]


@pytest.mark.parametrize("method", ["auto", "dbapi"])
def test_nel_and_unicode_line_separators_in_a_table_column_are_held_unless_the_layout_allows_line_breaks(
        pg, tmp_path, method):
    """U+2028, U+2029 and NEL are line breaks: held like CR and LF (extract.control_char), kept in a column
    marked `line_breaks: true`."""
    url, s, engine = pg
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE TABLE "{s}".vt_ub ("KOJIN_ID" text, "NAME_KANJI" text, "KATAGAKI" text)')
        conn.execute(sa.text(f'INSERT INTO "{s}".vt_ub VALUES (:a, :b, :c)'),
                     [dict(zip("abc", r)) for r in UNICODE_BREAK_ROWS])
    names = ("KOJIN_ID", "NAME_KANJI", "KATAGAKI")
    r, df = _extract(url, s, "vt_ub", table_layout(*names, key=["KOJIN_ID"]), tmp_path, method=method)
    assert df.height == 0
    held = r.quarantine.sort("source_line", "column")
    assert held.select("source_line", "column", "rule", "record_key").rows() == [
        (1, "NAME_KANJI", "extract.control_char", "KOJIN_ID=1000000001"),
        (2, "NAME_KANJI", "extract.control_char", "KOJIN_ID=1000000002"),
        (3, "KATAGAKI", "extract.control_char", "KOJIN_ID=1000000003"),
        (3, "NAME_KANJI", "extract.control_char", "KOJIN_ID=1000000003")]
    en = held["message_en"].to_list()
    assert "LS (U+2028)" in en[0] and "PS (U+2029)" in en[1] and "NEL (U+0085)" in en[3]
    assert all("line_breaks: true" in m for m in en + held["message_ja"].to_list())
    allowed = table_layout(*names, key=["KOJIN_ID"], line_breaks=["NAME_KANJI", "KATAGAKI"])
    r, df = _extract(url, s, "vt_ub", allowed, tmp_path, method=method, out="allowed.parquet")
    assert df.select(*names).rows() == UNICODE_BREAK_ROWS and r.quarantine.height == 0


# --------------------------------------------------------------------------- numbers that lost their zeros
@pytest.mark.parametrize("server", ["mariadb", "postgres"])
def test_columns_the_vendor_table_holds_as_numbers_are_named(server, request, tmp_path):
    """A 宛名番号 kept as a number lost its leading zeros before ikou saw it: the extract names such columns
    (`numeric_columns`), so the flow can say which key needs `op: zero_pad` (flows.pipeline.numeric_keys)."""
    url, schema, engine = request.getfixturevalue("maria" if server == "mariadb" else "pg")
    q = "`" if server == "mariadb" else '"'
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {q}{schema}{q}.vt_num ({q}ATENA{q} bigint, {q}RIREKI{q} smallint, "
                             f"{q}KINGAKU{q} decimal(10,2), {q}SHIMEI{q} varchar(20), {q}CODE{q} char(2))")
        conn.exec_driver_sql(f"INSERT INTO {q}{schema}{q}.vt_num VALUES (488120352, 1, 12.50, 'x', '01')")
    r, df = _extract(url, schema, "vt_num", table_layout("ATENA", "RIREKI", "KINGAKU", "SHIMEI", "CODE",
                                                         key=["ATENA", "RIREKI"]), tmp_path)
    assert r.extra["numeric_columns"] == ["ATENA", "RIREKI", "KINGAKU"]
    assert df.select("ATENA", "CODE").rows() == [("488120352", "01")]


def test_a_bad_value_in_a_column_not_migrated_is_listed_and_holds_nothing(maria, tmp_path):
    """A zero DATETIME or a 備考 holding a line break in a column no mapping line reads (`not_migrated`) is a
    warning with its row staged: the person is not kept out of the target for a value that is not migrated.
    The same values in a migrated column hold the row, as before."""
    url, db, engine = maria
    with engine.begin() as conn:
        conn.exec_driver_sql("SET SESSION sql_mode = ''")
        conn.exec_driver_sql(f"CREATE TABLE `{db}`.VT_NM (ID varchar(4), D date, KOSHIN datetime, BIKO text)")
        conn.exec_driver_sql(f"INSERT INTO `{db}`.VT_NM VALUES ('0001', '2020-01-31', '0000-00-00 00:00:00', "
                             "'1行目\\n2行目'), ('0002', '0000-00-00', NULL, 'x')")
    layout = table_layout("ID", "D", "KOSHIN", "BIKO", key=["ID"])
    r = extract_table(url, "VT_NM", layout, out_path=tmp_path / "s.parquet", source_name="b", source_ordinal=1,
                      run_id="r", schema=db, dantai_code="999997", target_table="t",
                      unread_columns=["KOSHIN", "BIKO", "ID"])   # a key column is checked whatever the mapping says
    df = pl.read_parquet(r.staging)
    assert df.select("ID", "KOSHIN", "BIKO").rows() == [("0001", "0000-00-00 00:00:00", "1行目\n2行目")]
    assert (r.rows_read, r.rows_ok) == (2, 1)   # 0002 is held for its migrated date D
    got = sorted(r.quarantine.select("source_line", "column", "rule", "severity").rows())
    assert got == [(1, "BIKO", "extract.control_char", "warning"), (1, "KOSHIN", "extract.invalid_value", "warning"),
                   (2, "D", "extract.invalid_value", "error")]
    assert all("not held" in m for m in r.quarantine.filter(pl.col("severity") == "warning")["message_en"])
