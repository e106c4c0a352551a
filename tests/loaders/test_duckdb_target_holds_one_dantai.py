"""One DuckDB target file holds one 団体 (a file has no roles: whoever opens it reads every 団体 in it). The load
checks it again inside its transaction: a run of 団体 999822 that passed its plan on a new file is refused at its load
when 団体 999814's run created its schema in that file meanwhile; nothing of 999822's is written and 999814's load is
untouched. The file's own 団体 loads again, under another schema suffix too, and ikou's own tables, `main` and the
`__prev` tables are no other 団体's."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.errors import IsolationError, message_ja
from ikou.loaders import LoadPart, RunRecord, held_runs, load_run, read_table, target_for
from ikou.schema import load_schema
from tests.loaders.conftest import GA_SCHEMA

A, B = "999814", "999822"


@pytest.fixture
def schema(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(GA_SCHEMA, encoding="utf-8")
    return load_schema(p)


def _load(url: str, schema, db_schema: str, code: str, run_id: str, keys=("k1",)):
    return load_run([LoadPart(schema, {"ga_t": pl.DataFrame({"atena_no": list(keys)})})], url, db_schema,
                    run=RunRecord(run_id, "R1", code, ("ga",)))


def _schemas(path) -> set[str]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT schema_name FROM duckdb_schemas() "
                                          "WHERE database_name = current_database()").fetchall()}
    finally:
        con.close()


def test_another_dantai_created_in_the_file_between_plan_and_load_is_refused_in_the_load(tmp_path, schema):
    path = tmp_path / "t.duckdb"
    url = f"duckdb:///{path}"
    target_for(url).preflight(f"dantai_{B}")   # B's plan: no file yet, nothing to refuse
    _load(url, schema, f"dantai_{A}", A, "20261201T010000Z-R1-aaaa", keys=("a1", "a2"))   # A's run, meanwhile
    with pytest.raises(IsolationError) as e:
        _load(url, schema, f"dantai_{B}", B, "20261201T010100Z-R1-bbbb", keys=("b1",))
    en, ja = str(e.value), message_ja(e.value)
    assert str(path) in en and f"団体 {A}" in en and "its own target file" in en, en
    assert str(path) in ja and A in ja and "団体ごとに別の移行先ファイル" in ja and "\n" not in ja, ja
    assert "b1" not in en + ja
    assert _schemas(path) == {"main", f"dantai_{A}"}   # rolled back: no schema of B's
    assert held_runs(url, f"dantai_{A}")["current"]["run_id"] == "20261201T010000Z-R1-aaaa"
    assert sorted(read_table(url, f"dantai_{A}", "ga_t")["atena_no"]) == ["a1", "a2"]
    # and refused at plan now the schema is there, with the same line
    with pytest.raises(IsolationError) as at_plan:
        target_for(url).preflight(f"dantai_{B}")
    assert str(path) in str(at_plan.value) and f"団体 {A}" in str(at_plan.value)


def test_the_files_own_dantai_loads_it_again_beside_its_bookkeeping_and_previous_tables(tmp_path, schema):
    import duckdb

    path = tmp_path / "t.duckdb"
    url = f"duckdb:///{path}"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE main.kept (x INTEGER)")   # a table in `main` names no 団体
    con.close()
    _load(url, schema, f"dantai_{A}", A, "20261201T020000Z-R1-aaaa")
    target_for(url).preflight(f"dantai_{A}")
    _load(url, schema, f"dantai_{A}", A, "20261201T020100Z-R1-aaaa")   # ga_t__prev, ikou_run__prev beside
    target_for(url).preflight(f"dantai_{A}_r")
    _load(url, schema, f"dantai_{A}_r", A, "20261201T020200Z-R1-aaaa")   # another rehearsal of the same 団体
    assert _schemas(path) == {"main", f"dantai_{A}", f"dantai_{A}_r"}


@pytest.mark.parametrize("other", [f"dantai_{A}__prev", f"DANTAI_{A}_x", "dantai_\uff19\uff19\uff19\uff18\uff11\uff14"])
def test_a_schema_of_another_dantai_in_any_spelling_is_recognised(tmp_path, schema, other):
    """A previous-state or suffixed schema of A, upper case or full-width digits, is A's all the same."""
    import duckdb

    path = tmp_path / "t.duckdb"
    con = duckdb.connect(str(path))
    con.execute(f'CREATE SCHEMA "{other}"')
    con.close()
    with pytest.raises(IsolationError, match=f"団体 {A}"):
        target_for(f"duckdb:///{path}").preflight(f"dantai_{B}")
    with pytest.raises(IsolationError, match=f"団体 {A}"):
        _load(f"duckdb:///{path}", schema, f"dantai_{B}", B, "20261201T030000Z-R1-bbbb")
    assert _schemas(path) == {"main", other}
