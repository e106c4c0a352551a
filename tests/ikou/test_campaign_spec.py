"""The campaign file is a spec like every other: unknown keys, bad schedules, broken run configs and
two rehearsals with one deployment name are errors that name the file and the key."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ikou.campaign import CronSchedule, IntervalSchedule, load_campaign
from ikou.errors import ConfigError
from ikou.sample.campaign import fictional_codes, write_run_config


def _campaign(tmp: Path, body: str, codes=("999903",)) -> Path:
    for code in codes:
        (tmp / code).mkdir(parents=True, exist_ok=True)
        write_run_config(tmp, code, target_url="duckdb:///t.duckdb", runs_dir=tmp / "runs")
    p = tmp / "campaign.yaml"
    p.write_text(body, encoding="utf-8")
    return p


def test_a_campaign_names_one_deployment_per_run_config_with_the_campaign_schedule(tmp_path):
    codes = fictional_codes(2)
    p = _campaign(tmp_path, f"""spec_version: 1
campaign: r3
schedule: {{cron: "0 2 * * 6", timezone: Asia/Tokyo}}
limits: {{target_loads: 2}}
rehearsals:
  - config: {codes[0]}/run.yaml
  - config: {codes[1]}/run.yaml
    schedule: {{interval_seconds: 60, anchor: "2026-12-05T02:00:00+09:00"}}
    target_url: postgresql://postgres@127.0.0.1:5432/test
""", codes)
    c = load_campaign(p)
    es = c.entries()
    assert [e.deployment for e in es] == [f"r3.{codes[0]}.juki", f"r3.{codes[1]}.juki"]
    assert isinstance(es[0].schedule, CronSchedule) and es[0].schedule.cron == "0 2 * * 6"
    assert isinstance(es[1].schedule, IntervalSchedule) and es[1].schedule.interval_seconds == 60
    assert es[0].parameters() == {"config_path": str((tmp_path / codes[0] / "run.yaml").resolve())}
    assert es[1].parameters()["target_url"].startswith("postgresql://")
    assert c.out == (tmp_path / "campaigns").resolve()


@pytest.mark.parametrize("body,where", [
    ("campaign: r3\nrehearsals: [{config: 999903/run.yaml}]\nschedul: {cron: '0 2 * * 6'}\n", "schedul"),
    ("campaign: r3\nrehearsals: [{config: 999903/run.yaml, scheduel: x}]\n", "rehearsals.0"),
    ("campaign: r3\nschedule: {cron: '0 2 * *'}\nrehearsals: [{config: 999903/run.yaml}]\n", "schedule"),
    ("campaign: r3\nschedule: {cron: '0 2 * * 6', timezone: Mars/Olympus}\nrehearsals: [{config: 999903/run.yaml}]\n",
     "timezone"),
    ("campaign: r3\nschedule: {interval_seconds: 60, anchor: '2026-12-05T02:00:00'}\n"
     "rehearsals: [{config: 999903/run.yaml}]\n", "UTC offset"),
    ("campaign: r3\nrehearsals: [{config: missing/run.yaml}]\n", "rehearsals.0.config"),
    ("campaign: r3\nrehearsals: [{config: 999903/run.yaml}, {config: 999903/run.yaml}]\n", "both deployment"),
    ("campaign: ../r3\nrehearsals: [{config: 999903/run.yaml}]\n", "campaign"),
    ("campaign: r3\nlimits: {target_loads: 0}\nrehearsals: [{config: 999903/run.yaml}]\n", "target_loads"),
    ("campaign: r3\nparallel: {task_runner: threads, dask_address: 'tcp://h:8786'}\n"
     "rehearsals: [{config: 999903/run.yaml}]\n", "dask_address"),
    ("campaign: r3\nrehearsals: []\n", "rehearsals"),
])
def test_a_wrong_campaign_file_is_an_error_naming_the_file_and_the_key(tmp_path, body, where):
    p = _campaign(tmp_path, "spec_version: 1\n" + body)
    with pytest.raises(ConfigError) as e:
        load_campaign(p)
    assert str(p) in str(e.value) and where in str(e.value)


def test_fictional_codes_are_valid_and_never_the_sample_dantai():
    from ikou.checkdigit import is_valid_dantai_code

    codes = fictional_codes(40)
    assert len(set(codes)) == 40 and "999997" not in codes and all(is_valid_dantai_code(c) for c in codes)


def test_campaign_commands_without_a_reachable_server_end_with_one_line(tmp_path, monkeypatch, capsys):
    from ikou.flows.cli import main
    from ikou.flows.server import free_port

    p = _campaign(tmp_path, "spec_version: 1\ncampaign: r3\nrehearsals: [{config: 999903/run.yaml}]\n")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["deploy", str(p)]) == 2
    assert "PREFECT_API_URL" in capsys.readouterr().err
    env = {**os.environ, "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"}   # nobody listens there
    proc = subprocess.run([str(Path(sys.executable).parent / "ikou"), "runs", "list"], env=env, capture_output=True,
                          text=True, timeout=120)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1, proc.stderr[-2000:]
    assert "Prefect サーバー" in err[0] and "Prefect server at" in err[0] and "ConnectError" in err[0]
