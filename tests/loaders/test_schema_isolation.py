"""The PostgreSQL target's schemas belong to their 団体 and hold only what ikou put there.

A 団体's role creates no schema (it could otherwise take another 団体's schema names first and block
its loads): a schema named for a 団体 and owned by any other role stops that 団体's run with one line
naming the schema and its owner, and is neither used nor dropped. Anything ikou did not create that
lies in a 団体's schemas or depends on them (a view elsewhere, a foreign key) stops a load or a
rollback with one line naming it: the swap would silently repoint it, the next run drop it.
"""
from __future__ import annotations


import polars as pl
import pytest
import sqlalchemy as sa

from ikou.errors import IsolationError, TerminalError
from ikou.loaders import LoadPart, RunRecord, held_runs, load_run, rollback
from ikou.schema import load_schema
from tests.loaders.conftest import GA_SCHEMA as SCHEMA   # one table ga_t keyed on 宛名番号
from tests.conftest import random_tag

pytestmark = pytest.mark.postgres

A, B = "999679", "999687"   # fresh 団体 for these tests


@pytest.fixture
def env(tmp_path, postgres_url):
    """(url, TargetSchema, {code: schema name}, name of a schema belonging to no 団体), all dropped after,
    with the CREATE ON DATABASE a test granted."""
    p = tmp_path / "s.yaml"
    p.write_text(SCHEMA, encoding="utf-8")
    tag = random_tag()
    names = {A: f"dantai_{A}_i{tag}", B: f"dantai_{B}_i{tag}"}
    other = f"ikou_test_other_{tag}"
    yield postgres_url, load_schema(p), names, other
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{other}" CASCADE')   # first: its views depend on the rest
        for name in names.values():
            for s in (name, name + "__prev", name + "__next", name + "__swap"):
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
        database = conn.exec_driver_sql("SELECT current_database()").scalar()
        for code in (A, B):
            if conn.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = 'ikou_dantai_{code}'").scalar():
                conn.exec_driver_sql(f'REVOKE CREATE ON DATABASE "{database}" FROM "ikou_dantai_{code}"')
    engine.dispose()


def load(env, code: str, run_id: str, keys=("k1",)):
    url, schema, names, _ = env
    return load_run([LoadPart(schema, {"ga_t": pl.DataFrame({"atena_no": list(keys)})})], url, names[code],
                    run=RunRecord(run_id, "R1", code, ("ga",)))


def held(env, code: str) -> tuple:
    url, _, names, _ = env
    h = held_runs(url, names[code])
    return tuple(h[k]["run_id"] if h[k] else None for k in ("current", "previous"))


def sql(env, *statements: str, role: str | None = None):
    """Statements in one transaction as the superuser, or as `role` (SET LOCAL ROLE); the last one's scalar."""
    engine = sa.create_engine(env[0])
    try:
        with engine.begin() as conn:
            if role:
                conn.exec_driver_sql(f'SET LOCAL ROLE "{role}"')
            out = None
            for s in statements:
                r = conn.exec_driver_sql(s)
                out = r.scalar() if r.returns_rows else None
            return out
    finally:
        engine.dispose()


def owner(env, schema: str) -> str | None:
    return sql(env, f"SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = '{schema}'")


# -- 1. a 団体's role creates no schema; a schema of 団体 X owned by another role is refused ------------

def test_a_dantai_role_cannot_create_schemas_not_even_another_dantai_s_next(env):
    load(env, A, "a-1")
    load(env, B, "b-1")
    b = env[2][B]
    for name in (b + "__next", b + "__prev", f"dantai_{B}_never_loaded", env[3]):
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied for database"):
            sql(env, f'CREATE SCHEMA "{name}"', role=f"ikou_dantai_{A}")
    assert load(env, B, "b-2") == {"ga_t": 1} and held(env, B) == ("b-2", "b-1")


