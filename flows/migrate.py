"""The Prefect flow: one run = one 団体 × its 業務 × one rehearsal.

Orchestration only: the plan (flows.pipeline), one task per stage and source/table around each
stage's one public step (never per row), retries for transient failures only, Prefect artifacts for
the counts. The run directory (summary.json, quarantine, report.html) is the record of the run, not
Prefect's database. Whatever fails after the config is read, the run folder gets summary.json with
`status: failed`, the stage and one line that says what to fix, and the flow run ends Failed
without a traceback.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import TerminationSignal
from prefect.states import Cancelled, Failed

from ikou import extractors, loaders, reports, validators
from ikou import cancel, onepass
from ikou import quarantine as q
from ikou.config import RunConfig, load_config, with_target_url
from ikou.context import check_new_run, check_run_id, new_run_id
from ikou.errors import TransientError, one_line
from ikou.flows import history
from ikou.flows import pipeline as P
from ikou.privacy import sensitive_columns
from ikou.reports.summary import now, table_counts
from ikou.runlock import dantai_lock
from ikou.stage import StageResult
from ikou.summary import RunError, RunSummary

# how long a run a worker started waits for another run of its 団体 (`ikou run` itself refuses at once)
RUN_LOCK_WAIT = float(os.environ.get("IKOU_RUN_LOCK_WAIT_SECONDS", 6 * 3600))


def _transient_only(task, task_run, state) -> bool:
    if cancel.requested():
        return False
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False


TASK_OPTS = dict(cache_policy=NO_CACHE, persist_result=False)

extract_task = task(extractors.extract, name="extract", retries=2, retry_delay_seconds=2,
                    retry_condition_fn=_transient_only, **TASK_OPTS)
one_pass_task = task(onepass.one_pass, name="map+moji", **TASK_OPTS)
validate_task = task(validators.validate_table, name="validate", **TASK_OPTS)
load_task = task(loaders.load, name="load", retries=1, retry_delay_seconds=5,
                 retry_condition_fn=_transient_only, **TASK_OPTS)
diff_task = task(reports.diff_source, name="diff", **TASK_OPTS)


class _Run:
    """The stage results of one run so far, and the stage it is in (named when something fails)."""

    def __init__(self) -> None:
        self.results: list[StageResult] = []
        self.stage = "plan"
        # the target's cut-over declaration ({run_id, at}) when it is cut over: the run compares, never loads
        self.cutover: dict | None = None

    def __call__(self, stage: str, name: str, t, *args, **kwargs) -> StageResult | list[StageResult]:
        self.stage = stage
        cancel.checkpoint(f"{stage}.{name}")
        try:
            r = t.with_options(task_run_name=f"{stage}-{name}")(*args, **kwargs)
        except Exception as exc:
            self.stage = getattr(exc, "ikou_stage", stage)   # a step that runs several stages (ikou.onepass)
            raise
        self.results.extend(r if isinstance(r, list) else [r])
        return r

    def by(self, stage: str, name: str) -> StageResult:
        return next(r for r in self.results if r.stage == stage and r.name == name)


def _stages(cfg: RunConfig, ctx, plans: list[P.SourcePlan], run: _Run, *, keep_stages: bool = False) -> None:
    """extract, then map → 文字同定 → row-local checks in one pass, per source; validate per table;
    thresholds; load per 業務; diff per source."""
    for p in plans:
        name = p.source.name
        ex = run("extract", name, extract_task, p.source, ctx, **P.extract_kwargs(p))
        P.warn_numeric_keys(p, ex.metrics)
        run("map", name, one_pass_task, p.mapping, p.schema, ctx, ex.output, source_name=name,
            gaiji_table=p.source.gaiji_table, gaiji_font=p.source.gaiji_font, keep_stages=keep_stages,
            held_at_extract=ex.quarantine)
    validate_and_load(cfg, ctx, plans, run)
    sensitive = sensitive_columns(plans)
    for p in plans:
        ex, mp, mo = (run.by(s, p.source.name) for s in ("extract", "map", "moji"))
        # a multi-table source is compared as combined (legacy keys), through the 団体's crosswalk of its key
        run("diff", p.source.name, diff_task, p.mapping, p.schema, ctx, mp.outputs.get("combined", ex.output),
            source_name=p.source.name, origin=ex.metrics.get("origin", p.source.name), target_url=cfg.target.url,
            db_schema=cfg.target_schema, chars=mo.outputs.get("chars"), sensitive=sensitive,
            crosswalk=P.key_crosswalk(p, mp, ctx))


def validate_and_load(cfg: RunConfig, ctx, plans: list[P.SourcePlan], run: _Run) -> None:
    """The table-wide validation of each target table (its sources' row-local findings given), the
    run's thresholds, then the one load of every 業務."""
    validated: dict[str, dict] = {}   # 業務 → table → validated Parquet
    for target, schema, feeding in P.tables_in_order(cfg, plans):
        others = {t: path for tables in validated.values() for t, path in tables.items()}
        identified = [run.by("moji", p.source.name) for p in feeding]
        v = run("validate", target, validate_task, schema, target, ctx, [r.output for r in identified],
                others=others, row_local=[r.outputs["row_local"] for r in identified],
                held_before=[run.by(s, p.source.name).quarantine for p in feeding for s in ("map", "moji")]
                + [P.held_at_extract(p, run.by("extract", p.source.name).quarantine) for p in feeding])
        validated.setdefault(schema.gyomu, {})[target] = v.output
    # A mapping mistake must stop the rehearsal before it replaces the target with a half-empty table.
    run.stage = "validate"
    held = q.concat([r.quarantine for r in run.results])
    counts = _counts(plans, run, held)
    validators.check_tables(counts, cfg.thresholds.max_quarantine_rate, run_id=ctx.run_id,
                            loaded=False, quarantine=held)
    schemas = {p.schema.gyomu: p.schema for p in plans}
    # 本番切替済み: the target is live, users change it; the run compares the legacy data with it (並行稼働) and
    # loads nothing. The load itself refuses too (loaders' last guard), should the declaration come after this
    run.stage = "load"
    cut = loaders.cutover(cfg.target.url, cfg.target_schema)
    if cut is not None:
        run.cutover = {"run_id": cut["run_id"], "at": cut["at"]}
        logging.getLogger("ikou").info("target %s is cut over to run %s (%s): not loaded, compared only (parallel "
                                       "run) / 切替済みのため投入せず比較のみ", cfg.target_schema, cut["run_id"], cut["at"])
        return
    # every 業務 in one load: the target shows all of this run at once, or still the run before it
    with load_slot():
        try:
            run("load", "+".join(validated), load_task, [(schemas[g], tables) for g, tables in validated.items()],
                ctx, cfg.target.url, cfg.target_schema, max_drop_ratio=cfg.thresholds.max_drop_ratio,
                counts=loaders.step.guard_counts(counts, held),   # the guard says why nothing is left to load
                sensitive=sensitive_columns(plans))
        except loaders.TargetCutOver:
            # declared after the check above, before the load took the target's lease: the loaders refused (nothing
            # written), and the run goes on as what it would have been had it started a minute later, a comparison
            cut = loaders.cutover(cfg.target.url, cfg.target_schema)
            if cut is None:
                raise
            run.cutover = {"run_id": cut["run_id"], "at": cut["at"]}
            run.stage = "load"
            logging.getLogger("ikou").info("target %s was cut over to run %s (%s) while this run validated: not "
                                           "loaded, compared only (parallel run) / 検証中に本番切替されたため投入せず"
                                           "比較のみ", cfg.target_schema, cut["run_id"], cut["at"])


def load_slot():
    """A slot of the global concurrency limit named by IKOU_LOAD_CONCURRENCY (a campaign's deployments set it),
    held around the load: so many 団体 never open as many COPYs at once."""
    name = os.environ.get("IKOU_LOAD_CONCURRENCY")
    if not name:
        return contextlib.nullcontext()
    from prefect.concurrency.sync import concurrency

    return concurrency(name, occupy=1, strict=True)


def _counts(plans, run: _Run, quarantine=None) -> dict[str, dict]:
    quarantine = q.concat([r.quarantine for r in run.results]) if quarantine is None else quarantine
    return {t: c.model_dump(by_alias=True) for t, c in table_counts(plans, run.results, quarantine).items()}


@flow(name="ikou-migration", persist_result=False, validate_parameters=False)
def migration_flow(config_path: str, run_id: str | None = None, target_url: str | None = None,
                   keep_stages: bool = False):
    """extract → map → 文字同定 → validate → load → diff, with counts that must balance.

    `keep_stages` (or `keep_stages: true` in the config) also writes the mapped rows (map/), which the
    one pass otherwise keeps in memory. Returns the summary (as a dict); a failed run ends in a Failed
    state that carries its error.
    """
    _console_survives_broken_pipe()
    _quiet_failure_logs()
    logger = get_run_logger()
    cfg = load_config(config_path)
    if target_url:
        cfg = with_target_url(cfg, _taken_over(target_url))
    run_id = check_run_id(run_id) if run_id is not None else new_run_id(cfg.rehearsal)
    ctx = P.make_context(cfg, run_id)
    # a worker, a deployment or a Prefect retry given a used id is refused; the folder `ikou run` claimed is taken
    check_new_run(ctx.run_dir)
    history.label(cfg.dantai.code, run_id, cfg.rehearsal)
    logger.info("run %s for 団体 %s (%s), rehearsal %s → %s", run_id, cfg.dantai.code, cfg.dantai.name,
                cfg.rehearsal, ctx.run_dir)
    started = now()
    run, plans, failure = _Run(), [], None
    try:
        # one run of a 団体 at a time (ikou.runlock): `ikou run` took it already, or refused; a run a worker
        # started (a campaign's second rehearsal of one 団体) waits its turn
        with cancel.handling(), dantai_lock(ctx.dantai_dir, run_id, wait=RUN_LOCK_WAIT):
            plans = P.checked_plan(cfg)   # `ikou run` checked it before Prefect started: the same checks
            # the target answers before hours of extraction: a server's wrong port, stopped server or refused login,
            # a DuckDB file that cannot be written, is no DuckDB database or another process holds, is said now, at
            # plan, not after extract, map and validate (its cut-over is read again at load)
            loaders.target_for(cfg.target.url).preflight(cfg.target_schema)
            if os.environ.get("IKOU_PARALLEL"):   # opt-in: independent stages as concurrent tasks
                from ikou.flows import parallel

                parallel.stages(cfg, ctx, plans, run, keep_stages=keep_stages or cfg.keep_stages)
            else:
                _stages(cfg, ctx, plans, run, keep_stages=keep_stages or cfg.keep_stages)
            run.stage = "report"
            held = q.concat([r.quarantine for r in run.results])
            counts = _counts(plans, run, held)
            validators.check_tables(counts, cfg.thresholds.max_quarantine_rate, run_id=run_id,
                                    quarantine=held, loaded=run.cutover is None)
            if run.cutover is not None:   # nothing loaded: every extracted record is validated or held all the same
                for name, t in counts.items():
                    if not t.get("derived"):
                        validators.check_conservation(t["extracted"], t["validated"], t["quarantined"], name,
                                                      "validate", run_id=run_id)
            cancel.checkpoint("report")   # a cancel dropped since the last step stops the run before its record
    except (KeyboardInterrupt, TerminationSignal) as exc:   # Ctrl-C / SIGTERM: rolled back unless the load committed
        failure = exc
        logger.warning("run cancelled at %s (%s)", run.stage, cancel.requested() or "KeyboardInterrupt")
    except Exception as exc:   # noqa: BLE001 - every failure ends with a summary and one line
        failure = exc
        logger.error("run failed at %s: %s", run.stage, one_line(exc), exc_info=bool(os.environ.get("IKOU_DEBUG")))
    except BaseException as exc:   # SystemExit (a library's exit()) …: recorded as a failure first, raised after
        failure = exc
        logger.error("run stopped at %s: %s", run.stage, one_line(exc))
    # the record is written whole (summary.json, the target's end, report, artifacts, history): a signal now,
    # a second Ctrl-C too, is noted, not raised, and the record written tells how the run ended
    with cancel.deferred():
        summary = _record(cfg, ctx, plans, run, started, failure)
        cancel.checkpoint("record")
        if load_committed(cfg, ctx, run):   # summary.json is written: the target records how the run it holds ended
            loaders.finish_run(cfg.target.url, cfg.target_schema, ctx.run_id, summary.status)
        _artifacts(summary)
        history.record(summary.as_dict(), ctx.run_dir)
        if cfg.retention_days is not None:
            _retention(cfg, ctx, logger)
    if failure is None and cancel.requested():
        logger.warning("cancel (%s) came after the run was recorded: it stands as %s", cancel.requested(),
                       summary.status)
    logger.info("run directory: %s", ctx.run_dir)
    if isinstance(failure, (KeyboardInterrupt, TerminationSignal)):
        return Cancelled(message=summary.error.message if summary.error else "cancelled")
    if failure is not None and not isinstance(failure, Exception):
        raise failure   # recorded above; the process was told to end, and ends
    if failure is not None:
        # the exception stays the state's data (`state.result()` raises it for `ikou run` and callers), but the
        # traceback Prefect logs when it re-raises it is dropped (_QuietFailure) unless IKOU_DEBUG is set
        with contextlib.suppress(AttributeError, TypeError):
            failure._ikou_recorded = True
        return Failed(message=summary.error.message if summary.error else one_line(failure), data=failure)
    return summary.as_dict()


def _console_survives_broken_pipe() -> None:
    """A worker killed with kill -9 leaves its flow runs writing to a pipe nobody reads: rich's console (Prefect's
    console log handler) answers the broken pipe with SystemExit (`Console.on_broken_pipe`, documented as the
    hook to override), which ended the run before its record. Here the console goes quiet instead and the run
    goes on: its log still reaches the Prefect server, its record the run folder."""
    from rich.console import Console

    for lg in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for h in getattr(lg, "handlers", ()):
            console = getattr(h, "console", None)
            if isinstance(console, Console) and "on_broken_pipe" not in vars(console):
                console.on_broken_pipe = lambda c=console: _quiet(c)


def _quiet(console) -> None:
    console.quiet = True
    with contextlib.suppress(Exception):   # what else writes there (print, a plain handler) goes nowhere too
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, console.file.fileno())
        os.close(devnull)


