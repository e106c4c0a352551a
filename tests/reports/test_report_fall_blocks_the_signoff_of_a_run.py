"""End to end (pm probe, finding 1): a rehearsal whose export lost 40 % of 住民記録 after a whole one into the same
target records the fall as a sign-off blocker in summary.json, and `ikou signoff` refuses it without --override."""
from __future__ import annotations

import pytest

from ikou.reports.signoff import SignOffRefused, sign_off
from tests.flows.conftest import SAMPLE, vendor_a_source, write_config

DANTAI = "999997"   # the sample's 団体 (its records carry it); the target is a DuckDB file of this test's own


def test_a_partial_export_after_a_whole_one_is_a_blocker_and_the_signoff_is_refused(tmp_path, prefect_harness):
    from ikou.flows.migrate import migration_flow

    target = f"duckdb:///{tmp_path / 't.duckdb'}"
    whole = migration_flow(config_path=str(write_config(tmp_path, source=vendor_a_source(), target_url=target)))
    assert whole["status"] == "succeeded"
    assert not [b for b in whole["sign_off_blockers"] if "前回より" in b]   # a first run has nothing to fall from
    lines = (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes().splitlines(keepends=True)
    part = tmp_path / "JUMIN.csv"
    part.write_bytes(b"".join(lines[: len(lines) * 6 // 10]))
    cut = migration_flow(config_path=str(write_config(tmp_path, source=vendor_a_source(part), target_url=target,
                                                      rehearsal="R2")))
    assert cut["status"] == "succeeded"
    fell = [b for b in cut["sign_off_blockers"] if "抽出件数が前回より" in b]
    assert len(fell) == 1 and "juki_kojin_rireki" in fell[0] and whole["run_id"] in fell[0]
    assert any("投入件数が前回より" in b and b.startswith("juki_kojin（") for b in cut["sign_off_blockers"])
    run_dir = tmp_path / "runs" / DANTAI / cut["run_id"]
    assert "抽出件数が前回より" in (run_dir / "report.html").read_text(encoding="utf-8")
    with pytest.raises(SignOffRefused, match="抽出件数が前回より"):
        sign_off(run_dir, by="山本", role="PM")
