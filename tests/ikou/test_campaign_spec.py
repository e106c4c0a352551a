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


def _one_line_error(p: Path) -> str:
    from ikou.errors import one_line

    with pytest.raises(ConfigError) as e:
        load_campaign(p)
    assert str(p) in str(e.value)
    return one_line(e.value)


@pytest.mark.parametrize("cron", ["99 99 * * *", "0 25 * * *", "60 2 * * *", "0 2 32 * *", "0 2 * 13 *", "0 2 * * 8"])
@pytest.mark.parametrize("where", ["campaign", "entry"])
def test_a_cron_with_a_value_out_of_range_is_refused_when_the_campaign_is_read(tmp_path, cron, where):
    """Prefect refuses these when `ikou deploy` builds the schedule, after the entries before it were
    deployed; the campaign check must refuse them first, naming the entry and the field."""
    if where == "campaign":
        body = (f"spec_version: 1\ncampaign: r3\nschedule: {{cron: '{cron}'}}\n"
                "rehearsals: [{config: 999903/run.yaml}]\n")
        field = "schedule.CronSchedule.cron"
    else:
        body = (f"spec_version: 1\ncampaign: r3\nrehearsals:\n  - config: 999903/run.yaml\n"
                f"    schedule: {{cron: '{cron}'}}\n")
        field = "rehearsals.0.schedule.CronSchedule.cron"
    line = _one_line_error(_campaign(tmp_path, body))
    assert field in line and cron in line and "IntervalSchedule" not in line


@pytest.mark.parametrize("cron", ["0 2 * * 6", "0 2 * * sat", "*/15 1-5 * * 1-5", "0 22 1,15 * *", "0 2 * * 7"])
def test_a_valid_cron_is_accepted(tmp_path, cron):
    p = _campaign(tmp_path, f"spec_version: 1\ncampaign: r3\nschedule: {{cron: '{cron}'}}\n"
                            "rehearsals: [{config: 999903/run.yaml}]\n")
    assert load_campaign(p).entries()[0].schedule.cron == cron


def _second_config(tmp: Path, code: str, name: str, **edits: str) -> Path:
    """Another run config of the same 団体 (a second rehearsal file), with some lines replaced."""
    text = (tmp / code / "run.yaml").read_text(encoding="utf-8")
    for old, new in edits.items():
        assert old in text
        text = text.replace(old, new)
    (tmp / code / name).write_text(text, encoding="utf-8")
    return tmp / code / name


PG_A = {"url: duckdb:///t.duckdb": "url: postgresql://a@db:5432/target"}


@pytest.mark.parametrize("first,second,override", [
    (None, {}, None),                                                          # the same file target
    (None, {"rehearsal: R3": "rehearsal: R4"}, None),                          # another rehearsal, same target
    (None, {"url: duckdb:///t.duckdb": "url: duckdb:///other.duckdb"}, "duckdb:///{tmp}/999903/t.duckdb"),
    (PG_A, PG_A, "postgresql+psycopg://b:secret@DB/target"),                   # driver, user, default port differ
])
def test_two_rehearsals_loading_one_target_are_refused_naming_both(tmp_path, first, second, override):
    """Two entries into one database + schema would load the same target at the same time (both
    'succeed', the target holds one of them)."""
    p = _campaign(tmp_path, "")
    one = _second_config(tmp_path, "999903", "run1.yaml", **first).name if first else "run.yaml"
    _second_config(tmp_path, "999903", "run2.yaml", **second)
    extra = f"\n    target_url: {override.format(tmp=tmp_path)}" if override else ""
    p.write_text(f"spec_version: 1\ncampaign: r3\nrehearsals:\n  - config: 999903/{one}\n"
                 f"  - config: 999903/run2.yaml\n    name: second{extra}\n", encoding="utf-8")
    line = _one_line_error(p)
    assert "rehearsals.1 (999903/run2.yaml) and rehearsals.0 (999903/" + one + ")" in line
    assert "same target" in line and "dantai_999903" in line and "secret" not in line


def test_two_rehearsals_of_one_dantai_into_different_targets_are_accepted(tmp_path):
    p = _campaign(tmp_path, "")
    _second_config(tmp_path, "999903", "run2.yaml", **{"target:\n": "target:\n  schema: dantai_999903_r4\n"})
    _second_config(tmp_path, "999903", "run3.yaml")
    p.write_text("spec_version: 1\ncampaign: r3\nrehearsals:\n  - config: 999903/run.yaml\n"
                 "  - config: 999903/run2.yaml\n    name: r4\n"
                 "  - config: 999903/run3.yaml\n    name: other-db\n    target_url: duckdb:///other.duckdb\n",
                 encoding="utf-8")
    es = load_campaign(p).entries()
    assert [e.cfg.target_schema for e in es] == ["dantai_999903", "dantai_999903_r4", "dantai_999903"]
    assert es[2].cfg.target.url.endswith("other.duckdb")   # the entry's config as its run will see it


@pytest.mark.parametrize("url,expected", [
    ("mysql://x", "no target database for URL scheme 'mysql'"),
    ("not a url", "not a URL"),
])
def test_a_target_url_no_run_would_accept_fails_when_the_campaign_is_read(tmp_path, url, expected):
    p = _campaign(tmp_path, "spec_version: 1\ncampaign: r3\nrehearsals:\n  - config: 999903/run.yaml\n"
                            f"    target_url: \"{url}\"\n")
    line = _one_line_error(p)
    assert "rehearsals.0.target_url" in line and expected in line


@pytest.mark.parametrize("edit,expected", [
    ({"jumin.yaml": "missing.yaml"}, "file not found"),
    ({"gyomu: [juki]": "gyomu: [juki, kojin_juminzei]"}, "no source maps into"),
])
def test_a_run_config_whose_plan_a_run_would_refuse_fails_when_the_campaign_is_read(tmp_path, edit, expected):
    """A mapping file that does not exist (or 業務 no source maps into) fails the run's plan: the
    campaign check reads the plan too, so `ikou deploy` refuses it instead of a worker."""
    p = _campaign(tmp_path, "spec_version: 1\ncampaign: r3\nrehearsals:\n  - config: 999903/run2.yaml\n")
    _second_config(tmp_path, "999903", "run2.yaml", **edit)
    line = _one_line_error(p)
    assert "rehearsals.0.config" in line and "run2.yaml" in line and expected in line