def test_create_on_the_database_granted_by_an_earlier_ikou_is_revoked_at_the_next_load(env):
    load(env, A, "a-1")
    load(env, B, "b-1")
    database = sql(env, "SELECT current_database()")
    sql(env, *(f'GRANT CREATE ON DATABASE "{database}" TO "ikou_dantai_{c}"' for c in (A, B)))   # as ikou did before
    load(env, A, "a-2")   # one 団体's load takes it back from every 団体's role
    for c in (A, B):
        assert sql(env, f"SELECT has_database_privilege('ikou_dantai_{c}', '{database}', 'CREATE')") is False


@pytest.mark.parametrize("suffix, loaded_before", [("__next", True), ("__prev", True), ("", False)],
                         ids=["next", "prev", "current-before-first-load"])
def test_a_schema_named_for_a_dantai_but_owned_by_another_dantai_is_refused_and_kept(env, suffix, loaded_before):
    """What 団体 A's role could do while 団体 roles held CREATE ON DATABASE: create B's schemas first."""
    load(env, A, "a-1")
    if loaded_before:
        load(env, B, "b-1")
    squatted = env[2][B] + suffix
    sql(env, f'DROP SCHEMA IF EXISTS "{squatted}" CASCADE',
        f'CREATE SCHEMA "{squatted}" AUTHORIZATION "ikou_dantai_{A}"',
        f'CREATE TABLE "{squatted}".ga_t (atena_no text)', f"INSERT INTO \"{squatted}\".ga_t VALUES ('planted')")
    with pytest.raises(IsolationError, match=rf"schema {squatted} is owned by ikou_dantai_{A}, not by "
                                             rf"ikou_dantai_{B}") as exc:
        load(env, B, "b-2")
    assert "\n" not in str(exc.value)
    assert owner(env, squatted) == f"ikou_dantai_{A}"   # neither used nor dropped
    assert sql(env, f'SELECT atena_no FROM "{squatted}".ga_t') == "planted"
    if loaded_before:
        assert held(env, B) == ("b-1", None)


def test_a_schema_named_for_a_dantai_owned_by_a_role_of_no_dantai_is_refused(env):
    name, role = env[2][B], f"ikou_test_role_{random_tag()}"
    sql(env, f'CREATE ROLE "{role}" NOLOGIN', f'CREATE SCHEMA "{name}" AUTHORIZATION "{role}"')
    try:
        with pytest.raises(IsolationError, match=rf"schema {name} is owned by {role}, not by ikou_dantai_{B}"):
            load(env, B, "b-1")
        assert owner(env, name) == role
    finally:
        sql(env, f'DROP SCHEMA IF EXISTS "{name}" CASCADE', f'DROP ROLE "{role}"')


def test_a_schema_the_login_created_before_roles_existed_is_handed_to_the_dantai_role(env):
    name = env[2][B]
    sql(env, f'CREATE SCHEMA "{name}"', f'CREATE TABLE "{name}".ga_t (atena_no text PRIMARY KEY)',
        f"INSERT INTO \"{name}\".ga_t VALUES ('k1')")   # owned by the login (postgres)
    load(env, B, "b-1")
    assert owner(env, name) == owner(env, name + "__prev") == f"ikou_dantai_{B}"
    assert held(env, B) == ("b-1", None)


def test_rollback_refuses_a_previous_schema_owned_by_another_dantai(env):
    load(env, A, "a-1")
    load(env, B, "b-1")
    load(env, B, "b-2")
    prev = env[2][B] + "__prev"
    sql(env, f'DROP SCHEMA "{prev}" CASCADE', f'CREATE SCHEMA "{prev}" AUTHORIZATION "ikou_dantai_{A}"')
    with pytest.raises(IsolationError, match=rf"schema {prev} is owned by ikou_dantai_{A}"):
        rollback(env[0], env[2][B], "b-1")
    assert held(env, B)[0] == "b-2" and owner(env, prev) == f"ikou_dantai_{A}"


# -- 2. nothing ikou did not create is repointed by the swap or dropped by the next run ----------------

