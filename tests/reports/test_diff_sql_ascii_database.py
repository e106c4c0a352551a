"""`ikou diff` against a legacy PostgreSQL database created with ENCODING 'SQL_ASCII', whose text columns hold the
vendor application's CP932 bytes unchecked: read as those bytes and decoded with `--encoding cp932`, as extraction
decodes them with the layout's encoding (NEC/IBM extension characters and the 0x5C trail byte of ソ included);
without --encoding, with a single-byte one or with bytes the encoding does not read, refused in one line
(Japanese and English) naming the table and what to pass, never a traceback or mojibake. sample.legacy_db stores a
CSV's rows in such a database as the bytes of its `encoding`, and refuses one without it.

Before: SQLAlchemy's psycopg dialect failed on the server's version string, which psycopg hands over as bytes for a
SQL_ASCII connection (TypeError traceback) in `read_table` and `install_vendor_table`."""
from __future__ import annotations

import json

import polars as pl
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ikou.errors import ConfigError
from ikou.flows.cli import main
from ikou.sample.legacy_db import install_vendor_table
from tests.conftest import random_tag

DANTAI = "999725"
LEGACY = [("0001", "山田　太郎", "表町ソ"), ("0002", "髙橋①", "能見台"), ("0003", "佐藤　花子", "本町")]
TARGET = [("0001", "山田　太郎", "表町ソ"), ("0002", "髙橋①", "能見台１丁目"), ("0003", "佐藤　花子", "本町")]


def _csv(path, rows):
    pl.DataFrame(rows, schema=["atena_no", "shimei", "jusho"], orient="row").write_csv(path)
    return path


@pytest.fixture
def sql_ascii_db(postgres_url):
    """A SQL_ASCII database of this test only (dropped afterwards): its URL."""
    db = f"legacy_sqlascii_{random_tag()}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {db} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
                             "TEMPLATE template0")
    try:
        yield make_url(postgres_url).set(database=db).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        admin.dispose()


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def legacy(sql_ascii_db, tmp_path):
    """The legacy table jumin (`LEGACY`, stored as CP932 bytes by install_vendor_table) plus a number column."""
    table = f"jumin_{random_tag()}"
    assert install_vendor_table(_csv(tmp_path / "legacy.csv", LEGACY), sql_ascii_db, table, encoding="cp932") == 3
    with psycopg.connect(_dsn(sql_ascii_db)) as pc:
        pc.execute(f"ALTER TABLE {table} ADD COLUMN nenrei integer")
        pc.execute(f"UPDATE {table} SET nenrei = 40")
    return sql_ascii_db, table


def _diff(tmp_path, left, *extra):
    right = _csv(tmp_path / "target.csv", TARGET)
    out = tmp_path / "out"
    rc = main(["diff", left, str(right), "--key", "atena_no", "--columns", "shimei,jusho", "--out", str(out),
               *extra])
    return rc, out


def test_install_stores_the_rows_as_the_bytes_of_the_encoding(legacy):
    url, table = legacy
    with psycopg.connect(_dsn(url)) as pc:
        got = pc.execute(f"SELECT convert_to(jusho, 'SQL_ASCII'), convert_to(shimei, 'SQL_ASCII') FROM {table} "
                         "ORDER BY atena_no").fetchall()
    assert [(bytes(j), bytes(s)) for j, s in got] == [(j.encode("cp932"), s.encode("cp932")) for _, s, j in LEGACY]


def test_diff_reads_a_sql_ascii_table_with_the_encoding_given(legacy, tmp_path, capsys):
    url, table = legacy
    rc, out = _diff(tmp_path, f"{url}#{table}", "--encoding", "cp932")
    assert rc == 0, capsys.readouterr().err
    cells = pl.read_parquet(out / "differences.parquet")
    assert cells.select("atena_no", "column", "left", "right").rows() == [("0002", "jusho", "能見台", "能見台１丁目")]
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert (s["matched"], s["only_left"], s["only_right"], s["changed_rows"]) == (3, 0, 0, 1)   # 髙橋① and ソ equal


