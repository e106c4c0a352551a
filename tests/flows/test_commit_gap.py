"""The window between a run's COMMIT and its summary.json: a real `ikou run` killed with kill -9 while its diff
runs (the target already holds it, nothing records its end). The target says the run never finished; a
rollback goes to it only with --allow-unfinished and says why otherwise (one line, Japanese and English);
the next run replaces it without pushing out the last run that finished, which stays restorable, and its
summary.json names the unfinished run it replaced. DuckDB (団体 999733) and the real PostgreSQL (999741)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from ikou import REPO_ROOT
from ikou.flows.cli import main
from ikou.loaders import held_runs, read_table
from tests.flows.conftest import kill_9_at, start_run
from tests.conftest import drop_target_schemas, random_tag

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]
AFTER_COMMIT = "diff.vendor_a_jumin"   # the load has committed; diff, summary and report are still to come


@pytest.fixture(scope="module")
def legacy_data(tmp_path_factory):
    """Vendor A 住民記録 files of 団体 999733 and 999741 (300 persons each)."""
    from ikou.sample.generate import generate

    out = tmp_path_factory.mktemp("legacy")
    for code in ("999733", "999741"):
        generate(out / code, 300, dantai=code)
    return out


@pytest.fixture(params=["duckdb", "postgresql"])
def target(request, tmp_path):
    """(団体コード, url, schema): a DuckDB file of 999733, or a PostgreSQL schema of 999741 for this test only."""
    if request.param == "duckdb":
        yield "999733", f"duckdb:///{tmp_path / 't.duckdb'}", "dantai_999733"
        return
    url = request.getfixturevalue("postgres_url")
    name = f"dantai_999741_g{random_tag()}"
    yield "999741", url.replace("postgresql+psycopg://", "postgresql://"), name
    drop_target_schemas(url, name)


def _config(tmp_path: Path, legacy: Path, target) -> Path:
    code, url, schema = target
    data = legacy / code / "vendor_a"
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"""spec_version: 1
dantai: {{code: "{code}", name: 架空市{code}}}
gyomu: [juki]
rehearsal: R1
sources:
  - name: vendor_a_jumin
    kind: file
    path: {data / 'JUMIN.csv'}
    encoding: cp932
    gaiji_table: {data / 'gaiji.csv'}
    mapping: {REPO_ROOT / 'specs' / 'vendors' / 'vendor_a' / 'mappings' / 'juki' / 'jumin.yaml'}
target:
  url: {url}
  schema: {schema}
runs_dir: {tmp_path / 'runs'}
inbox: [{data}]
thresholds: {{max_quarantine_rate: 0.05}}
""", encoding="utf-8")
    return cfg


def _finished_run(cfg: Path, tmp_path: Path) -> dict:
    proc, _ = start_run(cfg, tmp_path, args=("--quiet",))
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out[-3000:]
    summary = json.loads((Path(out.rstrip("\n").splitlines()[-1]) / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "succeeded"
    return summary


def _killed_after_commit(cfg: Path, tmp_path: Path) -> str:
    """kill -9 of a real run once its load committed (paused at its first diff); returns its run id."""
    kill_9_at(cfg, tmp_path, AFTER_COMMIT, args=("--quiet",), timeout=300)
    (run_dir,) = [d for d in (tmp_path / "runs").glob("*/*-R1-*") if not (d / "summary.json").exists()]
    return run_dir.name


def _held(target) -> tuple:
    h = held_runs(target[1], target[2])
    return tuple(h[k]["run_id"] if h[k] else None for k in ("current", "previous"))


def _rollback(capsys, cfg: Path, target, to: str, *extra: str) -> tuple[int, str, str]:
    rc = main(["rollback", "--dantai", target[0], "--config", str(cfg), "--to", to, *extra])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def killed(tmp_path, legacy_data, target):
    """A run that finished (A), then a run killed with kill -9 after its load committed (B)."""
    cfg = _config(tmp_path, legacy_data, target)
    a = _finished_run(cfg, tmp_path)
    b = _killed_after_commit(cfg, tmp_path)
    assert _held(target) == (b, a["run_id"])   # the load committed: the target holds B, A is its previous state
    h = held_runs(target[1], target[2])
    assert (h["current"]["status"], h["previous"]["status"]) == ("running", "succeeded")   # A's end was recorded
    return cfg, a, b


def test_rollback_refuses_a_run_killed_after_its_commit_unless_allowed(tmp_path, target, killed, capsys):
    cfg, a, b = killed
    assert not (tmp_path / "runs" / target[0] / b / "summary.json").exists()
    assert main(["rollback", "--dantai", target[0], "--config", str(cfg), "--list"]) == 0   # read only
    listed = capsys.readouterr().out
    assert f"current: {b} (unfinished: its load committed and no summary.json records its end)" in listed
    assert f"previous (what --to restores): {a['run_id']} (succeeded)" in listed
    assert _held(target) == (b, a["run_id"])
    rc, back, err = _rollback(capsys, cfg, target, a["run_id"])   # back to the finished run: nothing to confirm
    assert rc == 0 and _held(target) == (a["run_id"], b), err

    rc, out, err = _rollback(capsys, cfg, target, b)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, (out, err)
    assert "正常に終了していない実行" in lines[0] and f"will not go back to run {b} (unfinished" in lines[0], lines[0]
    assert "no summary.json records its end" in lines[0] and "--allow-unfinished" in lines[0], lines[0]
    assert _held(target) == (a["run_id"], b)   # unchanged

    rc, out, err = _rollback(capsys, cfg, target, b, "--allow-unfinished")
    assert rc == 0 and _held(target) == (b, a["run_id"]), err
    # each rollback says how the run it restored ended
    assert f"now holds run {a['run_id']} (succeeded)" in back and f"now holds run {b} (unfinished" in out, (back, out)


def test_the_next_run_keeps_the_last_finished_run_restorable_and_names_the_unfinished_one(tmp_path, target, killed,
                                                                                          capsys):
    cfg, a, b = killed
    c = _finished_run(cfg, tmp_path)
    assert _held(target) == (c["run_id"], a["run_id"])   # B is gone, A is still the state to go back to
    assert held_runs(target[1], target[2])["current"]["status"] == "succeeded"
    assert c["target"]["replaced_run"] == a["run_id"]
    assert c["target"]["replaced_unfinished_run"] == {"run_id": b, "status": "unfinished", "kept_as_previous": False}
    log = (tmp_path / "runs" / target[0] / c["run_id"] / "run.log").read_text(encoding="utf-8")
    assert f"replaced run {b}, which did not finish successfully" in log
    page = (tmp_path / "runs" / target[0] / c["run_id"] / "report.html").read_text(encoding="utf-8")
    assert f"投入先が保持していた実行 {b} は完了していませんでした" in page   # the PM reads it too

    rc, out, err = _rollback(capsys, cfg, target, a["run_id"])
    assert rc == 0, err
    assert _held(target) == (a["run_id"], c["run_id"])
    assert read_table(target[1], target[2], "juki_kojin_rireki").height == a["tables"]["juki_kojin_rireki"]["loaded"]
