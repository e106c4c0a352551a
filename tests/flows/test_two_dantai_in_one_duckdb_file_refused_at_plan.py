"""One DuckDB target file holds one 団体: a file has no roles, whoever opens it reads every 団体 in it. A run of
団体 999822 into the file 団体 999814 loaded is refused at plan, through the real command line: exit 2, summary.json
(stage plan), one line in Japanese and English naming the file and the other 団体コード and the fix, and the file
unchanged. Another run of 999814 into the same file (its second 業務 or rehearsal) still loads."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ikou import REPO_ROOT
from tests.flows.conftest import SAMPLE, vendor_a_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
FIRST, SECOND = "999814", "999822"


def _ikou(cfg: Path) -> subprocess.CompletedProcess:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.run([sys.executable, "-m", "ikou.flows.cli", "run", "--config", str(cfg)],
                          cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=300, check=False)


def _config(tmp: Path, code: str, target: Path) -> Path:
    """Vendor A's sample export as `code`'s (its 団体コード rewritten byte for byte), in a folder of its own."""
    raw = (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes()
    folder = tmp / ("first" if code == FIRST else "second")
    data = folder / "in" / "JUMIN.csv"
    data.parent.mkdir(parents=True)
    data.write_bytes(code.encode() + raw[6:].replace(b"\n999997,", b"\n" + code.encode() + b","))
    return write_config(folder, source=vendor_a_source(data), target_url=f"duckdb:///{target}", dantai=code,
                        inbox=[data.parent])


def _state(folder: Path) -> dict[str, tuple]:
    return {str(p.relative_to(folder)): (hashlib.md5(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _summary(proc: subprocess.CompletedProcess) -> tuple[Path, dict]:
    run_dir = Path(proc.stdout.rstrip("\n").splitlines()[-1])
    return run_dir, json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


def test_a_second_dantai_into_one_duckdb_file_is_refused_at_plan_and_the_file_is_unchanged(tmp_path):
    target = tmp_path / "targets" / "t.duckdb"
    first_cfg = _config(tmp_path, FIRST, target)
    first = _ikou(first_cfg)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    before = _state(tmp_path / "targets")

    proc = _ikou(_config(tmp_path, SECOND, target))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    run_dir, summary = _summary(proc)
    assert run_dir.parent == tmp_path / "second" / "runs" / SECOND
    error = summary["error"]
    assert summary["status"] == "failed" and error["stage"] == "plan", error
    assert str(target) in error["message"] and f"団体 {FIRST}" in error["message"], error
    assert "its own target file" in error["message"], error
    assert str(target) in error["message_ja"] and FIRST in error["message_ja"] and "\n" not in error["message_ja"]
    assert "団体ごとに別の移行先ファイル" in error["message_ja"], error
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("ikou: 失敗")]
    assert line.startswith(f"ikou: 失敗 (plan): {error['message_ja']} — failed at plan: "), line
    assert _state(tmp_path / "targets") == before   # the file, its .wal and lease files: nothing written

    import duckdb

    con = duckdb.connect(str(target), read_only=True)
    try:
        schemas = {r[0] for r in con.execute("SELECT schema_name FROM duckdb_schemas() "
                                             "WHERE database_name = current_database()").fetchall()}
    finally:
        con.close()
    assert f"dantai_{SECOND}" not in schemas and f"dantai_{FIRST}" in schemas

    again = _ikou(first_cfg)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]   # the file's own 団体 loads it again