def test_diff_of_a_sql_ascii_table_without_encoding_is_one_line_saying_what_to_pass(legacy, tmp_path, capsys):
    url, table = legacy
    rc, out = _diff(tmp_path, f"{url}#{table}")
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    db = make_url(url).database
    assert "SQL_ASCII" in err and "--encoding cp932" in err and db in err and table in err
    assert "文字コード" in err   # the Japanese half names it too
    assert not (out / "differences.parquet").exists()


@pytest.mark.parametrize("encoding", ["latin-1", "no-such-codec"])
def test_an_encoding_that_would_make_mojibake_is_refused(legacy, tmp_path, capsys, encoding):
    url, table = legacy
    rc, out = _diff(tmp_path, f"{url}#{table}", "--encoding", encoding)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"--encoding {encoding}" in err and "cp932" in err
    assert not (out / "differences.parquet").exists()


def test_bytes_the_encoding_does_not_read_stop_the_diff_naming_the_column_not_the_bytes(legacy, tmp_path, capsys):
    url, table = legacy
    with psycopg.connect(_dsn(url)) as pc:
        pc.execute(f"INSERT INTO {table} (atena_no, shimei, jusho) VALUES ('0004', convert_from(%s, 'SQL_ASCII'), "
                   "'x')", (b"\x82",))
    rc, out = _diff(tmp_path, f"{url}#{table}", "--encoding", "cp932")
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "shimei" in err and "1 value" in err and "cp932" in err and table in err
    assert "x82" not in err


def test_a_utf8_database_is_read_as_before_with_or_without_encoding(postgres_url, tmp_path, capsys):
    table = f"jumin_{random_tag()}"
    install_vendor_table(_csv(tmp_path / "legacy.csv", LEGACY), postgres_url, table)
    try:
        for extra in ((), ("--encoding", "cp932")):
            rc, out = _diff(tmp_path, f"{postgres_url}#{table}", *extra)
            assert rc == 0, capsys.readouterr().err
            assert pl.read_parquet(out / "differences.parquet")["left"].to_list() == ["能見台"]
    finally:
        with psycopg.connect(_dsn(postgres_url)) as pc:
            pc.execute(f"DROP TABLE IF EXISTS {table}")


def test_install_into_a_sql_ascii_database_without_encoding_is_refused_in_one_line(sql_ascii_db, tmp_path):
    table = f"jumin_{random_tag()}"
    with pytest.raises(ConfigError) as e:
        install_vendor_table(_csv(tmp_path / "legacy.csv", LEGACY), sql_ascii_db, table)
    line = str(e.value)
    assert "SQL_ASCII" in line and "encoding='cp932'" in line and make_url(sql_ascii_db).database in line
    assert "\n" not in line + e.value.ja and "SQL_ASCII" in e.value.ja
    with psycopg.connect(_dsn(sql_ascii_db)) as pc:   # nothing was created
        assert pc.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None


def test_install_of_a_character_the_encoding_lacks_names_line_and_column(sql_ascii_db, tmp_path):
    table = f"jumin_{random_tag()}"
    rows = [*LEGACY, ("0004", "김철수", "本町")]   # Hangul: not in CP932
    with pytest.raises(ConfigError) as e:
        install_vendor_table(_csv(tmp_path / "legacy.csv", rows), sql_ascii_db, table, encoding="cp932")
    assert "line 5, column shimei" in str(e.value) and "김" not in str(e.value) + e.value.ja


def test_an_output_written_replacing_is_whole_or_the_previous_one(tmp_path):
    """A full disk (or any failure) while an output streams out leaves the previous file under the final name, and
    no temporary file beside it; a write that succeeds replaces it whole."""
    from ikou.summary import write_replacing

    final = tmp_path / "differences.parquet"
    pl.DataFrame({"a": ["old"]}).write_parquet(final)

    def full_disk(tmp):
        tmp.write_bytes(b"PAR1 half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_replacing(final, full_disk)
    assert pl.read_parquet(final)["a"].to_list() == ["old"] and sorted(tmp_path.iterdir()) == [final]
    write_replacing(final, lambda tmp: pl.LazyFrame({"a": ["new"]}).sink_parquet(tmp))
    assert pl.read_parquet(final)["a"].to_list() == ["new"] and sorted(tmp_path.iterdir()) == [final]
