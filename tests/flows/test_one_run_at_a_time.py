"""One run of a 団体 at a time: a second `ikou run` or a rollback while one holds the 団体's runs folder is
refused in one line before anything is written; a run id names one run (its record is never replaced);
a PostgreSQL schema is swapped by one load or rollback at a time, whoever starts it; and a cancel that
also stopped Prefect's server (a terminal's Ctrl-C reaches the whole process group) ends as cancelled."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ikou.flows.cli import main
from ikou.flows.run_cli import execute
from ikou.runlock import LOCK_FILE, RunInProgress, dantai_lock
from tests.flows.conftest import vendor_a_source, write_config


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and p.name != LOCK_FILE}


def _hold(dantai_dir: Path) -> subprocess.Popen:
    """Another process holding the 団体's lock, as a run in progress does."""
    code = ("import sys\nfrom ikou.runlock import dantai_lock\n"
            f"with dantai_lock({str(dantai_dir)!r}, '20261130T000000Z-R1-aaaa'):\n"
            "    print('held', flush=True)\n    sys.stdin.read()\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_run_of_a_dantai_is_refused_while_one_holds_its_runs_folder(tmp_path, capsys):
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    holder = _hold(tmp_path / "runs" / "999997")
    try:
        before = _files(tmp_path)
        assert execute(cfg, quiet=True) == 2
        line = _one_line(capsys.readouterr().err)
        assert "進行中" in line and "another run or rollback of this 団体 is in progress" in line
        assert "20261130T000000Z-R1-aaaa" in line and f"pid {holder.pid}" in line
        assert _files(tmp_path) == before   # no run folder, no summary.json, no run.log
        rc = main(["rollback", "--dantai", "999997", "--config", str(cfg), "--to", "20261129T000000Z-R1-bbbb"])
        assert rc == 2 and "進行中" in _one_line(capsys.readouterr().err)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_the_lock_is_freed_when_its_holder_dies_however_it_dies(tmp_path):
    holder = _hold(tmp_path)
    with pytest.raises(RunInProgress):
        with dantai_lock(tmp_path, "mine"):
            pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    with dantai_lock(tmp_path, "mine"), dantai_lock(tmp_path, "mine again"):   # re-entrant in one process
        assert json.loads((tmp_path / LOCK_FILE).read_text())["holder"] == "mine"


def test_a_lock_file_planted_as_a_link_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep", encoding="utf-8")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / LOCK_FILE).symlink_to(victim)
    with pytest.raises(OSError):
        with dantai_lock(tmp_path / "d", "mine"):
            pass
    assert victim.read_text(encoding="utf-8") == "keep"


def test_a_run_id_of_an_existing_run_is_refused_and_its_record_kept(tmp_path, capsys):
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    old = tmp_path / "runs" / "999997" / "20261129T221752Z-R1-749c"
    old.mkdir(parents=True)
    (old / "summary.json").write_text('{"run_id": "20261129T221752Z-R1-749c", "dantai": "999997"}', encoding="utf-8")
    before = _files(tmp_path)
    assert execute(cfg, run_id=old.name, quiet=True) == 2
    line = _one_line(capsys.readouterr().err)
    assert "already exists" in line and "no summary.json written" in line
    assert _files(tmp_path) == before
    # a config that fails given that run id does not write its failure record over the run's either
    bad = tmp_path / "bad.yaml"
    bad.write_text(cfg.read_text(encoding="utf-8").replace("gyomu: [juki]", "gyomu: [nothing]"), encoding="utf-8")
    assert execute(bad, run_id=old.name, quiet=True) == 2
    capsys.readouterr()
    assert _files(tmp_path) == {**before, bad: bad.read_bytes()}


def test_a_postgres_schema_is_swapped_by_one_load_or_rollback_at_a_time(pg_target):
    import psycopg

    from ikou.errors import TargetBusy
    from ikou.loaders.postgres_target import PostgresTarget

    url, schema = pg_target
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as other:
        other.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ikou:{schema}",))   # another machine's load
        with pytest.raises(TargetBusy, match=f"{schema}: another load or rollback of it is in progress"):
            PostgresTarget(url).rollback(schema, "20261129T221752Z-R1-749c")
    with pytest.raises(Exception) as exc:   # free again: the rollback itself is what refuses now
        PostgresTarget(url).rollback(schema, "20261129T221752Z-R1-749c")
    assert not isinstance(exc.value, TargetBusy)


def test_a_cancel_that_also_stopped_prefects_server_ends_as_cancelled(tmp_path, capsys, monkeypatch):
    """Ctrl-C in a terminal signals the process group: the flow records `cancelled`, then reporting its end
    to the stopped server fails. That is the cancel, not a config failure with a second run folder."""
    from ikou import cancel
    import ikou.flows.migrate as migrate

    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")

    def stopped_server(**kw):
        run_dir = tmp_path / "runs" / "999997" / kw["run_id"]
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "summary.json").write_text(json.dumps(
            {"run_id": kw["run_id"], "dantai": "999997", "status": "cancelled",
             "error": {"stage": "extract", "message": "cancelled", "message_ja": "中断しました"}}), encoding="utf-8")
        cancel._requested.append("SIGINT")
        raise ConnectionError("All connection attempts failed")   # what httpx says once the server is gone

    monkeypatch.setattr(migrate, "migration_flow", stopped_server)
    try:
        assert execute(cfg, quiet=True) == 130
    finally:
        cancel._requested.clear()
    out = capsys.readouterr()
    assert "中断" in out.err and "config" not in out.err
    assert len(list((tmp_path / "runs" / "999997").iterdir())) == 1   # no second, "failed at config" folder


@pytest.mark.usefixtures("prefect_harness")
def test_the_flow_itself_never_replaces_a_runs_record(tmp_path):
    """Workers, deployments and a Prefect retry call the flow with a run id, not through `ikou run`."""
    from ikou.context import RunIdError
    from ikou.flows.migrate import migration_flow

    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    old = tmp_path / "runs" / "999997" / "20261129T221752Z-R1-749c"
    old.mkdir(parents=True)
    (old / "summary.json").write_text('{"run_id": "20261129T221752Z-R1-749c", "status": "succeeded"}', encoding="utf-8")
    before = _files(tmp_path)
    with pytest.raises(RunIdError, match="already exists"):
        migration_flow(config_path=str(cfg), run_id=old.name)
    assert _files(tmp_path) == before


def test_a_run_started_by_a_worker_waits_its_turn_instead_of_failing(tmp_path):
    """A campaign starts two rehearsals of one 団体 together: the flow's lock waits (ikou run refuses)."""
    import threading
    import time

    holder = _hold(tmp_path)
    threading.Timer(1.0, holder.stdin.close).start()   # the other run ends after a second
    t0 = time.monotonic()
    with dantai_lock(tmp_path, "second", wait=60):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["holder"] == "second"
    assert 0.5 < time.monotonic() - t0 < 30
    holder.wait(timeout=30)
    holder = _hold(tmp_path)
    try:
        with pytest.raises(RunInProgress):
            with dantai_lock(tmp_path, "third", wait=0.3):
                pass
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
