"""Reuse the staging of an unchanged source: re-running a rehearsal on the same files is free.

The cache key is everything the staging depends on: the file's SHA-256, the layout file's
SHA-256, the encoding, the extractor version, the source's ordinal and names (they are in
`_row_id` and the quarantine), the key columns (the quarantine's `record_key`), and the file's
name (it is the staging's `_source`, the quarantine's `source` and the result's `origin`, so every
later stage, summary.json and the report name it).
The file name is in the key rather than rewritten on reuse: a hit then gives exactly what a miss
would (nothing to keep in step with what the extractors write the name into), and a renamed file
costs one extract, like a changed one. Entries live in `runs/<団体>/_cache/extract/<key>/`,
inside the 団体's own folder, so one 団体's cache can never serve another's run.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

import polars as pl

from ikou.staging import sha256_file
from ikou.extractors.result import ExtractResult
from ikou import quarantine as q

# Bump when an extractor change alters staging or quarantine for the same input.
EXTRACTOR_VERSION = "11"   # 11: a wrong declared encoding named (likely_encoding); 10: a BOM starting a CSV record (concatenated exports); out-of-range dates as written; 3: records, not lines (quoting, CR line ends, controls); 4: record_key, EOF mark; 5: fixed-width pad
# 6: csv line breaks only in line_breaks columns, trailing_delimiter, repeated header
# 7: a key value that is not text gives no record_key; fixed width: lone CR ends a line, back-to-back keys guarded
# 8: layout record_types: header / trailer records not staged, an undeclared type held (extract.record_type)
# 9: a file's bad value in a column no mapping line reads is a warning (the unread columns are in the key)


def cache_key(*, file_sha256: str, file_name: str, layout_path: Path, encoding: str, ordinal: int,
              source_name: str, target_table: str, key_columns: list[str] | None = None,
              unread_columns: list[str] | None = None) -> str:
    parts = {
        "file": file_sha256, "file_name": file_name, "layout": sha256_file(Path(layout_path)),
        "encoding": encoding.lower(), "extractor": EXTRACTOR_VERSION, "ordinal": ordinal, "source": source_name,
        "target": target_table, "key_columns": None if key_columns is None else list(key_columns),
        "unread_columns": sorted(unread_columns or []),   # a bad value there holds nothing: another staging
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def cached_extract(source, ctx, *, ordinal: int, target_table: str, layout_path: Path | None = None,
                   cache_dir: Path | None = None, key_columns: list[str] | None = None,
                   unread_columns: list[str] | None = None) -> ExtractResult:
    """`extract_source` with reuse: an unchanged file is not read again (tables always are: live data).

    `extra["cache"]` says "hit" or "miss". The staging file is hard-linked (or copied) into this
    run's extract folder, and the cached quarantine is re-stamped with this run's id.
    """
    from ikou.extractors import extract_source, load_layout

    if source.kind != "file":
        r = extract_source(source, ctx, ordinal=ordinal, target_table=target_table, layout_path=layout_path,
                           key_columns=key_columns, unread_columns=unread_columns)
        r.extra["cache"] = "not cacheable (live table)"
        return r
    t0 = time.perf_counter()
    lpath = Path(source.layout or layout_path)
    layout = load_layout(lpath)
    from ikou.extractors.csv_file import check_source_file

    check_source_file(Path(source.path), source.name, ctx.run_id)
    digest = sha256_file(Path(source.path))
    key = cache_key(file_sha256=digest, file_name=Path(source.path).name, layout_path=lpath,
                    encoding=source.encoding or layout.encoding, ordinal=ordinal, source_name=source.name,
                    target_table=target_table, key_columns=key_columns, unread_columns=unread_columns)
    # the 団体's own cache: RunContext checked at the run's start that `_cache` and `_cache/extract` are
    # real folders inside runs_dir/<団体> (ikou.context.check_dantai_folders); an entry must be one too
    entry = (cache_dir or ctx.dantai_dir / "_cache" / "extract") / key
    if entry.is_symlink():
        from ikou.errors import IsolationError

        raise IsolationError(f"extract cache entry {entry} is a symbolic link (to {entry.resolve()}): "
                             "a 団体's cache holds only its own entries (remove the link)", run_id=ctx.run_id)
    out = ctx.stage_dir("extract") / f"{source.name}.parquet"
    meta_path = entry / "result.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        _link_or_copy(entry / "staging.parquet", out)
        os.utime(entry)   # last used: retention (ikou purge) removes entries not used since its date
        quarantine = q.conform(pl.read_parquet(entry / "quarantine.parquet").with_columns(
            pl.lit(ctx.run_id).alias("run_id")))
        return ExtractResult(source=source.name, origin=meta["origin"], staging=out, rows_read=meta["rows_read"],
                             rows_ok=meta["rows_ok"], quarantine=quarantine, sha256=digest,
                             seconds=time.perf_counter() - t0, extra={**meta.get("extra", {}), "cache": "hit",
                                                                     "cache_key": key})
    r = extract_source(source, ctx, ordinal=ordinal, target_table=target_table, layout_path=layout_path,
                       key_columns=key_columns, unread_columns=unread_columns)
    _publish(r, entry)
    r.extra.update(cache="miss", cache_key=key)
    return r


def _publish(r: ExtractResult, entry: Path) -> bool:
    """Publish a miss's staging as the cache entry `entry`: hard-linked where the cache and the run folder share
    a file system (no second copy of the staging), copied otherwise. The run does not need the cache: a failure
    (a full disk) is a warning in run.log, and the half-written entry is removed."""
    tmp = entry.with_name(entry.name + f".tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        _link_or_copy(r.staging, tmp / "staging.parquet")
        r.quarantine.write_parquet(tmp / "quarantine.parquet")
        (tmp / "result.json").write_text(json.dumps({"origin": r.origin, "rows_read": r.rows_read,
                                                     "rows_ok": r.rows_ok, "sha256": r.sha256, "extra": r.extra},
                                                    ensure_ascii=False), encoding="utf-8")
    except Exception as exc:   # noqa: BLE001 - an aid, not the run: its staging is written already
        from ikou.errors import one_line

        shutil.rmtree(tmp, ignore_errors=True)
        logging.getLogger("ikou").warning("extract %s: cache not written (the run goes on without it): %s", r.source,
                                          one_line(exc))
        return False
    try:
        tmp.rename(entry)          # atomic publish: a crashed run never leaves a half entry
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)   # another run published the same key first
    return True