class _QuietFailure(logging.Filter):
    """A run failure is recorded (summary.json, one JP+EN line): Prefect's "Engine execution exited with unexpected
    exception" keeps its one line, without the traceback, in the worker's log and the flow run's logs
    (IKOU_DEBUG keeps it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if getattr(exc, "_ikou_recorded", False) and not os.environ.get("IKOU_DEBUG"):
            record.msg, record.args = f"{record.getMessage()}: {one_line(exc)}", ()
            record.exc_info = record.exc_text = None
        return True


_QUIET = _QuietFailure()


def _quiet_failure_logs() -> None:
    for name in ("prefect.flow_runs", "prefect.engine", "prefect.flow_engine"):
        lg = logging.getLogger(name)
        if _QUIET not in lg.filters:
            lg.addFilter(_QUIET)


def _retention(cfg, ctx, logger) -> None:
    """Delete older runs' personal-data staging (`retention_days`). It is not this run: a failure is a
    warning in its summary.json (`retention_error`), never a failed run."""
    from ikou.retention import purge

    cutoff = dt.date.today() - dt.timedelta(days=cfg.retention_days)
    try:
        gone = purge(ctx.dantai_dir, cutoff, keep={ctx.run_id})
    except Exception as exc:   # noqa: BLE001 - the run is recorded; older runs' clean-up is an aid
        logger.warning("retention failed: %s", one_line(exc))
        note_in_summary(ctx.run_dir, retention_error=one_line(exc))
        return
    logger.info("retention: personal-data staging of %d run(s) before %s deleted", len(gone["runs"]), cutoff)


def note_in_summary(run_dir, **notes) -> None:
    """Add top-level keys (`retention_error`, `evidence_error`) to a written summary.json: what failed after
    the run itself ended, without changing how it ended."""
    import json
    from pathlib import Path

    f = Path(run_dir) / "summary.json"
    data = json.loads(f.read_text(encoding="utf-8"))
    data.update(notes)
    from ikou.summary import write_atomic

    write_atomic(f, json.dumps(data, ensure_ascii=False, indent=2))   # a full disk never leaves it 0 bytes


# A target password given on the command line (`--target-url`) never becomes a flow parameter (Prefect stores
# parameters, and shows them): `ikou run` passes the URL without it and hands the password over here, in its
# own process. A worker's run takes it from the environment (PGPASSWORD) or ~/.pgpass, as the driver does.
_TARGET_PASSWORDS: dict[str, str] = {}


def hand_over(target_url: str | None) -> str | None:
    """`target_url` without its password, for the flow's parameters; the password is kept for the flow."""
    if not target_url:
        return target_url
    import sqlalchemy as sa

    try:
        url = sa.engine.make_url(target_url)
    except Exception:   # noqa: BLE001 - not a URL: the flow refuses it as the config's failure
        return target_url
    if url.password is None:
        return target_url
    public = url._replace(password=None).render_as_string(hide_password=False)   # .set() keeps a None out
    _TARGET_PASSWORDS[public] = url.password
    return public


