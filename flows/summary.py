"""The record of a run: summary.json, the quarantine (Parquet + masked CSV) and report.html."""
from __future__ import annotations

import logging

import polars as pl

from ikou.flows import pipeline as P
from ikou.privacy import mask_value_expr

log = logging.getLogger("ikou")


def sensitive_columns(plans) -> set[str]:
    """Target columns declared sensitive, plus the source columns that feed them."""
    out: set[str] = set()
    for p in plans:
        table = p.schema.tables[p.mapping.target]
        sens = {c.name for c in table.columns if c.sensitive}
        out |= sens
        out |= {c.from_ for c in p.mapping.columns if c.target in sens and c.from_}
    return out


def _table_counts(plans, outcomes, quarantine: pl.DataFrame, validated_rows, loaded) -> dict[str, dict]:
    tables: dict[str, dict] = {}
    for p in plans:
        o = outcomes.get(p.source.name)
        t = tables.setdefault(p.mapping.target, {"extracted": 0, "mapped": 0, "sources": []})
        t["sources"].append(p.source.name)
        if o:
            t["extracted"] += o.extracted
            t["mapped"] += o.mapped
    for name, t in tables.items():
        qt = quarantine.filter(pl.col("table") == name)
        err = qt.filter(pl.col("severity") == "error")
        t["quarantined"] = err["row_id"].n_unique()
        t["quarantined_by_stage"] = {s: int(n) for s, n in
                                     err.unique("row_id").group_by("stage").len().iter_rows()}
        t["warnings"] = qt.filter(pl.col("severity") == "warning").height
        t["validated"] = validated_rows.get(name, 0)
        t["loaded"] = loaded.get(name, 0)
    schemas = {p.schema.gyomu: p.schema for p in plans}
    for s in schemas.values():
        for name in s.derived_tables():
            if name in loaded:
                tables[name] = {"derived": True, "from": s.tables[name].derive.from_, "loaded": loaded[name]}
    return tables


def control_totals(ctx, plans, loaded: dict[str, int]) -> dict[str, dict]:
    """Sums of the amounts the schema marks `control_total`, per target table and column.

    `extracted`: the sum of the source values that read as integers in the staged (extracted)
    rows; `loaded`: the sum in the rows handed to the loader; `held`: the difference, i.e. the
    amounts sitting in quarantined rows. PMs sign a rehearsal off on these numbers.
    """
    out: dict[str, dict] = {}
    for p in plans:
        table = p.schema.tables[p.mapping.target]
        cols = [c.name for c in table.columns if c.control_total]
        if not cols:
            continue
        t = out.setdefault(p.mapping.target, {c: {"extracted": 0, "loaded": 0, "held": 0} for c in cols})
        src_of = {c.target: c.from_ for c in p.mapping.columns if c.from_ and c.target in cols}
        staging = ctx.run_dir / "extract" / f"{p.source.name}.parquet"
        if src_of and staging.is_file():
            sums = pl.scan_parquet(staging).select(
                pl.col(src).str.strip_chars().cast(pl.Int64, strict=False).sum().alias(tgt)
                for tgt, src in src_of.items()).collect()
            for tgt in src_of:
                t[tgt]["extracted"] += int(sums[tgt].item() or 0)
    for name, t in out.items():
        # source tables are loaded from their validated Parquet; a load/ copy wins if one is written
        f = next((g for g in (ctx.run_dir / s / f"{name}.parquet" for s in ("load", "validate")) if g.is_file()), None)
        if name in loaded and f is not None:
            sums = pl.scan_parquet(f).select(pl.col(c).sum() for c in t).collect()
            for c in t:
                t[c]["loaded"] = int(sums[c].item() or 0)
        for c in t.values():
            c["held"] = c["extracted"] - c["loaded"]
    return out


