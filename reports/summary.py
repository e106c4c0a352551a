"""The record of a run, built from its stages' results: summary.json, the quarantine (Parquet + masked
CSV) and report.html. A failed run gets the same record, as far as it got."""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path

import polars as pl

from ikou.privacy import mask_long, sensitive_columns
from ikou.stage import ROW_LOCAL_SECONDS, StageResult
from typing import Any, Literal

from ikou.summary import (UNRESOLVED_LISTED, VANISHED_LISTED, DerivedCounts, MojiSummary, PersonsSummary, RunError,
                          RunSummary, SourceStats, StageStats, Status, TableCounts, write_replacing)

log = logging.getLogger("ikou")

PARALLEL_RUN = "parallel_run"   # summary.json `mode` of a run into a cut-over target: compared, not loaded


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _of(results: list[StageResult], stage: str) -> list[StageResult]:
    return [r for r in results if r.stage == stage]


def table_counts(plans, results: list[StageResult], quarantine: pl.DataFrame) -> dict[str, TableCounts | DerivedCounts]:
    """Records per target table at each stage boundary (quarantined = distinct records held by an error)."""
    by_source = {(r.stage, r.name): r for r in results}
    tables: dict[str, TableCounts | DerivedCounts] = {}
    for p in plans:
        t = tables.setdefault(p.mapping.target, TableCounts())
        t.sources.append(p.source.name)
        mp = by_source.get(("map", p.source.name))
        if mp is not None and "records_in" in mp.metrics:   # a multi-table source: the records it combined
            t.extracted += mp.metrics["records_in"]
        else:
            t.extracted += by_source[("extract", p.source.name)].rows_in if ("extract", p.source.name) in by_source else 0
        t.mapped += by_source[("map", p.source.name)].rows_out if ("map", p.source.name) in by_source else 0
    loaded: dict[str, int] = {}
    for r in _of(results, "load"):
        loaded.update(r.metrics.get("loaded", {}))
    validated = {r.name: r.rows_out for r in _of(results, "validate")}
    from ikou.extractors.keys import NO_PERSON

    for name, t in tables.items():
        qt = quarantine.filter(pl.col("table") == name)
        err = qt.filter(pl.col("severity") == "error")
        t.quarantined = err["row_id"].n_unique()
        t.quarantined_by_stage = {s: int(n) for s, n in err.unique("row_id").group_by("stage").len().iter_rows()}
        t.held_without_key = err.filter((pl.col("stage") == "extract") & pl.col("record_key").is_null()
                                        & ~pl.col("rule").is_in(list(NO_PERSON)))["row_id"].n_unique()
        t.warnings = qt.filter(pl.col("severity") == "warning").height
        t.validated = validated.get(name, 0)
        t.loaded = loaded.get(name, 0)
    for s in {p.schema.gyomu: p.schema for p in plans}.values():
        for name in s.derived_tables():
            if name in loaded:
                tables[name] = DerivedCounts(from_=s.tables[name].derive.from_, loaded=loaded[name])
    return tables


def stage_stats(results: list[StageResult]) -> dict[str, StageStats]:
    """Rows given to each stage, its seconds and its peak resident memory (the highest of its steps)."""
    out: dict[str, StageStats] = {}
    for r in results:
        s = out.setdefault(r.stage, StageStats())
        s.rows += r.rows_in
        s.seconds = round(s.seconds + r.seconds, 3)
        if ROW_LOCAL_SECONDS in r.metrics:   # the one pass ran the row-local validation with 文字同定
            v = out.setdefault("validate", StageStats())
            v.seconds = round(v.seconds + r.metrics[ROW_LOCAL_SECONDS], 3)
        if r.peak_rss_mb is not None:
            s.peak_rss_mb = round(max(r.peak_rss_mb, s.peak_rss_mb or 0.0))
    return out


def control_totals(ctx, plans, loaded: dict[str, int], quarantine: pl.DataFrame | None = None, *,
                   compared: bool = False) -> dict[str, dict]:
    """Sums of the amounts the schema marks `control_total`, per target table and column, each counted
    on its own so that a lost amount shows (PMs sign a rehearsal off on these numbers):

    - `extracted`: the source values of the extracted records, read as integers after NFKC (a
      full-width ２２２９００ counts as 222900, as a PM reading the file would);
    - `loaded`: the sum in the rows handed to the loader;
    - `held`: the source values of the extracted records that were held (quarantined as errors);
    - `difference`: extracted − loaded − held, 0 when every amount is accounted for (not 0: an amount
      lost, or a mapping that changes amounts);
    - `unreadable`: source values that are not integers even after NFKC (in no sum; their records
      are held by the mapping's `integer` op);
    - `records_held_at_extract`: records held before their fields could be read (a wrong field
      count, bytes that are not text): their amounts are in no sum.

    `compared` (a parallel run: nothing loaded): `loaded` stays 0, the sum of the validated rows is
    `validated`, and `difference` is extracted − validated − held.
    """
    held_ids = (quarantine.filter(pl.col("severity") == "error").select(pl.col("row_id").unique())
                if quarantine is not None and quarantine.height else pl.DataFrame({"row_id": []}, schema={"row_id": pl.Int64}))
    out: dict[str, dict] = {}
    for p in plans:
        table = p.schema.tables[p.mapping.target]
        cols = [c.name for c in table.columns if c.control_total]
        if not cols:
            continue
        zero = {"extracted": 0, "loaded": 0, "held": 0, "difference": 0, "unreadable": 0, "records_held_at_extract": 0}
        t = out.setdefault(p.mapping.target, {c: {**zero, **_scale_key(table.column(c))} for c in cols})
        staging = ctx.run_dir / "extract" / f"{p.source.name}.parquet"
        if not staging.is_file():
            continue
        staged = pl.scan_parquet(staging)
        names = staged.collect_schema().names()
        src_of = {c.target: c.from_ for c in p.mapping.columns if c.from_ in names and c.target in cols}
        if src_of:
            held = pl.col("_row_id").is_in(held_ids["row_id"].cast(pl.Int64).implode())
            exprs = []
            for tgt, src in src_of.items():
                raw = pl.col(src).str.normalize("NFKC").str.strip_chars()
                val = _amount(raw, table.column(tgt))
                exprs += [val.sum().alias(f"{tgt}|extracted"), val.filter(held).sum().alias(f"{tgt}|held"),
                          (raw.is_not_null() & (raw != "") & val.is_null()).sum().alias(f"{tgt}|unreadable")]
            sums = staged.select(exprs).collect().row(0, named=True)
            for key, v in sums.items():
                tgt, what = key.split("|")
                t[tgt][what] += _units(v, table.column(tgt)) if what != "unreadable" else int(v or 0)
        if quarantine is not None and quarantine.height:
            at_extract = quarantine.filter((pl.col("stage") == "extract") & (pl.col("severity") == "error")
                                           & (pl.col("table") == p.mapping.target))
            outside = at_extract.join(staged.select(pl.col("_row_id").alias("row_id")).collect(), on="row_id",
                                      how="anti")["row_id"].n_unique()
            for c in t.values():
                c["records_held_at_extract"] += outside
    column_of = {(p.mapping.target, c.name): c for p in plans for c in p.schema.tables[p.mapping.target].columns}
    for name, t in out.items():
        if compared:   # nothing was loaded: the amounts that passed validation balance the extracted ones
            f = ctx.run_dir / "validate" / f"{name}.parquet"
            sums = pl.scan_parquet(f).select(_amount(pl.col(c), column_of[(name, c)]).sum()
                                             for c in t).collect() if f.is_file() else None
            for c in t:
                t[c]["validated"] = _units(sums[c].item(), column_of[(name, c)]) if sums is not None else 0
                t[c]["difference"] = t[c]["extracted"] - t[c]["validated"] - t[c]["held"]
            continue
        # source tables are loaded from their validated Parquet; a load/ copy wins if one is written
        f = next((g for g in (ctx.run_dir / s / f"{name}.parquet" for s in ("load", "validate")) if g.is_file()), None)
        if name in loaded and f is not None:
            sums = pl.scan_parquet(f).select(_amount(pl.col(c), column_of[(name, c)]).sum() for c in t).collect()
            for c in t:
                t[c]["loaded"] = _units(sums[c].item(), column_of[(name, c)])
        for c in t.values():
            c["difference"] = c["extracted"] - c["loaded"] - c["held"]
    return out