def _taken_over(target_url: str | None) -> str | None:
    password = _TARGET_PASSWORDS.get(target_url or "")
    if password is None:
        return target_url
    import sqlalchemy as sa

    return sa.engine.make_url(target_url).set(password=password).render_as_string(hide_password=False)


def load_committed(cfg, ctx, run: _Run) -> bool:
    """Whether this run's load committed: its result is recorded only after the COMMIT; a cancel that
    came between the COMMIT and the task's return is told by the target itself (it holds this run)."""
    if any(r.stage == "load" for r in run.results):
        return True
    if run.stage != "load":
        return False
    try:
        current = loaders.held_runs(cfg.target.url, cfg.target_schema)["current"]
    except Exception:   # noqa: BLE001 - unreadable now: the load did not report its commit
        return False
    return bool(current) and current.get("run_id") == ctx.run_id


def cancelled_error(run: _Run, how: str, *, committed: bool) -> RunError:
    """What a cancel left: before the load committed, the target as it was; after it, the target holds
    this run, without its diff/report."""
    if committed:
        return RunError(kind="Cancelled", stage=run.stage,
                        message=f"cancelled ({how}) after the load committed: the target holds this run; "
                                f"the later stages (diff/report) did not finish",
                        message_ja="中断しました (移行先にはこの実行のデータが反映済み。差分比較・報告は未完了)")
    return RunError(kind="Cancelled", stage=run.stage, message=f"cancelled ({how}); {_untouched(run)}",
                    message_ja="中断しました (移行先は元の状態のまま)")


