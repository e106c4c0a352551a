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


@pytest.mark.parametrize("run_id", ["../999741/x", "x/../../999741", "/abs", "..", "", "a b", "r1\n"])
def test_a_run_context_refuses_a_run_id_that_is_not_one_plain_folder_name(tmp_path, run_id):
    from ikou.errors import IsolationError

    with pytest.raises(IsolationError, match="run folder name"):
        RunContext(dantai_code="999997", run_id=run_id, runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_a_run_context_refuses_a_dantai_code_that_is_not_six_digits(tmp_path):
    from ikou.errors import IsolationError

    with pytest.raises(IsolationError):
        RunContext(dantai_code="../999741", run_id="20260101T000000Z-R1-abcd", runs_dir=tmp_path / "runs")


def test_a_given_run_id_must_have_the_form_new_run_id_makes():
    from ikou.context import check_run_id
    from ikou.errors import ConfigError

    for rid in (new_run_id("R1"), new_run_id("R2-rehearsal_b"), "20261129T221752Z-R1-749c"):
        assert check_run_id(rid) == rid
    for bad in ("../999741/x", "20261129T221752Z-R1-749c/../x", "20261129T221752Z-R1-749C", "R1-749c",
                "20261129T221752Z--749c", "20261129T221752Z-R1-749c\n", "20261129T221752Z-../x-749c"):
        with pytest.raises(ConfigError, match="--run-id"):
            check_run_id(bad)
