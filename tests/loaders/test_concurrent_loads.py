"""Two 団体 load into one PostgreSQL database at once (a campaign with more than one load slot): the
second never waits on, nor fails against, the first one's role set-up (GRANT … ON DATABASE)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from ikou.flows.server import drop_database, recreate_database
from ikou.sample.campaign import fictional_codes, write_run_config
from ikou.sample.generate import generate

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PG = "postgresql://postgres@127.0.0.1:5432"
DB = f"ikou_concurrent_load_test_{os.getpid()}"   # per process: other checkouts share the PostgreSQL
IKOU = str(Path(sys.executable).parent / "ikou")


@pytest.fixture
def database(postgres_url):
    recreate_database(f"{PG}/{DB}")   # new database: neither role holds CREATE on it yet
    yield f"{PG}/{DB}"
    drop_database(f"{PG}/{DB}")


def test_a_dantai_loads_while_another_is_inside_its_load_transaction(tmp_path, database, prefect_harness):
    first, second = fictional_codes(9)[7:]
    configs = {}
    for i, code in enumerate((first, second)):
        generate(tmp_path / code, 100, seed=i, dantai=code)
        configs[code] = write_run_config(tmp_path, code, target_url=database, runs_dir=tmp_path / "runs",
                                         max_quarantine_rate=0.2)
    from prefect.settings import PREFECT_API_URL

    # the test session's Prefect server: a temporary server per run times out on a busy machine
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
           "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    marker = tmp_path / "paused"
    held = subprocess.Popen([IKOU, "run", "--config", str(configs[first])], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**env, "IKOU_PAUSE_AT": "load.begin", "IKOU_PAUSE_MARKER": str(marker),
                                 "IKOU_PAUSE_SECONDS": "40"})
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert held.poll() is None and time.monotonic() < deadline, held.stdout.read() if held.poll() else "timeout"
        time.sleep(0.2)
    # the first load is inside its transaction (its tables half built); the second runs start to end meanwhile
    other = subprocess.run([IKOU, "run", "--config", str(configs[second])], capture_output=True, text=True, env=env,
                           timeout=300)
    still_paused = held.poll() is None
    out, _ = held.communicate(timeout=300)
    assert other.returncode == 0, other.stderr[-2000:]
    assert still_paused, "the second load waited for the first one's transaction"
    assert held.returncode == 0, out[-2000:]
    with psycopg.connect(f"{PG}/{DB}") as conn:
        for code in (first, second):
            run_dir = Path(next(iter(l for l in (other.stdout if code == second else out).splitlines()
                                     if l.startswith(str(tmp_path / "runs")))))
            loaded = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["tables"]
            n = conn.execute(f"SELECT count(*) FROM dantai_{code}.juki_kojin_rireki").fetchone()[0]
            assert n == loaded["juki_kojin_rireki"]["loaded"] > 0
