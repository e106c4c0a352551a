"""Run context (ikou/context.py): run folders per 団体, and no writing into another 団体's folder."""
from __future__ import annotations

import pytest

from ikou.context import STAGES, RunContext, new_run_id
from ikou.errors import IsolationError


def ctx(tmp_path, code="999997") -> RunContext:
    return RunContext(dantai_code=code, run_id="20260101T000000Z-R1-abcd", runs_dir=tmp_path / "runs")


def test_stage_dirs_live_under_the_dantai_and_run(tmp_path):
    c = ctx(tmp_path)
    d = c.stage_dir("map")
    assert d == tmp_path / "runs" / "999997" / "20260101T000000Z-R1-abcd" / "map"
    assert d.is_dir()
    with pytest.raises(ValueError, match="unknown stage"):
        c.stage_dir("publish")
    assert "load" in STAGES


def test_guard_path_allows_own_dantai_and_paths_outside_runs(tmp_path):
    c = ctx(tmp_path)
    own = tmp_path / "runs" / "999997" / "other-run" / "x.parquet"
    assert c.guard_path(own) == own.resolve()
    outside = tmp_path / "target" / "t.duckdb"
    assert c.guard_path(outside) == outside.resolve()


def test_guard_path_refuses_another_dantais_run_folder(tmp_path):
    c = ctx(tmp_path)
    with pytest.raises(IsolationError, match="131016") as exc:
        c.guard_path(tmp_path / "runs" / "131016" / "r" / "map" / "x.parquet")
    assert exc.value.run_id == c.run_id


def test_guard_path_sees_through_dotdot(tmp_path):
    c = ctx(tmp_path)
    sneaky = c.run_dir / ".." / ".." / "131016" / "r" / "x.parquet"
    with pytest.raises(IsolationError):
        c.guard_path(sneaky)


def test_run_ids_sort_by_time_and_carry_the_rehearsal():
    rid = new_run_id("R2")
    stamp, rehearsal, token = rid.split("-")
    assert rehearsal == "R2" and len(stamp) == 16 and stamp.endswith("Z") and len(token) == 4
