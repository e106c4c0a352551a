from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from ikou import REPO_ROOT
from tests.conftest import random_tag

SAMPLE = REPO_ROOT / "data" / "sample"

# How each planted fault must surface: (severity, rule prefix). Warnings keep the row.
EXPECTED = {
    "undecodable_bytes": ("error", "extract.decode"),
    "wrong_field_count": ("error", "extract.field_count"),
    "impossible_date": ("error", "wareki."),
    "calendar_date_kept": ("warning", "wareki.not_in_calendar"),
    "unknown_code": ("error", "code_table.unknown"),
    "duplicate_key": ("error", ""),
    "unknown_gaiji": ("warning", "moji.unresolved"),
    "no_setainushi": ("error", ""),
    "bad_kojin_no": ("error", ""),
    "missing_required": ("error", ""),
}


def write_config(tmp: Path, *, source: str, target_url: str, rehearsal: str = "R1", extra_source: str = "",
                 inbox: list[Path] = (), target_schema: str | None = None, dantai: str = "999997") -> Path:
    cfg = tmp / "run.yaml"
    cfg.write_text(f"""spec_version: 1
dantai: {{code: "{dantai}", name: 架空市}}
gyomu: [juki]
rehearsal: {rehearsal}
sources:
{source}{extra_source}
target:
  url: {target_url}
{f"  schema: {target_schema}" + chr(10) if target_schema else ""}runs_dir: {tmp / 'runs'}
inbox: [{", ".join(str(p) for p in (SAMPLE, tmp, *inbox))}]
thresholds: {{max_quarantine_rate: 0.05}}
""", encoding="utf-8")
    return cfg


def vendor_a_source(path: Path | None = None, gaiji: Path | None = None) -> str:
    return f"""  - name: vendor_a_jumin
    kind: file
    path: {path or SAMPLE / 'vendor_a' / 'JUMIN.csv'}
    encoding: cp932
    gaiji_table: {gaiji or SAMPLE / 'vendor_a' / 'gaiji.csv'}
    mapping: {REPO_ROOT / 'specs' / 'vendors' / 'vendor_a' / 'mappings' / 'juki' / 'jumin.yaml'}
"""


def vendor_b_source(url: str, schema: str | None = None) -> str:
    return f"""  - name: vendor_b_jumin
    kind: database
    url: {url}
    table: B_JUMIN
{f'    schema: {schema}' + chr(10) if schema else ''}    gaiji_table: {SAMPLE / 'vendor_b' / 'gaiji.csv'}
    mapping: {REPO_ROOT / 'specs' / 'vendors' / 'vendor_b' / 'mappings' / 'juki' / 'jumin.yaml'}
"""


def faults(vendor: str) -> pl.DataFrame:
    return pl.read_csv(SAMPLE / "faults.csv", infer_schema=False).filter(pl.col("vendor") == vendor)


@pytest.fixture
def run_dir_of():
    def _f(tmp: Path, summary: dict) -> Path:
        return tmp / "runs" / summary["dantai"] / summary["run_id"]
    return _f


def start_run(cfg: Path, tmp: Path, pause_at: str | None = None, *,
              args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, Path]:
    """A real `ikou run --config cfg [args]` in a process of its own, on the tests' Prefect server (stdout and
    stderr in one text pipe). With `pause_at` it waits at that checkpoint (ikou.cancel.checkpoint) once it
    has written the marker file returned, so that a test can stop it exactly there."""
    from prefect.settings import PREFECT_API_URL

    marker = tmp / f"paused-{random_tag(6)}"
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    if pause_at:
        env.update(IKOU_PAUSE_AT=pause_at, IKOU_PAUSE_MARKER=str(marker))
    proc = subprocess.Popen([sys.executable, "-m", "ikou.flows.cli", "run", "--config", str(cfg), *args],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, marker


def wait_for_pause(proc: subprocess.Popen, marker: Path, point: str, timeout: float = 240) -> None:
    """Until the run stands at `point`; fails with the run's output if it ended first (killed if it never gets there)."""
    t0 = time.monotonic()
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"run ended before {point}: {proc.stdout.read()[-3000:]}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError(f"{point} never reached")
        time.sleep(0.1)


def kill_9_at(cfg: Path, tmp: Path, point: str, *, args: tuple[str, ...] = (), timeout: float = 240) -> None:
    """A real run killed with kill -9 at checkpoint `point`: no handler, no clean-up, as a crash leaves it."""
    proc, marker = start_run(cfg, tmp, point, args=args)
    wait_for_pause(proc, marker, point, timeout)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