def _untouched(run: _Run) -> str:
    """The target before the load committed: rolled back if the load had begun, else never touched."""
    if run.stage == "load" and run.cutover is None:
        return "the target was rolled back"
    return "the target was not touched (it is as it was)"


def stopped_error(run: _Run, exc: BaseException, *, committed: bool) -> RunError:
    """What a SystemExit (or another BaseException) in the stages left: a failure, told like a cancel."""
    told = f"the run's process was told to exit ({one_line(exc)}) at {run.stage}"
    if committed:
        return RunError(kind=type(exc).__name__, stage=run.stage,
                        message=f"{told} after the load committed: the target holds this run; the later stages "
                                f"(diff/report) did not finish",
                        message_ja="実行のプロセスが終了させられました (移行先にはこの実行のデータが反映済み。差分比較・報告は未完了)")
    return RunError(kind=type(exc).__name__, stage=run.stage, message=f"{told}; {_untouched(run)}",
                    message_ja="実行のプロセスが終了させられました (移行先は元の状態のまま)")


def _record(cfg, ctx, plans, run: _Run, started: str, failure: BaseException | None) -> RunSummary:
    """Write the run's record (summary.json, quarantine, report.html) whatever happened."""
    cancelled = isinstance(failure, (KeyboardInterrupt, TerminationSignal))
    if cancelled:
        error = cancelled_error(run, cancel.requested() or "KeyboardInterrupt",
                                committed=load_committed(cfg, ctx, run))
    elif failure is not None and not isinstance(failure, Exception):
        error = stopped_error(run, failure, committed=load_committed(cfg, ctx, run))
    else:
        error = None if failure is None else P.run_error(run.stage, failure)
    status = "succeeded" if failure is None else "cancelled" if cancelled else "failed"
    return P.record(cfg, ctx, plans, run.results, started=started, status=status, error=error, cutover=run.cutover)


