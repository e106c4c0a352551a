"""Independent stages of one run as concurrent Prefect tasks (opt-in: IKOU_PARALLEL=threads|dask).

The sources of a run are independent until their 文字同定 is recorded: their extract and their one
pass (map → 文字同定 → row-local checks, ikou.onepass) run as submitted tasks, one wave per stage across
every source (`.submit`, then the results in config order). Each pass reads the 同定台帳's decisions;
the ledger is recorded source after source afterwards (two writers at once, on a Dask cluster, read a
ledger half written), validation in 業務 order (a 個人住民税 rule reads the 住民記録 tables), and the
load is one transaction; the diffs after it are independent again. The steps and their inputs are exactly
those of the sequential walk (flows.migrate._stages) and the results are kept in its order, so the
run's summary, quarantine and target are the same.

The task runner is the flow's: the default thread pool, or a Dask cluster for the flow
`ikou.flows.parallel:migration_flow` (prefect-dask's DaskTaskRunner at IKOU_DASK_ADDRESS, a
temporary local cluster when unset), which is what a campaign with `parallel: {task_runner: dask}`
deploys.
"""
from __future__ import annotations

import os

from ikou import cancel
from ikou.flows import pipeline as P

MODE_ENV = "IKOU_PARALLEL"
WORKERS_ENV = "IKOU_PARALLEL_WORKERS"
DASK_ADDRESS_ENV = "IKOU_DASK_ADDRESS"


def _wave(run, stage: str, calls: list[tuple[str, object, tuple, dict]]) -> list:
    """Submit one task per (name, task, args, kwargs) and return their results in the given order."""
    run.stage = stage
    cancel.checkpoint(stage)
    futures = [t.with_options(task_run_name=f"{stage}-{name}").submit(*args, **kwargs)
               for name, t, args, kwargs in calls]
    return [f.result() for f in futures]


def stages(cfg, ctx, plans: list[P.SourcePlan], run, *, keep_stages: bool = False) -> None:
    """flows.migrate._stages with the independent steps submitted concurrently."""
    from ikou.flows import migrate as M
    from ikou.moji.step import record_source

    exs = _wave(run, "extract", [(p.source.name, M.extract_task, (p.source, ctx), P.extract_kwargs(p))
                                 for p in plans])
    for p, ex in zip(plans, exs):
        P.warn_numeric_keys(p, ex.metrics)
    # map → 文字同定 → row-local checks concurrently; the 団体's one 同定台帳 is recorded afterwards, source
    # after source (two at once, on a Dask cluster, read a ledger half written)
    passes = _wave(run, "map", [(p.source.name, M.one_pass_task, (p.mapping, p.schema, ctx, ex.output),
                                 dict(source_name=p.source.name, gaiji_table=p.source.gaiji_table,
                                      gaiji_font=p.source.gaiji_font, keep_stages=keep_stages, record=False,
                                      held_at_extract=ex.quarantine))
                                for p, ex in zip(plans, exs)])
    run.stage = "moji"
    for p, ex, (mp, mo) in zip(plans, exs, passes):   # the sequential walk's order: extract, map, moji per source
        record_source(ctx, mo, gaiji_font=p.source.gaiji_font)
        run.results.extend((ex, mp, mo))
    M.validate_and_load(cfg, ctx, plans, run)
    sensitive = M.sensitive_columns(plans)

    def diff(p):
        ex, mp, mo = (run.by(s, p.source.name) for s in ("extract", "map", "moji"))
        return (p.source.name, M.diff_task, (p.mapping, p.schema, ctx, mp.outputs.get("combined", ex.output)),
                dict(source_name=p.source.name, origin=ex.metrics.get("origin", p.source.name),
                     target_url=cfg.target.url, db_schema=cfg.target_schema, chars=mo.outputs.get("chars"),
                     sensitive=sensitive, crosswalk=P.key_crosswalk(p, mp, ctx)))
    run.results.extend(_wave(run, "diff", [diff(p) for p in plans]))


def _task_runner():
    if os.environ.get(MODE_ENV) == "dask" or os.environ.get(DASK_ADDRESS_ENV):
        from prefect_dask import DaskTaskRunner

        address = os.environ.get(DASK_ADDRESS_ENV)
        if address:
            return DaskTaskRunner(address=address)
        n = int(os.environ.get(WORKERS_ENV) or 2)
        return DaskTaskRunner(cluster_kwargs={"n_workers": n, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=int(os.environ.get(WORKERS_ENV) or 4))


def _flow():
    from ikou.flows.migrate import migration_flow as sequential

    return sequential.with_options(task_runner=_task_runner())


migration_flow = _flow()   # the deployment entrypoint of a campaign with `parallel:` (the runner read at import)
