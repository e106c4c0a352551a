"""What `ikou run` shows: in a terminal, one progress line per stage and source/table (rows done of
rows expected, rows per second, elapsed), in Japanese; piped or with --quiet, none. Prefect's logs go
to the run folder's run.log, on the terminal only with --verbose; the run folder stays the last line
of stdout."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from ikou import REPO_ROOT
from tests.flows.conftest import vendor_a_source, write_config

LINES = {"抽出 vendor_a_jumin": "2,129 / 2,129 件", "変換 vendor_a_jumin": "2,127 / 2,127 件",
         "文字同定 vendor_a_jumin": "2,125 / 2,125 件", "検証 juki_kojin_rireki": "2,125 / 2,125 件",
         "投入 dantai_999997": "2,114 / 2,114 件", "並行稼働比較 vendor_a_jumin": "2,127 / 2,127 件"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def env(prefect_harness) -> dict:
    """The test session's Prefect server for the child (no temporary server of its own)."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PYTHONUNBUFFERED": "1"}


def _in_terminal(args: list[str], env: dict) -> tuple[int, str]:
    child = pexpect.spawn(sys.executable, ["-m", "ikou.flows.cli", *args], cwd=str(REPO_ROOT), env=env,
                          encoding="utf-8", timeout=300, dimensions=(50, 200))
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, ANSI.sub("", child.before).replace("\r", "")


def test_in_a_terminal_ikou_run_shows_a_progress_line_per_stage_and_source(tmp_path, env):
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    rc, out = _in_terminal(["run", "--config", str(cfg)], env)
    assert rc == 0, out[-3000:]
    for label, rows in LINES.items():
        assert re.search(rf"{label}\s.*{rows}\s+[0-9,]+ 件/秒\s+\d+:\d\d:\d\d", out), (label, out[-3000:])
    lines = [ln for ln in out.splitlines() if ln.strip()]
    run_dir = Path(lines[-1])
    assert (run_dir / "summary.json").is_file()
    assert "Beginning flow run" not in out and "Beginning flow run" in (run_dir / "run.log").read_text("utf-8")


def test_quiet_shows_no_progress_and_verbose_shows_prefects_logs(tmp_path, env):
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    rc, out = _in_terminal(["run", "--config", str(cfg), "--quiet", "--verbose"], env)
    assert rc == 0, out[-3000:]
    assert "件/秒" not in out and not re.search(r"[0-9,]+ / [0-9,]+ 件", out)
    assert "Beginning flow run" in out
    assert Path(out.strip().splitlines()[-1]).is_dir()


def test_piped_ikou_run_prints_no_progress_nor_logs_and_ends_with_the_run_folder(tmp_path, env):
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    proc = subprocess.run([sys.executable, "-m", "ikou.flows.cli", "run", "--config", str(cfg), "--evidence"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "件/秒" not in proc.stdout + proc.stderr and "\x1b[" not in proc.stdout + proc.stderr
    assert proc.stderr == ""   # Prefect's own logs are in run.log
    run_dir = Path(proc.stdout.rstrip("\n").splitlines()[-1])
    assert (run_dir / "evidence.zip").is_file() and f"evidence pack: {run_dir / 'evidence.zip'}" in proc.stdout
    log = (run_dir / "run.log").read_text(encoding="utf-8")
    assert "Beginning flow run" in log and "ikou.progress: map vendor_a_jumin: 2127 of 2127 rows" in log


def test_a_finished_run_says_whether_anything_stops_its_sign_off():
    """One line, Japanese and English, before the run folder: the blockers' count and the first of them."""
    from ikou.flows.run_cli import verdict_line

    assert verdict_line({"sign_off_blockers": []}) == "ikou: 完了 承認の妨げ なし / done: no sign-off blockers"
    one = "juki_kojin_rireki: 抽出した 3 件をすべて保留し、投入は 0 件です / all 3 extracted record(s) were held"
    line = verdict_line({"sign_off_blockers": [one, "2 文字 未同定 / 2 characters"]})
    assert line.startswith("ikou: 完了 承認の妨げ 2 件 / done with 2 sign-off blocker(s): juki_kojin_rireki: 抽出した")
    assert line.endswith("(ほか 1 件 / 1 more: report.html)") and "\n" not in line
