"""A target holds one whole run: every 業務 of a run appears together (one transaction), the run it
holds is recorded in the 団体's schema, the state it replaced is kept until the next success
(rollback), and an export that wrote nothing never empties it. DuckDB and the real PostgreSQL."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.errors import ConfigError
from ikou.loaders import EmptyExportError, LoadPart, LoadRejected, RunRecord, held_runs, load_run, read_table, rollback
from ikou.schema import load_schema

DANTAI = "999997"
SCHEMA_A = """spec_version: 1
gyomu: {g}
ja: 業務{g}
tables:
  {g}_t:
    ja: 表
    primary_key: [atena_no]
    columns:
      - {{name: atena_no, ja: 宛名番号, type: text, required: true}}
      - {{name: gaku,     ja: 金額,     type: integer}}
"""


@pytest.fixture
def schemas(tmp_path):
    out = {}
    for g in ("ga", "gb"):
        p = tmp_path / f"{g}.yaml"
        p.write_text(SCHEMA_A.format(g=g), encoding="utf-8")
        (tmp_path / "rules.yaml").write_text("spec_version: 1\ngyomu: ga\n", encoding="utf-8")
        out[g] = load_schema(p)
    return out


def frame(keys: list[str], gaku: int) -> pl.DataFrame:
    return pl.DataFrame({"atena_no": keys, "gaku": [gaku] * len(keys)}, schema={"atena_no": pl.String, "gaku": pl.Int64})


def parts(schemas, a: pl.DataFrame, b: pl.DataFrame) -> list[LoadPart]:
    return [LoadPart(schemas["ga"], {"ga_t": a}), LoadPart(schemas["gb"], {"gb_t": b})]


@pytest.fixture(params=["duckdb", "postgresql"])
def target(request, tmp_path):
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 't.duckdb'}", f"dantai_{DANTAI}"
    return request.getfixturevalue("pg_target")


def run(url, schema, p, run_id, ratio=0.5):
    return load_run(p, url, schema, run=RunRecord(run_id, "R1", DANTAI, ("ga", "gb")), max_drop_ratio=ratio)


def held(url, schema):
    h = held_runs(url, schema)
    return tuple(h[k]["run_id"] if h[k] else None for k in ("current", "previous"))


def test_every_gyomu_of_a_run_is_loaded_together_and_the_run_is_recorded(target, schemas):
    url, schema = target
    assert run(url, schema, parts(schemas, frame(["A1", "A2"], 1), frame(["B1"], 1)), "run-1") == {"ga_t": 2, "gb_t": 1}
    assert held(url, schema) == ("run-1", None)
    assert held_runs(url, schema)["current"]["counts"] == {"ga_t": 2, "gb_t": 1}
    run(url, schema, parts(schemas, frame(["A1", "A3"], 2), frame(["B2"], 2)), "run-2")
    assert held(url, schema) == ("run-2", "run-1")
    assert read_table(url, schema, "ga_t").sort("atena_no")["atena_no"].to_list() == ["A1", "A3"]


def test_a_failure_in_the_second_gyomu_leaves_both_as_the_previous_run(target, schemas):
    url, schema = target
    run(url, schema, parts(schemas, frame(["A1", "A2"], 1), frame(["B1"], 1)), "run-1")
    with pytest.raises(LoadRejected):   # duplicate key in the second 業務's table
        run(url, schema, parts(schemas, frame(["A7", "A8"], 9), frame(["B7", "B7"], 9)), "run-2")
    assert held(url, schema) == ("run-1", None)
    assert read_table(url, schema, "ga_t")["gaku"].to_list() == [1, 1]


def test_rollback_restores_the_previous_run_and_keeps_the_replaced_one(target, schemas):
    url, schema = target
    run(url, schema, parts(schemas, frame(["A1"], 1), frame(["B1"], 1)), "run-1")
    run(url, schema, parts(schemas, frame(["A1"], 2), frame(["B1"], 2)), "run-2")
    assert held(url, schema) == ("run-2", "run-1")
    with pytest.raises(ConfigError, match="cannot go back to run run-9"):
        rollback(url, schema, "run-9")
    rollback(url, schema, "run-1")
    assert held(url, schema) == ("run-1", "run-2")
    assert read_table(url, schema, "gb_t")["gaku"].to_list() == [1]
    rollback(url, schema, "run-2")   # and forward again
    assert held(url, schema) == ("run-2", "run-1") and read_table(url, schema, "gb_t")["gaku"].to_list() == [2]


def test_an_empty_export_never_empties_the_target(target, schemas):
    url, schema = target
    run(url, schema, parts(schemas, frame(["A1", "A2"], 1), frame(["B1"], 1)), "run-1")
    with pytest.raises(EmptyExportError, match="no rows for a table the target holds 1 rows of"):
        run(url, schema, parts(schemas, frame(["A1", "A2"], 2), frame([], 2)), "run-2")
    with pytest.raises(EmptyExportError, match="max_drop_ratio"):   # ga_t 2 → 1 rows: −50 %, beyond 40 %
        run(url, schema, parts(schemas, frame(["A1"], 2), frame(["B1"], 2)), "run-3", ratio=0.4)
    assert held(url, schema) == ("run-1", None) and read_table(url, schema, "gb_t").height == 1
    run(url, schema, parts(schemas, frame(["A1"], 2), frame(["B1"], 2)), "run-4", ratio=None)   # no limit
    assert held(url, schema) == ("run-4", "run-1")


def test_a_run_without_a_gyomu_leaves_the_target_holding_that_run_only(target, schemas):
    url, schema = target
    run(url, schema, parts(schemas, frame(["A1"], 1), frame(["B1"], 1)), "run-1")
    load_run([LoadPart(schemas["ga"], {"ga_t": frame(["A1"], 2)})], url, schema,
             run=RunRecord("run-2", "R2", DANTAI, ("ga",)))
    assert held_runs(url, schema)["current"]["counts"] == {"ga_t": 1}
    rollback(url, schema, "run-1")
    assert read_table(url, schema, "gb_t")["atena_no"].to_list() == ["B1"]


def test_a_run_leaving_out_a_gyomu_the_target_holds_is_refused_under_a_drop_limit(target, schemas):
    """A 住民記録-only rehearsal after a full one would drop the other 業務's tables: a drop of 100 %."""
    url, schema = target
    run(url, schema, parts(schemas, frame(["A1"], 1), frame(["B1", "B2"], 1)), "run-1")
    with pytest.raises(EmptyExportError, match=r"holds gb_t \(2 rows\), which this run does not load"):
        load_run([LoadPart(schemas["ga"], {"ga_t": frame(["A1"], 2)})], url, schema,
                 run=RunRecord("run-2", "R2", DANTAI, ("ga",)), max_drop_ratio=0.5)
    assert held(url, schema) == ("run-1", None) and read_table(url, schema, "gb_t").height == 2


