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


def test_control_totals_count_held_amounts_apart_so_a_lost_amount_shows(tmp_path):
    """Row 1 loaded, row 2 held (its amount full-width), row 3 neither: the -50 of row 3 is missing
    and the difference says so, where a held amount computed as extracted − loaded would hide it."""
    import polars as pl

    from ikou import REPO_ROOT
    from ikou.mappings.spec import load_mapping
    from ikou.reports.summary import _blockers, control_totals
    from ikou.schema import load_schema

    mapping = load_mapping(REPO_ROOT / "specs/vendors/vendor_a/mappings/kojin_juminzei/kazei.yaml")
    schema = load_schema(mapping.schema_)
    cols = [c.name for c in schema.tables[mapping.target].columns if c.control_total]
    (tmp_path / "extract").mkdir()
    (tmp_path / "validate").mkdir()
    pl.DataFrame({"_row_id": [1, 2, 3, 4], "SHOTOKUWARI": ["100", " ２００ ", "-50", "12万"]}).write_parquet(
        tmp_path / "extract" / "k.parquet")
    pl.DataFrame({"_row_id": [1], **{c: [100 if c == "shotokuwari_gaku" else 0] for c in cols}}).write_parquet(
        tmp_path / "validate" / f"{mapping.target}.parquet")
    quarantine = pl.DataFrame({"row_id": [2, 4, 3], "severity": ["error", "error", "warning"],
                               "stage": ["map", "map", "validate"], "table": [mapping.target] * 3})
    plan = SimpleNamespace(schema=schema, mapping=mapping, source=SimpleNamespace(name="k"))
    totals = control_totals(SimpleNamespace(run_dir=tmp_path), [plan], {mapping.target: 1}, quarantine)
    t = totals[mapping.target]["shotokuwari_gaku"]
    assert (t["extracted"], t["loaded"], t["held"], t["unreadable"]) == (250, 100, 200, 1)
    assert t["difference"] == -50
    assert any("shotokuwari_gaku" in b and "-50" in b for b in _blockers({}, None, {}, totals))


def test_the_trend_counts_a_rule_over_every_table_it_held_records_of():
    """quarantine_reasons has one entry per table and severity: the trend adds them up per (stage, rule)."""
    from ikou.reports.reconcile import trend

    def reason(table, n):
        return {"table": table, "stage": "validate", "rule": "moji.unresolved", "severity": "warning",
                "rows_failed": n, "findings": n}

    prev = {"quarantine_reasons": [reason("juki_kojin_rireki", 2)]}
    cur = {"quarantine_reasons": [reason("juki_kojin_rireki", 1), reason("zei_nozeigimusha", 3)]}
    row = next(r for r in trend(cur, prev) if r["item"] == "検証 ルール moji.unresolved 違反件数")
    assert (row["previous"], row["current"], row["delta"]) == (2, 4, 2)