DEPENDENTS = {   # {s}: the 団体's schema, {o}: a schema of no 団体 → (statement, what the line names)
    "view": ("CREATE VIEW {o}.v AS SELECT atena_no FROM {s}.ga_t", "{o}.v (view on {s}.ga_t)"),
    "materialized-view": ("CREATE MATERIALIZED VIEW {o}.mv AS SELECT atena_no FROM {s}.ga_t",
                          "{o}.mv (materialized view on {s}.ga_t)"),
    "foreign-key": ("CREATE TABLE {o}.f (atena_no text REFERENCES {s}.ga_t (atena_no))",
                    "{o}.f (foreign key f_atena_no_fkey on {s}.ga_t)"),
    "row-type-column": ("CREATE TABLE {o}.c (r {s}.ga_t)", "{o}.c (table on {s}.ga_t)"),
    "view-inside": ("CREATE VIEW {s}.mine AS SELECT atena_no FROM {s}.ga_t", "{s}.mine (view on {s}.ga_t)"),
    "table-inside": ("CREATE TABLE {s}.extra (x int)", "{s}.extra (table)"),
}


def _plant(env, code: str, schema: str, statement: str) -> str:
    o = env[3]
    sql(env, f'CREATE SCHEMA IF NOT EXISTS "{o}"', statement.format(s=f'"{schema}"', o=f'"{o}"'))
    return o


