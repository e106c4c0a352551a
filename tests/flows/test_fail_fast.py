"""A bad spec is refused before Prefect starts, and a run id names one run.

`ikou run` builds and checks the run's plan (flows.pipeline.checked_plan) before it starts the flow: a
mapping with an unknown op, a mapping that does not fit its schema, a rule naming a column the schema
lacks end at once, with the record the flow would have written (summary.json, stage plan), one line in
Japanese and English and exit 2, without any Prefect server. The flow still checks the same plan itself
(a worker or a deployment starts it without `ikou run`). A run folder that holds anything, a killed run's
traces too, is never given to another run, by `ikou run` or by the flow; the folder `ikou run` creates
for its own flow is."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ikou import REPO_ROOT, SPECS
from tests.conftest import failed_run
from tests.flows.conftest import vendor_a_source, write_config
from tests.flows.test_failures import _mapping_with

DANTAI = "999717"
MAPPING = REPO_ROOT / "specs" / "vendors" / "vendor_a" / "mappings" / "juki" / "jumin.yaml"
NO_SERVER = "http://127.0.0.1:9/api"   # nothing listens on port 9: any call to Prefect fails


def _mapping(tmp_path: Path, change) -> Path:
    """Vendor A's 住民記録 mapping with absolute paths, changed by `change` (spec, tmp_path)."""
    return _mapping_with(tmp_path, lambda spec: change(spec, tmp_path))


def _unknown_op(spec, tmp_path):
    spec["columns"][3]["op"] = "no_such_op"


def _column_the_schema_lacks(spec, tmp_path):
    spec["columns"].append({"target": "no_such_column", "op": "text", "from": spec["columns"][0]["from"]})


def _rule_naming_a_column_the_schema_lacks(spec, tmp_path):
    shutil.copytree(SPECS / "gyomu" / "juki", tmp_path / "juki")
    rules = tmp_path / "juki" / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    assert "params: {columns: [juminhyo_code], regex:" in text
    rules.write_text(text.replace("params: {columns: [juminhyo_code], regex:",
                                  "params: {columns: [juminhyo_kode], regex:"), encoding="utf-8")
    spec["schema"] = str(tmp_path / "juki" / "schema.yaml")


BAD_SPECS = {   # case: (change of the mapping, words the message must hold)
    "unknown_op": (_unknown_op, ["no_such_op", "mapping.yaml"]),
    "schema_mapping_mismatch": (_column_the_schema_lacks, ["no_such_column", "mapping.yaml"]),
    "rule_naming_a_missing_column": (_rule_naming_a_column_the_schema_lacks, ["rules.yaml", "juminhyo_kode"]),
}


def _config(tmp_path: Path, source: str | None = None) -> Path:
    cfg = write_config(tmp_path, source=source or vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('code: "999997"', f'code: "{DANTAI}"'), encoding="utf-8")
    return cfg


def _bad_config(tmp_path: Path, case: str) -> Path:
    change, _ = BAD_SPECS[case]
    return _config(tmp_path, vendor_a_source().replace(str(MAPPING), str(_mapping(tmp_path, change))))


