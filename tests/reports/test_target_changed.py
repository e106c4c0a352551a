"""A target changed by hand after the load (rows deleted) no longer holds the run its record names:
`ikou evidence` refuses to pack it, `evidence verify` of a pack made before says so, and `ikou signoff`
refuses, though the target's run id is still this run's."""
from __future__ import annotations

import pytest

from ikou.flows.cli import main
from tests.reports.test_rollback_trend_signoff import _run, _signoff

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_rows_deleted_after_the_load_are_found_by_evidence_verify_and_signoff(tmp_path, capsys, monkeypatch):
    import duckdb

    monkeypatch.delenv("IKOU_EVIDENCE_KEY", raising=False)
    db = tmp_path / "t.duckdb"
    r1 = _run(tmp_path, f"duckdb:///{db}", "R1")
    run = tmp_path / "runs" / "999997" / r1["run_id"]
    assert main(["evidence", str(run), "--out", str(tmp_path / "before.zip")]) == 0
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM dantai_999997.juki_kojin_rireki WHERE rireki_no > 1")
    capsys.readouterr()
    assert main(["evidence", str(run)]) == 2
    err = capsys.readouterr().err
    assert "changed after run" in err and "juki_kojin_rireki" in err and len(err.strip().splitlines()) == 1, err
    assert main(["evidence", "verify", str(tmp_path / "before.zip")]) == 2
    assert "juki_kojin_rireki" in capsys.readouterr().out
    rc, _, err = _signoff(capsys, run)
    assert rc == 2 and "changed after run" in err and len(err.strip().splitlines()) == 1, err
    assert not (run / "signoff.json").exists()
