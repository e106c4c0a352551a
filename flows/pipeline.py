"""The plan of a run: which source goes through which mapping into which table, in which order.

    extract → map → 文字同定 → validate → load → diff      (each stage's one step: ikou.stage)

`flows.migrate` walks this plan with Prefect tasks around the stages' steps; nothing here
transforms data, and nothing here imports Prefect.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ikou.config import RunConfig
from ikou.errors import ConfigError, message_ja, one_line
from ikou.context import RunContext
from ikou.schema import TargetSchema, load_schema
from ikou.mappings.spec import MappingSpec, load_mapping
from ikou.summary import RunError, RunSummary

log = logging.getLogger("ikou")

@dataclass
class SourcePlan:
    ordinal: int                   # position in the config: part of every row id of the source
    source: object                 # ikou.config.FileSource | DatabaseSource
    mapping: MappingSpec
    schema: TargetSchema

    @property
    def target(self) -> str:
        return self.mapping.target


def plan(cfg: RunConfig) -> list[SourcePlan]:
    """Every source with its mapping and target schema, in config order (specs are read and checked here)."""
    out = []
    for i, s in enumerate(cfg.sources, start=1):
        spec = load_mapping(s.mapping)
        if getattr(s, "layout", None):   # the run reads this layout: the mapping is checked against it, now
            spec = _with_layout(spec, s.layout, f"sources.{i - 1} ({s.name})")
        if s.kind == "database" and (s.table is None) == (spec.tables is None):
            raise ConfigError(f"sources.{i - 1} ({s.name}): name the vendor table with `table:`, or use a mapping "
                              "that names its tables (`tables:`), not both" if s.table else
                              f"sources.{i - 1} ({s.name}): `table:` is missing (its mapping names no tables)")
        out.append(SourcePlan(ordinal=i, source=s, mapping=spec, schema=load_schema(spec.schema_)))
    # `gyomu` is what the run says it migrates (summary, report, the target's run record): it must be
    # exactly the 業務 the sources map into, neither a 業務 without a source nor a source outside it
    for p in out:
        if p.schema.gyomu not in cfg.gyomu:
            raise ConfigError(f"sources.{p.ordinal - 1} ({p.source.name}) maps into 業務 {p.schema.gyomu!r}, which "
                              f"the config's gyomu {list(cfg.gyomu)} does not list")
    missing = [g for g in cfg.gyomu if g not in {p.schema.gyomu for p in out}]
    if missing:
        raise ConfigError(f"gyomu lists {missing}, which no source maps into (known from the sources: "
                          f"{sorted({p.schema.gyomu for p in out})})")
    _check_rules(out)
    return out


def _with_layout(spec: MappingSpec, layout: Path, where: str) -> MappingSpec:
    """The mapping over a run config's `layout:` (a source's override): the layout loaded and the mapping's
    lines checked against it at plan, as the mapping's own layout is, and every later step (the unread columns,
    the diff's legacy columns) reads the one the extract reads."""
    from ikou.extractors import load_layout
    from ikou.mappings.spec import check_mapping

    if spec.tables is not None:
        raise ConfigError(f"{where}: `layout:` overrides a one-table source's layout; its mapping names tables")
    load_layout(layout)   # a broken layout is refused here, naming its file and key
    spec = spec.model_copy(update={"layout": Path(layout)})
    check_mapping(spec, load_schema(spec.schema_), f"{where}: mapping over layout {Path(layout).name}")
    return spec


def checked_plan(cfg: RunConfig) -> list[SourcePlan]:
    """The plan with every check a run makes before it reads a record: the specs read and checked (plan),
    and none of them in another 団体's tree (IsolationError). `ikou run` calls it before Prefect starts, so
    a spec error is refused at once; the flow calls it again as its first stage (a worker or a deployment
    starts the flow without `ikou run`)."""
    from ikou.reports.evidence import spec_files

    plans = plan(cfg)
    spec_files(cfg, plans)
    for p in plans:
        unread = unread_columns(p)
        if unread:   # not an error (a layout of a vendor not seen yet still runs), but never a silent drop
            log.warning("source %s: layout column(s) %s are read by no line of %s and not declared `not_migrated`: "
                        "they are not migrated", p.source.name, unread, Path(p.source.mapping).name)
    return plans


def unread_columns(p: SourcePlan) -> list[str]:
    """The layout columns of `p` its mapping neither reads nor declares `not_migrated` (mappings.spec)."""
    from ikou.mappings.spec import unread_columns as unread

    return unread(p.mapping)