def _artifacts(summary: RunSummary) -> None:
    s = summary.as_dict()
    rows = [{"table": t, **{k: v for k, v in c.items() if k in ("extracted", "mapped", "quarantined", "loaded",
                                                                  "warnings", "derived")}}
            for t, c in s["tables"].items()]
    key = f"ikou-{s['dantai']}-counts"
    create_table_artifact(key=key, table=rows, description=f"件数 (run {s['run_id']})")
    reasons = "\n".join(f"| {r['rule']} | {r['severity']} | {r['table']} | {r['rows_failed']} |"
                        for r in s.get("quarantine_reasons", []))
    md = (f"# 移行結果 {s['dantai']} {s.get('dantai_name', '')} ({s['rehearsal']})\n\n"
          f"状態: **{s['status']}** — run `{s['run_id']}`\n\n")
    if s.get("mode") == "parallel_run":
        md += (f"**並行稼働: 切替済みのため投入せず比較のみ** (本番切替 run `{(s.get('cutover') or {}).get('run_id')}`) — "
               "parallel run: target cut over: compared, not loaded\n\n")
    if summary.error is not None:
        md += f"失敗 ({summary.error.stage}): {summary.error.message_ja} — {summary.error.message}\n\n"
    md += f"## 保留理由 (quarantine reasons)\n\n| rule | severity | table | rows |\n|---|---|---|---|\n{reasons}\n"
    diffs = s.get("diff") or {}
    if diffs:
        md += ("\n## 並行稼働比較 (legacy ⇔ target)\n\n| source | matched | only legacy | only new | changed rows "
               "| explained cells | unexplained cells |\n|---|---|---|---|---|---|---|\n")
        for src, d in diffs.items():
            unexplained = d.get("unexplained_cells") or {}
            n_unexplained = sum(unexplained.values()) if isinstance(unexplained, dict) else unexplained
            md += (f"| {src} | {d.get('matched')} | {d.get('only_left')} | {d.get('only_right')} | "
                   f"{d.get('changed_rows')} | {d.get('explained_cells')} | {n_unexplained} |\n")
    blockers = s.get("sign_off_blockers") or []
    md += "\n## 承認の妨げ (sign-off blockers)\n\n" + ("\n".join(f"- {b}" for b in blockers) or "なし") + "\n"
    create_markdown_artifact(key=f"ikou-{s['dantai']}-report", markdown=md, description="移行リハーサル結果")