def _scale_key(column) -> dict[str, int]:
    """A decimal amount's totals are counted in its smallest unit (10^-scale: 銭 for scale 2), exact as
    integers; `scale` says so (123456.78 円 is 12345678 with scale 2). An integer amount has none."""
    return {"scale": column.scale} if column.type == "decimal" else {}


AMOUNT_KEYS = ("extracted", "loaded", "validated", "held", "difference")   # sums; the other keys count records


def shown_totals(v: dict) -> dict:
    """One control total as a person reads it: a decimal's sums (kept in its smallest unit with `scale`) as
    exact amounts ('247291.05', not 24729105); an integer's as they are."""
    scale = v.get("scale")
    if not scale:
        return dict(v)
    from decimal import Decimal

    return {**v, **{k: str(Decimal(int(v[k])).scaleb(-int(scale))) for k in AMOUNT_KEYS if v.get(k) is not None}}


def _amount(value: pl.Expr, column) -> pl.Expr:
    """A control-total column's values as numbers to sum, null where they are not one: an integer as Int64;
    a decimal, exactly, as Decimal(38, scale) where it is a number with no more digits than that holds
    (validators.engine.decimal_regex: '0.001' at scale 2 is no such number — its record is held by
    schema.decimal — never truncated to 0.00). Column-wise, no Python per value."""
    if column.type != "decimal":
        return value.cast(pl.Int64, strict=False)
    from ikou.validators.engine import decimal_regex

    text = value.cast(pl.String)
    return (pl.when(text.str.contains(decimal_regex(DECIMAL_SUM_DIGITS, column.scale)))
            .then(text.cast(pl.Decimal(DECIMAL_SUM_DIGITS, column.scale), strict=False)))


DECIMAL_SUM_DIGITS = 38   # Polars' widest Decimal


def _units(total, column) -> int:
    """A sum as summary.json keeps it: an int; a decimal's in its smallest unit (`_scale_key`), exactly."""
    if total is None:
        return 0
    if column.type != "decimal":
        return int(total)
    from decimal import Decimal

    return int(Decimal(total).scaleb(column.scale))


UNRESOLVED_FILE = "moji/unresolved_chars.csv"


def reviewed_char(char: pl.Expr) -> pl.Expr:
    """True for a character a reviewer decides on, shown as itself: an ideograph or ideographic mark (with
    its selector) or a 外字 (private use), MJ's scope (moji.identify). Any other unresolved character
    (Hangul, Latin with marks, emoji, a kana with a selector) is listed by its code point only: a name
    written wholly in them (「김　민준」) would be spelled out, sorted by code point, beside the record keys
    the ledger gives; the ledger and review.html (restricted working files) keep the glyphs."""
    from ikou.moji.identify import _IDEO_RE, _PUA_RE

    return char.str.contains(_PUA_RE) | char.str.contains(_IDEO_RE)


def withheld_chars(df: pl.DataFrame) -> pl.DataFrame:
    """`df`'s `char` null where it is not a `reviewed_char` (its `codepoints` say which it is)."""
    if "char" not in df.columns:
        return df
    # every entry withheld already (a summary listing only Hangul): the column came back untyped
    char = pl.col("char").cast(pl.String)
    return df.with_columns(pl.when(reviewed_char(char)).then(char).alias("char"))


def shown_unresolved(entries) -> list[dict]:
    """summary.json's `moji.unresolved` as report.html and report.xlsx list it: `withheld_chars`, also for a
    summary written before they were withheld (`ikou run-report`)."""
    rows = [u for u in entries or [] if isinstance(u, dict)]
    if not rows:
        return []
    return withheld_chars(pl.from_dicts(rows, infer_schema_length=None)).to_dicts()


def unresolved_list(ctx, chars: pl.DataFrame, *, listed: int = UNRESOLVED_LISTED) -> dict:
    """MojiSummary's unresolved fields from the sources' per-character outcomes: the first `listed`
    (source, column, char) entries by occurrences, then code point (the UTF-8 order of `char`), the
    distinct characters and entries counted exactly. When some are left out, the whole list is written to
    UNRESOLVED_FILE (a CSV: `ikou purge` deletes the chars Parquet, never it): characters, never values,
    and a character outside MJ's scope by its code point only (`withheld_chars`)."""
    if "status" not in chars.columns:
        return {}
    cols = [c for c in ("source", "column", "char", "codepoints", "occurrences") if c in chars.columns]
    un = chars.filter(pl.col("status") == "unresolved").select(cols)
    order = [c for c in ("occurrences", "char", "source", "column") if c in cols]
    un = un.sort(order, descending=[c == "occurrences" for c in order], nulls_last=True)
    distinct = un["char"].n_unique() if "char" in cols else un.height
    un = withheld_chars(un)
    out = {"unresolved": un.head(listed).to_dicts(), "unresolved_entries": un.height,
           "unresolved_chars": distinct,
           "unresolved_omitted": max(0, un.height - listed)}
    full = ctx.run_dir / UNRESOLVED_FILE
    if out["unresolved_omitted"]:
        ctx.stage_dir("moji")
        un.write_csv(full)
        out["unresolved_file"] = UNRESOLVED_FILE
    else:
        full.unlink(missing_ok=True)   # a record written again: no stale list beside a whole one
    return out


