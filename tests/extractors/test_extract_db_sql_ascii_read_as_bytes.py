"""A PostgreSQL database created with ENCODING 'SQL_ASCII' (older vendor systems) stores the application's own
bytes (CP932, EUC-JP) in its text columns, unchecked and unconverted. Such a table is read as its bytes
(convert_to(…, 'SQL_ASCII'): exact, where `::bytea` breaks on the 0x5C of ソ 表 能) and decoded with the
layout's encoding, on both readers (ADBC, SQLAlchemy), NEC/IBM extension characters (髙 ①) included; bytes that
are not the encoding are held (extract.decode) naming row, key and column; the columns read so are named in the
extract's `byte_columns` and in run.log. A layout whose encoding is no Japanese legacy encoding is refused
(latin-1 would make mojibake of every value) or warned (utf-8: its bytes are checked).

Before: SQLAlchemy's psycopg dialect failed on the server's version string, which psycopg gives as bytes for a
SQL_ASCII connection (TypeError, a traceback, on both readers and in `consistent_snapshot`); ADBC alone hands
the bytes over as Arrow strings that are not UTF-8."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import polars as pl
import psycopg
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from ikou.context import RunContext
from ikou.errors import LayoutError
from ikou.extractors import extract_tables
from ikou.extractors.database import extract_table
from ikou.extractors.layout import Layout
from tests.conftest import random_tag

DANTAI = "999822"
COLUMNS = ("ATENA_NO", "SHIMEI", "KANA", "JUSHO", "SEINENGAPPI", "NENREI")
READERS = ["adbc", "dbapi"]   # extract_table's `method`: ADBC, SQLAlchemy (psycopg)

# (ATENA_NO, SHIMEI as stored, KANA as stored, JUSHO as stored): CP932 bytes, as the vendor application wrote them
ROWS = [
    ("0001", "山田　太郎".encode("cp932"), "ﾔﾏﾀﾞ ﾀﾛｳ".encode("cp932"), "表町ソ".encode("cp932")),   # 0x5C bytes
    ("0002", b"\xfb\xfc\x8b\xb4\x87\x40", "ﾀｶﾊｼ".encode("cp932"), "能見台".encode("cp932")),   # 髙 (IBM) 橋 ① (NEC)
    ("0003", b"\x82", None, "本町".encode("cp932")),   # a lead byte with nothing after it: not CP932
    ("0004", b"\xee\xe0\x96\xd8", b"", None),   # 髙 as NEC-selected IBM extension (0xEEE0), 木
]
STAGED = [("0001", "山田　太郎", "ﾔﾏﾀﾞ ﾀﾛｳ", "表町ソ", "1980-01-02", "45"),
          ("0002", "髙橋①", "ﾀｶﾊｼ", "能見台", "1990-12-31", "35"),
          ("0004", "髙木", "", None, None, None)]


def _layout(encoding: str = "cp932", name: str = "fxa.jumin", columns=COLUMNS) -> Layout:
    return Layout.model_validate({
        "spec_version": 1, "name": name, "format": "table", "encoding": encoding, "key": ["ATENA_NO"],
        "columns": [{"name": n, "ja": f"{n}項目"} for n in columns]})


@pytest.fixture
def sql_ascii_db(postgres_url):
    """The URL of a SQL_ASCII database of this test only: JUMIN (`ROWS`, CP932 bytes) and IDO (their 異動
    reasons, one a lone lead byte); dropped afterwards."""
    db = f"legacy_sqlascii_{random_tag()}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {db} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
                             "TEMPLATE template0")
    url = make_url(postgres_url).set(database=db)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(dsn) as pc:   # client_encoding SQL_ASCII: the bytes go in as they are
            pc.execute('CREATE TABLE "JUMIN" ("ATENA_NO" varchar(10) PRIMARY KEY, "SHIMEI" text, "KANA" char(12), '
                       '"JUSHO" varchar(40), "SEINENGAPPI" date, "NENREI" integer)')
            dates = {"0001": ("1980-01-02", 45), "0002": ("1990-12-31", 35)}
            for i, shimei, kana, jusho in ROWS:
                pc.execute('INSERT INTO "JUMIN" VALUES (%s, convert_from(%s, \'SQL_ASCII\'), '
                           "convert_from(%s, 'SQL_ASCII'), convert_from(%s, 'SQL_ASCII'), %s, %s)",
                           (i, shimei, kana, jusho, *dates.get(i, (None, None))))
            pc.execute('CREATE TABLE "IDO" ("ATENA_NO" varchar(10), "IDO_JIYU" varchar(20))')
            pc.execute("INSERT INTO \"IDO\" VALUES ('0001', convert_from(%s, 'SQL_ASCII')), "
                       "('0002', convert_from(%s, 'SQL_ASCII'))", ("転入".encode("cp932"), b"\x81"))
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        admin.dispose()


def _extract(url, layout, tmp_path, method, table="JUMIN"):
    r = extract_table(url, table, layout, out_path=tmp_path / f"{method}.parquet", source_name="fxa_jumin",
                      source_ordinal=1, run_id="r", method=method, dantai_code=DANTAI, target_table="t")
    return r, pl.read_parquet(r.staging)


@pytest.mark.parametrize("method", READERS)
def test_cp932_names_in_a_sql_ascii_database_are_decoded_with_the_layout_encoding(sql_ascii_db, tmp_path, caplog,
                                                                                  method):
    with caplog.at_level(logging.WARNING, logger="ikou"):
        r, df = _extract(sql_ascii_db, _layout(), tmp_path, method)
    assert r.extra["reader"] == ("adbc" if method == "adbc" else "sqlalchemy")
    assert df.select(*COLUMNS).rows() == STAGED   # CHAR(12) without its padding; date and number as before
    assert r.extra["byte_columns"] == ["ATENA_NO", "SHIMEI", "KANA", "JUSHO"]   # not the date, not the number
    logged = " ".join(rec.getMessage() for rec in caplog.records)
    assert "SQL_ASCII" in logged and "ATENA_NO, SHIMEI, KANA, JUSHO" in logged and "cp932" in logged
    assert "バイト列として読み" in logged
    assert not any(v in logged for v in ("山田", "髙", "表町"))   # which columns, never their values


@pytest.mark.parametrize("method", READERS)
def test_bytes_that_are_not_cp932_are_held_naming_row_key_and_column(sql_ascii_db, tmp_path, method):
    r, df = _extract(sql_ascii_db, _layout(), tmp_path, method)
    assert r.quarantine.select("source_line", "column", "rule", "record_key", "source").rows() == [
        (3, "SHIMEI", "extract.decode", "ATENA_NO=0003", "JUMIN")]
    assert (r.rows_read, r.rows_ok) == (4, 3) and "0003" not in df["ATENA_NO"].to_list()
    en, ja = r.quarantine["message_en"][0], r.quarantine["message_ja"][0]
    assert "SHIMEI" in en and "cp932" in en and "SHIMEI項目" in ja
    assert "\\x82" not in en + ja and "x82" not in en + ja   # the bytes are never shown in the message


@pytest.mark.parametrize("method", READERS)
def test_a_layout_in_a_single_byte_encoding_is_refused_for_a_sql_ascii_database(sql_ascii_db, tmp_path, method):
    """latin-1 makes a character of every byte: 山田 would be staged as mojibake that passes every check."""
    with pytest.raises(LayoutError) as e:
        _extract(sql_ascii_db, _layout("latin-1"), tmp_path, method)
    assert "SQL_ASCII" in str(e.value) and "latin-1" in str(e.value) and "fxa.jumin" in str(e.value)
    assert "SQL_ASCII" in e.value.ja and "cp932" in e.value.ja
    assert "\n" not in str(e.value) + e.value.ja
    assert not (tmp_path / f"{method}.parquet").exists()


@pytest.mark.parametrize("method", READERS)
def test_a_utf8_layout_for_a_sql_ascii_database_is_warned_and_its_bytes_checked(sql_ascii_db, tmp_path, caplog,
                                                                              method):
    """A vendor application may have written UTF-8: decoded as UTF-8 with a warning; CP932 values are held,
    never garbled."""
    with caplog.at_level(logging.WARNING, logger="ikou"):
        r, df = _extract(sql_ascii_db, _layout("utf-8"), tmp_path, method)
    logged = " ".join(rec.getMessage() for rec in caplog.records)
    assert "SQL_ASCII" in logged and "cp932" in logged and "fxa.jumin" in logged
    assert df["ATENA_NO"].to_list() == []   # every row holds a CP932 value
    assert set(r.quarantine["rule"].to_list()) == {"extract.decode"}
    assert set(r.quarantine["record_key"].to_list()) == {"ATENA_NO=0001", "ATENA_NO=0002", "ATENA_NO=0003",
                                                         "ATENA_NO=0004"}


@pytest.mark.parametrize("reader", ["adbc", "sqlalchemy"])
def test_a_multi_table_source_in_a_sql_ascii_database_is_read_in_one_snapshot(sql_ascii_db, tmp_path, reader,
                                                                             monkeypatch):
    import ikou.extractors.database as database

    if reader == "sqlalchemy":
        monkeypatch.setattr(database, "_adbc_available", lambda: False)
    elif not database._adbc_available():
        pytest.skip("ADBC not installed")

    def layout(name, columns):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"spec_version": 1, "name": f"fxa.{name}", "format": "table",
                                        "encoding": "cp932", "key": ["ATENA_NO"],
                                        "columns": [{"name": c, "ja": c} for c in columns]}, allow_unicode=True),
                        encoding="utf-8")
        return path

    ctx = RunContext(dantai_code=DANTAI, run_id="r1", runs_dir=tmp_path / "runs")
    source = SimpleNamespace(name="fxa_juki", url=sql_ascii_db, schema_=None)
    tables = {"jumin": SimpleNamespace(table="JUMIN", layout=layout("jumin", ["ATENA_NO", "SHIMEI", "KANA"])),
              "ido": SimpleNamespace(table="IDO", layout=layout("ido", ["ATENA_NO", "IDO_JIYU"]))}
    r = extract_tables(source, ctx, ordinal=1, tables=tables)
    jumin, ido = pl.read_parquet(r.output / "jumin.parquet"), pl.read_parquet(r.output / "ido.parquet")
    assert jumin.select("ATENA_NO", "SHIMEI").rows() == [("0001", "山田　太郎"), ("0002", "髙橋①"),
                                                        ("0004", "髙木")]
    assert ido.select("ATENA_NO", "IDO_JIYU").rows() == [("0001", "転入")]
    assert r.metrics["snapshot"].startswith("consistent snapshot ")   # the exported snapshot, named
    assert r.metrics["byte_columns"] == ["jumin.ATENA_NO", "jumin.SHIMEI", "jumin.KANA", "ido.ATENA_NO",
                                         "ido.IDO_JIYU"]
    assert sorted(r.quarantine.select("column", "record_key").rows()) == [("IDO_JIYU", "ATENA_NO=0002"),
                                                                        ("SHIMEI", "ATENA_NO=0003")]


@pytest.mark.parametrize("method", READERS)
def test_euc_jp_bytes_in_a_sql_ascii_database_are_decoded_as_euc_jp(sql_ascii_db, tmp_path, method):
    dsn = make_url(sql_ascii_db).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as pc:
        pc.execute('CREATE TABLE "EUC" ("ATENA_NO" varchar(10), "SHIMEI" varchar(20))')
        pc.execute("INSERT INTO \"EUC\" VALUES ('0001', convert_from(%s, 'SQL_ASCII'))", ("表ソ　太郎".encode("euc_jp"),))
    r, df = _extract(sql_ascii_db, _layout("euc_jp", columns=("ATENA_NO", "SHIMEI")), tmp_path, method, table="EUC")
    assert df.select("ATENA_NO", "SHIMEI").rows() == [("0001", "表ソ　太郎")]
    assert r.quarantine.height == 0


def test_the_sql_ascii_session_stays_read_only(sql_ascii_db):
    from ikou.extractors.database import consistent_snapshot

    with consistent_snapshot(sql_ascii_db, source_name="fxa", label="JUMIN", run_id="r") as snap:
        assert snap.id   # an exported snapshot id, read as text
        with pytest.raises(sa.exc.DBAPIError, match=r"read-only transaction"):
            snap.conn.exec_driver_sql('CREATE TABLE "NEVER" (i int)')


@pytest.mark.parametrize("method", READERS)
def test_a_connection_lost_while_a_sql_ascii_table_is_read_is_transient(sql_ascii_db, postgres_url, tmp_path,
                                                                       monkeypatch, method):
    """The retried TransientError of a lost connection, one line, as for any other database; the retry reads all."""
    import ikou.extractors.database as database
    from ikou.errors import TransientError, one_line

    rows = 150_000
    db = make_url(sql_ascii_db)
    with psycopg.connect(db.set(drivername="postgresql").render_as_string(hide_password=False)) as pc:
        pc.execute('CREATE TABLE "BIG" ("ATENA_NO" varchar(10), "SHIMEI" text)')
        pc.execute(f"""INSERT INTO "BIG" SELECT lpad(i::text, 10, '0'),
                       convert_from(decode(repeat('8341', 100), 'hex'), 'SQL_ASCII')
                       FROM generate_series(1, {rows}) i""")   # 'ア' × 100: the table is far bigger than a batch
    engine = sa.create_engine(postgres_url)
    real, killed = database.render, []

    def hooked(*args, **kwargs):   # at the first batch, the sessions reading the database are cut (a server-side
        # cursor shows only its FETCH as its query)
        if not killed:
            with engine.begin() as conn:
                killed.append(conn.execute(sa.text(
                    "SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                    "AND datname = :db"), {"db": db.database}).scalar())
        return real(*args, **kwargs)

    monkeypatch.setattr(database, "render", hooked)
    layout = _layout(columns=("ATENA_NO", "SHIMEI"))

    def extract():
        return extract_table(sql_ascii_db, "BIG", layout, out_path=tmp_path / "big.parquet", source_name="fxa_big",
                             source_ordinal=1, run_id="r", method=method, dantai_code=DANTAI, target_table="t",
                             batch_rows=10_000)

    with pytest.raises(TransientError) as got:
        extract()
    assert killed == [True]
    line = one_line(got.value)
    assert "fxa_big" in line and "connection to the legacy database" in line and "\n" not in line
    monkeypatch.undo()
    engine.dispose()
    r = extract()
    df = pl.read_parquet(r.staging)
    assert (r.rows_read, df.height) == (rows, rows) and df["SHIMEI"][0] == "ア" * 100


@pytest.mark.parametrize("method", READERS)
def test_a_column_name_in_cp932_is_refused_in_one_line_naming_the_way_out(sql_ascii_db, tmp_path, method):
    """A column named in the application's bytes (氏名 in CP932) cannot be named in a query: a LayoutError saying
    to read a view with ASCII names, not a UnicodeDecodeError traceback."""
    dsn = make_url(sql_ascii_db).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as pc:
        pc.execute(b'CREATE TABLE "KANJI" ("ATENA_NO" text, "' + "氏名".encode("cp932") + b'" text)')
    with pytest.raises(LayoutError) as e:
        _extract(sql_ascii_db, _layout(columns=("ATENA_NO",)), tmp_path, method, table="KANJI")
    line = str(e.value)
    assert "SQL_ASCII" in line and "KANJI" in line and "view" in line and "\n" not in line + e.value.ja
