"""A legacy database connection cut while a table is read (pg_terminate_backend, KILL, a restart) is a
TransientError — the extract task retries it — with one bilingual line saying the connection was lost, from
the ADBC reader (PostgreSQL; it surfaced as a raw OSError, 「予期しないエラー」, never retried) as from the
SQLAlchemy one (MariaDB). A killed MariaDB read leaves nothing for the garbage collector to print either:
pymysql's unbuffered result of the dead connection printed two 'Exception ignored …' tracebacks on stderr
after the retry, outside --debug."""
from __future__ import annotations

import gc
import sys

import polars as pl
import pytest
import sqlalchemy as sa

import ikou.extractors.database as database
from ikou.errors import TransientError, message_ja, one_line
from ikou.extractors.layout import Layout
from tests.conftest import random_tag

ROWS = 150_000
LAYOUT = Layout.model_validate({"spec_version": 1, "name": "fxb.big", "format": "table", "key": ["ID"],
                                "columns": [{"name": "ID", "ja": "番号"}, {"name": "PAD", "ja": "詰め物"}]})


def _kill_on_first_batch(monkeypatch, name: str, url: str, kill):
    """Hook `name` (a per-batch function of extractors.database): at its first call, the extraction's own
    connection is cut from another session by `kill(conn)`, mid-read (the table is far bigger than a batch)."""
    real = getattr(database, name)
    killed = []

    def hooked(*args, **kwargs):
        if not killed:
            engine = sa.create_engine(url)
            with engine.begin() as conn:
                killed.append(kill(conn))
            engine.dispose()
        return real(*args, **kwargs)

    monkeypatch.setattr(database, name, hooked)
    return killed


def _extract(url, schema, tmp_path, **kw):
    return database.extract_table(url, "BIG", LAYOUT, out_path=tmp_path / "s.parquet", source_name="fxb_big",
                                  source_ordinal=1, run_id="r", schema=schema, dantai_code="999741",
                                  target_table="t", **kw)


def _is_the_lost_connection_line(exc: TransientError, label: str) -> None:
    line, ja = one_line(exc), message_ja(exc)
    assert "fxb_big" in line and label in line and "connection to the legacy database" in line and "retried" in line
    assert "fxb_big" in ja and "接続が切れました" in ja and "再試行" in ja and "\n" not in line + ja


@pytest.fixture
def pg_big(postgres_url):
    schema = f"fxb_{random_tag()}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        conn.exec_driver_sql(f'CREATE TABLE "{schema}"."BIG" ("ID" text, "PAD" text)')
        conn.exec_driver_sql(f"""INSERT INTO "{schema}"."BIG" SELECT lpad(i::text, 10, '0'), repeat('x', 300)
                                 FROM generate_series(1, {ROWS}) i""")
    yield postgres_url, schema
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


@pytest.fixture
def maria_big(mariadb_url):
    db = f"fxb_{random_tag()}"
    engine = sa.create_engine(mariadb_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{db}`")
        conn.exec_driver_sql(f"CREATE TABLE `{db}`.BIG (ID varchar(10) PRIMARY KEY, PAD varchar(300))")
        conn.exec_driver_sql(f"INSERT INTO `{db}`.BIG SELECT LPAD(seq, 10, '0'), REPEAT('x', 300) "
                             f"FROM seq_1_to_{ROWS}")
    yield mariadb_url, db
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{db}`")
    engine.dispose()


def test_a_postgres_connection_terminated_during_an_adbc_read_is_transient(pg_big, tmp_path, monkeypatch):
    pytest.importorskip("adbc_driver_postgresql")
    url, schema = pg_big
    killed = _kill_on_first_batch(
        monkeypatch, "render", url, lambda conn: conn.execute(sa.text(
            "SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND query LIKE :read"), {"read": f"%{schema}%BIG%"}).scalar())
    with pytest.raises(TransientError) as got:
        _extract(url, schema, tmp_path, method="adbc")
    assert killed == [True]
    _is_the_lost_connection_line(got.value, f"{schema}.BIG")
    monkeypatch.undo()   # the retry reads the whole table
    r = _extract(url, schema, tmp_path, method="adbc")
    assert r.rows_read == ROWS and pl.read_parquet(r.staging).height == ROWS


def test_a_mariadb_connection_killed_during_a_read_is_transient_and_prints_nothing(maria_big, tmp_path, monkeypatch):
    url, db = maria_big
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(f"{u.exc_type.__name__} in {u.object!r}"))

    def kill(conn):
        ids = conn.execute(sa.text("SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
                                   "AND INFO LIKE :read"), {"read": f"%{db}%BIG%"}).scalars().all()
        for i in ids:
            conn.exec_driver_sql(f"KILL CONNECTION {int(i)}")
        return ids

    killed = _kill_on_first_batch(monkeypatch, "python_values", url, kill)
    with pytest.raises(TransientError) as got:
        _extract(url, db, tmp_path, batch_rows=1_000)
    assert len(killed) == 1 and len(killed[0]) == 1, killed
    _is_the_lost_connection_line(got.value, f"{db}.BIG")
    monkeypatch.undo()   # the retry reads the whole table
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(f"{u.exc_type.__name__} in {u.object!r}"))
    r = _extract(url, db, tmp_path)
    assert r.rows_read == ROWS
    del got
    gc.collect()
    assert unraisable == []