def build_summary(cfg, ctx, plans, results: list[StageResult], quarantine: pl.DataFrame, *, started: str,
                  status: Status = "succeeded", error: RunError | None = None,
                  cutover: dict | None = None) -> RunSummary:
    """The run's record. `cutover` (the target's declaration in force: run_id, at) makes it a parallel run's:
    `mode` parallel_run, nothing loaded, its tables counted as validated + held (a table loading 0 is no
    'nothing loaded' blocker then), its control totals balanced against the validated rows."""
    parallel = cutover is not None
    rules = [row for r in _of(results, "validate") for row in r.metrics.get("rules", [])]
    reasons = (quarantine.group_by("table", "stage", "rule", "severity")
               .agg(pl.col("row_id").n_unique().alias("rows_failed"), pl.len().alias("findings"))
               .sort("table", "stage", "rule").to_dicts())
    moji_counts: dict[str, int] = {}
    for r in _of(results, "moji"):
        for k, v in r.metrics.get("counts", {}).items():
            moji_counts[k] = moji_counts.get(k, 0) + int(v)
    chars = [pl.read_parquet(r.outputs["chars"]) for r in _of(results, "moji") if r.outputs.get("chars")]
    moji = unresolved_list(ctx, pl.concat(chars, how="diagonal_relaxed")) if chars else {}
    diffs = {r.name: r.metrics for r in _of(results, "diff")}
    loaded: dict[str, int] = {}
    for r in _of(results, "load"):
        loaded.update(r.metrics.get("loaded", {}))
    tables = table_counts(plans, results, quarantine)
    try:
        totals = control_totals(ctx, plans, loaded, quarantine, compared=parallel)
        totals_failed = None
    except Exception as exc:   # noqa: BLE001 - the counts a PM signs off on are kept; the totals are a blocker
        log.warning("control totals could not be computed (%s)", type(exc).__name__)
        totals, totals_failed = {}, type(exc).__name__
    summary = RunSummary(
        dantai=ctx.dantai_code, dantai_name=cfg.dantai.name, run_id=ctx.run_id, rehearsal=cfg.rehearsal,
        gyomu=list(cfg.gyomu), status=status, started_at=started, finished_at=now(),
        mode=PARALLEL_RUN if parallel else "load",
        cutover={"run_id": cutover["run_id"], "at": cutover["at"]} if parallel else None,
        target={"url": shown_url(cfg.target.url), "schema": cfg.target_schema,
                **({"not_loaded": NOT_LOADED} if parallel else {}),
                **(replaced_run(cfg.target.url, cfg.target_schema, ctx.run_id)
                   if status == "succeeded" and _of(results, "load") else {})},
        tables=tables,
        sources={r.name: SourceStats(origin=r.metrics.get("origin", r.name), rows=r.rows_in,
                                     quarantined=r.rows_in - r.rows_out,   # records held (warnings hold none)
                                     sha256=r.metrics.get("sha256"),
                                     seconds=r.metrics.get("seconds", r.seconds),
                                     record_types=r.metrics.get("record_types", {}),
                                     likely_encoding=r.metrics.get("likely_encoding"),
                                     tables=r.metrics.get("tables") or {}) for r in _of(results, "extract")},
        stages=stage_stats(results), rules=rules, quarantine_reasons=reasons,
        moji=MojiSummary(counts=moji_counts, **moji, decision_changes=_decision_changes(ctx),
                         gaiji_unwritable=sum(int(r.metrics.get("gaiji_unwritable") or 0) for r in _of(results, "moji"))),
        sign_off_blockers=_blockers(moji_counts, error, diffs, totals,
                                    empty=[r.name for r in _of(results, "extract") if r.rows_in == 0],
                                    untied=_untied(tables), loaded=loaded,
                                    all_held=all_held(tables, by_held=error is not None or parallel),
                                    held=held_over(tables, reasons, getattr(getattr(cfg, "thresholds", None),
                                                                    "signoff_max_held_rate", SIGNOFF_MAX_HELD_RATE)),
                                    unresolved_chars=moji.get("unresolved_chars"),
                                    # per rule and column: a rule on two columns is judged on each
                                    warned=warned_over(tables, quarantine.filter(pl.col("severity") == "warning")
                                                       .group_by("table", "rule", "severity", "column")
                                                       .agg(pl.col("row_id").n_unique().alias("rows_failed"))
                                                       .to_dicts(), *_warning_thresholds(cfg))),
        diff=diffs, error=error,
        combined={r.name: {**r.metrics["combine"], "crosswalks": r.metrics.get("prepared", {})}
                  for r in _of(results, "map") if "combine" in r.metrics})
    if totals:
        summary.control_totals = totals
    if totals_failed:
        summary.sign_off_blockers = [*summary.sign_off_blockers,
                                     f"管理合計を計算できませんでした ({totals_failed}) / control totals could not be "
                                     f"computed ({totals_failed})"]
    summary.sign_off_blockers = [*summary.sign_off_blockers, *likely_encoding_lines(_of(results, "extract"))]
    if status == "succeeded" and error is None:   # a partial export loads cleanly: only the previous run shows it
        summary.sign_off_blockers = [*summary.sign_off_blockers, *fall_lines(cfg, ctx, summary)]
        try:   # the staging and the quarantine are final here: the persons the run saw, and who vanished
            summary.persons = persons_seen(ctx, plans, results, quarantine, _previous_of(cfg, ctx, summary))
        except Exception as exc:   # noqa: BLE001 - the run's record must still be written, and say what is missing
            log.warning("persons: the keys of the persons seen could not be recorded (%s)", type(exc).__name__)
            # the vanished-persons blocker cannot be judged: a renumbered export must not pass for lack of it
            summary.sign_off_blockers = [*summary.sign_off_blockers,
                                         f"前回リハーサルとの人の比較ができませんでした ({type(exc).__name__}) / the persons "
                                         f"could not be compared with the previous rehearsal ({type(exc).__name__})"]
        if summary.persons is not None:
            from ikou.reports.reconcile import SIGNOFF_MAX_FALL_RATE, vanished_line, vanished_over

            limit = getattr(getattr(cfg, "thresholds", None), "signoff_max_fall_rate", SIGNOFF_MAX_FALL_RATE)
            if vanished_over(summary.persons.model_dump(), limit):
                summary.sign_off_blockers = [*summary.sign_off_blockers,
                                             vanished_line(summary.persons.model_dump(), limit)]
    return summary


PERSONS_FILE = "persons.parquet"   # the distinct person keys a run saw, loaded or held (`persons_seen`)
VANISHED_FILE = "vanished.csv"     # the previous rehearsal's persons this run did not see
CHANGED_FILE = "changed.csv"       # persons loaded in both rehearsals whose loaded rows differ


def person_fingerprints(f: Path, schema, table: str, cols: list[str], name: str) -> pl.DataFrame:
    """(`column`, `value`, `fingerprint`) of every person in a table's loaded rows: the MD5 of the MD5s of the
    person's rows (every column of the table, in the order of their digests: a history re-read in another order is
    the same), computed by DuckDB from the Parquet (MD5 is the same in every version, unlike a Polars hash, so two
    rehearsals compare across an upgrade). The next rehearsal names the persons whose rows changed. Lineage
    columns (`_row_id`, `_source_line`: a file re-exported in another order) are not the person's data."""
    import duckdb
    import pyarrow.parquet as pq

    present = set(pq.read_schema(f).names)
    data = [c.name for c in schema.tables[table].columns if c.name in present]
    q = lambda c: '"' + c.replace('"', '""') + '"'   # noqa: E731 - the schema's names (SQL names, checked at load)
    key = q(cols[0]) if len(cols) == 1 else "concat_ws(','," + ",".join(f"CAST({q(c)} AS VARCHAR)" for c in cols) + ")"
    row = "concat_ws(chr(31), " + ", ".join(f"coalesce(CAST({q(c)} AS VARCHAR), chr(30))" for c in data) + ")"
    con = duckdb.connect()
    try:
        path = "'" + str(f).replace("'", "''") + "'"   # a literal: con.sql streams Arrow without a copy
        out = con.sql(f"SELECT CAST(k AS VARCHAR) AS value, md5(string_agg(h, '' ORDER BY h)) AS fingerprint "
                      f"FROM (SELECT {key} AS k, md5({row}) AS h FROM read_parquet({path})) GROUP BY k").to_arrow_table()
    finally:
        con.close()
    return pl.from_arrow(out).select(pl.lit(name).alias("column"), "value", "fingerprint")


def _previous_of(cfg, ctx, summary: RunSummary) -> tuple[Path, dict] | None:
    """(folder, summary) of the previous rehearsal of the same target: the run `fall_lines` compares with."""
    try:
        return previous_run_dir(ctx.dantai_dir, ctx.run_id, gyomu=cfg.gyomu, schema=cfg.target_schema,
                                url=cfg.target.url, mode=getattr(summary, "mode", None))
    except OSError:   # no runs folder yet
        return None


def person_columns(schema, table: str) -> list[str]:
    """The columns naming a person in the source-fed `table`: the key of the table the schema derives from it by
    `latest` (現在の個人: [atena_no]), else the first column of its primary key (宛名番号 of 納税義務者, keyed by
    宛名番号 + 課税年度). None that the schema flags `sensitive`: the keys are shown in the report."""
    t = schema.tables[table]
    cols = next((list(d.derive.key) for d in schema.tables.values()
                 if d.derive is not None and d.derive.op == "latest" and d.derive.from_ == table), t.primary_key[:1])
    names = {c.name: c for c in t.columns}
    return [] if any(c not in names or names[c].sensitive for c in cols) else cols


