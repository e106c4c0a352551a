"""The tables of one legacy database source are read from one snapshot of the database: a person moved while
the extract runs (the 住民 row updated and a 異動 row added, committed by another session after the first
table's read began and before the second's) is seen in neither table, never in one only. Each table used to be
read on its own connection in its own transaction: the run combined a 住民 row with a 異動 row that never
existed together, silently. PostgreSQL through ADBC (its snapshot exported and imported) and through SQLAlchemy,
MariaDB on one connection in one `START TRANSACTION WITH CONSISTENT SNAPSHOT`.

The commit comes at the right moment without a mock: the first table is a view that sleeps (pg_sleep, SLEEP)
while it is read, and a thread commits the move as soon as the server shows that read sleeping."""
from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import polars as pl
import pytest
import sqlalchemy as sa
import yaml

import ikou.extractors.database as database
from ikou.context import RunContext
from ikou.errors import TransientError
from ikou.extractors import extract_tables
from tests.conftest import random_tag

DANTAI = "999717"


def _layout(tmp_path, name: str, columns: list[str]):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"spec_version": 1, "name": f"fxs.{name}", "format": "table", "encoding": "utf-8",
                                    "key": columns[:1], "columns": [{"name": c, "ja": c} for c in columns]},
                                   allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(params=["postgresql-adbc", "postgresql-sqlalchemy", "mariadb"])
def legacy(request, monkeypatch):
    """A schema (PostgreSQL) or database (MariaDB) of this test only: JUMIN (one person, address 'A'), IDO (their
    異動, none yet) and JUMIN_V, JUMIN read slowly (the server sleeps while the view is read); dropped after."""
    kind = request.param.split("-")[0]
    if request.param == "postgresql-sqlalchemy":
        monkeypatch.setattr(database, "_adbc_available", lambda: False)
    url = request.getfixturevalue("mariadb_url" if kind == "mariadb" else "postgres_url")
    name = f"fxs_{random_tag()}"
    q = (lambda t: f"`{name}`.{t}") if kind == "mariadb" else (lambda t: f'"{name}"."{t}"')
    slow = ("WHERE SLEEP(2) = 0" if kind == "mariadb"   # once per row: JUMIN has one
            else "WHERE pg_sleep(2)::text = ''")   # volatile: per row, not planned away
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE {'DATABASE' if kind == 'mariadb' else 'SCHEMA'} {q('x').split('.')[0]}")
        conn.exec_driver_sql(f"CREATE TABLE {q('JUMIN')} (ATENA_NO varchar(10) PRIMARY KEY, JUSHO varchar(10))")
        conn.exec_driver_sql(f"CREATE TABLE {q('IDO')} (ATENA_NO varchar(10), IDO_CD varchar(10))")
        conn.exec_driver_sql(f"INSERT INTO {q('JUMIN')} VALUES ('0000001', 'A')")
        conn.exec_driver_sql(f"CREATE VIEW {q('JUMIN_V')} AS SELECT * FROM {q('JUMIN')} {slow}")
    yield SimpleNamespace(kind=kind, url=url, name=name, q=q, engine=engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP {'DATABASE' if kind == 'mariadb' else 'SCHEMA'} IF EXISTS "
                             f"{q('x').split('.')[0]}" + ("" if kind == "mariadb" else " CASCADE"))
    engine.dispose()


def _move_while_first_table_is_read(db) -> threading.Thread:
    """A thread that waits until the server shows the read of JUMIN_V sleeping, then commits the person's move
    (JUMIN's address and its 異動 row) in another session."""
    errors: list[BaseException] = []

    def sleeping(conn) -> bool:
        if db.kind == "mariadb":
            sql = ("SELECT count(*) FROM information_schema.PROCESSLIST WHERE STATE = 'User sleep' "
                   "AND INFO LIKE :name")
        else:
            # a session sleeping with the view locked (a server-side cursor's query text is its FETCH)
            sql = ("SELECT count(*) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
                   "WHERE a.wait_event = 'PgSleep' AND l.relation = to_regclass(:view)")
        return bool(conn.execute(sa.text(sql), {"name": f"%{db.name}%", "view": db.q("JUMIN_V")}).scalar())

    def move():
        try:
            deadline = time.monotonic() + 60
            with db.engine.connect() as conn:
                while not sleeping(conn):
                    conn.rollback()
                    assert time.monotonic() < deadline, "the read of JUMIN_V never started"
                    time.sleep(0.05)
                conn.rollback()
            with db.engine.begin() as conn:
                conn.exec_driver_sql(f"UPDATE {db.q('JUMIN')} SET JUSHO = 'B' WHERE ATENA_NO = '0000001'")
                conn.exec_driver_sql(f"INSERT INTO {db.q('IDO')} VALUES ('0000001', 'TENKYO')")
        except BaseException as exc:   # noqa: BLE001  (re-raised by the test)
            errors.append(exc)

    t = threading.Thread(target=move, daemon=True)
    t.errors = errors
    t.start()
    return t


def _extract(db, tmp_path, run_id: str):
    ctx = RunContext(dantai_code=DANTAI, run_id=run_id, runs_dir=tmp_path / "runs")
    source = SimpleNamespace(name="fxs_juki", url=db.url, schema_=db.name)
    tables = {"jumin": SimpleNamespace(table="JUMIN_V", layout=_layout(tmp_path, "jumin", ["ATENA_NO", "JUSHO"])),
              "ido": SimpleNamespace(table="IDO", layout=_layout(tmp_path, "ido", ["ATENA_NO", "IDO_CD"]))}
    r = extract_tables(source, ctx, ordinal=1, tables=tables)
    out = r.output
    return r, pl.read_parquet(out / "jumin.parquet"), pl.read_parquet(out / "ido.parquet")


