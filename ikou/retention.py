"""Retention of a 団体's run folders: staging with personal data is deleted, the record is kept.

Every Parquet file of a run (the stages' staging, the complete quarantine, the diff's unmasked
rows and the PostgreSQL read-back) holds personal data in clear; summaries, reports, masked CSVs,
expected rules and the 同定台帳 snapshot do not, and they are what a sign-off and an audit need.
`purge` deletes the former from every run older than a date (and the extract cache entries not
used since), writes `purged.json` into each run it touched, and keeps the latter.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

from ikou.errors import ConfigError

RUN_ID = re.compile(r"(?P<date>\d{8})T\d{6}Z-")


def run_date(run_dir: Path) -> dt.date | None:
    m = RUN_ID.match(run_dir.name)
    return dt.datetime.strptime(m.group("date"), "%Y%m%d").date() if m else None


def purge(dantai_dir: Path, before: dt.date, *, keep: set[str] = frozenset()) -> dict:
    """Delete personal-data staging of the runs in `dantai_dir` started before `before` (run ids in
    `keep` are spared). Returns what was removed: runs, files and bytes."""
    if not dantai_dir.is_dir():
        raise ConfigError(f"{dantai_dir}: no runs for this 団体")
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    report = {"before": before.isoformat(), "runs": [], "files": 0, "bytes": 0, "cache_entries": 0}
    for run in sorted(d for d in dantai_dir.iterdir() if d.is_dir()):
        date = run_date(run)
        if date is None or date >= before or run.name in keep:
            continue
        files = [p for p in run.rglob("*.parquet") if p.is_file()]
        if not files:
            continue
        size = sum(p.stat().st_size for p in files)
        for p in files:
            p.unlink()
        for p in sorted((d for d in run.rglob("*") if d.is_dir()), reverse=True):   # emptied stage folders
            if not any(p.iterdir()):
                p.rmdir()
        (run / "purged.json").write_text(json.dumps(
            {"purged_at": now, "before": before.isoformat(), "files": len(files), "bytes": size,
             "kept": "summary.json, report.html, masked CSV, expected rules, 同定台帳 snapshot"},
            ensure_ascii=False, indent=2), encoding="utf-8")
        report["runs"].append(run.name)
        report["files"] += len(files)
        report["bytes"] += size
    cache = dantai_dir / "_cache" / "extract"
    if cache.is_dir():
        limit = dt.datetime.combine(before, dt.time(), tzinfo=dt.timezone.utc).timestamp()
        for entry in cache.iterdir():
            if entry.is_dir() and entry.stat().st_mtime < limit:
                shutil.rmtree(entry)
                report["cache_entries"] += 1
    return report
