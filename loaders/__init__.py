"""Load stage: validated frames → the target database, one schema per 団体, in one transaction.

The stage's one step is `load(schema, ctx, target_url, db_schema, validated)` → `ikou.stage.StageResult`
(`loaders.step`). A target database is a class registered by URL scheme (`loaders.targets`):
DuckDB (`loaders.duckdb_target`, the embedded default) reads the staged Parquet itself;
PostgreSQL (`loaders.postgres_target`) takes DDL compiled by SQLAlchemy and rows by binary COPY
through ADBC. The functions below pick the target by its URL.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from ikou.loaders.targets import (CutoverRefused, EmptyExportError, LoadPart, LoadRejected, RollbackRefused, RunRecord,
                                  TargetCutOver, TargetDatabase, UnfinishedRunRefused, check_isolation, in_force,
                                  register_target, target_for)
from ikou.loaders import duckdb_target, postgres_target  # noqa: F401,E402  (the built-in targets register themselves)
from ikou.schema import TargetSchema


def load_tables(frames: dict[str, pl.DataFrame | Path], schema: TargetSchema, url: str, db_schema: str, *,
                run_id: str, dantai_code: str) -> dict[str, int]:
    """Replace the 団体's target tables with `frames` atomically; return rows now in each table.

    A frame may be a Parquet path: it is then streamed (DuckDB reads the file itself; PostgreSQL
    gets COPY batch by batch), so memory does not grow with the table.
    """
    check_isolation(db_schema, dantai_code, run_id)
    return target_for(url).load_tables(frames, schema, db_schema, run_id=run_id)


def load_run(parts: list[LoadPart], url: str, db_schema: str, *, run: RunRecord,
             max_drop_ratio: float | None = None, runs_dir: Path | None = None) -> dict[str, int]:
    """Make the 団体's target hold this run (every 業務 together, in one transaction); see
    TargetDatabase.load_run (`runs_dir`: the 団体's runs folder, where a held run's summary.json is)."""
    check_isolation(db_schema, run.dantai_code, run.run_id)
    # the runs folder only when known: a plug-in target written before it keeps working without it
    return target_for(url).load_run(parts, db_schema, run=run, max_drop_ratio=max_drop_ratio,
                                    **({"runs_dir": runs_dir} if runs_dir is not None else {}))


def held_runs(url: str, db_schema: str) -> dict[str, dict | None]:
    """The run the target holds now and the one before it (kept until the next success), each with its
    `status` (RUNNING from the COMMIT until the flow records the run's end; loaders.targets.outcome)."""
    return target_for(url).held_runs(db_schema)


def rollback(url: str, db_schema: str, run_id: str, *, runs_dir: Path | None = None,
             allow_unfinished: bool = False) -> dict[str, dict | None]:
    """Make the previous state, which must hold `run_id`, current again (one transaction). A run that did
    not finish successfully is refused (UnfinishedRunRefused) unless `allow_unfinished`; `runs_dir`
    (runs/<団体>) is where its summary.json would be (loaders.targets.check_rollback)."""
    given = {k: v for k, v in (("runs_dir", runs_dir), ("allow_unfinished", allow_unfinished)) if v}
    return target_for(url).rollback(db_schema, run_id, **given)


def cutover_events(url: str, db_schema: str) -> list[dict]:
    """The target's cut-over record (本番切替: declarations and withdrawals, oldest first; read only)."""
    return target_for(url).cutover_events(db_schema)


def cutover(url: str, db_schema: str) -> dict | None:
    """The cut-over declaration in force ({run_id, at, note, by, …}), or None: the target takes loads."""
    return in_force(cutover_events(url, db_schema))


def declare_cutover(url: str, db_schema: str, run_id: str, *, note: str | None = None, by: str = "",
                    runs_dir: Path | None = None) -> list[dict]:
    """Declare the run the target holds (`run_id`, which must be it, finished successfully) the one cut over
    to: from then on no run loads into the target and no rollback swaps it (TargetCutOver)."""
    from ikou.loaders.targets import DECLARED

    return target_for(url).record_cutover(db_schema, DECLARED, run_id, note=note, by=by, runs_dir=runs_dir)


def withdraw_cutover(url: str, db_schema: str, run_id: str, *, note: str | None = None, by: str = "") -> list[dict]:
    """Withdraw the declaration in force (which must name `run_id`), recorded as a row of its own."""
    from ikou.loaders.targets import WITHDRAWN

    return target_for(url).record_cutover(db_schema, WITHDRAWN, run_id, note=note, by=by)


def finish_run(url: str, db_schema: str, run_id: str, status: str) -> bool:
    """Record in the target that the run it holds ended (`status`: its summary.json's), once summary.json
    is written. Never raises: a target that cannot be reached keeps RUNNING, and the run's summary.json
    tells its end instead (loaders.targets.outcome) when the runs folder is known. True when recorded."""
    import logging

    from ikou.errors import IkouError, one_line

    try:
        return target_for(url).finish_run(db_schema, run_id, status)
    except Exception as exc:   # noqa: BLE001 - the run's record (summary.json) is written; this mark is an aid
        # ikou's own message, or only the kind of a driver's error (its text may repeat the URL)
        why = one_line(exc) if isinstance(exc, IkouError) else type(exc).__name__
        logging.getLogger("ikou").warning("target %s: could not record the end of run %s (%s); its summary.json "
                                          "tells it", db_schema, run_id, why)
        return False


def checksums(url: str, db_schema: str) -> dict:
    """The run the target holds and each of its tables' rows and MD5, computed by the database
    (TargetDatabase.checksums): what an evidence pack records and `ikou evidence verify` re-checks."""
    return target_for(url).checksums(db_schema)


def read_table(url: str, db_schema: str, name: str) -> pl.DataFrame:
    """Read a loaded table back (for the diff and for tests)."""
    return target_for(url).read_table(db_schema, name)


def diff_input(url: str, db_schema: str, name: str, out: Path) -> str | Path:
    """A loaded table as the parallel-run diff reads it, never whole in memory.

    A DuckDB target is read where it lies (`duckdb:///file#schema.table`); a PostgreSQL table is
    streamed to Parquet at `out`, every column as text (see each target's `diff_input`).
    """
    return target_for(url).diff_input(db_schema, name, out)


from ikou.loaders.step import load  # noqa: E402,F401  (the stage's one step)

__all__ = ["CutoverRefused", "EmptyExportError", "LoadPart", "LoadRejected", "RollbackRefused", "RunRecord",
           "TargetCutOver", "TargetDatabase", "UnfinishedRunRefused", "check_isolation", "checksums", "cutover",
           "cutover_events", "declare_cutover", "diff_input", "finish_run", "held_runs", "load", "load_run",
           "load_tables", "read_table", "register_target", "rollback", "target_for", "withdraw_cutover"]
