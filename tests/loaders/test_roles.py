"""団体 are separated by PostgreSQL itself: each 団体's tables belong to its own role, loads and
read-backs run as that role, and a run for 団体 A cannot read or write 団体 B's tables even when
ikou's own schema checks are bypassed: the database refuses."""
from __future__ import annotations

import adbc_driver_postgresql.dbapi as adbc
import polars as pl
import pytest
import sqlalchemy as sa

from ikou.loaders import LoadPart, RunRecord, load_run
from ikou.loaders.postgres_target import PostgresTarget

A, B = "999997", "131016"


@pytest.fixture
def loaded(schema, postgres_url):
    """Each 団体 loaded into its own schema with `ga` (tests/loaders/conftest.py); dropped afterwards."""
    names = {c: f"dantai_{c}_role" for c in (A, B)}
    for code, name in names.items():
        load_run([LoadPart(schema, {"ga_t": pl.DataFrame({"atena_no": [f"{code}-1"]})})], postgres_url, name,
                 run=RunRecord(f"run-{code}", "R1", code, ("ga",)))
    yield postgres_url, schema, names
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        for name in names.values():
            for s in (name, name + "__prev", name + "__next"):
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
    engine.dispose()


def _as(url: str, role: str, sql: str):
    uri = sa.engine.make_url(PostgresTarget.normalise_url(url)).set(drivername="postgresql").render_as_string(False)
    with adbc.connect(uri) as conn, conn.cursor() as cur:
        cur.execute(f'SET ROLE "{role}"')
        cur.execute(sql)
        try:
            return cur.fetchall()
        except Exception:   # noqa: BLE001 - a statement without rows
            return None


def test_each_dantai_schema_and_table_belongs_to_its_own_role(loaded):
    url, _, names = loaded
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        owners = dict(conn.exec_driver_sql(
            "SELECT n.nspname, r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner "
            "WHERE n.nspname = ANY(%(n)s)", {"n": list(names.values())}).fetchall())
        tables = dict(conn.exec_driver_sql(
            "SELECT schemaname, tableowner FROM pg_tables WHERE tablename = 'ga_t' AND schemaname = ANY(%(n)s)",
            {"n": list(names.values())}).fetchall())
        login = conn.exec_driver_sql("SELECT rolcanlogin FROM pg_roles WHERE rolname = %(r)s",
                                     {"r": f"ikou_dantai_{A}"}).scalar()
    engine.dispose()
    assert owners == tables == {names[A]: f"ikou_dantai_{A}", names[B]: f"ikou_dantai_{B}"}
    assert login is False   # NOLOGIN: used with SET ROLE from the migration login


def test_dantai_a_cannot_read_or_write_dantai_b(loaded):
    url, _, names = loaded
    assert _as(url, f"ikou_dantai_{A}", f'SELECT atena_no FROM "{names[A]}".ga_t') == [(f"{A}-1",)]
    for sql in (f'SELECT * FROM "{names[B]}".ga_t', f"INSERT INTO \"{names[B]}\".ga_t VALUES ('x')",
                f'DROP TABLE "{names[B]}".ga_t', f'CREATE TABLE "{names[B]}".evil (x int)',
                f'ALTER SCHEMA "{names[B]}" RENAME TO stolen'):
        with pytest.raises(Exception, match="permission denied|must be owner"):
            _as(url, f"ikou_dantai_{A}", sql)


def test_a_load_for_a_into_b_schema_is_refused_by_the_database(loaded):
    """ikou's isolation check bypassed (the target called directly): PostgreSQL still refuses."""
    url, schema, names = loaded
    with pytest.raises(Exception, match="permission denied|must be owner"):
        PostgresTarget(url).load_run([LoadPart(schema, {"ga_t": pl.DataFrame({"atena_no": ["evil"]})})], names[B],
                                     run=RunRecord("run-evil", "R1", A, ("ga",)))
    assert _as(url, f"ikou_dantai_{B}", f'SELECT atena_no FROM "{names[B]}".ga_t') == [(f"{B}-1",)]
