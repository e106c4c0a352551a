"""The load step: every 業務 of a run, plus the tables derived from them, into the target at once.

Source tables stream from their validated Parquet; derived tables (current person, household) are
computed lazily from them (loaders.derive), sunk to load/<table>.parquet and loaded from there, so
they are as large as the population, never the history, in memory. They are computed on a thread
of their own while the target ingests the tables before them (the target waits for a derived table
only when its turn comes): Polars works while the database writes. The target then holds this run
and only this run, every 業務 together, or, if anything fails, still the run it held before.
"""
from __future__ import annotations

import logging
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path

import polars as pl

from ikou.context import RunContext
from ikou.loaders import targets
from ikou.loaders.derive import derive_table
from ikou.loaders.targets import RUNNING, LoadPart, RunRecord
from ikou.stage import StageResult, step
from ikou.staging import STAGING_COMPRESSION

log = logging.getLogger("ikou")


def derive(schema, ctx: RunContext, validated: dict[str, Path], pool: Executor | None = None
           ) -> dict[str, Path | Future]:
    """The 業務's validated tables plus the tables its schema derives from them (in dependency order).

    With `pool`, each derived table is a Future of its Parquet file, computed there in dependency
    order (a one-thread pool runs them one after the other, so a table derived from a derived one
    finds its source written); the loaders wait for it when its turn comes (targets.resolve_frame).
    """
    frames: dict[str, Path | Future] = dict(validated)

    def sink(name: str) -> Path:
        src = schema.tables[name].derive.from_   # its source only: done before it (or validated)
        sources = {src: pl.scan_parquet(targets.resolve_frame(frames[src]))}
        out = ctx.stage_dir("load") / f"{name}.parquet"
        derive_table(name, schema, sources).lazy().sink_parquet(out, compression=STAGING_COMPRESSION)
        return out

    for name in schema.derived_tables():
        if schema.tables[name].derive.from_ in frames and name not in validated:
            frames[name] = pool.submit(sink, name) if pool is not None else sink(name)
    return frames


@step("load", name="db_schema")
def load(parts: list[tuple[object, dict[str, Path]]], ctx: RunContext, target_url: str, db_schema: str, *,
         max_drop_ratio: float | None = None, counts: dict[str, dict] | None = None,
         sensitive: set[str] | frozenset[str] = frozenset()) -> StageResult:
    """Replace the 団体's target with this run: `parts` = (schema, validated tables) per 業務, in order.

    Metrics: `loaded` rows per table, `gyomu`, and `replaced` (the run the target held before, its outcome
    and whether it is kept as the previous state). Fails before changing anything when a table would be
    emptied or shrink beyond `max_drop_ratio` (loaders.targets.check_counts); `counts` (per table: `extracted`,
    `held`, `rules` as (rule, records)) lets that refusal say whether nothing was extracted or everything held.
    `sensitive`: the run's sensitive columns (privacy.sensitive_columns), recorded with the run in the target.

    The run is recorded in the target as RUNNING: diff and report follow the COMMIT, and the flow records
    the run's end once its summary.json is written (loaders.finish_run). A held run that never got there
    (killed after its COMMIT) is not made the previous state over a finished one (targets.kept_on_load);
    the 団体's runs folder is where a held run's summary.json is looked for when the target lacks its end.
    """
    from ikou.loaders import held_runs, load_run

    rows_in = sum(pl.scan_parquet(p).select(pl.len()).collect().item() for _, v in parts for p in v.values())
    gyomu = tuple(schema.gyomu for schema, _ in parts)
    # one thread derives while the target ingests (a failed load cancels what has not started)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ikou-derive")
    try:
        load_parts = [LoadPart(schema, derive(schema, ctx, validated, pool),
                               counts={t: c for t, c in (counts or {}).items() if t in validated},
                               sensitive=frozenset(sensitive))
                      for schema, validated in parts]
        counts = load_run(load_parts, target_url, db_schema, max_drop_ratio=max_drop_ratio, runs_dir=ctx.dantai_dir,
                          run=RunRecord(run_id=ctx.run_id, rehearsal=ctx.rehearsal, dantai_code=ctx.dantai_code,
                                        gyomu=gyomu, status=RUNNING))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    log.info("load %s → %s: %s", "+".join(gyomu), db_schema, counts)
    replaced = _replaced(held_runs, target_url, db_schema, ctx.run_id)
    if replaced and replaced.get("status") not in ("succeeded", None):
        kept = ("it is kept as the previous state (no finished run before it)" if replaced.get("kept_as_previous")
                else "it is dropped, and the finished run before it stays the previous state")
        log.warning("load: this run replaced run %s, which did not finish successfully (%s after its load "
                    "committed); %s", replaced["run_id"], replaced["status"], kept)
    validated_tables = {t for _, v in parts for t in v}
    return StageResult(stage="load", name="+".join(gyomu), rows_in=rows_in,
                       rows_out=sum(n for t, n in counts.items() if t in validated_tables),
                       metrics={"loaded": counts, "gyomu": list(gyomu), **({"replaced": replaced} if replaced else {})})


def guard_counts(tables: dict[str, dict], quarantine: pl.DataFrame | None = None) -> dict[str, dict]:
    """`load`'s `counts` from the run's table counts (summary `tables`, as dicts) and its quarantine (every
    stage): per source-fed table its extracted and held records and the rules holding most of them."""
    out = {}
    for name, t in tables.items():
        if t.get("derived"):
            continue
        rules: list[tuple[str, int]] = []
        if quarantine is not None and quarantine.height:
            by_rule = (quarantine.filter((pl.col("table") == name) & (pl.col("severity") == "error"))
                       .group_by("rule").agg(pl.col("row_id").n_unique().alias("n"))
                       .sort(["n", "rule"], descending=[True, False]).head(3))
            rules = [(str(r), int(n)) for r, n in by_rule.iter_rows()]
        out[name] = {"extracted": int(t.get("extracted") or 0), "held": int(t.get("quarantined") or 0), "rules": rules}
    return out


def _replaced(held_runs, url: str, db_schema: str, run_id: str) -> dict | None:
    """What the target's record of this run says it replaced (None when unreadable: the load is done)."""
    try:
        current = held_runs(url, db_schema)["current"] or {}
    except Exception as exc:   # noqa: BLE001 - an aid for the log; the load committed
        log.warning("load: could not read back the run record of %s (%s)", db_schema, type(exc).__name__)
        return None
    return current.get("replaced") if current.get("run_id") == run_id else None