def test_a_table_still_being_computed_is_waited_for_and_its_failure_changes_nothing(target, schemas, tmp_path):
    """The load step derives tables on a thread while the target ingests the ones before them: a
    table given as a Future is loaded when it is done, and one whose computation fails rolls the
    whole run back (the target keeps the run it held)."""
    import threading
    from concurrent.futures import Future, ThreadPoolExecutor

    url, schema = target
    release = threading.Event()

    def later() -> pl.DataFrame:
        release.wait(10)
        return frame(["B1", "B2"], 3)

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(later)
        threading.Timer(0.2, release.set).start()
        assert run(url, schema, parts(schemas, frame(["A1"], 3), pending), "run-1") == {"ga_t": 1, "gb_t": 2}
    failed: Future = Future()
    failed.set_exception(RuntimeError("derive failed"))
    with pytest.raises(RuntimeError, match="derive failed"):
        run(url, schema, parts(schemas, frame(["A9"], 9), failed), "run-2")
    assert held(url, schema) == ("run-1", None)
    assert read_table(url, schema, "gb_t").sort("atena_no")["atena_no"].to_list() == ["B1", "B2"]


def test_postgres_key_columns_compare_bytewise_where_the_database_already_does(pg_target, schemas):
    """On a database whose collation orders by code point (C.UTF-8 here), the key's text columns are
    COLLATE "C" (faster key builds, same order and equality); a duplicate key is still refused."""
    import sqlalchemy as sa

    url, schema = pg_target
    run(url, schema, parts(schemas, frame(["A1", "A2"], 1), frame(["B1"], 1)), "run-1")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            db = conn.exec_driver_sql("SELECT datcollate FROM pg_database WHERE datname = current_database()").scalar()
            coll = conn.exec_driver_sql(
                "SELECT collation_name FROM information_schema.columns WHERE table_schema = %(s)s "
                "AND table_name = 'ga_t' AND column_name = 'atena_no'", {"s": schema}).scalar()
    finally:
        engine.dispose()
    if db.lower().replace("-", "") not in ("c", "posix", "c.utf8"):
        pytest.skip(f"database collation {db}: key columns keep it")
    assert coll == "C"
    with pytest.raises(LoadRejected):
        run(url, schema, parts(schemas, frame(["A7", "A7"], 9), frame(["B7"], 9)), "run-2")
    assert held(url, schema) == ("run-1", None)
