"""ikou purge / retention_days: personal-data staging goes, the record of each run stays."""
from __future__ import annotations

import datetime as dt
import json
import os

import polars as pl

from ikou.flows.cli import main
from ikou.retention import purge


def _run(dantai_dir, run_id):
    run = dantai_dir / run_id
    for sub in ("extract", "map", "validate", "diff/src"):
        (run / sub).mkdir(parents=True)
        pl.DataFrame({"shimei": ["架空 太郎"]}).write_parquet(run / sub / "x.parquet")
    pl.DataFrame({"value": ["123456789018"]}).write_parquet(run / "quarantine.parquet")
    for name in ("report.html", "quarantine.csv", "diff/src/summary.json"):
        (run / name).write_text("{}", encoding="utf-8")
    (run / "summary.json").write_text('{"status": "succeeded"}', encoding="utf-8")   # the run has ended
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


def _cache_entry(dantai_dir, name: str, used: str):
    """An extract cache entry last used at `used` (its mtime: extractors.cache)."""
    entry = dantai_dir / "_cache" / "extract" / name
    entry.mkdir(parents=True)
    pl.DataFrame({"shimei": ["架空 太郎"]}).write_parquet(entry / "staging.parquet")
    t = dt.datetime.fromisoformat(used).timestamp()
    os.utime(entry, (t, t))
    return entry


def test_purge_skips_a_run_still_going_and_the_extract_cache_while_one_is(tmp_path, caplog, capsys):
    """The reviewer's case: a run in the background (no summary.json yet) lost its validate/ staging and
    the cache entry it was using to a purge; both are skipped, and the purge says so and why."""
    d = tmp_path / "runs" / "999687"
    ended = _run(d, "20260101T000000Z-R1-aaaa")
    going = _run(d, "20260102T000000Z-R2-bbbb")
    (going / "summary.json").unlink()   # written last: this run has not ended
    entry = _cache_entry(d, "k1", "2026-01-02T00:00:00+00:00")
    with caplog.at_level("WARNING", logger="ikou"):
        assert main(["purge", "--dantai", "999687", "--before", "2026-06-01",
                     "--runs-dir", str(tmp_path / "runs")]) == 0
    assert "purged: 1 run(s), 5 file(s)" in capsys.readouterr().out and not list(ended.rglob("*.parquet"))
    assert len(list(going.rglob("*.parquet"))) == 5 and not (going / "purged.json").exists()
    assert (entry / "staging.parquet").is_file()
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "skipped run 20260102T000000Z-R2-bbbb" in said and "no final summary.json" in said
    assert "extract cache skipped" in said
    (going / "summary.json").write_text('{"status": "failed"}', encoding="utf-8")   # now it has ended
    r = purge(d, dt.date(2026, 6, 1))
    assert r["runs"] == ["20260102T000000Z-R2-bbbb"] and r["cache_entries"] == 1 and not r["skipped"]
    assert not entry.exists() and not list((d / "_cache" / "extract").iterdir())


def test_purge_refuses_a_before_after_today_in_one_line(tmp_path, capsys):
    """A future --before reaches today's runs, the ones still going among them."""
    d = tmp_path / "runs" / "999687"
    run = _run(d, "20260101T000000Z-R1-aaaa")
    later = (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=2)).isoformat()   # after today anywhere
    assert main(["purge", "--dantai", "999687", "--before", later, "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "今日より後" in err and "after today" in err and len(err.strip().splitlines()) == 1, err
    assert len(list(run.rglob("*.parquet"))) == 5


def test_a_run_stopped_without_summary_json_a_day_ago_is_purged_and_frees_the_cache(tmp_path, capsys):
    """kill -9 leaves no summary.json: once nothing was written in its folder for a day, it is not
    running, so its personal data and the extract cache are purged like an ended run's."""
    d = tmp_path / "runs" / "999687"
    dead = _run(d, "20250102T000000Z-R1-dead")
    (dead / "summary.json").unlink()
    long_ago = dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc).timestamp()
    for f in [dead, *dead.rglob("*")]:
        os.utime(f, (long_ago, long_ago))
    entry = _cache_entry(d, "k1", "2025-01-02T00:00:00+00:00")
    r = purge(d, dt.date(2025, 6, 1))
    assert r["runs"] == ["20250102T000000Z-R1-dead"] and not r["skipped"] and r["cache_entries"] == 1
    assert not list(dead.rglob("*.parquet")) and not entry.exists()


def test_purge_keeps_the_persons_keys_but_not_the_digests_of_their_rows(tmp_path, capsys):
    """The next rehearsal still names who vanished after a purge; a digest of a person's rows (which can confirm a
    guess of their name or 個人番号) goes with the staging."""
    d = tmp_path / "runs" / "999997"
    old = _run(d, "20260101T000000Z-R1-aaaa")
    pl.DataFrame({"column": ["atena_no"], "value": ["0000000019"], "fingerprint": ["0" * 32]}).write_parquet(
        old / "persons.parquet")
    assert main(["purge", "--dantai", "999997", "--before", "2026-06-01", "--runs-dir", str(tmp_path / "runs")]) == 0
    capsys.readouterr()
    kept = pl.read_parquet(old / "persons.parquet")
    assert kept.columns == ["column", "value"] and kept["value"].to_list() == ["0000000019"]
    assert [p.name for p in old.rglob("*.parquet")] == ["persons.parquet"]
