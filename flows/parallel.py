"""Independent stages of one run as concurrent Prefect tasks (opt-in: IKOU_PARALLEL=threads|dask).

The sources of a run are independent until 文字同定: their extract and map steps run as submitted
tasks, one wave per stage across every source (`.submit`, then the results in config order).
文字同定 runs source after source (each reads and records the 団体's one 同定台帳: two at once, on a
Dask cluster, read a ledger half written), validation in 業務 order (a 個人住民税 rule reads the
住民記録 tables), and the load is one transaction; the diffs after it are independent again. The steps and their inputs are exactly
those of the sequential walk (flows.migrate._stages) and the results are kept in its order, so the
run's summary, quarantine and target are the same.

The task runner is the flow's: the default thread pool, or a Dask cluster for the flow
`ikou.flows.parallel:migration_flow` (prefect-dask's DaskTaskRunner at IKOU_DASK_ADDRESS, a
temporary local cluster when unset), which is what a campaign with `parallel: {task_runner: dask}`
deploys.
"""
from __future__ import annotations

import os

from ikou import cancel, validators
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


def stages(cfg, ctx, plans: list[P.SourcePlan], run) -> None:
    """flows.migrate._stages with the independent steps submitted concurrently."""
    from ikou.flows import migrate as M

    exs = _wave(run, "extract", [(p.source.name, M.extract_task, (p.source, ctx),
                                  dict(ordinal=p.ordinal, target_table=p.target, layout_path=p.mapping.layout))
                                 for p in plans])
    mps = _wave(run, "map", [(p.source.name, M.map_task, (p.mapping, p.schema, ctx, ex.output),
                              dict(source_name=p.source.name)) for p, ex in zip(plans, exs)])
    for p, ex, mp in zip(plans, exs, mps):   # the sequential walk's order: extract, map, moji per source
        run.results.extend((ex, mp))
        # 文字同定 stays in order: every source reads and records the 団体's one 同定台帳 (moji_ledger)
        run("moji", p.source.name, M.moji_task, p.schema, p.target, ctx, mp.output, source_name=p.source.name,
            gaiji_table=p.source.gaiji_table)
    validated: dict[str, dict] = {}
    for target, schema, feeding in P.tables_in_order(cfg, plans):
        others = {t: path for tables in validated.values() for t, path in tables.items()}
        v = run("validate", target, M.validate_task, schema, target, ctx,
                [run.by("moji", p.source.name).output for p in feeding], others=others)
        validated.setdefault(schema.gyomu, {})[target] = v.output
    run.stage = "validate"
    validators.check_tables(M._counts(plans, run), cfg.thresholds.max_quarantine_rate, run_id=ctx.run_id,
                            loaded=False)
    schemas = {p.schema.gyomu: p.schema for p in plans}
    with M.load_slot():
        run("load", "+".join(validated), M.load_task, [(schemas[g], tables) for g, tables in validated.items()],
            ctx, cfg.target.url, cfg.target_schema, max_drop_ratio=cfg.thresholds.max_drop_ratio)
    sensitive = M.sensitive_columns(plans)
    diffs = _wave(run, "diff", [
        (p.source.name, M.diff_task, (p.mapping, p.schema, ctx, run.by("extract", p.source.name).output),
         dict(source_name=p.source.name, origin=run.by("extract", p.source.name).metrics.get("origin", p.source.name),
              target_url=cfg.target.url, db_schema=cfg.target_schema,
              chars=run.by("moji", p.source.name).outputs.get("chars"), sensitive=sensitive))
        for p in plans])
    run.results.extend(diffs)


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
