"""A DuckDB target another process holds open (another 団体's run into the same file, a rollback) is
named as busy, in Japanese and English, not an unexpected error."""
from __future__ import annotations

import subprocess
import sys

import pytest

from ikou.errors import TargetBusy, TransientError, message_ja, one_line


def test_a_duckdb_target_held_by_another_process_is_reported_busy(tmp_path):
    from ikou.loaders.duckdb_target import DuckDBTarget

    path = tmp_path / "shared.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(path)!r})\n"
        "con.execute('CREATE TABLE t (x INTEGER)')\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        target = DuckDBTarget(f"duckdb:///{path}")
        with pytest.raises(TargetBusy) as exc:
            target._connect()
        assert isinstance(exc.value, TransientError)
        assert "使用中" in message_ja(exc.value) and "in use by another process" in one_line(exc.value)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    target._connect().close()   # free again: opens