def _check_rules(plans: list[SourcePlan]) -> None:
    """Each 業務's rules file against its schema, before anything is read: a rule naming a column the table
    does not have would otherwise stop the run only at validate, after extract, map and 文字同定."""
    from ikou.validators import load_rules, rules_path
    from ikou.validators.spec import rule_problems

    seen = set()
    for p in plans:
        path = rules_path(p.schema)
        if path is None or not Path(path).is_file() or path in seen:   # no rules file: validate says so
            continue
        seen.add(path)
        problems = rule_problems(load_rules(path), p.schema)
        if problems:
            raise ConfigError(f"{path}: " + "; ".join(problems))


def tables_in_order(cfg: RunConfig, plans: list[SourcePlan]) -> list[tuple[str, TargetSchema, list[SourcePlan]]]:
    """Target tables with the sources feeding them, 業務 in the config's order (a rule may refer to a
    table of an earlier 業務: 税 → 住民記録), tables of one 業務 in first-source order."""
    by_table: dict[str, list[SourcePlan]] = {}
    for p in plans:
        by_table.setdefault(p.target, []).append(p)
    order = {g: i for i, g in enumerate(cfg.gyomu)}
    return sorted(((t, ps[0].schema, ps) for t, ps in by_table.items()),
                  key=lambda x: order.get(x[1].gyomu, len(order)))


def key_crosswalk(p: SourcePlan, mapped, ctx: RunContext):
    """The 団体's crosswalk of the target table's key column the mapping renumbers (a `prepare` that kept a
    crosswalk: mappings.ops new_key), for the diff; None when the legacy key is kept."""
    from ikou.mappings.ops import crosswalk_path

    key = p.schema.tables[p.target].primary_key
    names = [t for t, m in (mapped.metrics.get("prepared") or {}).items() if "crosswalk" in m and t in key]
    return crosswalk_path(ctx.dantai_dir, names[0]) if names else None


def _key_lines(p: SourcePlan) -> dict:
    """Target key column → its mapping line, for the key columns a single-table source maps from one
    column of its own without a `prepare` (a renumbering needs the whole source: mappings.ops new_key)."""
    from ikou.mappings import ops

    if p.mapping.tables:   # a multi-table source holds whole persons in its combine step
        return {}
    key = p.schema.tables[p.target].primary_key
    return {c.target: c for c in p.mapping.columns
            if c.target in key and c.from_ and ops.OPS[c.op].prepare is None}


def key_columns(p: SourcePlan) -> list[str] | None:
    """The source columns that name a record of `p` (its target key's columns, as the mapping reads
    them): a record held at extract is quarantined under them (`record_key`). None: the layout's `key`."""
    lines = _key_lines(p)
    return list(dict.fromkeys(c.from_ for c in lines.values())) or None


def extract_kwargs(p: SourcePlan) -> dict:
    """What the extract step of `p` is given besides the source and the run (flows.migrate, flows.parallel)."""
    return dict(ordinal=p.ordinal, target_table=p.target, layout_path=p.mapping.layout, tables=p.mapping.tables,
                key_columns=key_columns(p), unread_columns=unread_columns(p) + list(p.mapping.not_migrated))


def numeric_keys(p: SourcePlan, extract_metrics: dict) -> list[str]:
    """The source key columns of `p` the vendor table holds as numbers and the mapping does not read through
    `zero_pad`: a number lost the leading zeros a fixed-width 宛名番号 had (0001234 arrives as 1234), and
    the staged text cannot show it (extractors.database: `numeric_columns`)."""
    numeric = set(extract_metrics.get("numeric_columns") or [])
    table = p.schema.tables[p.target]
    return list(dict.fromkeys(c.from_ for t, c in _key_lines(p).items() if c.from_ in numeric and c.op != "zero_pad"
                              and table.column(t).type == "text"))   # an integer key has no zeros to lose


def warn_numeric_keys(p: SourcePlan, extract_metrics: dict) -> None:
    """run.log: a numeric key column (numeric_keys), with the op that puts the zeros back."""
    cols = numeric_keys(p, extract_metrics)
    if cols:
        log.warning("source %s: key column(s) %s are numbers in the vendor table, so the leading zeros a "
                    "fixed-width number had are gone; map them with `op: zero_pad` (width: the number's digits) / "
                    "キー列 %s は旧システムの表で数値型です。固定桁の番号なら先頭のゼロは失われています: "
                    "mapping で op: zero_pad を使ってください", p.source.name, cols, cols)