def test_a_move_committed_between_two_tables_is_in_neither(legacy, tmp_path):
    mover = _move_while_first_table_is_read(legacy)
    r, jumin, ido = _extract(legacy, tmp_path, "r1")
    mover.join(60)
    assert not mover.errors, mover.errors
    assert not mover.is_alive()
    # the move was committed while JUMIN was read: JUMIN shows the old address, and IDO must not show its 異動
    assert jumin["JUSHO"].to_list() == ["A"]
    assert ido.height == 0, "IDO was read in a later snapshot than JUMIN: a 異動 without its 住民 row"
    assert r.metrics["snapshot"].startswith("consistent snapshot")
    if legacy.kind == "postgresql":
        assert r.metrics["snapshot"] != "consistent snapshot"   # the exported snapshot's id is named
    assert r.metrics["tables"] == {"jumin": 1, "ido": 0}

    # the next extract (a retry, the next rehearsal) takes a new snapshot for all its tables: the move in both
    r2, jumin2, ido2 = _extract(legacy, tmp_path, "r2")
    assert jumin2["JUSHO"].to_list() == ["B"] and ido2["IDO_CD"].to_list() == ["TENKYO"]
    if legacy.kind == "postgresql":
        assert r2.metrics["snapshot"] != r.metrics["snapshot"]


def test_the_reader_is_kept(legacy, tmp_path):
    """PostgreSQL keeps its ADBC fast path inside the snapshot (ADBC imports it); the others read through
    SQLAlchemy as before."""
    r, _, _ = _extract(legacy, tmp_path, "r1")
    manifest = (r.output / "tables.json").read_text(encoding="utf-8")
    readers = {t["reader"] for t in json.loads(manifest)["tables"].values()}
    assert readers == {"adbc" if legacy.kind == "postgresql" and database._adbc_available() else "sqlalchemy"}


def test_a_connection_lost_between_tables_is_retried_in_a_new_snapshot(legacy, tmp_path):
    """The snapshot's connection cut while the first table is read (PostgreSQL through ADBC: only the exporting
    session, idle in its transaction): the next table is not read in a snapshot of its own, nor refused as an
    'invalid snapshot identifier', but the source fails with the retried TransientError; the retry reads it all
    in a new snapshot."""
    def kill():
        deadline = time.monotonic() + 60
        adbc = legacy.kind == "postgresql" and database._adbc_available()
        with legacy.engine.connect() as conn:
            while True:
                if legacy.kind == "mariadb":
                    ids = conn.exec_driver_sql(
                        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s OR INFO LIKE %s",
                        (legacy.name, f"%{legacy.name}%")).scalars().all()
                    ids = [i for i in ids if i != conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()]
                    sleeping = conn.exec_driver_sql("SELECT count(*) FROM information_schema.PROCESSLIST "
                                                    "WHERE STATE = 'User sleep' AND INFO LIKE %s",
                                                    (f"%{legacy.name}%",)).scalar()
                else:
                    rows = conn.execute(sa.text(
                        "SELECT DISTINCT a.pid, a.wait_event = 'PgSleep' FROM pg_stat_activity a JOIN pg_locks l "
                        "ON l.pid = a.pid WHERE l.relation = to_regclass(:v) AND a.pid <> pg_backend_pid()"),
                        {"v": legacy.q("JUMIN_V")}).all()
                    sleeping = any(s for _, s in rows)
                    ids = [p for p, s in rows if not (adbc and s)]   # ADBC: the exporting session only
                conn.rollback()
                if sleeping and ids:
                    break
                assert time.monotonic() < deadline, "the read of JUMIN_V never started"
                time.sleep(0.05)
            for i in ids:
                conn.exec_driver_sql(f"KILL {int(i)}" if legacy.kind == "mariadb"
                                     else f"SELECT pg_terminate_backend({int(i)})")
            conn.commit()

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    with pytest.raises(TransientError) as e:
        _extract(legacy, tmp_path, "r1")
    killer.join(60)
    line = str(e.value)
    assert "fxs_juki" in line and "connection to the legacy database" in line and "\n" not in line
    assert "snapshot" not in line.lower()   # not a snapshot refused: the connection named as lost
    r, jumin, _ = _extract(legacy, tmp_path, "r2")
    assert jumin.height == 1 and r.metrics["snapshot"].startswith("consistent snapshot")


@pytest.mark.parametrize("kind", ["mariadb", "postgresql"])
def test_the_snapshot_session_is_read_only(kind, request):
    url = request.getfixturevalue("mariadb_url" if kind == "mariadb" else "postgres_url")
    with database.consistent_snapshot(url, source_name="fxs", label="t", run_id="r") as snap:
        with pytest.raises(sa.exc.DBAPIError, match=r"READ ONLY|read-only transaction"):
            snap.conn.exec_driver_sql("CREATE TABLE fxs_never (i int)")


def test_a_database_that_refuses_the_login_is_a_config_error_before_any_table(mariadb_url, tmp_path):
    from sqlalchemy.engine import make_url

    from ikou.errors import ConfigError

    url = make_url(mariadb_url).set(database=f"nodb_{random_tag()}").render_as_string(False)
    db = SimpleNamespace(url=url, name=None)
    with pytest.raises(ConfigError) as e:
        _extract(db, tmp_path, "r1")
    assert not isinstance(e.value, TransientError) and "1049" in str(e.value) and "fxs_juki" in str(e.value)