def _key_value(cols: list[str], source: pl.Expr | None = None) -> pl.Expr:
    """A person's key as one text: the column's value, or the values joined by `,` (a key of several columns);
    from the columns of a frame, or (`source`: a `record_key` `atena_no=…,rireki_no=…`) read out of it."""
    parts = [source.str.extract(rf"(?:^|,){re.escape(c)}=([^,]*)") if source is not None
             else pl.col(c).cast(pl.String) for c in cols]
    return parts[0] if len(parts) == 1 else pl.concat_str(parts, separator=",")


def person_keys(ctx, plans, results: list[StageResult], quarantine: pl.DataFrame,
                fingerprints: list | None = None) -> tuple[pl.LazyFrame | None, list[str], int]:
    """(`column`, `value`) of every person the run saw, lazily and not yet distinct: the rows it loaded (the
    validated Parquet the load read; a parallel run's validated rows) and the records it held, named by
    `person_columns`; the columns; and the held records whose person key could not be read (in no list)."""
    from ikou.flows.pipeline import held_at_extract

    frames: list[pl.LazyFrame] = []
    columns: list[str] = []
    unnamed = 0
    by_table: dict[str, list] = {}
    for p in plans:
        by_table.setdefault(p.mapping.target, []).append(p)

    # a key column the run's mappings make sensitive (atena_no ← KOJIN_NO by mistake) is never listed or kept
    run_sensitive = sensitive_columns(plans)
    for table, ps in by_table.items():
        cols = person_columns(ps[0].schema, table)
        if not cols or any(c in run_sensitive for c in cols):
            continue
        name = ",".join(cols)
        columns.append(name)
        f = next((g for g in (ctx.run_dir / s / f"{table}.parquet" for s in ("load", "validate")) if g.is_file()), None)
        if f is not None:
            frames.append(pl.scan_parquet(f).select(pl.lit(name).alias("column"), _key_value(cols).alias("value")))
            if fingerprints is not None:   # what each loaded person's rows were: the next rehearsal names who changed
                try:
                    fingerprints.append(person_fingerprints(f, ps[0].schema, table, cols, name))
                except Exception as exc:   # noqa: BLE001 - only the changed list is lost, never the vanished one
                    log.warning("persons: the digests of %s's rows could not be computed (%s): the next rehearsal "
                                "will not name who changed", table, type(exc).__name__)
        # held after extract: `record_key` in the target's names; held at extract: in the source's, mapped by
        # the mapping's own key lines (flows.pipeline.held_at_extract, as the validation reads them)
        later = (quarantine.filter((pl.col("severity") == "error") & (pl.col("table") == table)
                                   & (pl.col("stage") != "extract")).select("row_id", "record_key")
                 if quarantine.height else pl.DataFrame(schema={"row_id": pl.Int64, "record_key": pl.String}))
        extract = [held_at_extract(p, r.quarantine).select("row_id", "record_key")
                   for p in ps for r in results if r.stage == "extract" and r.name == p.source.name]
        held = pl.concat([later, *extract], how="vertical_relaxed").with_columns(
            _key_value(cols, pl.col("record_key")).alias("value"))
        named = held.filter(pl.col("value").is_not_null() & (pl.col("value") != ""))
        unnamed += held.filter(~pl.col("row_id").is_in(named["row_id"].implode()))["row_id"].n_unique()
        frames.append(named.lazy().select(pl.lit(name).alias("column"), "value"))
    if not frames:
        return None, columns, unnamed
    keys = pl.concat(frames, how="vertical_relaxed").filter(pl.col("value").is_not_null() & (pl.col("value") != ""))
    return keys, list(dict.fromkeys(columns)), unnamed


def persons_seen(ctx, plans, results: list[StageResult], quarantine: pl.DataFrame,
                 previous: tuple[Path, dict] | None) -> PersonsSummary | None:
    """Write PERSONS_FILE (the distinct person keys the run saw, loaded or held: `person_keys`; sorted, zstd: 1M
    宛名番号 take about 5 MB) and compare it with the previous rehearsal's (`previous`: the run the fall check
    compares with): its persons this run saw in neither its loaded nor its held records (all in VANISHED_FILE,
    a CSV with a BOM; the first VANISHED_LISTED in the summary) and the new ones, counted. A previous run without
    the file (older than it, or purged) is `compared` False, its vanished persons unknown. On columns (anti-joins
    of two Parquet files), never a person at a time. None when the 業務 names no person key."""
    prints: list[pl.DataFrame] = []
    keys, columns, unnamed = person_keys(ctx, plans, results, quarantine, prints)
    run_dir = Path(ctx.run_dir)
    for stale in (VANISHED_FILE, CHANGED_FILE):   # a record written again: no stale list
        (run_dir / stale).unlink(missing_ok=True)
    if keys is None:
        return None
    f = run_dir / PERSONS_FILE
    # a person in two tables of a 業務 gets the digest of both (one row per person: their keys are one list)
    fp = (pl.concat(prints).group_by("column", "value").agg(pl.col("fingerprint").sort().str.join(""))
          if prints else pl.DataFrame(schema={"column": pl.String, "value": pl.String, "fingerprint": pl.String}))
    keys.unique().join(fp.lazy(), on=["column", "value"], how="left").sort("column", "value").sink_parquet(
        f, compression="zstd")
    cur = pl.scan_parquet(f)
    out = PersonsSummary(columns=columns, file=PERSONS_FILE, count=cur.select(pl.len()).collect().item(),
                         held_without_key=unnamed)
    if previous is None:
        return out
    pdir, psum = previous
    out.previous_run, out.previous_rehearsal = psum.get("run_id"), psum.get("rehearsal")
    pf = Path(pdir) / PERSONS_FILE
    if not pf.is_file() or pf.is_symlink():
        out.compared = False
        purged = (Path(pdir) / "purged.json").is_file()
        out.not_compared = ("purged: ikou purge deleted its keys with its staging" if purged
                            else "the previous run kept no keys of its persons (a run from before they were recorded)")
        return out
    prev = pl.scan_parquet(pf).select(pl.col("column").cast(pl.String), pl.col("value").cast(pl.String))
    out.compared = True
    out.previous_count = prev.select(pl.len()).collect().item()
    gone = prev.join(cur, on=["column", "value"], how="anti")
    out.new = cur.join(prev, on=["column", "value"], how="anti").select(pl.len()).collect().item()
    record_key = pl.concat_str([pl.col("column"), pl.lit("="), pl.col("value")])   # one column: atena_no=…
    gone = gone.sort("column", "value").with_columns(record_key.alias("record_key")).collect()
    out.vanished = gone.height
    out.vanished_rate = gone.height / out.previous_count if out.previous_count else None
    out.vanished_listed = gone["record_key"].head(VANISHED_LISTED).to_list()
    if "fingerprint" in pl.read_parquet_schema(pf):   # loaded in both rehearsals, their rows not the same
        changed = (pl.scan_parquet(pf).select(pl.col("column").cast(pl.String), pl.col("value").cast(pl.String),
                                              pl.col("fingerprint").alias("before"))
                   .join(cur.select("column", "value", pl.col("fingerprint").alias("after")), on=["column", "value"])
                   .filter(pl.col("before").is_not_null() & pl.col("after").is_not_null()
                           & (pl.col("before") != pl.col("after")))
                   .sort("column", "value").select(record_key.alias("record_key")).collect())
        out.changed, out.changed_listed = changed.height, changed["record_key"].head(VANISHED_LISTED).to_list()
        if changed.height:
            from ikou.reports.csvsafe import safe_for_csv

            safe_for_csv(changed).write_csv(run_dir / CHANGED_FILE, include_bom=True)
            out.changed_file = CHANGED_FILE
    if gone.height:
        from ikou.reports.csvsafe import safe_for_csv

        # `record_key` as quarantine.csv names a record: Excel keeps 0123456785 whole only as text
        safe_for_csv(gone).write_csv(run_dir / VANISHED_FILE, include_bom=True)
        out.vanished_file = VANISHED_FILE
    return out