def held_at_extract(p: SourcePlan, quarantine: pl.DataFrame) -> pl.DataFrame:
    """The records of `p` held at extract, their `record_key` (source columns: `ATENA_NO=…`) mapped to
    the target's key (`atena_no=…`) by the mapping's own lines for those columns, so that the
    validation can hold the rest of the person's history with them (`held_together`). A record whose key
    could not be read (`record_key` null) is kept without one: nothing holds a history with it, but a
    household may have its 世帯主 among such records (validators.kinds: `setai.setainushi_maybe_held`)."""
    import re

    from ikou import quarantine as q
    from ikou.extractors.keys import NOT_A_RECORD
    from ikou.mappings import ops

    lines = _key_lines(p)
    errors = quarantine.filter((pl.col("stage") == "extract") & (pl.col("severity") == "error")) \
        if quarantine.height else quarantine
    if not errors.height:
        return q.empty()
    where = ["rule", "source", "source_line"]   # why and where it was held: what a household held with it names
    keyless = (errors.filter(pl.col("record_key").is_null() & ~pl.col("rule").is_in(list(NOT_A_RECORD)))
               .unique("row_id", keep="first", maintain_order=True).select("row_id", *where)
               .with_columns(record_key=pl.lit(None, pl.String), stage=pl.lit("extract"), severity=pl.lit("error")))
    held = errors.filter(pl.col("record_key").is_not_null())
    if not lines or not held.height:   # no key read (or none the mapping maps: new_key): the keyless ones still count
        return q.conform(keyless)
    ctx = ops.OpContext(schema=p.schema)
    src = held.select("row_id", *where, *[pl.col("record_key").str.extract(rf"(?:^|,){re.escape(c)}=([^,]*)").alias(c)
                                  for c in dict.fromkeys(c.from_ for c in lines.values())])
    built = {t: ops.build(c, ctx) for t, c in lines.items()}
    for o in built.values():
        src = src.with_columns(**o.pre) if o.pre else src
    mapped = src.select("row_id", *where, *[o.value.cast(pl.String).alias(t) for t, o in built.items()])
    record_key = pl.concat_str([pl.format(f"{t}={{}}", pl.col(t).fill_null("")) for t in built], separator=",")
    return q.conform(pl.concat([mapped.filter(pl.any_horizontal(pl.col(t).is_not_null() for t in built))
                                .select("row_id", *where, record_key.alias("record_key"))
                                .with_columns(stage=pl.lit("extract"), severity=pl.lit("error")), keyless],
                               how="diagonal_relaxed"))


def run_error(stage: str, exc: BaseException) -> RunError:
    """What failed a run, for its record: the stage and one line in Japanese and English."""
    return RunError(kind=type(exc).__name__, stage=stage, message=one_line(exc), message_ja=message_ja(exc))


def record(cfg: RunConfig, ctx: RunContext, plans: list[SourcePlan], results: list, *, started: str, status: str,
           error: RunError | None) -> RunSummary:
    """Write the run's record (summary.json, quarantine, report.html …) whatever happened: the flow's at its
    end, `ikou run`'s for a plan refused before Prefect started. When that fails too, summary.json alone."""
    from ikou import quarantine as q
    from ikou.reports.summary import build_summary, now, write_outputs

    quarantine = q.concat([r.quarantine for r in results])
    try:
        summary = build_summary(cfg, ctx, plans, results, quarantine, started=started, status=status, error=error)
        for p in plans:   # what each source's mapping leaves behind, read or declared (names only)
            if p.source.name in summary.sources:
                summary.sources[p.source.name].unread_columns = unread_columns(p)
                summary.sources[p.source.name].not_migrated = dict(p.mapping.not_migrated)
                ex = next((r for r in results if r.stage == "extract" and r.name == p.source.name), None)
                summary.sources[p.source.name].numeric_keys = numeric_keys(p, ex.metrics) if ex else []
        write_outputs(cfg, ctx, plans, summary, quarantine)
    except Exception as exc:   # noqa: BLE001 - the record of a failed run must still be written
        if error is None:
            error = run_error("report", exc)
        summary = RunSummary(dantai=ctx.dantai_code, dantai_name=cfg.dantai.name, run_id=ctx.run_id,
                             rehearsal=cfg.rehearsal, gyomu=list(cfg.gyomu),
                             status=status if status != "succeeded" else "failed", started_at=started,
                             finished_at=now(), error=error, sign_off_blockers=[f"run failed: {error.kind}"])
        ctx.run_dir.mkdir(parents=True, exist_ok=True)
        summary.write(ctx.run_dir / "summary.json")
    return summary


def make_context(cfg: RunConfig, run_id: str) -> RunContext:
    ctx = RunContext(dantai_code=cfg.dantai.code, run_id=run_id, runs_dir=cfg.runs_dir,
                     rehearsal=cfg.rehearsal, dantai_name=cfg.dantai.name)
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    return ctx
