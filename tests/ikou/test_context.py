"""Run context (ikou/context.py): run folders per 団体 and run, run ids sorted by time."""
from __future__ import annotations

import pytest

from ikou.context import STAGES, RunContext, new_run_id


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


def test_run_ids_sort_by_time_and_carry_the_rehearsal():
    rid = new_run_id("R2")
    stamp, rehearsal, token = rid.split("-")
    assert rehearsal == "R2" and len(stamp) == 16 and stamp.endswith("Z") and len(token) == 4
