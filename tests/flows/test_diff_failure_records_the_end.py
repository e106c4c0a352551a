"""A run whose diff fails after its load committed is recorded by the target as failed (`ikou_run.status`),
not left `running`: the diff closes the read-only connection it opened on a DuckDB target on every path, so
the flow can open the file again to record the run's end."""
from __future__ import annotations

import json

import pytest

from ikou.flows.migrate import migration_flow
from ikou.loaders import held_runs
from tests.flows.conftest import vendor_a_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_a_run_whose_diff_fails_after_the_commit_is_recorded_failed_by_a_duckdb_target(tmp_path, monkeypatch):
    url = f"duckdb:///{tmp_path / 't.duckdb'}"
    monkeypatch.setenv("IKOU_DIFF_MEMORY_LIMIT", "1KB")   # DuckDB cannot run the diff's joins in that
    state = migration_flow(config_path=str(write_config(tmp_path, source=vendor_a_source(), target_url=url)),
                           return_state=True)
    assert state.is_failed()
    (record,) = (tmp_path / "runs" / "999997").glob("*/summary.json")
    summary = json.loads(record.read_text(encoding="utf-8"))
    assert (summary["status"], summary["error"]["stage"]) == ("failed", "diff"), summary.get("error")
    current = held_runs(url, "dantai_999997")["current"]
    assert (current["run_id"], current["status"]) == (summary["run_id"], "failed")
