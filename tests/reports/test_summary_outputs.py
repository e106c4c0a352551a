"""What summary.json shows of the run's surroundings: the target's URL without any password, and the
rehearsal trend against the last run that succeeded."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ikou.reports.summary import previous_summary, shown_url


@pytest.mark.parametrize("url, shown", [
    ("postgresql://ikou:S3cretPW@db.example:5432/mig", "postgresql://db.example:5432/mig"),
    ("postgresql://db.example/mig?password=S3cretPW", "postgresql://db.example/mig"),
    ("postgresql://db.example/mig?sslmode=require&PASSWORD=S3cretPW&application_name=ikou",
     "postgresql://db.example/mig?sslmode=require&application_name=ikou"),
    ("postgresql://db.example/mig?sslpassword=S3cretPW", "postgresql://db.example/mig"),
    ("duckdb:////srv/ikou/target.duckdb", "duckdb:////srv/ikou/target.duckdb"),
])
def test_a_target_url_is_shown_without_its_password(url, shown):
    assert shown_url(url) == shown and "S3cretPW" not in shown_url(url)


def test_the_trend_compares_with_the_last_run_that_succeeded(tmp_path):
    for run_id, status in [("20990101T000000Z-R1-0001", "succeeded"), ("20990102T000000Z-R1-0002", "failed"),
                           ("20990103T000000Z-R1-0003", "cancelled")]:
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "summary.json").write_text(json.dumps({"run_id": run_id, "status": status}))
    ctx = SimpleNamespace(dantai_dir=tmp_path, run_id="20990104T000000Z-R1-0004")
    assert previous_summary(ctx)["run_id"] == "20990101T000000Z-R1-0001"
    assert previous_summary(SimpleNamespace(dantai_dir=tmp_path, run_id="20990101T000000Z-R1-0001")) is None
