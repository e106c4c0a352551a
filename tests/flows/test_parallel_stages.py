"""Independent stages of one run as concurrent Prefect tasks (threads, or a Dask cluster through
prefect-dask) give the run the sequential walk gives: the same summary, quarantine and target rows."""
from __future__ import annotations

import json

import polars as pl
import pytest
import yaml

from ikou.loaders import read_table
from tests.flows.conftest import SAMPLE

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]

RUN_ID = "20261129T000000Z-R1-0001"
TABLES = ("juki_kojin_rireki", "juki_kojin", "juki_setai", "kojin_juminzei_gimusha", "kojin_juminzei_kazei",
          "kojin_juminzei_kojo")
VOLATILE = {"started_at", "finished_at", "stages", "target", "run_id"}   # times, memory, paths


def _config(tmp_path) -> str:
    demo = yaml.safe_load((SAMPLE / "demo_vendor_a_all.yaml").read_text(encoding="utf-8"))
    for s in demo["sources"]:
        for k in ("path", "gaiji_table", "gaiji_font", "mapping"):
            if k in s:
                s[k] = str((SAMPLE / s[k]).resolve())
    demo.update(runs_dir=str(tmp_path / "runs"), inbox=[str(SAMPLE)],
                target={"url": f"duckdb:///{tmp_path / 't.duckdb'}"})
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(demo, allow_unicode=True), encoding="utf-8")
    return str(path)


def _outcome(tmp_path) -> dict:
    run_dir = tmp_path / "runs" / "999997" / RUN_ID
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "succeeded", summary.get("error")
    for s in summary["sources"].values():
        s.pop("seconds", None)
    q = pl.read_parquet(run_dir / "quarantine.parquet").drop("run_id", strict=False)
    url = f"duckdb:///{tmp_path / 't.duckdb'}"
    rows = {t: read_table(url, "dantai_999997", t) for t in TABLES}
    return {"summary": {k: v for k, v in summary.items() if k not in VOLATILE},
            "quarantine": q.sort(q.columns), "rows": {t: df.sort(df.columns) for t, df in rows.items()}}


def _same(a: dict, b: dict) -> None:
    assert a["summary"] == b["summary"]
    assert a["quarantine"].equals(b["quarantine"])
    for t in TABLES:
        assert a["rows"][t].height > 0 and a["rows"][t].equals(b["rows"][t]), t


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    from ikou.flows.migrate import migration_flow

    tmp = tmp_path_factory.mktemp("sequential")
    migration_flow(config_path=_config(tmp), run_id=RUN_ID)
    return _outcome(tmp)


def test_thread_submitted_stages_give_the_sequential_result(tmp_path, monkeypatch, sequential):
    from ikou.flows import parallel

    monkeypatch.setenv(parallel.MODE_ENV, "threads")
    monkeypatch.setenv(parallel.WORKERS_ENV, "4")
    parallel._flow()(config_path=_config(tmp_path), run_id=RUN_ID)
    _same(sequential, _outcome(tmp_path))


def test_stages_on_a_dask_cluster_given_by_address_give_the_sequential_result(tmp_path, monkeypatch, sequential):
    from distributed import Client, LocalCluster, get_task_stream

    from ikou.flows import parallel

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        monkeypatch.setenv(parallel.MODE_ENV, "dask")
        monkeypatch.setenv(parallel.DASK_ADDRESS_ENV, cluster.scheduler_address)
        with get_task_stream(client) as stream:
            parallel._flow()(config_path=_config(tmp_path), run_id=RUN_ID)
        ran = {t["key"] if isinstance(t["key"], str) else str(t["key"]) for t in stream.data}
    assert any("extract" in k for k in ran) and any("diff" in k for k in ran), ran   # the cluster ran them
    _same(sequential, _outcome(tmp_path))
