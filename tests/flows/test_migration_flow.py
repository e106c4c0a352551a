"""The whole migration through the real Prefect flow, on the committed sample of 架空市."""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from ikou.flows.migrate import migration_flow
from ikou.loaders import read_table
from tests.flows.conftest import EXPECTED, faults, vendor_a_source, vendor_b_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _assert_faults_surface(quarantine: pl.DataFrame, planted: pl.DataFrame, by: str) -> None:
    for f in planted.iter_rows(named=True):
        severity, rule = EXPECTED[f["fault"]]
        if by == "line":
            hits = quarantine.filter(pl.col("source_line") == int(f["line"]))
        else:
            hits = quarantine.filter(pl.col("record_key").str.contains(f"atena_no={f['atena_no']}"))
        hits = hits.filter((pl.col("severity") == severity) & pl.col("rule").str.starts_with(rule))
        assert hits.height >= 1, f"planted fault {f['fault']} ({f['description']}) not in quarantine"


def test_vendor_a_files_migrate_to_duckdb_with_every_row_accounted_for(tmp_path, run_dir_of):
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    summary = migration_flow(config_path=str(cfg))
    run_dir = run_dir_of(tmp_path, summary)
    on_disk = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["status"] == "succeeded"
    t = on_disk["tables"]["juki_kojin_rireki"]
    assert t["extracted"] == t["loaded"] + t["quarantined"]
    assert t["loaded"] > 2000 and t["quarantined"] >= 8
    assert on_disk["tables"]["juki_kojin"]["derived"] and on_disk["tables"]["juki_setai"]["loaded"] > 300
    # every stage reports its rows, seconds and (on Linux) its own peak memory
    assert set(on_disk["stages"]) == {"extract", "map", "moji", "validate", "load", "diff"}
    assert all(s["peak_rss_mb"] > 0 for s in on_disk["stages"].values())
    q = pl.read_parquet(run_dir / "quarantine.parquet")
    _assert_faults_surface(q, faults("vendor_a"), by="line")
    # good rows are in the DuckDB target, in the 団体's own schema
    loaded = read_table(f"duckdb:///{tmp_path / 't.duckdb'}", "dantai_999997", "juki_kojin_rireki")
    assert loaded.height == t["loaded"]
    errors = q.filter(pl.col("severity") == "error")["row_id"].unique()
    assert errors.n_unique() == t["quarantined"]
    for name in ("report.html", "quarantine.csv"):
        assert (run_dir / name).is_file()
    # the counts and the report reach Prefect as artifacts of the flow run
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        # by key: with the fastapi<0.155 pin, prefect 3.8.8 answers /artifacts/filter with [] even for a match
        latest = {k: client._client.get(f"/artifacts/{k}/latest") for k in ("ikou-999997-counts", "ikou-999997-report")}
    assert all(r.status_code == 200 for r in latest.values())
    assert latest["ikou-999997-counts"].json()["type"] == "table"
    md = latest["ikou-999997-report"].json()["data"]
    assert summary["run_id"] in md and "並行稼働比較" in md and "vendor_a_jumin" in md
    # the masked CSV never shows a 個人番号
    csv = (run_dir / "quarantine.csv").read_text(encoding="utf-8")
    kojin = q.filter(pl.col("column") == "kojin_no")["value"].drop_nulls().to_list()
    assert kojin and not any(v in csv for v in kojin)


def test_vendor_b_tables_read_live_from_mariadb_load_into_postgres(tmp_path, mariadb_url, pg_target, run_dir_of):
    from ikou.sample.legacy_db import install_vendor_table
    from tests.flows.conftest import SAMPLE

    install_vendor_table(SAMPLE / "vendor_b" / "B_JUMIN.csv", mariadb_url, "B_JUMIN")
    postgres_url, schema = pg_target
    cfg = write_config(tmp_path, source=vendor_b_source(mariadb_url), target_url=postgres_url, target_schema=schema)
    summary = migration_flow(config_path=str(cfg))
    t = summary["tables"]["juki_kojin_rireki"]
    assert summary["status"] == "succeeded"
    assert t["extracted"] == t["loaded"] + t["quarantined"] and t["extracted"] == 2129
    q = pl.read_parquet(run_dir_of(tmp_path, summary) / "quarantine.parquet")
    _assert_faults_surface(q, faults("vendor_b"), by="key")
    loaded = read_table(postgres_url, schema, "juki_kojin_rireki")
    assert loaded.height == t["loaded"]
    # leading zeros survive the database round trip
    assert loaded["atena_no"].str.starts_with("0").any()


def test_vendor_b_tables_read_live_from_postgres(tmp_path, postgres_url):
    from ikou.sample.legacy_db import install_vendor_table
    from tests.flows.conftest import SAMPLE

    install_vendor_table(SAMPLE / "vendor_b" / "B_JUMIN.csv", postgres_url, "B_JUMIN", schema="legacy_vendor_b")
    cfg = write_config(tmp_path, source=vendor_b_source(postgres_url, schema="legacy_vendor_b"),
                       target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    summary = migration_flow(config_path=str(cfg))
    t = summary["tables"]["juki_kojin_rireki"]
    assert t["extracted"] == 2129 and t["extracted"] == t["loaded"] + t["quarantined"]


def test_ikou_run_prints_the_run_folder_as_the_last_line_of_its_output(tmp_path):
    """Scripts (and `make demo`) read the last line: nothing Prefect logs at exit may follow it."""
    import subprocess
    import sys

    from ikou import REPO_ROOT

    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    proc = subprocess.run([sys.executable, "-m", "ikou.flows.cli", "run", "--config", str(cfg)], cwd=REPO_ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:]
    *_, verdict, last = proc.stdout.rstrip("\n").splitlines()
    last = Path(last)
    assert last.parent == tmp_path / "runs" / "999997" and (last / "summary.json").is_file()
    # the line before says, in Japanese and English, whether anything stops the sign-off (blockers in summary.json)
    blockers = json.loads((last / "summary.json").read_text(encoding="utf-8"))["sign_off_blockers"]
    assert verdict.startswith("ikou: 完了 承認の妨げ") and " / done" in verdict
    assert (f"{len(blockers)} 件" in verdict and blockers[0] in verdict) if blockers else "なし" in verdict


def test_a_target_url_override_no_registered_database_serves_stops_the_flow_before_the_run(tmp_path):
    from ikou.errors import ConfigError

    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    with pytest.raises(ConfigError, match="--target-url: target.url: no target database for URL scheme 'sqlite'"):
        migration_flow(config_path=str(cfg), target_url="sqlite:///x.db")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "t.duckdb").exists()
