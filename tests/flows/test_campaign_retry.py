"""What `ikou campaign run|retry` and `ikou deploy` decide before they touch the server, with the
server's answers stubbed (the same paths against a real server and workers: tests/flows/test_campaign.py).

A wait that timed out leaves runs that go on: they are reported as running, a retry first brings the
record up to date and refuses while any is unfinished, and re-runs only failed or cancelled ones.
A `--dantai` not in the campaign, a schedule Prefect refuses, a Prefect model error: one line, nothing
created or written.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from ikou.campaign import load_campaign
from ikou.errors import ConfigError, IkouError, one_line
from ikou.flows import campaign as C
from ikou.reports import campaign as report
from ikou.sample.campaign import fictional_codes, write_run_config

CODES = fictional_codes(3)
CID = "20261128T020000Z"


def _spec(tmp: Path) -> Path:
    for code in CODES:
        (tmp / code).mkdir(parents=True, exist_ok=True)
        write_run_config(tmp, code, target_url="duckdb:///t.duckdb", runs_dir=tmp / "runs")
    p = tmp / "campaign.yaml"
    p.write_text("spec_version: 1\ncampaign: r3\nrehearsals:\n" + "".join(f"  - config: {c}/run.yaml\n" for c in CODES),
                 encoding="utf-8")
    return p


def _timed_out_campaign(tmp: Path):
    """The campaign folder a `campaign run --timeout 3` leaves: every run still queued."""
    campaign = load_campaign(_spec(tmp))
    started = [{"entry": e, "run_id": f"20261128T020000Z-R3-{i:04d}",
                "flow_run_id": f"00000000-0000-0000-0000-00000000000{i}"} for i, e in enumerate(campaign.entries())]
    rec = report.new_record("r3", CID, spec=tmp / "campaign.yaml", limits={"work_pool": None, "target_loads": None},
                            previous=None)
    rec["runs"] = [C._pending(s) for s in started]
    report.finish(rec)
    folder = campaign.out / "r3" / CID
    report.write(folder, rec)
    return campaign, started, folder


def _summary(tmp: Path, s: dict, status: str) -> None:
    d = tmp / "runs" / s["entry"].dantai / s["run_id"]
    d.mkdir(parents=True, exist_ok=True)
    (d / "summary.json").write_text(json.dumps({"status": status, "run_id": s["run_id"], "tables": {}}),
                                    encoding="utf-8")


def _server(monkeypatch, states: dict[str, str]) -> dict:
    """Stub the server: flow run states by id; deploy and start recorded, never sent."""
    calls = {"deploy": 0, "started": []}

    async def _states(ids):
        return {i: SimpleNamespace(state=SimpleNamespace(type=SimpleNamespace(value=states[i]), message=None))
                for i in ids if i in states}

    def _start(campaign, entries, campaign_id):
        calls["started"] += [e.dantai for e in entries]
        return [{"entry": e, "run_id": f"20261128T030000Z-R3-{n:04d}",
                 "flow_run_id": f"11111111-0000-0000-0000-00000000000{n}"} for n, e in enumerate(entries)]

    monkeypatch.setattr(C, "_states", _states)
    monkeypatch.setattr(C, "deploy", lambda campaign: calls.__setitem__("deploy", calls["deploy"] + 1))
    monkeypatch.setattr(C, "_start", _start)
    monkeypatch.setattr(C, "wait", lambda ids, timeout=None: {})
    monkeypatch.setattr(C, "_ui_url", lambda i: None)
    return calls


def test_a_retry_while_runs_are_still_queued_refuses_and_corrects_the_record(tmp_path, monkeypatch):
    """The reviewer's case: retrying runs still SCHEDULED started them a second time (the target loaded
    twice). The retry refreshes every attempt first: finished ones are recorded, and while one is not
    final nothing is started."""
    campaign, started, folder = _timed_out_campaign(tmp_path)
    _summary(tmp_path, started[1], "succeeded")
    calls = _server(monkeypatch, {started[0]["flow_run_id"]: "SCHEDULED", started[1]["flow_run_id"]: "COMPLETED",
                                  started[2]["flow_run_id"]: "FAILED"})
    with pytest.raises(IkouError) as e:
        C.retry(campaign)
    assert type(e.value).__name__ == "CampaignBusy"
    line = one_line(e.value)
    assert "\n" not in str(e.value) and CODES[0] in line and CODES[1] not in line and "twice" in line
    assert e.value.ja and calls == {"deploy": 0, "started": []}
    rec = json.loads((folder / "campaign.json").read_text(encoding="utf-8"))
    by = {r["dantai"]: r for r in rec["runs"]}
    assert [by[c]["status"] for c in CODES] == ["running", "succeeded", "failed"]
    assert by[CODES[1]]["summary"] and [a["status"] for a in by[CODES[1]]["attempts"]] == ["succeeded"]
    assert by[CODES[1]]["run_dir"] == str(tmp_path / "runs" / CODES[1] / started[1]["run_id"])
    assert rec["status"] == "running"


def test_a_retry_once_the_runs_have_finished_reruns_only_the_failed_and_cancelled(tmp_path, monkeypatch):
    campaign, started, folder = _timed_out_campaign(tmp_path)
    _summary(tmp_path, started[0], "succeeded")   # ran after the wait ended: its record said running
    calls = _server(monkeypatch, {started[0]["flow_run_id"]: "COMPLETED", started[1]["flow_run_id"]: "CANCELLED",
                                  started[2]["flow_run_id"]: "CRASHED"})
    _, rec = C.retry(campaign)
    assert calls["deploy"] == 1 and calls["started"] == CODES[1:]
    by = {r["dantai"]: r for r in rec["runs"]}
    assert by[CODES[0]]["status"] == "succeeded" and by[CODES[0]]["run_id"] == started[0]["run_id"]
    assert [a["status"] for a in by[CODES[0]]["attempts"]] == ["succeeded"]
    assert [a["status"] for a in by[CODES[1]]["attempts"]][0] == "cancelled"
    assert [a["status"] for a in by[CODES[2]]["attempts"]][0] == "failed"
    assert all(len(by[c]["attempts"]) == 2 for c in CODES[1:])


def test_a_timed_out_wait_reports_runs_still_running_not_failed(tmp_path, monkeypatch, capsys):
    from ikou.flows.campaign_cli import _report

    campaign, started, folder = _timed_out_campaign(tmp_path)
    rec = json.loads((folder / "campaign.json").read_text(encoding="utf-8"))
    e = started[2]["entry"]
    rec["runs"][2] = report.run_record(deployment=e.deployment, dantai=e.dantai, dantai_name="-", gyomu=["juki"],
                                       rehearsal="R3", run_id=started[2]["run_id"], run_dir=tmp_path / "none",
                                       flow_run_id=started[2]["flow_run_id"], flow_run_url=None, state="FAILED",
                                       state_message="boom", summary=None)
    assert _report(folder, rec) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "still running" in err[0] and "実行中" in err[0] and "ikou runs list" in err[0]
    assert f"2 run(s) not finished when the wait ended ({CODES[0]}, {CODES[1]}); 1 failed ({CODES[2]})" in err[0]
    rec["runs"] = rec["runs"][2:]
    assert _report(folder, rec) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "失敗" in err[0] and "still running" not in err[0]


@pytest.mark.parametrize("dantai", ["99967", "999997", f"{CODES[0]},999997", ","])
def test_campaign_run_with_a_dantai_not_in_the_campaign_refuses_before_anything_is_written(
        tmp_path, monkeypatch, capsys, dantai):
    from ikou.flows.cli import main

    spec = _spec(tmp_path)
    calls = _server(monkeypatch, {})
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert main(["campaign", "run", str(spec), "--dantai", dantai]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a 団体 of campaign r3" in err[0], err
    assert "キャンペーン r3 の団体ではありません" in err[0] and "何も開始していません" in err[0], err
    assert calls == {"deploy": 0, "started": []} and not (tmp_path / "campaigns").exists()


def test_deploy_checks_every_schedule_before_it_creates_anything(tmp_path, monkeypatch):
    """A schedule Prefect refuses (here forced on the second entry) stops the deploy before the pool,
    the limits or the first deployment are touched."""
    import prefect
    from prefect.client.schemas.schedules import CronSchedule as PCron

    campaign = load_campaign(_spec(tmp_path))
    entries = campaign.entries()
    real = C._schedules

    def _schedules(e):
        if e.deployment == entries[1].deployment:
            PCron(cron="0 25 * * *")
        return real(e)

    def _no_client(*a, **k):
        raise AssertionError("the server was contacted before every entry was checked")

    monkeypatch.setattr(C, "_schedules", _schedules)
    monkeypatch.setattr(prefect, "get_client", _no_client)
    with pytest.raises(ConfigError) as e:
        C.deploy(campaign)
    assert f"rehearsals.1 ({entries[1].deployment})" in str(e.value) and "cron" in str(e.value)


def test_a_prefect_model_error_ends_the_command_with_one_line_and_debug_shows_it(monkeypatch):
    from pydantic import ValidationError
    from prefect.client.schemas.schedules import CronSchedule as PCron

    from ikou.flows.campaign_cli import _server_errors

    @_server_errors
    def command(args):
        PCron(cron="0 25 * * *")

    monkeypatch.delenv("IKOU_DEBUG", raising=False)
    with pytest.raises(C.CampaignError) as e:
        command(SimpleNamespace(debug=False))
    assert "\n" not in str(e.value) and "ValidationError" in str(e.value) and "CronSchedule" in str(e.value)
    with pytest.raises(ValidationError):
        command(SimpleNamespace(debug=True))


@pytest.mark.parametrize("argv", [["deploy", "c.yaml"], ["campaign", "run", "c.yaml"], ["campaign", "retry", "c.yaml"],
                                  ["runs", "list"], ["runs", "show", "R1"]])
def test_the_campaign_commands_accept_debug(argv):
    from ikou.flows.cli import build_parser

    assert build_parser().parse_args([*argv, "--debug"]).debug is True
