"""A target that cannot be used says why, in Japanese and English, instead of waiting for ever or failing as an
unexpected error: a reader's open transaction on the tables a load replaces (lock timeout, the blocking
session named), a DuckDB file that cannot be opened (the path named), a PostgreSQL login refused for good
(no retry) or without CREATEROLE (団体 999792 / 999814)."""
from __future__ import annotations

import logging
import threading
import time

import polars as pl
import pytest
import sqlalchemy as sa

from ikou.errors import ConfigError, TargetBusy, TerminalError, TransientError, message_ja, one_line
from ikou.loaders import LoadPart, RunRecord, held_runs, load_run
from tests.conftest import drop_target_schemas, random_tag


def _load(url, db_schema, schema, run_id, code="999792"):
    load_run([LoadPart(schema, {"ga_t": pl.DataFrame({"atena_no": [f"{run_id}-1"]})})], url, db_schema,
             run=RunRecord(run_id, "R1", code, ("ga",)))


def _terminate(url: str, pid: int) -> None:
    engine = sa.create_engine(url)
    with engine.connect() as c:
        c.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    engine.dispose()


@pytest.fixture
def pg_schema(postgres_url):
    name = f"dantai_999792_e{random_tag()}"
    yield postgres_url, name
    drop_target_schemas(postgres_url, name)


def test_a_load_blocked_by_a_readers_open_transaction_stops_naming_the_reader(pg_schema, schema, monkeypatch,
                                                                               caplog):
    url, db_schema = pg_schema
    _load(url, db_schema, schema, "20261130T130000Z-R1-aaaa")
    _load(url, db_schema, schema, "20261130T130100Z-R1-bbbb")   # __prev now holds the first: the next drops it
    monkeypatch.setenv("IKOU_LOCK_TIMEOUT_SECONDS", "4")
    engine = sa.create_engine(url, connect_args={"application_name": "fx-analyst"})
    reader = engine.connect()
    try:
        reader.exec_driver_sql(f'SELECT count(*) FROM "{db_schema}__prev".ga_t').fetchall()   # transaction open
        pid = reader.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        # without a lock timeout the load would wait for ever: the reader is ended after 30 s, so it fails instead
        guard = threading.Timer(30, _terminate, (url, pid))
        guard.start()
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="ikou"), pytest.raises(TargetBusy) as exc:
            _load(url, db_schema, schema, "20261130T130200Z-R1-cccc")
        assert time.monotonic() - started < 30
        for text in (one_line(exc.value), message_ja(exc.value)):
            assert f"pid {pid}" in text and "fx-analyst" in text
        assert "待って" in message_ja(exc.value)
        assert any("waiting" in r.getMessage() and f"pid {pid}" in r.getMessage() for r in caplog.records)
    finally:
        guard.cancel()
        reader.close()
        engine.dispose()
    assert held_runs(url, db_schema)["current"]["run_id"] == "20261130T130100Z-R1-bbbb"   # unchanged
    _load(url, db_schema, schema, "20261130T130300Z-R1-dddd")   # the reader gone, the load goes through


@pytest.mark.parametrize("where", ["folder_is_a_file", "target_is_a_folder"])
def test_a_duckdb_target_that_cannot_be_opened_is_a_target_error_naming_the_path(tmp_path, schema, where):
    if where == "folder_is_a_file":
        (tmp_path / "afile").write_text("x")
        path = tmp_path / "afile" / "t.duckdb"
    else:
        path = tmp_path / "t.duckdb"
        path.mkdir()
    with pytest.raises(TerminalError) as exc:
        _load(f"duckdb:///{path}", "dantai_999814", schema, "20261130T140000Z-R1-aaaa", code="999814")
    assert not isinstance(exc.value, TransientError)
    for text in (one_line(exc.value), message_ja(exc.value)):
        assert str(path) in text
    assert "予期しない" not in message_ja(exc.value) and "開けません" in message_ja(exc.value)


@pytest.mark.parametrize("what", ["database", "role"])
def test_a_missing_database_or_role_is_a_configuration_error_not_retried(postgres_url, schema, what):
    from ikou.loaders.postgres_target import PostgresTarget

    u = sa.engine.make_url(postgres_url)
    u = u.set(database=f"fx_nodb_{random_tag()}") if what == "database" else u.set(username=f"fx_nouser_{random_tag()}")
    with pytest.raises(ConfigError) as exc:
        PostgresTarget(u.render_as_string(hide_password=False))._connect("20261130T150000Z-R1-aaaa")
    assert not isinstance(exc.value, TransientError)
    assert "does not exist" in one_line(exc.value)
    assert ("データベース" if what == "database" else "ユーザー") in message_ja(exc.value)


def test_a_login_without_createrole_is_told_what_it_needs(postgres_url, schema):
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    login, db_schema = f"fx_login_{random_tag()}", f"dantai_999814_r{random_tag()}"
    with admin.connect() as c:
        c.exec_driver_sql('DROP ROLE IF EXISTS "ikou_dantai_999814"')   # a role this test's login must create
        c.exec_driver_sql(f'CREATE ROLE "{login}" LOGIN NOCREATEROLE')
        c.exec_driver_sql(f'GRANT CREATE ON DATABASE "{sa.engine.make_url(postgres_url).database}" TO "{login}"')
    try:
        url = sa.engine.make_url(postgres_url).set(username=login).render_as_string(hide_password=False)
        with pytest.raises(ConfigError) as exc:
            _load(url, db_schema, schema, "20261130T160000Z-R1-aaaa", code="999814")
        for text in (one_line(exc.value), message_ja(exc.value)):
            assert "CREATEROLE" in text and "CREATE" in text
        assert "予期しない" not in message_ja(exc.value)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'REVOKE CREATE ON DATABASE "{sa.engine.make_url(postgres_url).database}" '
                              f'FROM "{login}"')
            c.exec_driver_sql(f'DROP ROLE IF EXISTS "{login}"')
        admin.dispose()
