"""The Prefect flow: one run = one 団体 × its 業務 × one rehearsal.

Thin tasks around `flows.pipeline`: one task per stage and source/table (never per row), retries
on extraction only for transient failures, Prefect artifacts for the counts. The run directory
(summary.json, quarantine, report.html) is the record of the run, not Prefect's database.
"""
from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from ikou.flows import pipeline as P
from ikou.flows.summary import build_summary, sensitive_columns, write_outputs
from ikou import memory
from ikou import quarantine as q
from ikou.config import load_config
from ikou.context import new_run_id
from ikou.errors import IkouError, TransientError


def _transient_only(task, task_run, state) -> bool:
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False


TASK_OPTS = dict(cache_policy=NO_CACHE, persist_result=False)

extract_task = task(P.extract, name="extract", retries=2, retry_delay_seconds=2,
                    retry_condition_fn=_transient_only, **TASK_OPTS)
map_task = task(P.map_source, name="map", **TASK_OPTS)
moji_task = task(P.identify, name="moji", **TASK_OPTS)
validate_task = task(P.validate, name="validate", **TASK_OPTS)
diff_task = task(P.diff_source, name="diff", **TASK_OPTS)
load_task = task(P.load, name="load", retries=1, retry_delay_seconds=5,
                 retry_condition_fn=_transient_only, **TASK_OPTS)


def _timed(stages: dict, stage: str, rows: int, fn, *args, **kwargs):
    """Run one stage call; add its rows, seconds and peak resident memory to `stages`."""
    peak_known = memory.reset_peak()
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    s = stages.setdefault(stage, {"rows": 0, "seconds": 0.0})
    s["seconds"] = round(s["seconds"] + time.perf_counter() - t0, 3)
    peak = memory.peak_rss_mb() if peak_known else None
    if peak is not None:
        s["peak_rss_mb"] = round(max(peak, s.get("peak_rss_mb", 0.0)))
    s["rows"] += rows if isinstance(rows, int) else 0
    return out


@flow(name="ikou-migration", persist_result=False, validate_parameters=False)
def migration_flow(config_path: str, run_id: str | None = None, target_url: str | None = None) -> dict:
    """extract → map → 文字同定 → validate → load → report, with counts that must balance."""
    logger = get_run_logger()
    cfg = load_config(config_path)
    if target_url:
        cfg = cfg.model_copy(update={"target": cfg.target.model_copy(update={"url": target_url})})
    run_id = run_id or new_run_id(cfg.rehearsal)
    ctx = P.make_context(cfg, run_id)
    logger.info("run %s for 団体 %s (%s), rehearsal %s → %s", run_id, cfg.dantai.code, cfg.dantai.name,
                cfg.rehearsal, ctx.run_dir)
    started = P.now()
    stages: dict[str, dict] = {}
    outcomes: dict[str, P.TableOutcome] = {}
    extracts, quarantines, rule_counts, moji_chars = [], [], [], []
    validated: dict[str, dict] = defaultdict(dict)   # gyomu → target → parquet
    validated_rows: dict[str, int] = {}
    loaded: dict[str, int] = {}
    diffs: dict[str, dict] = {}
    error: IkouError | None = None
    plans = []
    try:
        plans = P.plan(cfg)
        moji_inputs: dict[str, list[Path]] = defaultdict(list)
        for p in plans:
            name = p.source.name
            ex = _timed(stages, "extract", 0, extract_task.with_options(task_run_name=f"extract-{name}"), ctx, p)
            stages["extract"]["rows"] += ex.rows_read
            extracts.append(ex)
            quarantines.append(ex.quarantine)
            o = outcomes[name] = P.TableOutcome(source=name, target=p.mapping.target, extracted=ex.rows_read)
            mapped, mq, n = _timed(stages, "map", ex.rows_ok, map_task.with_options(task_run_name=f"map-{name}"),
                                   ctx, p, ex)
            o.mapped = n
            quarantines.append(mq)
            ident, wq, counts, chars = _timed(stages, "moji", n, moji_task.with_options(task_run_name=f"moji-{name}"),
                                              ctx, p, mapped)
            o.moji_counts = counts
            quarantines.append(wq)
            moji_chars.append(chars)
            moji_inputs[p.mapping.target].append(ident)
        schemas = {p.mapping.target: p.schema for p in plans}
        # 業務 in the configured order, so a rule may refer to a table of an earlier 業務 (税 → 住民記録)
        order = {g: i for i, g in enumerate(cfg.gyomu)}
        for target, inputs in sorted(moji_inputs.items(), key=lambda kv: order.get(schemas[kv[0]].gyomu, len(order))):
            schema = schemas[target]
            others = {t: path for tables in validated.values() for t, path in tables.items()}
            out, vq, rc, n_in = _timed(stages, "validate", 0,
                                       validate_task.with_options(task_run_name=f"validate-{target}"),
                                       ctx, target, schema, inputs, others)
            stages["validate"]["rows"] += n_in
            quarantines.append(vq)
            rule_counts.append(rc.with_columns(pl.lit(target).alias("table")))
            validated[schema.gyomu][target] = out
            validated_rows[target] = pl.scan_parquet(out).select(pl.len()).collect().item()
        # A mapping mistake must stop the rehearsal before it replaces the target with a half-empty table.
        P.check_thresholds(P.pre_load_counts(plans, outcomes, quarantines), cfg.thresholds.max_quarantine_rate,
                           run_id)
        by_gyomu = {s.gyomu: s for s in schemas.values()}
        for gyomu, tables in validated.items():
            counts = _timed(stages, "load", sum(validated_rows[t] for t in tables),
                            load_task.with_options(task_run_name=f"load-{gyomu}"), ctx, cfg, by_gyomu[gyomu], tables)
            loaded.update(counts)
        sensitive = sensitive_columns(plans)
        for p, ex, chars in zip(plans, extracts, moji_chars):
            if p.mapping.target in loaded:
                diffs[p.source.name] = _timed(stages, "diff", ex.rows_read,
                                              diff_task.with_options(task_run_name=f"diff-{p.source.name}"),
                                              ctx, p, ex, cfg.target.url, cfg.target_schema, chars, sensitive)
    except IkouError as exc:
        error = exc
        logger.error("run failed: %s", exc)
    quarantine = q.concat(quarantines)
    summary = build_summary(cfg, ctx, plans, started=started, stages=stages, outcomes=outcomes, extracts=extracts,
                            quarantine=quarantine, rule_counts=rule_counts, validated_rows=validated_rows,
                            loaded=loaded, moji_chars=moji_chars, error=error, diffs=diffs)
    if error is None:
        try:
            P.check_thresholds(summary["tables"], cfg.thresholds.max_quarantine_rate, run_id)
            P.check_balances(summary["tables"], run_id)
        except IkouError as exc:
            error = exc
            summary["status"] = "failed"
            summary["error"] = {"kind": type(exc).__name__, "message": str(exc)}
            logger.error("run failed: %s", exc)
    write_outputs(cfg, ctx, plans, summary, quarantine, moji_chars)
    _artifacts(summary)
    logger.info("run directory: %s", ctx.run_dir)
    if error is not None:
        raise error
    return summary


