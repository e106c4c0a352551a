"""ikou purge / retention_days: personal-data staging goes, the record of each run stays."""
from __future__ import annotations

import json

import polars as pl

from ikou.flows.cli import main


def _run(dantai_dir, run_id):
    run = dantai_dir / run_id
    for sub in ("extract", "map", "validate", "diff/src"):
        (run / sub).mkdir(parents=True)
        pl.DataFrame({"shimei": ["架空 太郎"]}).write_parquet(run / sub / "x.parquet")
    pl.DataFrame({"value": ["123456789018"]}).write_parquet(run / "quarantine.parquet")
    for name in ("summary.json", "report.html", "quarantine.csv", "diff/src/summary.json"):
        (run / name).write_text("{}", encoding="utf-8")
    return run


def test_purge_deletes_parquet_staging_of_older_runs_and_keeps_their_record(tmp_path, capsys):
    d = tmp_path / "runs" / "999997"
    old, new = _run(d, "20260101T000000Z-R1-aaaa"), _run(d, "20261201T000000Z-R2-bbbb")
    assert main(["purge", "--dantai", "999997", "--before", "2026-06-01", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert "purged: 1 run(s), 5 file(s)" in capsys.readouterr().out
    assert not list(old.rglob("*.parquet")) and not (old / "extract").exists()
    assert all((old / n).is_file() for n in ("summary.json", "report.html", "quarantine.csv", "diff/src/summary.json"))
    assert json.loads((old / "purged.json").read_text(encoding="utf-8"))["files"] == 5
    assert len(list(new.rglob("*.parquet"))) == 5 and not (new / "purged.json").exists()


def test_purge_refuses_a_bad_dantai_code_in_one_line(tmp_path, capsys):
    assert main(["purge", "--dantai", "../x", "--before", "2026-06-01", "--runs-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("ikou: 失敗")
