"""`ikou runs list` against a Prefect server: each flow run's status, blockers, held records and mode come from its
run folder when the report link leads to it from here (its sign-off with it), else from the summary the server
keeps; a flow run that failed before writing a summary is failed, not a blank."""
from __future__ import annotations

import json
import shutil

import pytest
from prefect import flow

from ikou.campaign import FLOW_NAME
from ikou.flows import history
from ikou.flows.cli import main

CODE = "999768"
SIGNED, MOVED, DIED = "20261110T000000Z-R1-00a1", "20261111T000000Z-R1-00a2", "20261112T000000Z-R1-00a3"


@flow(name=FLOW_NAME)
def fake_migration(run_id: str, run_dir: str, summary: dict | None = None):
    """What flows.migrate leaves on the server: the run labelled, its summary and report link as artifacts."""
    from pathlib import Path

    history.label(CODE, run_id, "R1")
    if summary is None:
        raise RuntimeError("died before its summary")
    history.record(summary, Path(run_dir))


def _summary(run_id: str, **over) -> dict:
    return {"dantai": CODE, "run_id": run_id, "rehearsal": "R1", "status": "succeeded",
            "tables": {"juki_kojin_rireki": {"extracted": 9, "quarantined": 4, "loaded": 5}},
            "sign_off_blockers": [], **over}


@pytest.fixture(scope="module")
def listed(prefect_harness, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    for run_id, summary in ((SIGNED, _summary(SIGNED)), (MOVED, _summary(MOVED, sign_off_blockers=["差額 1 件"])),
                            (DIED, None)):
        d = runs / CODE / run_id
        d.mkdir(parents=True)
        (d / "report.html").write_text("<html></html>", encoding="utf-8")
        if summary is not None:
            (d / "summary.json").write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
        fake_migration(run_id, str(d), summary, return_state=True)
    (runs / CODE / SIGNED / "signoff.json").write_text(json.dumps({"signoffs": [{"by": "PM", "override": None}]}),
                                                       encoding="utf-8")
    shutil.rmtree(runs / CODE / MOVED)   # its folder is on another machine: the server's summary is what there is
    return runs


def test_each_run_is_read_from_its_folder_or_the_servers_summary(listed):
    # the suite shares one Prefect server: other tests' runs of this 団体 may be listed beside these three
    rows = {r["run_id"]: r for r in history.list_runs(CODE) if r["run_id"] in (SIGNED, MOVED, DIED)}
    assert set(rows) == {SIGNED, MOVED, DIED}
    s, m, d = rows[SIGNED], rows[MOVED], rows[DIED]
    assert (s["status"], s["signed_off"], s["held"], s["sign_off_blockers"]) == ("signed_off", True, 4, 0)
    assert s["run_dir"] == str((listed / CODE / SIGNED).resolve())
    assert (m["status"], m["signed_off"], m["sign_off_blockers"], m["summary_from"]) == ("blocked", None, 1, "server")
    assert (d["state"], d["status"], d["held"]) == ("FAILED", "failed", None)
    assert "要約なし" in d["status_shown"]


def test_the_table_on_the_server_says_the_status_beside_the_state(listed, monkeypatch, capsys):
    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    assert main(["runs", "list", "--dantai", CODE]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "状態 / status" in lines[0] and "state" in lines[0], lines[0]
    by = {ln.split()[0]: ln for ln in lines[1:]}
    assert "承認済み / signed off" in by[SIGNED] and "COMPLETED" in by[SIGNED]
    assert "成功（承認の妨げあり）" in by[MOVED]
    assert "失敗（要約なし）" in by[DIED] and "FAILED" in by[DIED]