def fall_lines(cfg, ctx, summary: RunSummary) -> list[str]:
    """The blockers of counts that fell against the previous rehearsal of the same target (reports.reconcile.falls:
    records extracted, persons, households) by more than the run config's thresholds.signoff_max_fall_rate (default
    reports.reconcile.SIGNOFF_MAX_FALL_RATE, 1 %). None on a first run."""
    from ikou.reports.reconcile import SIGNOFF_MAX_FALL_RATE, fall_line, falls

    try:
        previous = previous_summary(ctx, gyomu=cfg.gyomu, schema=cfg.target_schema, url=cfg.target.url,
                                    mode=getattr(summary, "mode", None))
    except OSError:   # no runs folder yet: no previous run
        return []
    if not previous:
        return []
    limit = getattr(getattr(cfg, "thresholds", None), "signoff_max_fall_rate", SIGNOFF_MAX_FALL_RATE)
    return [fall_line(f, previous) for f in falls(summary.as_dict(), previous, limit)]


NOT_LOADED = "target cut over: compared, not loaded / 切替済みのため投入せず比較のみ"


def _decision_changes(ctx) -> list[dict]:
    """同定台帳 decisions added, changed or withdrawn since the previous run (shown in the report)."""
    f = ctx.run_dir / "moji" / "decision_changes.csv"
    return pl.read_csv(f, infer_schema=False).to_dicts() if f.is_file() else []


def _untied(tables: dict) -> dict[str, int]:
    """table → records held at extract without a readable key, from TableCounts or summary.json's dicts."""
    out = {}
    for name, t in tables.items():
        n = t.get("held_without_key", 0) if isinstance(t, dict) else getattr(t, "held_without_key", 0)
        if n:
            out[name] = int(n)
    return out


def all_held(tables: dict, *, by_held: bool = False) -> dict[str, int]:
    """table → records extracted, for every table that extracted records and loaded none (each one held),
    from TableCounts or summary.json's dicts; derived tables are built from loaded rows and are not counted.
    `by_held`: told by the held records instead (held = extracted), for a run that failed at load, whose
    tables all loaded 0 whether their records were held or not."""
    out = {}
    for name, t in tables.items():
        t = t if isinstance(t, dict) else t.model_dump(by_alias=True)
        extracted, loaded = t.get("extracted"), t.get("quarantined" if by_held else "loaded")
        if not t.get("derived") and isinstance(extracted, int) and isinstance(loaded, int) and extracted > 0 \
                and loaded == (extracted if by_held else 0):
            out[name] = extracted
    return out


SIGNOFF_MAX_HELD_RATE = 0.05   # thresholds.signoff_max_held_rate's default (a run whose config does not set it)
TOP_RULES = 3                  # rules a held-records line names


def held_over(tables: dict, reasons: list[dict], max_rate: float) -> dict[str, dict]:
    """table → {held, extracted, rules (the rules holding most records, as (rule, records)), limit} for every
    source-fed table whose records held as errors exceed `max_rate` of its extracted records (held ÷
    extracted, as thresholds.max_quarantine_rate): records that are not migrated, which a PM must not sign
    off unnoticed. From TableCounts or summary.json's dicts and `quarantine_reasons`, so that `ikou signoff`
    derives the same lines from summary.json as the run did."""
    out = {}
    for name, t in tables.items():
        t = t if isinstance(t, dict) else t.model_dump(by_alias=True)
        extracted, held = t.get("extracted"), t.get("quarantined")
        if t.get("derived") or not isinstance(extracted, int) or not isinstance(held, int) or extracted <= 0 \
                or held <= 0 or held / extracted <= max_rate:
            continue
        by_rule: dict[str, int] = {}
        for r in reasons or []:
            if isinstance(r, dict) and r.get("table") == name and r.get("severity") == "error" and r.get("rule"):
                by_rule[str(r["rule"])] = by_rule.get(str(r["rule"]), 0) + int(r.get("rows_failed") or 0)
        rules = sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))
        out[name] = {"held": held, "extracted": extracted, "rules": rules, "limit": max_rate}
    return out


SIGNOFF_MAX_WARNING_RATE = 0.5   # thresholds.signoff_max_warning_rate's default
NOT_RECORDS = frozenset({"extract.blank_line"})   # findings of lines that are no records: no rate of records


def warned_over(tables: dict, reasons: list[dict], max_rate: float, expected: dict[str, str] | None = None) -> list[str]:
    """The blocker lines of warning rules firing on more than `max_rate` of a table's extracted records: a warning
    on (nearly) every record is the sign of a layout or mapping mistake, not of the data (氏名 and フリガナ
    swapped: `kana.not_fullwidth` on 100 %, loaded with no blocker), which holds nothing and so escapes the held
    rate. Rules the run config lists in thresholds.signoff_expected_warnings (a 団体 whose numbers carry no check
    digit: `checkdigit.atena_no` on every record) are left out. Counted per rule and column when the reasons carry
    a `column` (the quarantine's findings grouped by it: a rule on two columns each warning on 30 % of the records
    is not one on 60 %), and the line names that column; findings without a column are counted per rule."""
    out = []
    for name, t in tables.items():
        t = t if isinstance(t, dict) else t.model_dump(by_alias=True)
        extracted = t.get("extracted")
        if t.get("derived") or not isinstance(extracted, int) or extracted <= 0:
            continue
        by_rule: dict[tuple[str, str], int] = {}   # (rule, column: "" when the findings name none)
        for r in reasons or []:
            if isinstance(r, dict) and r.get("table") == name and r.get("severity") == "warning" and r.get("rule") \
                    and str(r["rule"]) not in (expected or {}) and str(r["rule"]) not in NOT_RECORDS:
                key = (str(r["rule"]), str(r.get("column") or ""))
                by_rule[key] = by_rule.get(key, 0) + int(r.get("rows_failed") or 0)
        for (rule, column), n in sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0])):
            if n / extracted > max_rate:
                rate, limit = f"{100 * min(n, extracted) / extracted:.1f} %", f"{100 * max_rate:g} %"
                ja, en = (f"{rule} (列 {column})", f"{rule} (column {column})") if column else (rule, rule)
                out.append(f"{name}: 警告 {ja} が記録の {rate} ({n:,} 件) に出ています (上限 {limit}。ほぼ全件に出る警告は"
                           f"レイアウトかマッピングの誤りの兆候です: 列の取り違え・桁ずれを確認) / warning {en} on {rate} of "
                           f"the records ({n:,}; above thresholds.signoff_max_warning_rate {limit}): a warning on "
                           "nearly every record is the sign of a layout or mapping mistake (columns swapped, widths off)")
    return out


def held_line(table: str, h: dict) -> str:
    """The blocker of a table holding more records than thresholds.signoff_max_held_rate allows: how many,
    their share of the extracted records, and the rules holding most of them."""
    rate, limit = f"{100 * h['held'] / h['extracted']:.1f} %", f"{100 * h['limit']:g} %"
    top, more = h["rules"][:TOP_RULES], len(h["rules"]) > TOP_RULES
    ja = "、".join(f"{r} {n:,} 件" for r, n in top) + ("、…" if more else "")
    en = ", ".join(f"{r} {n:,}" for r, n in top) + (", …" if more else "")
    return (f"{table}: {h['held']:,} 件 ({rate}) を保留 (主な理由: {ja or '-'}; 上限 {limit}。保留した記録は移行されません) / "
            f"{h['held']:,} record(s) held ({rate}, above thresholds.signoff_max_held_rate {limit}; top rules: "
            f"{en or '-'}): held records are not migrated")