def _files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_run_refuses_a_bad_spec_at_its_plan_without_starting_prefect(tmp_path, case):
    """No Prefect server can be reached here: the run ends at its plan all the same, as it always did."""
    _, words = BAD_SPECS[case]
    env = {**os.environ, "PREFECT_API_URL": NO_SERVER, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    proc = subprocess.run([sys.executable, "-m", "ikou.flows.cli", "run", "--config", str(_bad_config(tmp_path, case))],
                          cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=300, check=False)
    run_dir, summary = failed_run(proc, tmp_path / "runs" / DANTAI)
    assert summary["status"] == "failed" and summary["error"]["stage"] == "plan", summary["error"]
    assert all(w in summary["error"]["message"] for w in words), summary["error"]
    assert summary["sign_off_blockers"] and (run_dir / "report.html").is_file()   # the record the flow writes
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert line.startswith("ikou: 失敗 (plan): ") and summary["error"]["message_ja"] in line
    assert "failed at plan: " in line
    assert not (run_dir / "run.log").exists() and not (run_dir / "extract").exists()   # no flow ever ran


def test_debug_shows_the_traceback_of_a_refused_spec(tmp_path, capsys):
    from ikou.flows.run_cli import execute

    assert execute(_bad_config(tmp_path, "unknown_op"), debug=True, quiet=True) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "no_such_op" in err


def test_run_config_raises_the_spec_error_itself(tmp_path):
    """The library call (bench, scripts) gets the error that failed the plan, as it got it from the flow."""
    from ikou.errors import ConfigError
    from ikou.flows.run_cli import run_config

    with pytest.raises(ConfigError, match="no_such_op"):
        run_config(_bad_config(tmp_path, "unknown_op"))


@pytest.mark.usefixtures("prefect_harness")
def test_the_flow_started_without_ikou_run_still_checks_its_plan(tmp_path):
    """A worker or a deployment calls the flow itself: the same checks, recorded at stage plan."""
    from ikou.flows.migrate import migration_flow

    state = migration_flow(config_path=str(_bad_config(tmp_path, "rule_naming_a_missing_column")), return_state=True)
    assert state.is_failed()
    (run_dir,) = (tmp_path / "runs" / DANTAI).iterdir()
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "failed" and summary["error"]["stage"] == "plan"
    assert "juminhyo_kode" in summary["error"]["message"]


# ---------------------------------------------------------------- a run id names one run

def _killed_run(tmp_path: Path) -> Path:
    """The folder a run killed (kill -9) before it wrote its summary leaves: its log and its staging. Its load
    may even have committed under its id."""
    old = tmp_path / "runs" / DANTAI / "20261129T221752Z-R1-749c"
    (old / "extract").mkdir(parents=True)
    (old / "run.log").write_text("2026-11-29 22:17:52 INFO ikou: run started\n", encoding="utf-8")
    (old / "extract" / "vendor_a_jumin.parquet").write_bytes(b"PAR1")
    return old


def test_run_refuses_the_run_id_of_a_killed_run_and_writes_nothing_into_its_folder(tmp_path, capsys):
    from ikou.flows.run_cli import execute

    cfg = _config(tmp_path)
    old = _killed_run(tmp_path)
    before = _files(tmp_path)
    assert execute(cfg, run_id=old.name, quiet=True) == 2
    captured = capsys.readouterr()
    (line,) = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert "すでにあります" in line and "already exists" in line and "no summary.json written" in line
    assert captured.out == ""
    assert _files(tmp_path) == before


@pytest.mark.usefixtures("prefect_harness")
def test_the_flow_refuses_the_run_id_of_a_killed_run(tmp_path):
    from ikou.context import RunIdError
    from ikou.flows.migrate import migration_flow

    cfg = _config(tmp_path)
    old = _killed_run(tmp_path)
    before = _files(tmp_path)
    with pytest.raises(RunIdError, match="already exists"):
        migration_flow(config_path=str(cfg), run_id=old.name)
    assert _files(tmp_path) == before


def test_a_run_folder_is_new_to_the_run_that_claimed_it_and_to_no_other(tmp_path):
    """`ikou run` claims the folder and writes run.log into it before the flow checks it again."""
    from ikou.context import RunExists, check_new_run, new_run

    run_dir = tmp_path / DANTAI / "20261129T221752Z-R1-749c"
    with new_run(run_dir):
        run_dir.mkdir(parents=True)
        (run_dir / "run.log").write_text("started\n", encoding="utf-8")
        check_new_run(run_dir)   # the flow of this `ikou run`
        with new_run(run_dir):   # re-entrant
            pass
        check_new_run(run_dir)
    with pytest.raises(RunExists):   # once that run is over, the folder is its record
        check_new_run(run_dir)
    with pytest.raises(RunExists):
        with new_run(run_dir):
            pass
    check_new_run(tmp_path / DANTAI / "20261129T221752Z-R1-0000")   # no folder yet
    (tmp_path / DANTAI / "20261129T221752Z-R1-0001").mkdir()
    check_new_run(tmp_path / DANTAI / "20261129T221752Z-R1-0001")   # an empty one
