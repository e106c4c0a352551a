"""A run whose disk fills (or whose report cannot be written) after its load committed ends as this run's failure:
one line naming the stage, the cause (「ディスクの空きがありません」 / no space left on device) and that the target
already holds this run (`ikou rollback`), the run folder as the last line; no second, made-up run folder (stage
config), no summary.json of 0 bytes, and the counts already computed kept in the record. Real `ikou run` processes
with their runs folder on a small tmpfs filled at the diff (mounting needs root: CI runs as root)."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ikou import REPO_ROOT
from ikou.context import RUN_ID
from ikou.loaders import held_runs
from tests.conftest import fill_disk
from tests.flows.conftest import SAMPLE, vendor_a_source, write_config

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]
DANTAI = "999784"
PAUSE = "diff.vendor_a_jumin"   # the load has committed; the diff and the report are still to come


def _config(tmp_path: Path) -> Path:
    """Vendor A's sample export as 団体 999784's (its 団体コード rewritten byte for byte), into a DuckDB target
    outside the runs folder."""
    raw = (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes()
    data = tmp_path / "in" / "JUMIN.csv"
    data.parent.mkdir()
    data.write_bytes(DANTAI.encode() + raw[6:].replace(b"\n999997,", b"\n" + DANTAI.encode() + b","))
    return write_config(tmp_path, source=vendor_a_source(data), target_url=f"duckdb:///{tmp_path / 't.duckdb'}",
                        dantai=DANTAI, inbox=[data.parent])


def _run_paused(cfg: Path, tmp_path: Path, at_pause, pause: str = PAUSE) -> tuple[int, str, str]:
    """`ikou run` stopped at checkpoint `pause` for `at_pause(run_dir)`, then let go: (exit code, stdout, stderr)."""
    from prefect.settings import PREFECT_API_URL

    marker = tmp_path / "paused"
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "IKOU_PAUSE_AT": pause, "IKOU_PAUSE_MARKER": str(marker), "IKOU_PAUSE_SECONDS": "8"}
    proc = subprocess.Popen([sys.executable, "-m", "ikou.flows.cli", "run", "--config", str(cfg)], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() - t0 > 240:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"the run never reached {pause}: {out[-2000:]} {err[-2000:]}")
        time.sleep(0.05)
    (run_dir,) = _run_folders(tmp_path)
    at_pause(run_dir)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def _run_folders(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "runs" / DANTAI).iterdir() if RUN_ID.fullmatch(p.name)]


def _the_line(err: str) -> str:
    assert "Traceback" not in err and "Logging error" not in err and "JSONDecodeError" not in err, err[-3000:]
    lines = [ln for ln in err.splitlines() if ln.startswith("ikou: ")]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def test_a_disk_full_after_the_load_fails_this_run_in_one_line_naming_the_disk_and_the_loaded_target(tmp_path,
                                                                                                      small_tmpfs):
    cfg = _config(tmp_path)
    runs = small_tmpfs(tmp_path / "runs", "64m")
    rc, out, err = _run_paused(cfg, tmp_path, lambda run_dir: fill_disk(runs))
    (run_dir,) = _run_folders(tmp_path)   # no second folder made up for the failure (stage config)
    line = _the_line(err)
    assert rc == 2, (out, err)
    assert out.splitlines()[-1] == str(run_dir), out       # the run folder, last, as always
    assert line.startswith(("ikou: 失敗 (diff)", "ikou: 失敗 (report)")), line
    assert "ディスクの空きがありません" in line and "no space left on device" in line.lower(), line
    assert "反映済み" in line and "the target holds this run" in line and "ikou rollback" in line, line
    summary = run_dir / "summary.json"
    if summary.exists():   # whole or not at all: never 0 bytes
        assert json.loads(summary.read_text(encoding="utf-8"))["status"] == "failed"
    current = held_runs(f"duckdb:///{tmp_path / 't.duckdb'}", f"dantai_{DANTAI}")["current"]
    assert (current["run_id"], current["status"]) == (run_dir.name, "failed")


def test_a_report_that_cannot_be_written_after_the_load_keeps_the_counts_and_says_the_target_holds_the_run(tmp_path):
    cfg = _config(tmp_path)
    rc, out, err = _run_paused(cfg, tmp_path, lambda run_dir: (run_dir / "report.html").mkdir())
    (run_dir,) = _run_folders(tmp_path)
    line = _the_line(err)
    assert rc == 2 and out.splitlines()[-1] == str(run_dir), (out, err)
    assert line.startswith("ikou: 失敗 (report)") and "反映済み" in line and "ikou rollback" in line, line
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert (summary["status"], summary["error"]["stage"]) == ("failed", "report")
    assert "反映済み" in summary["error"]["message_ja"] and "the target holds this run" in summary["error"]["message"]
    loaded = {t: c["loaded"] for t, c in summary["tables"].items()}   # the counts computed before the report failed
    assert loaded and all(n > 0 for n in loaded.values()), summary["tables"]
    assert summary["sign_off_blockers"]


def test_run_log_lost_to_a_full_disk_after_the_record_leaves_the_run_as_recorded_and_no_second_folder(tmp_path,
                                                                                                       small_tmpfs):
    """The disk fills once the run's record is written: closing run.log fails outside the flow. That error is this
    run's (it stands as recorded, succeeded), never the config's in a new run folder."""
    def fill_to_the_last_byte(run_dir: Path) -> None:
        fill_disk(tmp_path / "runs")
        with open(run_dir / "run.log", "ab", buffering=0) as log:   # its last page's slack too
            try:
                while True:
                    log.write(b" ")
            except OSError as exc:
                assert exc.errno == errno.ENOSPC

    cfg = _config(tmp_path)
    small_tmpfs(tmp_path / "runs", "64m")
    rc, out, err = _run_paused(cfg, tmp_path, fill_to_the_last_byte, pause="record")
    (run_dir,) = _run_folders(tmp_path)
    assert rc == 0, (out, err)
    assert out.splitlines()[-1] == str(run_dir), out
    assert "Traceback" not in err and "Logging error" not in err and "(config)" not in err, err[-3000:]
    assert json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["status"] == "succeeded"
    (late,) = [ln for ln in err.splitlines() if ln.startswith("ikou: 実行の記録の後にエラー")]
    assert "ディスクの空きがありません" in late and "stands as succeeded" in late, late
