"""The PostgreSQL session that COPYs a run's rows names the run in `application_name`, as the lease's session does:
an operator looking at pg_stat_activity for a stuck or slow load finds it (an operator's query for ikou's COPY found
nothing: only the lease was named)."""
from __future__ import annotations

import threading
import time

import polars as pl
import psycopg

from ikou.loaders import LoadPart, RunRecord, load_run


def test_the_load_session_is_named_after_its_run(tmp_path, pg_target, schema, monkeypatch):
    url, db_schema = pg_target
    marker = tmp_path / "paused"
    monkeypatch.setenv("IKOU_PAUSE_AT", "load.begin")   # inside the load's transaction, before its COPY
    monkeypatch.setenv("IKOU_PAUSE_MARKER", str(marker))
    monkeypatch.setenv("IKOU_PAUSE_SECONDS", "4")
    run_id = "20261201T000000Z-R1-appn"
    frame = pl.DataFrame({"atena_no": ["00001", "00002"]})
    done: list = []
    t = threading.Thread(target=lambda: done.append(load_run([LoadPart(schema, {"ga_t": frame})], url, db_schema,
                                                             run=RunRecord(run_id, "R1", "999997", ("ga",)))))
    t.start()
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        names = [r[0] for r in conn.execute("SELECT application_name FROM pg_stat_activity "
                                            "WHERE application_name LIKE %s", (f"ikou {run_id}%",))]
    t.join()
    assert done and done[0]["ga_t"] == 2
    assert any(n.startswith(f"ikou {run_id} load pid ") for n in names), names