def _warning_thresholds(cfg) -> tuple[float, dict[str, str]]:
    t = getattr(cfg, "thresholds", None)
    return (getattr(t, "signoff_max_warning_rate", SIGNOFF_MAX_WARNING_RATE),
            dict(getattr(t, "signoff_expected_warnings", None) or {}))


def signoff_max_held_rate(run_dir: Path) -> float:
    """thresholds.signoff_max_held_rate of the config a run read (its copy in RUN_DIR/specs/), for a reader
    of the run folder (`ikou signoff`); the default when the copy does not set it (a run from before that
    key) or is gone."""
    import yaml

    base = Path(run_dir) / "specs"
    try:
        manifest = json.loads((base / "manifest.json").read_text(encoding="utf-8"))
        entry = next(f for f in manifest.get("files") or [] if isinstance(f, dict) and f.get("kind") == "config")
        f = (base / str(entry["path"])).resolve()
        if not f.is_relative_to(base.resolve()):
            return SIGNOFF_MAX_HELD_RATE
        v = ((yaml.safe_load(f.read_text(encoding="utf-8")) or {}).get("thresholds") or {}).get("signoff_max_held_rate")
    except (OSError, ValueError, StopIteration, KeyError, AttributeError, TypeError, yaml.YAMLError):
        return SIGNOFF_MAX_HELD_RATE
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1
    return float(v) if ok else SIGNOFF_MAX_HELD_RATE


def failed_line(error) -> str:
    """The blocker of a run that did not succeed: Japanese and English, the stage it stopped at (its reason is
    summary.json's `error`, shown at the top of report.html), never an exception's class name."""
    stage = getattr(error, "stage", None)
    ja, en = (("実行が中止されました", "the run was cancelled") if getattr(error, "kind", None) == "Cancelled"
              else ("実行が失敗しました", "the run failed"))
    if not stage:
        return f"{ja} (理由は summary.json の error) / {en} (its reason: error in summary.json)"
    from ikou.reports.labels import stage as stage_ja

    return (f"{ja} (段階: {stage_ja(stage)}、理由は summary.json の error) / "
            f"{en} at stage {stage} (its reason: error in summary.json)")


def diff_table(d: dict) -> str | None:
    """The target table a flow diff compared (`table`; a run before it was recorded: from `right`,
    "新 <schema>.<table>")."""
    if d.get("table"):
        return str(d["table"])
    right = str(d.get("right") or "")
    return right.rsplit(".", 1)[-1] if right.startswith("新 ") and "." in right else None


def _unbalanced_diffs(diffs: dict, loaded: dict[str, int]) -> list[str]:
    """The parallel-run diff, read as a second count: every loaded row is a legacy row found again, and
    no target row lacks one. For a table one source fills: matched = loaded, 新のみ 0, no duplicate key on
    the target's side. For a table several sources fill, each diff sees the others' rows as 新のみ: the
    sources' matched add up to what was loaded, and each one's 新のみ is the rest. A loaded row under a key
    several legacy rows share through the mapping (a code table mapping two legacy codes to one) is found
    again but not tied to one legacy row: it balances the count, and `shared_key_line` names it instead."""
    by_table: dict[str, list[str]] = {}
    for source, d in diffs.items():
        if (t := diff_table(d)) is not None:
            by_table.setdefault(t, []).append(source)
    out = []
    for t, sources in by_table.items():
        if t not in loaded:
            continue
        n = int(loaded[t])
        matched = {s: int(diffs[s].get("matched") or 0) for s in sources}
        only_right = {s: int(diffs[s].get("only_right") or 0) for s in sources}
        right_dup = sum(int(((diffs[s].get("duplicates") or {}).get("right") or {}).get("rows") or 0) for s in sources)
        # the loaded rows under a key several legacy rows share through the mapping (HAIGU, HAIGU2 → 04): found
        # again, but not tied to one legacy row (counted by the diff as 新のみ): their own line says why
        mapped = {s: ((diffs[s].get("duplicates") or {}).get("left") or {}).get("mapped") or {} for s in sources}
        shared = {s: int(mapped[s].get("right_rows") or 0) for s in sources}
        total, m = sum(matched.values()), sum(shared.values())
        if total + m != n or right_dup or any(only_right[s] != n - matched[s] for s in sources):
            name = " + ".join(sources)
            also = f" + 変換後に旧の複数行が重なるキー {m:,} 件" if m else ""
            out.append(f"{name}: 並行稼働比較が投入件数と合いません (旧と一致 {total:,} 件{also} / 投入 {n:,} 件, "
                       f"新のみ {sum(only_right.values()) - m if len(sources) == 1 else max(0, n - total - m):,} 件, "
                       f"新の重複キー {right_dup:,} 行) / the parallel-run diff does not account for every loaded row")
        out += [shared_key_line(s, t, mapped[s]) for s in sources if shared[s]]
    return out


def shared_key_line(source: str, table: str, mapped: dict) -> str:
    """The blocker of loaded rows the diff could not compare because several legacy rows meet on their key
    after mapping (a code table mapping two legacy codes to one): which column, which op and code table, and
    the shared codes (a code table's, never a sensitive column's: reports.step). Numbers and names only."""
    ja, en = [], []
    for col, c in (mapped.get("columns") or {}).items():
        codes = "; ".join(f"{', '.join(x['legacy'])} → {x['code']}" for x in c.get("codes") or [])
        if codes and c.get("codes_more"):
            codes += f"; +{c['codes_more']:,}"
        if c.get("table"):
            ja.append(f"{table}.{col}: コード表 {c['table']} が {c['from']} の複数の旧コードを1つのコードに変換します"
                      + (f" ({codes})" if codes else ""))
            en.append(f"{table}.{col}: code table {c['table']} maps several legacy {c['from']} codes to one code"
                      + (f" ({codes})" if codes else ""))
        else:
            ja.append(f"{table}.{col}: {c['op']} が {c['from']} の異なる旧の値を同じ値に変換します")
            en.append(f"{table}.{col}: op {c['op']} maps different legacy {c['from']} values to one value")
    rows, keys, right = (int(mapped.get(k) or 0) for k in ("rows", "keys", "right_rows"))
    return (f"{source}: 旧の {rows:,} 行が変換後に {keys:,} 件のキーを共有しています ({'; '.join(ja)})。"
            f"そのキーに投入された {right:,} 件は旧のどの行のものか決まらず比較できません (コード表を見直すか、"
            f"重なった旧の行と保留理由を確認) / {rows:,} legacy rows share {keys:,} key(s) after mapping "
            f"({'; '.join(en)}): the {right:,} loaded row(s) under them cannot be tied to one legacy row and were "
            f"not compared (review the code table, or the legacy rows that meet and why any was held)")


