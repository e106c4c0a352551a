"""A DuckDB target the load could not write fails the run at plan, as an unreachable server does, not at load after
extract, map and validate: a path that is a folder, a folder that cannot be created, a file that is no DuckDB
database (a CSV, a SQLite file, an empty file), a file another process holds. One line in Japanese and English naming
the path and the fix, summary.json, exit 2, and nothing created or changed beside the run's folder. A path not there
yet, in folders not there yet, is the load's to create. Run through the real command line (団体 999741)."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ikou import REPO_ROOT
from tests.conftest import failed_run
from tests.flows.conftest import SAMPLE, vendor_a_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
DANTAI = "999741"


def _ikou(cfg: Path) -> subprocess.CompletedProcess:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.run([sys.executable, "-m", "ikou.flows.cli", "run", "--config", str(cfg)],
                          cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=300, check=False)


def _config(tmp: Path, target: Path) -> Path:
    """Vendor A's sample export as 団体 999741's (its 団体コード rewritten byte for byte), into `target`: without
    the check, the run would reach the load."""
    raw = (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes()
    data = tmp / "in" / "JUMIN.csv"
    data.parent.mkdir(exist_ok=True)
    data.write_bytes(DANTAI.encode() + raw[6:].replace(b"\n999997,", b"\n" + DANTAI.encode() + b","))
    return write_config(tmp, source=vendor_a_source(data), target_url=f"duckdb:///{target}", dantai=DANTAI,
                        inbox=[data.parent])


def _duckdb_file(path: Path) -> None:
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE kept (x INTEGER)")
    con.close()


def _sqlite_file(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE kept (x INTEGER)")
    con.commit()
    con.close()


def _setup(tmp: Path, case: str) -> Path:
    """The target path of the case, made as the case says."""
    work = tmp / "targets"
    work.mkdir()
    if case == "a_folder":
        (work / "t.duckdb").mkdir()
        return work / "t.duckdb"
    if case == "a_file_where_its_folder_would_be":
        (work / "out").write_text("not a folder\n", encoding="utf-8")
        return work / "out" / "new" / "t.duckdb"
    path = work / "t.duckdb"
    if case == "a_csv":
        path.write_text("code,mj\nU+E000,MJ000001\n", encoding="utf-8")
    elif case == "a_sqlite_file":
        _sqlite_file(path)
    elif case == "an_empty_file":
        path.touch()
    else:
        _duckdb_file(path)
    return path


def _state(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder` with its kind, bytes' MD5 and modification time."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.stat()
        digest = hashlib.md5(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        out[str(p.relative_to(folder))] = (digest, st.st_mtime_ns, st.st_size)
    return out


CASES = {   # case: (what the English half says, what the Japanese half says)
    "a_folder": ("is a folder, not a file", "はフォルダーです"),
    "a_file_where_its_folder_would_be": ("is a file, not a folder", "フォルダーではなくファイルです"),
    "a_csv": ("is a text file (a CSV?), not a DuckDB database", "DuckDB データベースではありません: テキストファイル"),
    "a_sqlite_file": ("is a SQLite database, not a DuckDB database", "DuckDB データベースではありません: SQLite"),
    "an_empty_file": ("is an empty file (0 bytes)", "空のファイル (0 バイト)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_duckdb_target_the_load_could_not_write_fails_the_run_at_plan(tmp_path, case):
    en, ja = CASES[case]
    path = _setup(tmp_path, case)
    before = _state(tmp_path / "targets")
    proc = _ikou(_config(tmp_path, path))
    run_dir, summary = failed_run(proc, tmp_path / "runs" / DANTAI)
    error = summary["error"]
    assert summary["status"] == "failed" and error["stage"] == "plan", error
    assert str(path) in error["message"] and en in error["message"], error
    assert str(path) in error["message_ja"] and ja in error["message_ja"] and "\n" not in error["message_ja"], error
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("ikou: 失敗")]
    assert line.startswith(f"ikou: 失敗 (plan): {error['message_ja']} — failed at plan: "), line
    assert _state(tmp_path / "targets") == before   # nothing created (no half file, .wal, lease), nothing changed


def test_a_duckdb_target_another_process_holds_is_no_refusal_at_plan(tmp_path):
    """Another process holding the file at plan (a campaign's other 団体 loading into the same file) may be done by
    this run's load: the run goes on; a holder still there at the load is met there (TargetBusy), target unchanged."""
    path = _setup(tmp_path, "an_existing_target")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys\n"
        f"con = duckdb.connect({str(path)!r})\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        proc = _ikou(_config(tmp_path, path))
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out[-3000:]
    summary = json.loads((Path(proc.stdout.rstrip("\n").splitlines()[-1]) / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "failed" and summary["error"]["stage"] == "load", summary["error"]
    assert str(path) in summary["error"]["message"] and "another process" in summary["error"]["message"]


def test_a_new_duckdb_target_in_folders_not_there_yet_is_created_by_the_load(tmp_path):
    """The check leaves a path not there yet to the load, which creates its folders and the file; a second run then
    finds a DuckDB database there, opened read-only at plan, and loads it again."""
    path = tmp_path / "targets" / "new" / "deeper" / "t.duckdb"
    cfg = _config(tmp_path, path)
    for _ in range(2):
        proc = _ikou(cfg)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        summary = json.loads((Path(proc.stdout.rstrip("\n").splitlines()[-1]) / "summary.json").read_text("utf-8"))
        assert summary["status"] == "succeeded" and path.is_file(), summary.get("error")
