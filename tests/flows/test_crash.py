"""kill -9 or Ctrl-C at any point of a run that loads 住民記録 and 個人住民税 leaves the target holding
exactly the previous run or the new one, never a mix; a cancel stops at once (no retry) and is
recorded. Real `ikou run` processes, stopped at named points (ikou.cancel.checkpoint)."""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import yaml

from ikou import REPO_ROOT
from ikou.loaders import held_runs, read_table
from tests.flows.conftest import kill_9_at, start_run, wait_for_pause

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]
SAMPLE = REPO_ROOT / "data" / "sample"
POINTS = ["load.begin", "load.table.juki_kojin_rireki", "load.table.juki_setai", "load.table.kojin_juminzei_gimusha",
          "load.table.kojin_juminzei_kojo", "load.commit"]


def _config(tmp_path: Path, url: str, schema: str) -> Path:
    cfg = yaml.safe_load((SAMPLE / "demo_vendor_a_all.yaml").read_text(encoding="utf-8"))
    for s in cfg["sources"]:
        for k in ("path", "gaiji_table", "gaiji_font", "mapping"):
            if s.get(k):
                s[k] = str((SAMPLE / s[k]).resolve())
    cfg.update(runs_dir=str(tmp_path / "runs"), inbox=[str(SAMPLE)], target={"url": url, "schema": schema})
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def _state(url: str, schema: str) -> tuple[str | None, dict]:
    """The run the target holds and the rows actually in each of its tables (must equal its record)."""
    cur = held_runs(url, schema)["current"]
    if cur is None:
        return None, {}
    return cur["run_id"], {t: read_table(url, schema, t).height for t in cur["counts"]} | {"_recorded": cur["counts"]}


@pytest.fixture(params=["duckdb", "postgresql"])
def target(request, tmp_path):
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 't.duckdb'}", "dantai_999997"
    return request.getfixturevalue("pg_target")


def test_kill_9_at_any_point_leaves_the_previous_run_or_the_new_one(tmp_path, target):
    url, schema = target
    cfg = _config(tmp_path, url, schema)
    first, _ = start_run(cfg, tmp_path)
    assert first.wait(timeout=300) == 0, first.stdout.read()[-3000:]
    before = _state(url, schema)
    assert before[0] and before[1]["_recorded"] == {k: v for k, v in before[1].items() if k != "_recorded"}
    points = POINTS + (["load.swap"] if url.startswith("postgres") else [])
    for point in points:
        kill_9_at(cfg, tmp_path, point)
        assert _state(url, schema) == before, f"after kill -9 at {point}"
    last, _ = start_run(cfg, tmp_path)
    assert last.wait(timeout=300) == 0
    after = _state(url, schema)
    assert after[0] != before[0] and after[1] == before[1]   # the same data, a new run id
    assert held_runs(url, schema)["previous"]["run_id"] == before[0]


@pytest.mark.parametrize("sig, point", [(signal.SIGINT, "load.table.kojin_juminzei_gimusha"),
                                        (signal.SIGTERM, "extract.vendor_a_zei_kojo")])
def test_a_cancel_stops_the_run_at_once_and_rolls_the_target_back(tmp_path, target, sig, point):
    url, schema = target
    cfg = _config(tmp_path, url, schema)
    first, _ = start_run(cfg, tmp_path)
    assert first.wait(timeout=300) == 0
    before = _state(url, schema)
    proc, marker = start_run(cfg, tmp_path, point)
    wait_for_pause(proc, marker, point)
    t0 = time.monotonic()
    proc.send_signal(sig)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, out[-3000:]
    assert time.monotonic() - t0 < 30   # at once: no retry, no waiting for the load to finish
    assert "Retrying" not in out and "Traceback" not in out, out[-3000:]
    assert _state(url, schema) == before
    run_dir = Path(out.rstrip("\n").splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "cancelled" and summary["error"]["stage"] == point.split(".")[0]
    assert any(ln.startswith("ikou: 中断") for ln in out.splitlines())


def test_a_cancel_after_the_load_committed_says_the_target_holds_the_new_run(tmp_path, target):
    url, schema = target
    cfg = _config(tmp_path, url, schema)
    proc, marker = start_run(cfg, tmp_path, "diff.vendor_a_jumin")
    wait_for_pause(proc, marker, "diff.vendor_a_jumin")
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, out[-3000:]
    run_dir = Path(out.rstrip("\n").splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "cancelled" and summary["error"]["stage"] == "diff"
    assert _state(url, schema)[0] == summary["run_id"]          # the load committed: the target holds it
    (line,) = [ln for ln in out.splitlines() if ln.startswith("ikou: 中断")]
    assert "rolled back" not in line and "元の状態のまま" not in line, line
    assert "holds this run" in line and "反映済み" in line, line


def test_a_cancel_before_the_flow_starts_still_leaves_summary_json(tmp_path):
    """SIGTERM while Prefect's server is still starting: status cancelled at stage start, one line, exit 130."""
    cfg = _config(tmp_path, f"duckdb:///{tmp_path / 't.duckdb'}", "dantai_999997")
    proc, marker = start_run(cfg, tmp_path, "start")
    wait_for_pause(proc, marker, "start")
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, out[-3000:]
    assert "Traceback" not in out
    run_dir = Path(out.rstrip("\n").splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "cancelled" and summary["error"]["stage"] == "start"
    assert summary["run_id"] == run_dir.name and summary["dantai"] == "999997" and summary["sign_off_blockers"]
    assert [ln for ln in out.splitlines() if ln.startswith("ikou: 中断 (start)")]
    assert not (tmp_path / "t.duckdb").exists()   # nothing was loaded