def _blockers(moji_counts: dict, error: RunError | None, diffs: dict, totals: dict | None = None,
              empty: list[str] = (), untied: dict[str, int] | None = None,
              loaded: dict[str, int] | None = None, all_held: dict[str, int] | None = None,
              held: dict[str, dict] | None = None, unresolved_chars: int | None = None,
              warned: list[str] = ()) -> list[str]:
    """What stops a sign-off. A failed run's control totals are left out: nothing (or not all) was
    loaded, so they cannot balance, and their lines would bury the one that matters. A source with
    no records is a blocker even on a fresh target (where no drop guard applies): an export that came
    out empty looks exactly like that; so is a table that extracted records and loaded none (`all_held`:
    every record held, the same empty target by another road), kept for a run that failed at load (its
    counts are whole: the drop guard refused a target it would have emptied); so is a table holding more of
    its records than thresholds.signoff_max_held_rate (`held`: held_over). The diff must find every loaded
    row again (`_unbalanced_diffs`)."""
    out = [failed_line(error)] if error is not None else []
    for source in empty:
        out.append(f"{source}: 抽出件数が 0 件です (空の出力ではないか確認が必要) / no records extracted (an empty export?)")
    counted = error is None or getattr(error, "stage", None) == "load"   # every stage before the load ran
    for table, n in (all_held or {}).items() if counted else ():
        out.append(f"{table}: 抽出した {n:,} 件をすべて保留し、投入は 0 件です (保留理由を確認) / "
                   f"all {n:,} extracted record(s) were held: nothing was loaded")
    for table, h in (held or {}).items() if counted else ():
        if table not in (all_held or {}):   # 'nothing loaded' says it already
            out.append(held_line(table, h))
    out += list(warned) if counted else []
    for table, n in (untied or {}).items():
        out.append(f"{table}: 抽出で保留した {n} 件はキーを読めません (同じ人の他の履歴が投入された可能性) / "
                   f"{n} record(s) held at extract have no readable key: the rest of their person's history may be loaded")
    for table, cols in (totals or {}).items() if error is None else ():
        for col, v in cols.items():
            if v["difference"]:
                out.append(f"{table}.{col}: 管理合計が合いません (抽出 − 投入 − 保留 = {v['difference']:,}) / "
                           "control total does not balance")
    if moji_counts.get("unresolved"):
        out.append(unresolved_line(moji_counts["unresolved"], unresolved_chars))
    for source, d in diffs.items():
        u = d.get("unexplained_cells")
        n = sum(u.values()) if isinstance(u, dict) else (u or 0)
        if n:
            out.append(unexplained_line(source, n))
    if error is None:
        out += _unbalanced_diffs(diffs, loaded or {})
    return out


def likely_encoding_lines(extracts: list[StageResult]) -> list[str]:
    """The blocker of each source whose undecodable records all read in another encoding than the declared one
    (`likely_encoding`, extractors.checks): the declared one is then likely wrong, and the records that decoded
    may hold other, valid characters (a Shift_JIS-2004 export read as cp932: 䉤田 loaded as 寘田), whatever the
    share held. Names the file and both encodings, never a value."""
    from ikou.extractors.checks import ENCODING_NAMES

    out = []
    for r in extracts:
        likely = r.metrics.get("likely_encoding")
        if not likely:
            continue
        name = ENCODING_NAMES.get(likely, likely)
        origin, declared = r.metrics.get("origin", r.name), r.metrics.get("encoding") or "?"
        out.append(f"{r.name}: {origin} で {declared} として読めないレコードは {name} として読めます。"
                   f"エンコーディングの指定が誤りの可能性があり、読めたレコードも別の文字で投入されている恐れがあります "
                   f"(ソースまたは layout の encoding を {likely} にして再実行を検討) / {origin}: the records not valid "
                   f"{declared} read as {name}: the declared encoding is likely wrong, and the records that did decode "
                   f"may have been loaded with other characters (set encoding: {likely} on the source or in the layout "
                   "and run again)")
    return out


def unresolved_line(n: int, chars: int | None = None) -> str:
    """The 未同定 blocker: the distinct characters (the decisions the reviewers must make) and their
    occurrences `n`; without the distinct count (a summary that lacks it), the occurrences alone.
    `current_wording` reads the lines of earlier runs ("N 文字 未同定", N the occurrences) as this."""
    if chars is None:
        return (f"未同定の文字 {n:,} 箇所 (同定台帳で判断が必要) / "
                f"{n:,} occurrence(s) of characters not identified to an MJ character (the moji ledger must decide)")
    return (f"未同定の文字 {chars:,} 種類 ({n:,} 箇所) (同定台帳で判断が必要) / "
            f"{chars:,} distinct character(s) ({n:,} occurrence(s)) not identified to an MJ character "
            "(the moji ledger must decide)")


def unresolved_chars(summary: dict | None) -> int | None:
    """The distinct unresolved characters a summary.json records (`moji.unresolved_chars`; a summary from
    before that field listed every one in `moji.unresolved`), None when it does not tell."""
    moji = (summary or {}).get("moji") if isinstance(summary, dict) else None
    if not isinstance(moji, dict):
        return None
    if isinstance(moji.get("unresolved_chars"), int):
        return moji["unresolved_chars"]
    listed = {u.get("char") for u in moji.get("unresolved") or [] if isinstance(u, dict) and u.get("char")}
    return len(listed) if listed and not moji.get("unresolved_omitted") else None


def unexplained_line(source: str, n: int) -> str:
    """The 説明できない差異 blocker of one diff; its Japanese half is the line of a run before it was bilingual."""
    return (f"{source}: 説明できない差異 {n} セル (並行稼働比較) / "
            f"{n} cell(s) differ with no expected-difference rule to explain them (parallel-run diff)")


# blocker lines as earlier runs worded them: (pattern, line as worded now, given the summary.json). The 未同定
# and 説明できない差異 lines in Japanese only, before they were bilingual; the 未同定 line counting its
# occurrences as characters ("43236 文字 未同定"), before it named the distinct characters
_UNRESOLVED_OLD = (r"(\d+) 文字 未同定 \(同定台帳で判断が必要\)"
                   r"(?: / \1 character\(s\) not identified to an MJ character \(the moji ledger must decide\))?")
_JAPANESE_ONLY = ((re.compile(_UNRESOLVED_OLD), lambda m, s: unresolved_line(int(m[1]), unresolved_chars(s))),
                  (re.compile(r"(.+): 説明できない差異 (\d+) セル \(並行稼働比較\)"),
                   lambda m, s: unexplained_line(m[1], int(m[2]))))


def current_wording(line: str, summary: dict | None = None) -> str:
    """A blocker line of summary.json as `_blockers` words it now: a run written before the 未同定 and
    説明できない差異 lines were bilingual listed them in Japanese only, and one written before the 未同定
    line named the distinct characters counted its occurrences only (their number comes from `summary`,
    the summary.json the line is of); either is read as having the same blocker (the sign-off compares
    the lines, and a PM reads them in both languages). Any other line as is."""
    for pattern, now_worded in _JAPANESE_ONLY:
        m = pattern.fullmatch(line) if isinstance(line, str) else None
        if m:
            return now_worded(m, summary)
    return line


UNLISTED = (" (summary.json に記載なし: この妨げの確認ができる前に書かれた実行) / "
            "(not in summary.json: the run was written before this blocker was checked)")


def unlisted_nothing_loaded(summary: dict, max_held_rate: float | None = None) -> list[str]:
    """The 'nothing loaded' blockers (`all_held`) and, given the run's thresholds.signoff_max_held_rate
    (`signoff_max_held_rate(run_dir)`), the held-records ones (`held_over`) that summary.json's own counts
    show and its `sign_off_blockers` do not list, marked so (UNLISTED): a run written before that blocker
    existed. It has that blocker all the same; `ikou signoff` and the reports say so in its own words. A
    run that did not succeed has none (as `_blockers`: its failure is the line that matters)."""
    if summary.get("status") != "succeeded" or summary.get("error"):
        return []
    tables = {t: v for t, v in (summary.get("tables") or {}).items() if isinstance(v, dict)}
    listed = {current_wording(b, summary) for b in summary.get("sign_off_blockers") or [] if isinstance(b, str)}
    held = ({} if max_held_rate is None else
            held_over(tables, summary.get("quarantine_reasons") or [], max_held_rate))
    # a parallel run loads nothing by design: only a table whose every record was held loaded nothing for cause
    every_held = all_held(tables, by_held=summary.get("mode") == PARALLEL_RUN)
    return [b + UNLISTED for b in _blockers({}, None, {}, all_held=every_held, held=held) if b not in listed]