def build_summary(cfg, ctx, plans, *, started, stages, outcomes, extracts, quarantine, rule_counts,
                  validated_rows, loaded, moji_chars, error, diffs=None) -> dict:
    tables = _table_counts(plans, outcomes, quarantine, validated_rows, loaded)
    rules = []
    if rule_counts:
        rc = pl.concat(rule_counts, how="diagonal_relaxed")
        rules = rc.to_dicts()
    reasons = (quarantine.group_by("table", "stage", "rule", "severity")
               .agg(pl.col("row_id").n_unique().alias("rows_failed"), pl.len().alias("findings"))
               .sort("table", "stage", "rule").to_dicts())
    moji_counts: dict[str, int] = {}
    for o in outcomes.values():
        for k, v in o.moji_counts.items():
            moji_counts[k] = moji_counts.get(k, 0) + int(v)
    unresolved = []
    if moji_chars:
        chars = pl.concat(moji_chars, how="diagonal_relaxed")
        if "status" in chars.columns:
            unresolved = (chars.filter(pl.col("status") == "unresolved")
                          .select([c for c in ("source", "column", "char", "codepoints", "occurrences") if c in chars.columns])
                          .to_dicts())
    summary = {
        "dantai": ctx.dantai_code,
        "dantai_name": cfg.dantai.name,
        "run_id": ctx.run_id,
        "rehearsal": cfg.rehearsal,
        "gyomu": cfg.gyomu,
        "status": "failed" if error else "succeeded",
        "started_at": started,
        "finished_at": P.now(),
        "target": {"url": cfg.target.url.split("@")[-1], "schema": cfg.target_schema},
        "tables": tables,
        "sources": {e.source: {"origin": e.origin, "rows": e.rows_read, "quarantined": e.quarantine.height,
                               "sha256": e.sha256, "seconds": round(e.seconds, 3)} for e in extracts},
        "stages": stages,
        "rules": rules,
        "quarantine_reasons": reasons,
        "moji": {"counts": moji_counts, "unresolved": unresolved,
                 "decision_changes": _decision_changes(ctx)},
        "sign_off_blockers": _blockers(moji_counts, error, diffs or {}),
        "diff": diffs or {},
    }
    totals = control_totals(ctx, plans, loaded)
    if totals:
        summary["control_totals"] = totals
    if error is not None:
        summary["error"] = {"kind": type(error).__name__, "message": str(error)}
    return summary


def _decision_changes(ctx) -> list[dict]:
    """同定台帳 decisions added, changed or withdrawn since the previous run (shown in the report)."""
    f = ctx.run_dir / "moji" / "decision_changes.csv"
    return pl.read_csv(f, infer_schema=False).to_dicts() if f.is_file() else []


def _blockers(moji_counts: dict, error, diffs: dict) -> list[str]:
    out = []
    if error is not None:
        out.append(f"run failed: {type(error).__name__}")
    if moji_counts.get("unresolved"):
        out.append(f"{moji_counts['unresolved']} 文字 未同定 (同定台帳で判断が必要)")
    for source, d in diffs.items():
        if d.get("unexplained_cells"):
            n = sum(d["unexplained_cells"].values()) if isinstance(d["unexplained_cells"], dict) else d["unexplained_cells"]
            if n:
                out.append(f"{source}: 説明できない差異 {n} セル (並行稼働比較)")
    return out


def previous_summary(ctx) -> dict | None:
    """The latest earlier run of the same 団体, for the rehearsal trend."""
    import json

    runs = sorted(d for d in ctx.dantai_dir.iterdir() if d.is_dir() and d.name < ctx.run_id)
    for d in reversed(runs):
        f = d / "summary.json"
        if f.is_file():
            return json.loads(f.read_text(encoding="utf-8"))
    return None


def write_outputs(cfg, ctx, plans, summary: dict, quarantine: pl.DataFrame, moji_chars) -> None:
    run_dir = ctx.run_dir
    sens = sensitive_columns(plans)
    quarantine.write_parquet(run_dir / "quarantine.parquet")
    shown = quarantine if cfg.reveal_personal else quarantine.with_columns(
        mask_value_expr(pl.col("value"), pl.col("column"), sens).alias("value"))
    shown.write_csv(run_dir / "quarantine.csv")
    P.write_json(run_dir / "summary.json", summary)
    try:
        from ikou.reports.report import render_run_report
    except ImportError:
        log.warning("reports.render_run_report not available; report.html not written")
        return
    diffs = summary.get("diff") or {}
    render_run_report(summary, quarantine, run_dir / "report.html", previous_summary=previous_summary(ctx),
                      diff=next(iter(diffs.values()), None), sensitive=sens, reveal=cfg.reveal_personal)
