"""The plan-stage check of a target (TargetDatabase.preflight) creates and changes nothing: a DuckDB file is opened
read-only (a write-ahead log left beside it stays as it is), a path not there yet is left for the load to create
(with its folders), a connection this process holds is no other process's lock. A server target is asked as before
(an unreachable one names host:port/db). The flow-level refusals: tests/flows/test_unusable_duckdb_target_fails_at_plan."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from ikou.errors import TransientError, message_ja, one_line
from ikou.loaders import target_for
from ikou.loaders.duckdb_target import TargetUnusable

SCHEMA = "dantai_999741"


def _state(folder: Path) -> dict[str, tuple]:
    return {str(p.relative_to(folder)): (hashlib.md5(p.read_bytes()).hexdigest() if p.is_file() else "dir",
                                         p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def test_an_existing_duckdb_file_and_its_write_ahead_log_are_left_as_they_are(tmp_path):
    path = tmp_path / "t.duckdb"
    # a process that ended without a checkpoint: the last insert is in t.duckdb.wal only
    subprocess.run([sys.executable, "-c", (
        "import duckdb, os\n"
        f"con = duckdb.connect({str(path)!r})\n"
        f"con.execute('CREATE SCHEMA {SCHEMA}')\n"
        f"con.execute('CREATE TABLE {SCHEMA}.t (x INTEGER)')\n"
        "con.execute('CHECKPOINT')\n"
        f"con.execute('INSERT INTO {SCHEMA}.t VALUES (1)')\n"
        "os._exit(0)\n")], check=True)
    before = _state(tmp_path)
    assert "t.duckdb.wal" in before
    target_for(f"duckdb:///{path}").preflight(SCHEMA)
    assert _state(tmp_path) == before   # no write, no checkpoint of the log, no lease file


def test_a_path_not_there_yet_is_left_to_the_load_with_its_folders(tmp_path):
    path = tmp_path / "new" / "deeper" / "t.duckdb"
    target_for(f"duckdb:///{path}").preflight(SCHEMA)
    assert list(tmp_path.iterdir()) == []


def test_a_connection_this_process_holds_is_not_another_process(tmp_path):
    import duckdb

    path = tmp_path / "t.duckdb"
    con = duckdb.connect(str(path))
    try:
        target_for(f"duckdb:///{path}").preflight(SCHEMA)
    finally:
        con.close()


def test_a_folder_or_file_this_user_cannot_write_is_refused(tmp_path, small_tmpfs):
    """A read-only mount: refused even for root, whom permission bits do not stop (CI runs as root)."""
    folder = small_tmpfs(tmp_path / "ro", "1m", "ro")
    with pytest.raises(TargetUnusable) as exc:
        target_for(f"duckdb:///{folder / 't.duckdb'}").preflight(SCHEMA)
    assert str(folder) in one_line(exc.value) and "書き込めません" in message_ja(exc.value)
    with pytest.raises(TargetUnusable):
        target_for(f"duckdb:///{folder / 'new' / 't.duckdb'}").preflight(SCHEMA)
    assert list(folder.iterdir()) == []


def test_an_unreachable_server_target_is_said_with_its_host_port_and_database():
    with pytest.raises(TransientError) as exc:
        target_for("postgresql://postgres@127.0.0.1:9/test").preflight(SCHEMA)
    assert "unreachable" in one_line(exc.value) and "127.0.0.1:9/test" in message_ja(exc.value)
