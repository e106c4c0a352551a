"""Extraction never writes to the legacy system, whatever the url or the login's rights (a vendor's admin login
is common): every MariaDB and PostgreSQL session it opens — SQLAlchemy's and ADBC's — is read-only, so the
server itself refuses a write attempted on it."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

import ikou.extractors.database as database
from ikou.extractors.database import adbc_connect, extract_table, read_only_engine
from ikou.extractors.layout import Layout
from tests.conftest import random_tag

LAYOUT = Layout.model_validate({"spec_version": 1, "name": "fxb.ro", "format": "table", "key": ["ID"],
                                "columns": [{"name": "ID", "ja": "番号"}]})


@pytest.fixture(params=["mariadb", "postgresql"])
def legacy(request):
    """(url, schema or database, quoted table name) of a legacy table RO_T of this test only, dropped afterwards."""
    kind = request.param
    url = request.getfixturevalue("mariadb_url" if kind == "mariadb" else "postgres_url")
    name = f"fxb_{random_tag()}"
    q = f"`{name}`.RO_T" if kind == "mariadb" else f'"{name}"."RO_T"'
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE {'DATABASE' if kind == 'mariadb' else 'SCHEMA'} {q.split('.')[0]}")
        conn.exec_driver_sql(f"CREATE TABLE {q} (ID varchar(4))")
        conn.exec_driver_sql(f"INSERT INTO {q} VALUES ('1')")
    yield kind, url, name, q
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP {'DATABASE' if kind == 'mariadb' else 'SCHEMA'} IF EXISTS {q.split('.')[0]}"
                             + ("" if kind == "mariadb" else " CASCADE"))
    engine.dispose()


def _rows(url: str, q: str) -> list:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT * FROM {q}").all()
    engine.dispose()
    return [tuple(r) for r in rows]


_REFUSED = r"READ ONLY|read-only transaction"   # MariaDB 1792, PostgreSQL 25006


def test_a_write_on_the_extraction_session_is_refused_by_the_server(legacy):
    kind, url, _, q = legacy
    engine = read_only_engine(url)
    try:
        with engine.connect() as conn:
            with pytest.raises(sa.exc.DBAPIError, match=_REFUSED):
                conn.exec_driver_sql(f"INSERT INTO {q} VALUES ('2')")
            conn.rollback()
            with pytest.raises(sa.exc.DBAPIError, match=_REFUSED):   # not even after a new transaction
                conn.exec_driver_sql(f"DELETE FROM {q}")
    finally:
        engine.dispose()
    assert _rows(url, q) == [("1",)]


def test_a_write_on_an_adbc_extraction_connection_is_refused_by_the_server(postgres_url):
    pytest.importorskip("adbc_driver_postgresql")
    name = f"fxb_{random_tag()}"
    engine = read_only_engine(postgres_url)
    try:
        with adbc_connect(engine) as conn, conn.cursor() as cur:
            with pytest.raises(Exception, match=_REFUSED):
                cur.execute(f'CREATE SCHEMA "{name}"')
    finally:
        engine.dispose()
    with sa.create_engine(postgres_url).connect() as conn:
        assert conn.exec_driver_sql(f"SELECT 1 FROM pg_namespace WHERE nspname = '{name}'").scalar() is None


def test_extract_table_reads_through_a_session_that_refuses_writes(legacy, tmp_path, monkeypatch):
    """The session extract_table itself reads through (hooked where it checks the table's schema)."""
    kind, url, name, q = legacy
    tried = []
    checked = database._own_data_only

    def write_then_check(conn, *args):
        try:
            conn.exec_driver_sql(f"INSERT INTO {q} VALUES ('3')")
            tried.append("written")
        except sa.exc.DBAPIError as exc:
            tried.append(str(exc.orig))
        conn.rollback()
        return checked(conn, *args)

    monkeypatch.setattr(database, "_own_data_only", write_then_check)
    extract_table(url, "RO_T", LAYOUT, out_path=tmp_path / "s.parquet", source_name="fxb_ro", source_ordinal=1,
                  run_id="r", schema=name, dantai_code="999733", target_table="t", method="dbapi")
    assert len(tried) == 1 and tried[0] != "written", tried
    assert _rows(url, q) == [("1",)]
