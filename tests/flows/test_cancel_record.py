"""What a cancelled run's record says about the target: rolled back while the load had not committed;
after the load committed, that the target holds this run and the later stages did not finish."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ikou import cancel
from ikou.context import RunContext
from ikou.flows import migrate as M
from ikou.reports import summary as summary_module
from ikou.stage import StageResult

RUN_ID = "20261129T000000Z-R1-0001"


def _record_of_cancel(tmp_path, monkeypatch, run: M._Run, held_run_id: str | None = None) -> dict:
    """summary.json as `_record` writes it for a SIGTERM (summary building replaced by its fallback)."""
    cfg = SimpleNamespace(dantai=SimpleNamespace(name="架空市"), rehearsal="R1", gyomu=["juki"],
                          target=SimpleNamespace(url=f"duckdb:///{tmp_path / 't.duckdb'}"), target_schema="dantai_999997")
    ctx = RunContext(dantai_code="999997", run_id=RUN_ID, runs_dir=tmp_path / "runs")

    def no_summary(*a, **kw):
        raise RuntimeError("summary not built in this test")

    monkeypatch.setattr(summary_module, "build_summary", no_summary)   # flows.pipeline.record reads it there
    monkeypatch.setattr(M.loaders, "held_runs", lambda url, schema: {
        "current": {"run_id": held_run_id} if held_run_id else None, "previous": None})
    monkeypatch.setattr(cancel, "_requested", ["SIGTERM"])
    M._record(cfg, ctx, [], run, "2026-11-29T00:00:00+00:00", KeyboardInterrupt("SIGTERM"))
    return json.loads((ctx.run_dir / "summary.json").read_text(encoding="utf-8"))


def _run_at(stage: str, *done: str) -> M._Run:
    run = M._Run()
    run.results = [StageResult(stage=s, name="juki") for s in done]
    run.stage = stage
    return run


def test_a_cancel_after_the_load_committed_says_the_target_holds_this_run(tmp_path, monkeypatch):
    s = _record_of_cancel(tmp_path, monkeypatch, _run_at("diff", "extract", "map", "moji", "validate", "load"))
    assert s["status"] == "cancelled" and s["error"]["stage"] == "diff"
    assert "rolled back" not in s["error"]["message"] and "元の状態のまま" not in s["error"]["message_ja"]
    assert "holds this run" in s["error"]["message"] and "diff/report" in s["error"]["message"]
    assert "反映済み" in s["error"]["message_ja"]


def test_a_cancel_between_the_commit_and_the_load_step_returning_asks_the_target(tmp_path, monkeypatch):
    s = _record_of_cancel(tmp_path, monkeypatch, _run_at("load", "extract", "validate"), held_run_id=RUN_ID)
    assert "holds this run" in s["error"]["message"]


@pytest.mark.parametrize("stage, done, held", [("load", ("extract", "validate"), None),
                                               ("load", ("extract", "validate"), "20261128T000000Z-R1-0000")])
def test_a_cancel_before_the_load_committed_says_the_target_was_rolled_back(tmp_path, monkeypatch, stage, done, held):
    s = _record_of_cancel(tmp_path, monkeypatch, _run_at(stage, *done), held_run_id=held)
    assert s["status"] == "cancelled"
    assert "the target was rolled back" in s["error"]["message"] and "元の状態のまま" in s["error"]["message_ja"]