def shown_url(url: str) -> str:
    """A database URL as outputs show it: no user or password, and no password given as a query
    parameter (`?password=…`, libpq's `sslpassword`)."""
    scheme, sep, rest = url.partition("://")
    rest = rest.split("@")[-1] if sep else url.split("@")[-1]
    base, q, query = rest.partition("?")
    kept = [p for p in query.split("&") if p and p.split("=", 1)[0].lower() not in _PASSWORD_PARAMS]
    return (scheme + sep if sep else "") + base + (q + "&".join(kept) if kept else "")


_PASSWORD_PARAMS = {"password", "passwd", "pwd", "sslpassword"}


def previous_summary(ctx, *, gyomu=None, schema: str | None = None, url: str | None = None,
                     mode: str | None = None) -> dict | None:
    """The latest earlier *succeeded* run of the same 団体 (and, when given, the same 業務 set and target
    schema and database, and `mode`), for the rehearsal trend (a failed or cancelled run loaded nothing:
    comparing with it would show every count as an improvement)."""
    return previous_run(ctx.dantai_dir, ctx.run_id, gyomu=gyomu, schema=schema, url=url, mode=mode)


def previous_run(dantai_dir, run_id: str, *, gyomu=None, schema: str | None = None,
                 url: str | None = None, mode: str | None = None) -> dict | None:
    """`previous_summary` from the 団体's runs folder and a run id (`ikou run-report` finds a run's
    previous rehearsal the way the run did)."""
    found = previous_run_dir(dantai_dir, run_id, gyomu=gyomu, schema=schema, url=url, mode=mode)
    return found[1] if found else None


def previous_run_dir(dantai_dir, run_id: str, *, gyomu=None, schema: str | None = None,
                     url: str | None = None, mode: str | None = None) -> tuple[Path, dict] | None:
    """(folder, summary) of the newest run before `run_id` that succeeded, of the same 業務 set (`gyomu`,
    in any order), target schema (`schema`) and target database (`url`, compared as summary.json shows
    it: `shown_url`, no password) when these are given: a run of another 業務 or into another schema or
    database shares no table counts with it (a schema of the same name in a DuckDB file and in PostgreSQL
    are two targets), and would show every count as "—" or "gone". A run that recorded no URL is not
    told apart by it. A run still going (no summary.json yet) is never it. The 同定台帳's decision
    changes pick theirs here too. `mode` ("load" or PARALLEL_RUN), when given: a run of the same mode only (a
    parallel run loads nothing: against a loading run every loaded count would read as gone; a summary without
    `mode` is a loading run's)."""
    url = shown_url(url) if url else None
    want = None if gyomu is None else sorted(set(gyomu))
    runs = sorted(d for d in Path(dantai_dir).iterdir() if d.is_dir() and d.name < run_id)
    for d in reversed(runs):
        f = d / "summary.json"
        if not f.is_file():
            continue
        try:
            summary = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(summary, dict) or summary.get("status") != "succeeded":
            continue
        if want is not None and sorted(set(summary.get("gyomu") or [])) != want:
            continue
        if schema is not None and (summary.get("target") or {}).get("schema") != schema:
            continue
        if mode is not None and (summary.get("mode") or "load") != mode:
            continue
        recorded = (summary.get("target") or {}).get("url")
        if url is not None and recorded and shown_url(str(recorded)) != url:
            continue
        return d, summary
    return None


def replaced_run(url: str, db_schema: str, run_id: str) -> dict:
    """What the target held before this run, as the target says after the load (its kept previous
    state): `{"replaced_run": id or None}`, or {} when that cannot be read. After `ikou rollback` it is
    not the latest rehearsal, and the trend says so (reports.reconcile.trend). When the run the load
    replaced never finished (killed after its COMMIT: no summary.json), `replaced_unfinished_run` names it
    ({run_id, status, kept_as_previous}); the previous state is then the finished run before it."""
    from ikou.loaders import held_runs

    try:
        held = held_runs(url, db_schema)
    except Exception as exc:   # noqa: BLE001 - the note is an aid; the run's record must still be written
        log.warning("target %s: could not read the run it held before this one (%s)", db_schema,
                    type(exc).__name__)
        return {}
    if (held.get("current") or {}).get("run_id") != run_id:
        return {}
    out = {"replaced_run": (held.get("previous") or {}).get("run_id")}
    replaced = held["current"].get("replaced") or {}   # what the load replaced (loaders.targets.kept_on_load)
    if replaced.get("status") not in (None, "succeeded"):   # a run killed after its COMMIT, or failed after it
        out["replaced_unfinished_run"] = replaced
    return out


QUARANTINE_OUTCOME = {"error": "保留 (移行されていません) / held: not migrated",
                      "warning": "警告 (投入済み) / warning: loaded"}
NOT_A_RECORD = "記録ではない行 (空白だけの行) / not a record (a blank line)"


def outcome_first(q: pl.DataFrame) -> pl.DataFrame:
    """quarantine.csv's columns for a person filtering it in Excel: first what became of the record (`outcome`: held
    and not migrated, or loaded with a warning) and its severity, then the rest as they are: the file holds both,
    and its row count (280) is not the held records' (48) unless filtered by these."""
    if "severity" not in q.columns:
        return q
    outcome = pl.col("severity").replace_strict(QUARANTINE_OUTCOME, default=pl.col("severity"), return_dtype=pl.String)
    if "rule" in q.columns:   # a blank or empty line is no record: nothing of it was loaded or held
        outcome = pl.when(pl.col("rule") == "extract.blank_line").then(pl.lit(NOT_A_RECORD)).otherwise(outcome)
    out = q.with_columns(outcome.alias("outcome"))
    return out.select("outcome", "severity", pl.exclude("outcome", "severity"))


def write_outputs(cfg, ctx, plans, summary: RunSummary, quarantine: pl.DataFrame) -> None:
    """summary.json, quarantine.parquet (complete) and .csv (masked), report.html and report.xlsx; the specs the run
    read and the software it ran (specs/, environment.json: reports.evidence)."""
    from ikou.reports.csvsafe import safe_for_csv
    from ikou.reports.evidence import write_provenance
    from ikou.reports import labels
    from ikou.reports.report import render_run_report
    from ikou.reports.workbook import write_workbook

    run_dir = ctx.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    sens = sensitive_columns(plans)
    # through a temporary file: a full disk leaves no 0-byte quarantine.parquet for a reader to take as "none held"
    write_replacing(run_dir / "quarantine.parquet", quarantine.write_parquet)
    # opened in Excel: a legacy `=…` must not run (the Parquet stays exact); a BOM, or Japanese Excel reads it as CP932
    safe_for_csv(outcome_first(mask_long(quarantine, sens, reveal=cfg.reveal_personal, value_cols=("value",)))).write_csv(
        run_dir / "quarantine.csv", include_bom=True)
    summary.write(run_dir / "summary.json")
    write_provenance(cfg, plans, run_dir, sensitive=sens)
    data = summary.as_dict()
    previous = previous_summary(ctx, gyomu=cfg.gyomu, schema=cfg.target_schema, url=cfg.target.url,
                                mode=data.get("mode"))
    with labels.for_run(run_dir):   # a 業務 kept outside the repository is named from the run's schema copy
        render_run_report(data, quarantine, run_dir / "report.html", previous_summary=previous,
                          diffs=data["diff"], sensitive=sens, reveal=cfg.reveal_personal)
        write_workbook(data, run_dir / "report.xlsx", run_dir=run_dir, quarantine=quarantine, previous=previous,
                       sensitive=sens, reveal=cfg.reveal_personal)
