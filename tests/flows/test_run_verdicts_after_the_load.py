"""What a run tells, and keeps, besides its stages: a --target-url password never stored as a Prefect flow
parameter; an unreachable Prefect API named as such (not a config failure); an evidence pack or a retention
clean-up that fails after the run is recorded in its summary.json, without calling the migration failed; a
cancel record that never claims nothing was read when the run had begun; exit codes in `ikou run --help`,
and a sub-command's own usage for a flag it does not know."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ikou import REPO_ROOT
from ikou.flows import run_cli
from ikou.flows.cli import main
from ikou.flows.run_cli import execute
from tests.flows.conftest import vendor_a_source, write_config


def _last_run(tmp_path: Path) -> tuple[Path, dict]:
    (run_dir,) = [p for p in (tmp_path / "runs" / "999997").iterdir() if p.is_dir() and p.name[0].isdigit()]
    return run_dir, json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


@pytest.mark.usefixtures("prefect_harness")
def test_a_target_password_is_never_stored_as_a_flow_parameter(tmp_path, pg_target, monkeypatch):
    import ikou.flows.migrate as migrate
    from prefect.client.orchestration import get_client

    url, schema = pg_target
    secret_url = url.replace("postgres@", "postgres:s3cretpw@")
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=url, target_schema=schema)
    seen = []
    real = migrate.with_target_url
    monkeypatch.setattr(migrate, "with_target_url", lambda c, u: (seen.append(u), real(c, u))[1])
    assert execute(cfg, target_url=secret_url, quiet=True) == 0
    run_dir, summary = _last_run(tmp_path)
    assert summary["status"] == "succeeded"
    assert seen and all("s3cretpw" in u for u in seen)   # the flow connected with the password all the same
    with get_client(sync_client=True) as client:
        found = client._client.post("/flow_runs/filter", json={"limit": 200, "sort": "START_TIME_DESC"}).json()
    runs = [r for r in found if (r.get("parameters") or {}).get("run_id") == run_dir.name]
    assert len(runs) == 1
    stored = json.dumps(runs[0]["parameters"])
    assert "s3cretpw" not in stored, stored
    assert runs[0]["parameters"]["target_url"] == url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_prefect_api_is_named_and_not_called_a_config_failure(tmp_path):
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    env = {**os.environ, "PREFECT_API_URL": f"http://127.0.0.1:{_free_port()}/api", "PREFECT_CLIENT_MAX_RETRIES": "0",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    proc = subprocess.run([sys.executable, "-m", "ikou.flows.cli", "run", "--config", str(cfg), "--quiet"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("ikou:")]
    assert line.startswith("ikou: 失敗 (prefect): Prefect に接続できません") and "PREFECT_API_URL" in line, line
    assert "config" not in line
    run_dir, summary = _last_run(tmp_path)
    assert proc.stdout.rstrip().splitlines()[-1] == str(run_dir)
    assert summary["status"] == "failed" and summary["error"]["stage"] == "prefect"


def test_an_unreadable_evidence_key_is_refused_at_plan_before_anything_is_loaded(tmp_path, monkeypatch, capsys):
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    monkeypatch.setenv("IKOU_EVIDENCE_KEY", str(tmp_path / "no-such-key.pem"))
    assert execute(cfg, evidence=True, quiet=True) == 2
    _, summary = _last_run(tmp_path)
    assert summary["status"] == "failed" and summary["error"]["stage"] == "plan"
    assert "no-such-key.pem" in summary["error"]["message"]
    assert not (tmp_path / "t.duckdb").exists()   # refused before anything was read or loaded
    assert "失敗 (plan)" in capsys.readouterr().err


@pytest.mark.usefixtures("prefect_harness")
def test_an_evidence_pack_failure_after_the_run_is_recorded_and_says_the_migration_completed(tmp_path, monkeypatch,
                                                                                              capsys):
    from ikou.errors import TerminalError
    from ikou.reports import evidence

    def no_pack(*a, **kw):
        raise TerminalError("disk full", ja="ディスクがいっぱいです")

    monkeypatch.setattr(evidence, "build_pack", no_pack)
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    assert execute(cfg, evidence=True, quiet=True) == 2
    run_dir, summary = _last_run(tmp_path)
    assert summary["status"] == "succeeded" and "disk full" in summary["evidence_error"]
    out = capsys.readouterr()
    (line,) = [ln for ln in out.err.splitlines() if ln.startswith("ikou:")]
    assert "移行は完了" in line and "the migration completed; only the evidence pack failed" in line, line
    assert not line.startswith("ikou: 失敗")
    assert out.out.rstrip().splitlines()[-1] == str(run_dir)


@pytest.mark.usefixtures("prefect_harness")
def test_a_retention_failure_after_the_run_is_a_warning_in_its_summary(tmp_path, monkeypatch, capsys):
    import ikou.retention

    def broken(*a, **kw):
        raise ValueError("unconverted data remains: 99")

    monkeypatch.setattr(ikou.retention, "purge", broken)
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    cfg.write_text(cfg.read_text(encoding="utf-8") + "retention_days: 30\n", encoding="utf-8")
    assert execute(cfg, quiet=True) == 0, capsys.readouterr().err
    _, summary = _last_run(tmp_path)
    assert summary["status"] == "succeeded" and "unconverted data remains" in summary["retention_error"]
    assert "失敗" not in capsys.readouterr().err


@pytest.mark.parametrize("held", ["stage output", "target"])
def test_a_cancel_record_never_says_nothing_was_read_when_the_run_had_begun(tmp_path, monkeypatch, held):
    import ikou.loaders

    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    run_dir = tmp_path / "runs" / "999997" / "20261130T174713Z-R1-2043"
    run_dir.mkdir(parents=True)
    (run_dir / "run.log").write_text("", encoding="utf-8")
    if held == "stage output":
        (run_dir / "extract").mkdir()
    else:
        monkeypatch.setattr(ikou.loaders, "held_runs", lambda url, schema: {
            "current": {"run_id": run_dir.name, "status": "RUNNING"}, "previous": None})
    run_cli._cancelled_before_start_record(cfg, run_dir)
    s = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert s["status"] == "cancelled" and s["error"]["stage"] != "start"
    assert "nothing was read" not in s["error"]["message"] and "何も読み込み" not in s["error"]["message_ja"]
    assert "ikou rollback --list" in s["error"]["message"]
    if held == "target":
        assert "holds this run" in s["error"]["message"]


def test_a_cancel_record_before_anything_was_read_says_so(tmp_path):
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    run_dir = tmp_path / "runs" / "999997" / "20261130T174713Z-R1-2043"
    run_dir.mkdir(parents=True)
    (run_dir / "run.log").write_text("", encoding="utf-8")
    run_cli._cancelled_before_start_record(cfg, run_dir)
    s = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert s["error"]["stage"] == "start" and "nothing was read" in s["error"]["message"]


def test_run_help_names_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert "exit codes" in text and all(f"\n  {c} " in text for c in ("0", "2", "130")), text


def test_an_unknown_flag_of_a_subcommand_shows_that_subcommands_usage(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--config", str(tmp_path / "x.yaml"), "--frobnicate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ikou run ") and "--frobnicate" in err, err


def test_a_temporary_prefect_server_that_does_not_start_in_time_is_named_with_the_setting_to_raise(tmp_path):
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0", PREFECT_HOME=str(tmp_path / "prefect"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false")
    proc = subprocess.run([sys.executable, "-m", "ikou.flows.cli", "run", "--config", str(cfg), "--quiet"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("ikou:")]
    assert line.startswith("ikou: 失敗 (prefect): Prefect の一時サーバーが時間内に起動しませんでした"), line
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in line and "config" not in line
    _, summary = _last_run(tmp_path)
    assert summary["status"] == "failed" and summary["error"]["stage"] == "prefect"
