"""A run holds its target from its load until its end is recorded (finish_run) or its process dies: a run
from another runs folder (another machine) that loads meanwhile is refused (TargetBusy naming the holder),
never drops the first run as "unfinished" between its COMMIT and its summary.json. Against the real
PostgreSQL (団体 999792, a session-level advisory lock) and DuckDB (団体 999814, a file lock beside it)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import polars as pl
import pytest

from ikou.errors import TargetBusy, message_ja, one_line
from ikou.loaders import LoadPart, RunRecord, finish_run, held_runs, load_run, rollback
from ikou.loaders.targets import RUNNING


@pytest.fixture
def target(any_target):
    return any_target


def _load(target, schema, run_id: str) -> None:
    url, db_schema, code = target
    load_run([LoadPart(schema, {"ga_t": pl.DataFrame({"atena_no": [f"{run_id}-1"]})})], url, db_schema,
             run=RunRecord(run_id, "R1", code, ("ga",), status=RUNNING))


def _other_run(target, schema_path, run_id: str) -> subprocess.Popen:
    """Another process (another runs folder, another machine) that loads its run and then sits between its
    COMMIT and its end (diff, report) until told to finish (a line on stdin) or killed."""
    url, db_schema, code = target
    script = textwrap.dedent(f"""
        import sys
        import polars as pl
        from ikou.loaders import LoadPart, RunRecord, finish_run, load_run
        from ikou.schema import load_schema
        schema = load_schema({str(schema_path)!r})
        load_run([LoadPart(schema, {{"ga_t": pl.DataFrame({{"atena_no": ["{run_id}-1"]}})}})], {url!r}, {db_schema!r},
                 run=RunRecord({run_id!r}, "R1", {code!r}, ("ga",), status="running"))
        print("committed", flush=True)
        sys.stdin.readline()
        finish_run({url!r}, {db_schema!r}, {run_id!r}, "succeeded")
        print("finished", flush=True)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=os.getcwd())
    line = p.stdout.readline().strip()
    assert line == "committed", p.stderr.read()[-2000:]
    return p


def test_a_second_run_is_refused_while_the_first_is_between_its_commit_and_its_end(target, schema, tmp_path):
    url, db_schema, _ = target
    first = _other_run(target, tmp_path / "ga.yaml", "20261130T100000Z-R1-aaaa")
    try:
        with pytest.raises(TargetBusy) as exc:
            _load(target, schema, "20261130T100100Z-R1-bbbb")
        assert f"pid {first.pid}" in one_line(exc.value) and f"pid {first.pid}" in message_ja(exc.value)
        assert "使用中" in message_ja(exc.value)
        # a rollback from elsewhere is refused the same way
        with pytest.raises(TargetBusy):
            rollback(url, db_schema, "20261130T100000Z-R1-aaaa")
        assert held_runs(url, db_schema)["current"]["run_id"] == "20261130T100000Z-R1-aaaa"
        first.stdin.write("\n")
        first.stdin.flush()
        assert first.stdout.readline().strip() == "finished"
    finally:
        first.stdin.close()
        first.wait(timeout=60)
    # its end recorded, the target is free: the next run loads, and keeps the first one (succeeded) as previous
    _load(target, schema, "20261130T100200Z-R1-cccc")
    replaced = held_runs(url, db_schema)["current"]["replaced"]
    assert replaced == {"run_id": "20261130T100000Z-R1-aaaa", "status": "succeeded", "kept_as_previous": True}
    assert finish_run(url, db_schema, "20261130T100200Z-R1-cccc", "succeeded") is True


def test_the_target_is_free_again_when_the_holding_process_dies(target, schema, tmp_path):
    url, db_schema, _ = target
    first = _other_run(target, tmp_path / "ga.yaml", "20261130T110000Z-R1-dddd")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    for s in (first.stdin, first.stdout, first.stderr):
        s.close()
    _load(target, schema, "20261130T110100Z-R1-eeee")   # not refused: the server / the OS freed the lease
    assert held_runs(url, db_schema)["current"]["replaced"]["status"] == "unfinished"
    assert finish_run(url, db_schema, "20261130T110100Z-R1-eeee", "succeeded") is True


def test_a_load_in_the_same_process_goes_on_under_its_own_lease(target, schema):
    """Re-entrant: a load retried (or a second load) by the process holding the lease is not refused."""
    url, db_schema, _ = target
    _load(target, schema, "20261130T120000Z-R1-ffff")
    _load(target, schema, "20261130T120000Z-R1-ffff")   # a retry after its COMMIT went through unseen
    assert finish_run(url, db_schema, "20261130T120000Z-R1-ffff", "succeeded") is True