def _artifacts(summary: dict) -> None:
    rows = [{"table": t, **{k: v for k, v in c.items() if k in ("extracted", "mapped", "quarantined", "loaded",
                                                                  "warnings", "derived")}}
            for t, c in summary["tables"].items()]
    key = f"ikou-{summary['dantai']}-counts"
    create_table_artifact(key=key, table=rows, description=f"件数 (run {summary['run_id']})")
    reasons = "\n".join(f"| {r['rule']} | {r['severity']} | {r['table']} | {r['rows_failed']} |"
                        for r in summary.get("quarantine_reasons", []))
    md = (f"# 移行結果 {summary['dantai']} {summary.get('dantai_name', '')} ({summary['rehearsal']})\n\n"
          f"状態: **{summary['status']}** — run `{summary['run_id']}`\n\n"
          f"## 保留理由 (quarantine reasons)\n\n| rule | severity | table | rows |\n|---|---|---|---|\n{reasons}\n")
    diffs = summary.get("diff") or {}
    if diffs:
        md += ("\n## 並行稼働比較 (legacy ⇔ target)\n\n| source | matched | only legacy | only new | changed rows "
               "| explained cells | unexplained cells |\n|---|---|---|---|---|---|---|\n")
        for src, d in diffs.items():
            unexplained = d.get("unexplained_cells") or {}
            n_unexplained = sum(unexplained.values()) if isinstance(unexplained, dict) else unexplained
            md += (f"| {src} | {d.get('matched')} | {d.get('only_left')} | {d.get('only_right')} | "
                   f"{d.get('changed_rows')} | {d.get('explained_cells')} | {n_unexplained} |\n")
    blockers = summary.get("sign_off_blockers") or []
    md += "\n## 承認の妨げ (sign-off blockers)\n\n" + ("\n".join(f"- {b}" for b in blockers) or "なし") + "\n"
    create_markdown_artifact(key=f"ikou-{summary['dantai']}-report", markdown=md,
                             description="移行リハーサル結果")