@pytest.mark.parametrize("kind", list(DEPENDENTS))
def test_an_object_ikou_did_not_create_on_the_current_schema_stops_the_load_and_is_kept(env, kind):
    load(env, A, "a-1")
    s = env[2][A]
    statement, named = DEPENDENTS[kind]
    o = _plant(env, A, s, statement)
    with pytest.raises(TerminalError, match=named.format(s=s, o=o).replace("(", r"\(").replace(")", r"\)")) as exc:
        load(env, A, "a-2")
    assert "\n" not in str(exc.value) and "target unchanged" in str(exc.value)
    assert held(env, A) == ("a-1", None)   # nothing changed: no swap repointed it
    obj = named.format(s=s, o=o).split(" (", 1)[0]
    assert sql(env, f"SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    f"WHERE c.oid = to_regclass('{obj}')") in (s, o)


def test_a_view_on_the_current_schema_is_not_repointed_and_loads_resume_once_it_is_gone(env):
    load(env, A, "a-1")
    s = env[2][A]
    o = _plant(env, A, s, "CREATE VIEW {o}.v AS SELECT atena_no FROM {s}.ga_t")
    with pytest.raises(TerminalError, match=rf"{o}\.v \(view on {s}\.ga_t\)"):
        load(env, A, "a-2", keys=("k2",))
    assert sql(env, f'SELECT atena_no FROM "{o}".v') == "k1"
    assert sql(env, f"SELECT DISTINCT n.nspname FROM pg_depend d JOIN pg_rewrite w ON w.oid = d.objid "
                    f"JOIN pg_class c ON c.oid = d.refobjid JOIN pg_namespace n ON n.oid = c.relnamespace "
                    f"WHERE w.ev_class = '\"{o}\".v'::regclass AND c.oid <> w.ev_class") == s
    sql(env, f'DROP VIEW "{o}".v')
    load(env, A, "a-2", keys=("k2",))
    assert held(env, A) == ("a-2", "a-1")


def test_a_view_on_the_previous_schema_is_not_dropped_by_the_next_run(env):
    load(env, A, "a-1")
    load(env, A, "a-2")
    prev = env[2][A] + "__prev"
    o = _plant(env, A, prev, "CREATE VIEW {o}.v AS SELECT atena_no FROM {s}.ga_t")
    with pytest.raises(TerminalError, match=rf"{prev}: {o}\.v \(view on {prev}\.ga_t\)"):
        load(env, A, "a-3")
    assert sql(env, f"SELECT to_regclass('\"{o}\".v') IS NOT NULL") is True
    assert held(env, A) == ("a-2", "a-1")


def test_a_view_created_while_the_run_loads_stops_the_swap(env, monkeypatch):
    """Checked again at the swap: a view made on the current schema during the load is not repointed."""
    import ikou.loaders.postgres_target as pt

    load(env, A, "a-1")
    s, seen = env[2][A], []

    def checkpoint(name):
        if name == "load.table.ga_t":
            seen.append(_plant(env, A, s, "CREATE VIEW {o}.v AS SELECT atena_no FROM {s}.ga_t"))

    monkeypatch.setattr(pt, "checkpoint", checkpoint)
    with pytest.raises(TerminalError, match=rf"\.v \(view on {s}\.ga_t\)"):
        load(env, A, "a-2")
    assert seen and held(env, A) == ("a-1", None)
    assert sql(env, f"SELECT to_regclass('\"{seen[0]}\".v') IS NOT NULL") is True


def test_rollback_refuses_when_a_view_depends_on_the_current_schema(env):
    load(env, A, "a-1")
    load(env, A, "a-2", keys=("k2",))
    s = env[2][A]
    o = _plant(env, A, s, "CREATE VIEW {o}.v AS SELECT atena_no FROM {s}.ga_t")
    with pytest.raises(TerminalError, match=rf"{o}\.v \(view on {s}\.ga_t\)"):
        rollback(env[0], s, "a-1")
    assert held(env, A) == ("a-2", "a-1") and sql(env, f'SELECT atena_no FROM "{o}".v') == "k2"
    sql(env, f'DROP VIEW "{o}".v')
    rollback(env[0], s, "a-1")
    assert held(env, A) == ("a-1", "a-2")


def test_a_login_that_is_no_superuser_loads_and_rolls_back_while_its_dantai_role_creates_nothing(env):
    """The login of the README: CREATEROLE and CREATE on the database, neither superuser nor the
    database's owner. It creates and renames the 団体's schemas itself; the role only owns them."""
    url, schema, names, _ = env
    login = f"ikou_test_login_{random_tag()}"
    database = sql(env, "SELECT current_database()")
    sql(env, f'CREATE ROLE "{login}" LOGIN CREATEROLE', f'GRANT CREATE ON DATABASE "{database}" TO "{login}"')
    as_login = sa.engine.make_url(url).set(username=login).render_as_string(hide_password=False)
    s = names[A]
    try:
        for i in (1, 2, 3):
            load_run([LoadPart(schema, {"ga_t": pl.DataFrame({"atena_no": [f"k{i}"]})})], as_login, s,
                     run=RunRecord(f"a-{i}", "R1", A, ("ga",)))
        rollback(as_login, s, "a-2")
        h = held_runs(as_login, s)
        assert (h["current"]["run_id"], h["previous"]["run_id"]) == ("a-2", "a-3")
        assert owner(env, s) == owner(env, s + "__prev") == f"ikou_dantai_{A}"
        assert sql(env, f"SELECT has_database_privilege('ikou_dantai_{A}', '{database}', 'CREATE')") is False
    finally:
        for suffix in ("", "__prev", "__next"):
            sql(env, f'DROP SCHEMA IF EXISTS "{s}{suffix}" CASCADE')
        sql(env, f'REVOKE CREATE ON DATABASE "{database}" FROM "{login}"', f'DROP ROLE "{login}"')


def test_a_table_ikou_never_defines_in_a_schema_without_a_run_record_is_refused_and_kept(env):
    """A 団体-named schema the login made before any run, holding a table of its own: not adopted."""
    s = env[2][A]
    sql(env, f'CREATE SCHEMA "{s}"', f'CREATE TABLE "{s}".memo (x text)', f"INSERT INTO \"{s}\".memo VALUES ('m')")
    with pytest.raises(TerminalError, match=rf"{s}\.memo \(table\)"):
        load(env, A, "a-1")
    assert sql(env, f'SELECT x FROM "{s}".memo') == "m"
