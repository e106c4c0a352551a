"""Retention of a 団体's run folders: staging with personal data is deleted, the record is kept.

Every Parquet file of a run (the stages' staging, the complete quarantine, the diff's unmasked
rows and the PostgreSQL read-back) holds personal data in clear; summaries, reports, masked CSVs,
expected rules and the 同定台帳 snapshot do not, and they are what a sign-off and an audit need.
`purge` deletes the former from every run older than a date (and the extract cache entries not
used since), writes `purged.json` into each run it touched, and keeps the latter.

A run is purged only once it has ended: its final summary.json (status succeeded, failed or
cancelled) is the last thing it writes, so a folder without one belongs to a run still going
(its stages read their own staging back) and is skipped, as is the whole extract cache while any
such run exists (it may be reading an entry). A symbolic link (a run folder, `_cache`, a cache entry,
anything inside a run) is never followed: it may lead into another 団体's tree. What is skipped is
said, with the reason.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
from pathlib import Path

from ikou.errors import ConfigError, IsolationError
from ikou.summary import write_replacing

log = logging.getLogger("ikou")

RUN_ID = re.compile(r"(?P<date>\d{8})T\d{6}Z-")
FINAL = ("succeeded", "failed", "cancelled")   # a summary.json with one of these: the run has ended


class PurgeDateError(ConfigError):
    """`--before` after today: it would reach runs that have not ended (a run's own staging)."""

    ja = "--before に今日より後の日付は指定できません"


def run_date(run_dir: Path) -> dt.date | None:
    """The UTC date a run id starts with; None for a folder not named like a run, or whose date is no date
    (20261399…, from an ikou that did not check --run-id): purge skips it with a warning, never crashes."""
    m = RUN_ID.match(run_dir.name)
    try:
        return dt.datetime.strptime(m.group("date"), "%Y%m%d").date() if m else None
    except ValueError:
        return None


def has_ended(run_dir: Path) -> bool:
    """Whether the run wrote its final summary.json (a run still going has none yet: it is written last)."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and summary.get("status") in FINAL


# A run folder without a final summary.json in which nothing was written for this long was stopped
# without one (kill -9, a machine lost): no run stage goes a day without writing its staging or log.
ABANDONED_AFTER = dt.timedelta(hours=24)


def is_running(run_dir: Path) -> bool:
    """Whether the run may still be going: no final summary.json, and a file written in it within
    ABANDONED_AFTER. A folder abandoned longer than that is purged like an ended run, so a run killed
    without a record does not keep its personal data, and the extract cache, forever."""
    if has_ended(run_dir) or (run_dir / "purged.json").is_file():   # purged: judged not running already
        return False
    return dt.datetime.now().timestamp() - _newest_write(run_dir) < ABANDONED_AFTER.total_seconds()


def _newest_write(folder: Path) -> float:
    """The latest mtime in `folder`'s tree; files a running stage renames or removes meanwhile are skipped."""
    newest, stack = 0.0, [folder]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for e in entries:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(Path(e.path))
                        newest = max(newest, e.stat(follow_symlinks=False).st_mtime)
                    except OSError:   # gone between the listing and the stat
                        continue
        except OSError:
            continue
    return newest


def _real_dir(p: Path) -> bool:
    """A folder that is not a symbolic link: purge never follows one (it may lead into another 団体's tree)."""
    return p.is_dir() and not p.is_symlink()


def _unfinished(dantai_dir: Path) -> list[str]:
    """Run folders of the 団体 that may still be going (is_running)."""
    return sorted(d.name for d in dantai_dir.iterdir()
                  if _real_dir(d) and run_date(d) is not None and is_running(d))


def _walk(run: Path) -> tuple[list[Path], list[Path]]:
    """The Parquet files (regular files, not links) and the folders under `run`, never following a
    symbolic link."""
    files, dirs, stack = [], [], [run]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    dirs.append(Path(e.path))
                    stack.append(Path(e.path))
                # persons.parquet: the run's person keys (identifiers, no names), which the next rehearsal
                # compares with to name who vanished; kept so a purge does not blind it
                elif e.is_file(follow_symlinks=False) and e.name.endswith(".parquet") and e.name != "persons.parquet":
                    files.append(Path(e.path))
    return files, dirs


def _keys_only(f: Path) -> None:
    """A purged run keeps its persons' keys (the next rehearsal names who vanished) but not the digests of their
    rows: a digest of a person's rows can confirm a guess of them (名前, 個人番号), so it goes with the staging."""
    import polars as pl

    if f.is_file() and not f.is_symlink() and "fingerprint" in pl.read_parquet_schema(f):
        kept = pl.read_parquet(f).select("column", "value")
        write_replacing(f, lambda tmp: kept.write_parquet(tmp, compression="zstd"))


LINK_SKIPPED = "a symbolic link (to {}): not followed, it may lead into another 団体's folder"


def check_dantai_dir(dantai_dir: Path) -> None:
    """The 団体 folder itself must be `runs_dir/<code>`, not a link to elsewhere (IsolationError)."""
    dantai_dir = Path(dantai_dir)
    expected = dantai_dir.parent.resolve() / dantai_dir.name
    if dantai_dir.is_symlink() or dantai_dir.resolve() != expected:
        raise IsolationError(f"{dantai_dir} resolves to {dantai_dir.resolve()}, not {expected}: purge does not "
                             "follow a link to another folder (remove the link)")


def _today() -> dt.date:
    """Today where the user is, or in UTC (run ids carry the UTC date), whichever is later: a `--before`
    up to it reaches no run that starts later."""
    return max(dt.date.today(), dt.datetime.now(dt.timezone.utc).date())


def purge(dantai_dir: Path, before: dt.date, *, keep: set[str] = frozenset()) -> dict:
    """Delete personal-data staging of the runs in `dantai_dir` started before `before` (run ids in
    `keep` are spared, and runs that have not ended). Returns what was removed (runs, files, bytes,
    cache entries) and what was skipped and why (`skipped`: run id → reason; `cache_skipped`)."""
    today = _today()
    if before > today:
        raise PurgeDateError(f"--before {before.isoformat()} is after today ({today.isoformat()}): "
                             "only runs that have ended are purged")
    if not dantai_dir.is_dir():
        raise ConfigError(f"{dantai_dir}: no runs for this 団体")
    check_dantai_dir(dantai_dir)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    report = {"before": before.isoformat(), "runs": [], "files": 0, "bytes": 0, "cache_entries": 0,
              "skipped": {}, "cache_skipped": None}
    for run in sorted(d for d in dantai_dir.iterdir() if d.is_dir()):
        date = run_date(run)
        if date is None and RUN_ID.match(run.name) and run.name not in keep:
            report["skipped"][run.name] = "named like a run, but its date is no date: not purged (check it by hand)"
            log.warning("purge: 日付が不正な実行フォルダーのため対象外 / skipped run %s: %s", run.name,
                        report["skipped"][run.name])
            continue
        if date is None or date >= before or run.name in keep:
            continue
        if run.is_symlink():   # never followed: its files are not this 団体's to delete
            report["skipped"][run.name] = LINK_SKIPPED.format(os.readlink(run))
            log.warning("purge: リンクのため対象外 / skipped run %s: %s", run.name, report["skipped"][run.name])
            continue
        if is_running(run):   # its stages still read their staging back
            report["skipped"][run.name] = ("no final summary.json and written to within "
                                           f"{int(ABANDONED_AFTER.total_seconds() // 3600)} h: still running")
            log.warning("purge: 実行中のため対象外 / skipped run %s: %s", run.name, report["skipped"][run.name])
            continue
        _keys_only(run / "persons.parquet")
        files, dirs = _walk(run)
        if not files:
            continue
        size = sum(p.stat(follow_symlinks=False).st_size for p in files)
        for p in files:
            p.unlink()
        for p in sorted(dirs, reverse=True):   # emptied stage folders
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
    link = next((p for p in (cache.parent, cache) if p.is_symlink()), None)
    if link is not None:   # another 団体's cache, perhaps: never followed
        report["cache_skipped"] = f"{link.relative_to(dantai_dir)} is " + LINK_SKIPPED.format(os.readlink(link))
        log.warning("purge: 抽出キャッシュはリンクのため対象外 / extract cache skipped: %s", report["cache_skipped"])
    elif cache.is_dir():
        _purge_cache(dantai_dir, cache, before, report)
    return report


def _purge_cache(dantai_dir: Path, cache: Path, before: dt.date, report: dict) -> None:
    """Cache entries not used since `before`, none while a run of the 団体 has not ended: an entry's
    mtime is set when a run starts using it, not while it uses it. Checked again before each entry,
    which is renamed away first, so a run starting meanwhile finds the entry whole or not at all."""
    limit = dt.datetime.combine(before, dt.time(), tzinfo=dt.timezone.utc).timestamp()
    for entry in sorted(cache.iterdir()):
        try:
            if not _real_dir(entry) or entry.stat().st_mtime >= limit:
                continue
        except OSError:   # renamed or removed by a run meanwhile
            continue
        running = _unfinished(dantai_dir)
        if running:
            report["cache_skipped"] = (f"{len(running)} run(s) without a final summary.json ({running[0]} …) "
                                       "may be using the extract cache")
            log.warning("purge: 実行中の実行があるため抽出キャッシュは削除しません / extract cache skipped: %s",
                        report["cache_skipped"])
            return
        gone = entry.with_name(f"{entry.name}.purging{os.getpid()}")
        try:
            entry.rename(gone)
        except OSError:   # taken or removed meanwhile: leave it
            continue
        shutil.rmtree(gone)
        report["cache_entries"] += 1
