"""A run whose load committed but which never finished (killed during diff/report: no summary.json) is
recorded as such by the target: the next load does not make it the previous state over the last run that
finished, a rollback goes to it only when told to, and the run that replaced it names it. The flow's load
step records RUNNING and the flow records the run's end (`finish_run`); here the loader API does the
same, against DuckDB and the real PostgreSQL (団体 999733 / 999741)."""
from __future__ import annotations

import json

import polars as pl
import pytest
import sqlalchemy as sa

from ikou.loaders import (LoadPart, RollbackRefused, RunRecord, UnfinishedRunRefused, finish_run, held_runs, load_run,
                          read_table, rollback)
from ikou.loaders.targets import RUNNING
from tests.conftest import drop_target_schemas, random_tag

# `schema`: the one-table 業務 ga of tests/loaders/conftest.py


@pytest.fixture(params=["duckdb", "postgresql"])
def target(request, tmp_path):
    """(url, schema, 団体コード): a DuckDB file of 999733, or a PostgreSQL schema of 999741 of this test only."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 't.duckdb'}", "dantai_999733", "999733"
        return
    url = request.getfixturevalue("postgres_url")
    name = f"dantai_999741_u{random_tag()}"
    yield url, name, "999741"
    drop_target_schemas(url, name)


def load(target, schema, run_id: str, *, status: str = RUNNING, runs_dir=None) -> None:
    """A run's load as the flow's load step makes it (RUNNING until the flow records its end)."""
    url, db_schema, code = target
    load_run([LoadPart(schema, {"ga_t": pl.DataFrame({"atena_no": [f"{run_id}-1", f"{run_id}-2"]})})], url, db_schema,
             run=RunRecord(run_id, "R1", code, ("ga",), status=status), runs_dir=runs_dir)


def finished_run(target, schema, run_id: str, **kw) -> None:
    """A run that loaded and then finished: its summary.json written, the end recorded in the target."""
    load(target, schema, run_id, **kw)
    assert finish_run(target[0], target[1], run_id, "succeeded") is True


def held(target) -> tuple:
    h = held_runs(target[0], target[1])
    return tuple((h[k]["run_id"], h[k]["status"]) if h[k] else None for k in ("current", "previous"))


def rows(target) -> list[str]:
    return sorted(read_table(target[0], target[1], "ga_t")["atena_no"].to_list())


def summary(runs_dir, run_id: str, status: str) -> None:
    (runs_dir / run_id).mkdir(parents=True)
    (runs_dir / run_id / "summary.json").write_text(json.dumps({"run_id": run_id, "status": status}), encoding="utf-8")


def test_the_target_records_a_run_as_running_until_the_flow_records_its_end(target, schema):
    load(target, schema, "r-a")
    assert held(target) == (("r-a", "running"), None)
    assert held_runs(target[0], target[1])["current"]["finished_at"] is None
    assert finish_run(target[0], target[1], "r-a", "succeeded") is True
    assert held(target) == (("r-a", "succeeded"), None) and held_runs(target[0], target[1])["current"]["finished_at"]
    assert finish_run(target[0], target[1], "r-other", "succeeded") is False   # a run the target does not hold
    assert finish_run(target[0], target[1], "r-a", "half-done") is False       # not an end: refused, never raised
    assert held(target) == (("r-a", "succeeded"), None)


def test_a_run_that_never_finished_does_not_push_out_the_last_finished_run(target, schema):
    finished_run(target, schema, "r-a")
    load(target, schema, "r-b")                 # its load committed, then the process was killed: no end recorded
    assert held(target) == (("r-b", "running"), ("r-a", "succeeded"))
    finished_run(target, schema, "r-c")
    assert held(target) == (("r-c", "succeeded"), ("r-a", "succeeded"))   # r-a can still be restored
    assert held_runs(target[0], target[1])["current"]["replaced"] == {
        "run_id": "r-b", "status": "unfinished", "kept_as_previous": False}
    rollback(target[0], target[1], "r-a")
    assert held(target) == (("r-a", "succeeded"), ("r-c", "succeeded")) and rows(target) == ["r-a-1", "r-a-2"]


def test_a_run_that_failed_after_its_commit_does_not_push_out_the_last_finished_run(target, schema):
    finished_run(target, schema, "r-a")
    load(target, schema, "r-b")
    assert finish_run(target[0], target[1], "r-b", "failed") is True   # e.g. its diff failed
    finished_run(target, schema, "r-c")
    assert held(target) == (("r-c", "succeeded"), ("r-a", "succeeded"))
    assert held_runs(target[0], target[1])["current"]["replaced"]["status"] == "failed"


def test_with_no_finished_run_before_it_an_unfinished_run_is_still_kept_as_the_previous_state(target, schema):
    load(target, schema, "r-a")   # the first run ever, killed after its commit
    finished_run(target, schema, "r-b")
    assert held(target) == (("r-b", "succeeded"), ("r-a", "running"))
    assert held_runs(target[0], target[1])["current"]["replaced"]["kept_as_previous"] is True


def test_a_held_run_whose_summary_json_says_it_succeeded_counts_as_finished(target, schema, tmp_path):
    """Killed after writing summary.json but before the target recorded its end: the runs folder tells."""
    runs = tmp_path / "runs" / target[2]
    finished_run(target, schema, "r-a", runs_dir=runs)
    load(target, schema, "r-b", runs_dir=runs)
    summary(runs, "r-b", "succeeded")
    finished_run(target, schema, "r-c", runs_dir=runs)
    assert held(target) == (("r-c", "succeeded"), ("r-b", "running"))
    assert held_runs(target[0], target[1])["current"]["replaced"] == {
        "run_id": "r-b", "status": "succeeded", "kept_as_previous": True}
    rollback(target[0], target[1], "r-b", runs_dir=runs)   # its summary.json says succeeded: no override needed
    assert held(target)[0] == ("r-b", "running") and rows(target) == ["r-b-1", "r-b-2"]


def test_rollback_refuses_a_run_that_did_not_finish_unless_allowed(target, schema, tmp_path):
    url, db_schema, _ = target
    finished_run(target, schema, "r-a")
    load(target, schema, "r-b")
    rollback(url, db_schema, "r-a")           # back to the finished run: nothing to confirm
    assert held(target) == (("r-a", "succeeded"), ("r-b", "running"))
    with pytest.raises(UnfinishedRunRefused, match=r"will not go back to run r-b \(unfinished: its load committed.*"
                                                   r"--allow-unfinished"):
        rollback(url, db_schema, "r-b")
    runs = tmp_path / "runs"
    with pytest.raises(UnfinishedRunRefused, match="no summary.json records its end"):
        rollback(url, db_schema, "r-b", runs_dir=runs)   # its run folder has no summary.json either
    summary(runs, "r-b", "cancelled")
    with pytest.raises(UnfinishedRunRefused, match=r"r-b \(cancelled after its load committed\)"):
        rollback(url, db_schema, "r-b", runs_dir=runs)
    assert held(target) == (("r-a", "succeeded"), ("r-b", "running")) and rows(target) == ["r-a-1", "r-a-2"]
    rollback(url, db_schema, "r-b", allow_unfinished=True)
    assert held(target) == (("r-b", "running"), ("r-a", "succeeded")) and rows(target) == ["r-b-1", "r-b-2"]


def test_a_refused_rollback_lists_what_the_target_holds_and_how_each_run_ended(target, schema):
    finished_run(target, schema, "r-a")
    load(target, schema, "r-b")
    with pytest.raises(RollbackRefused, match=r"cannot go back to run r-x: it holds r-b \(unfinished: its load "
                                              r"committed and the target has no record of its end\), and before it "
                                              r"r-a \(succeeded\)"):
        rollback(target[0], target[1], "r-x")


def test_a_record_an_earlier_ikou_wrote_is_read_and_replaced_as_before(tmp_path, schema):
    """`ikou_run` of six columns (no status): such a run counts as finished unless its runs folder,
    when known, has no summary.json for it."""
    import duckdb

    target = (f"duckdb:///{tmp_path / 't.duckdb'}", "dantai_999733", "999733")
    for run_id in ("r-a", "r-b"):
        finished_run(target, schema, run_id)
        con = duckdb.connect(str(tmp_path / "t.duckdb"))
        for col in ("status", "finished_at", "replaced"):
            con.execute(f"ALTER TABLE dantai_999733.ikou_run DROP COLUMN {col}")
        con.close()
    assert held(target) == (("r-b", None), ("r-a", None))
    finished_run(target, schema, "r-c")
    assert held(target) == (("r-c", "succeeded"), ("r-b", None))
    with pytest.raises(UnfinishedRunRefused, match=r"r-b \(unfinished: its load committed and no summary.json"):
        rollback(target[0], target[1], "r-b", runs_dir=tmp_path / "runs")
    rollback(target[0], target[1], "r-b")   # no runs folder to look in: as before
    assert held(target) == (("r-b", None), ("r-c", "succeeded"))


def test_a_load_retried_after_its_commit_went_through_unseen_keeps_the_previous_state(target, schema):
    """The load task retries once on a lost connection: when the first COMMIT did go through, the target
    holds the run itself, which the retry loads over; the run before it stays the previous state."""
    finished_run(target, schema, "r-a")
    load(target, schema, "r-b")
    load(target, schema, "r-b")
    assert held(target) == (("r-b", "running"), ("r-a", "succeeded"))
    assert held_runs(target[0], target[1])["current"]["replaced"] == {
        "run_id": "r-a", "status": "succeeded", "kept_as_previous": True}
