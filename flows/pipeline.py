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
from ikou.mappings.spec import MappingSpec, check_mapping, load_mapping
from ikou.summary import RunError, RunSummary, after_commit

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
        schema = load_schema(spec.schema_)
        # what the run migrates: a required column no line fills would hold every row after extract and map
        check_mapping(spec, schema, str(s.mapping), path=Path(s.mapping), whole=True)
        out.append(SourcePlan(ordinal=i, source=s, mapping=spec, schema=schema))
    # `gyomu` is what the run says it migrates (summary, report, the target's run record): it must be
    # exactly the 業務 the sources map into, neither a 業務 without a source nor a source outside it
    for p in out:
        if p.schema.gyomu not in cfg.gyomu:
            raise ConfigError(f"sources.{p.ordinal - 1} ({p.source.name}) maps into 業務 {p.schema.gyomu!r}, which "
                              f"the config's gyomu {list(cfg.gyomu)} does not list",
                              ja=f"ソース {p.source.name} (sources.{p.ordinal - 1}) のマッピングは業務 {p.schema.gyomu} に移行"
                                 f"しますが、実行設定の gyomu {list(cfg.gyomu)} にありません。gyomu に加えるか、ソースを外して"
                                 "ください")
    missing = [g for g in cfg.gyomu if g not in {p.schema.gyomu for p in out}]
    if missing:
        known = sorted({p.schema.gyomu for p in out})
        raise ConfigError(f"gyomu lists {missing}, which no source maps into (known from the sources: {known})",
                          ja=f"実行設定の gyomu {missing} に移行するソースがありません (ソースのマッピングが移行する業務: "
                             f"{known})。gyomu を直すか、その業務のソースを sources に加えてください")
    _check_rules(out)
    tables_in_order(cfg, out)   # the order of validation: rules reading each other in a circle are refused now
    return out


def _with_layout(spec: MappingSpec, layout: Path, where: str) -> MappingSpec:
    """The mapping over a run config's `layout:` (a source's override): the layout loaded and the mapping's
    lines checked against it at plan, as the mapping's own layout is, and every later step (the unread columns,
    the diff's legacy columns) reads the one the extract reads."""
    from ikou.extractors import load_layout
    from ikou.mappings.spec import check_mapping

    if spec.tables is not None:
        raise ConfigError(f"{where}: `layout:` overrides a one-table source's layout; its mapping names tables",
                          ja=f"{where}: `layout:` は1つの表・ファイルのソースのレイアウトを置き換えるものです。この"
                             "マッピングは複数の表 (tables) を読むため使えません (各表のレイアウトはマッピングで指定します)")
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
    _check_gaiji_tables(plans)
    for table, rule, frame in unchecked_optional_rules(plans):
        log.info("rule %s of %s not checked: its frame %s is not migrated by this run (optional: true) / "
                 "ルール %s (%s) は参照先 %s をこの実行で移行しないため検査しません", rule, table, frame, rule, table, frame)
    return plans


def _check_gaiji_tables(plans: list[SourcePlan]) -> None:
    """Each source's 外字 table read and checked (UTF-8, code,mj, PUA codes, no clashes, MJ names known) before
    anything is read: a wrong table stopped the run only at 文字同定, after the whole extract and map."""
    paths = sorted({p.source.gaiji_table for p in plans if p.source.gaiji_table})
    if not paths:
        return
    from ikou.moji import load_dictionary, load_gaiji_table

    dictionary = load_dictionary()
    for path in paths:
        try:
            load_gaiji_table(path, dictionary)
        except ConfigError as exc:
            raise ConfigError(str(exc), ja=f"外字表 {path} に誤りがあります (移行を始める前に直してください): {exc}") from None


def unread_columns(p: SourcePlan) -> list[str]:
    """The layout columns of `p` its mapping neither reads nor declares `not_migrated` (mappings.spec)."""
    from ikou.mappings.spec import unread_columns as unread

    return unread(p.mapping)


def _check_rules(plans: list[SourcePlan]) -> None:
    """Each 業務's rules file against its schema, before anything is read: a rule naming a column the table
    does not have, another 業務, a derived table, or a `frame` no 業務 of the run (or, optional, no shipped
    業務) has would otherwise stop the run only at validate, after extract, map and 文字同定 — or, optional,
    never be checked. A rules file the schema names (or implies: rules.yaml beside it) must exist: every
    stage from map on reads it."""
    from ikou.validators import load_rules, rules_path
    from ikou.validators.spec import Problem, rule_frames, rule_problems

    run_schemas = list({p.schema.gyomu: p.schema for p in plans}.values())
    fed = {getattr(p, "target", None) for p in plans} - {None}
    seen = set()
    for p in plans:
        path = rules_path(p.schema)
        if path in seen:
            continue
        seen.add(path)
        if path is None or not Path(path).is_file():
            raise _missing_rules(p, path)
        rules = load_rules(path)
        problems = rule_problems(rules, p.schema, run_schemas, path=path)
        if fed:   # a table of the run's 業務 no source feeds is never validated: a rule needing it cannot run
            problems += [Problem(f"tables.{t}: rule {r.id}: frame {f!r} is fed by no source of this run: add a "
                                 f"source mapping into {f}, or set optional: true",
                                 f"tables.{t}: ルール {r.id}: 参照先 {f!r} に投入するソースがこの実行にありません: {f} の"
                                 "ソースを加えるか optional: true にしてください")
                         for t, _, r, f, optional in rule_frames(rules)
                         if t in fed and f != t and f not in fed and not optional
                         and any(f in s.tables and s.tables[f].derive is None for s in run_schemas)]
        if problems:
            raise ConfigError(f"{path}: " + "; ".join(problems),
                              ja=f"{path}: ルールファイルに誤りがあります: " + "; ".join(getattr(x, "ja", x)
                                                                                for x in problems))


def _missing_rules(p: SourcePlan, path) -> ConfigError:
    """The refusal of a schema whose rules file is not there, saying how to make one."""
    g = p.schema.gyomu
    schema_file = getattr(getattr(p, "mapping", None), "schema_", None) or f"the schema of 業務 {g}"
    named = "rules" in p.schema.model_fields_set
    said = f"its `rules:` names {path}, which" if named else f"its rules file {path} (rules.yaml beside it)"
    return ConfigError(
        f"{schema_file} (業務 {g}): {said} does not exist: create it (spec_version: 1, gyomu: {g}, tables: {{}} "
        f"for no rules of its own) or point the schema's `rules:` at the 業務's rules file",
        ja=f"{schema_file} (業務 {g}): ルールファイル {path} がありません: spec_version: 1, gyomu: {g}, tables: {{}} "
           f"の内容で作成するか、スキーマの rules: で既存のルールファイルを指定してください")


def _frame_refs(plans: list[SourcePlan], fed) -> dict[str, dict[str, str]]:
    """Table → {table of this run it reads (a rule's `frame`): the rule's id}, from the 業務's rules files."""
    from ikou.validators import load_rules, rules_path
    from ikou.validators.spec import rule_frames

    refs: dict[str, dict[str, str]] = {}
    for path in dict.fromkeys(rules_path(p.schema) for p in plans):
        if path is None or not Path(path).is_file():
            continue
        for t, _, r, f, _ in rule_frames(load_rules(path)):
            if t in fed and f in fed and f != t:   # a table always contains itself
                refs.setdefault(t, {}).setdefault(f, r.id)
    return refs


def unchecked_optional_rules(plans: list[SourcePlan]) -> list[tuple[str, str, str]]:
    """(table, rule id, frame) of the optional rules of the run's tables whose `frame` this run does not
    migrate (another 業務): validate skips them, so run.log lists them as not checked."""
    from ikou.validators import load_rules, rules_path
    from ikou.validators.spec import rule_frames

    fed = {p.target for p in plans}
    out = []
    for path in dict.fromkeys(rules_path(p.schema) for p in plans):
        if path is not None and Path(path).is_file():
            out += [(t, r.id, f) for t, _, r, f, optional in rule_frames(load_rules(path))
                    if optional and t in fed and f != t and f not in fed]
    return out


def tables_in_order(cfg: RunConfig, plans: list[SourcePlan]) -> list[tuple[str, TargetSchema, list[SourcePlan]]]:
    """Target tables with the sources feeding them, in the order they are validated: a table after the tables
    its rules read (`frame`: a 課税 row's 納税義務者, 税 → 住民記録), otherwise 業務 in the config's order and
    tables of one 業務 in first-source order. Tables reading each other in a circle: ConfigError."""
    by_table: dict[str, list[SourcePlan]] = {}
    for p in plans:
        by_table.setdefault(p.target, []).append(p)
    order = {g: i for i, g in enumerate(cfg.gyomu)}
    pending = sorted(by_table, key=lambda t: order.get(by_table[t][0].schema.gyomu, len(order)))   # stable
    refs = _frame_refs(plans, set(by_table))
    done: list[str] = []
    while pending:
        ready = next((t for t in pending if set(refs.get(t, {})) <= set(done)), None)
        if ready is None:   # every table left waits for another: follow the waits to the circle
            ring = [pending[0]]
            while True:
                nxt = next(f for f in refs[ring[-1]] if f in pending)
                if nxt in ring:
                    ring = ring[ring.index(nxt):] + [nxt]
                    break
                ring.append(nxt)
            said = ", ".join(f"{a} → {b} (rule {refs[a][b]})" for a, b in zip(ring, ring[1:]))
            raise ConfigError(f"the rules of tables {sorted(set(ring))} refer to each other in a circle ({said}): "
                              "a table is validated after the tables it refers to, so one of these references "
                              "must go (or be made optional)",
                              ja=f"テーブル {sorted(set(ring))} のルールが互いを参照しています ({said}): 参照先を先に"
                                 "検証するため、どれかの参照をやめてください")
        done.append(ready)
        pending.remove(ready)
    return [(t, by_table[t][0].schema, by_table[t]) for t in done]


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
    """The source columns of `p` the vendor table holds as numbers and the mapping does not read through
    `zero_pad`, among those feeding a key: the table's own key, or a column that is the key of another table of
    the 業務 (世帯番号 in a person's record names the 世帯). A number lost the leading zeros a fixed-width
    宛名番号 or 世帯番号 had (0001234 arrives as 1234), and the staged text cannot show it
    (extractors.database: `numeric_columns`)."""
    from ikou.mappings import ops

    numeric = set(extract_metrics.get("numeric_columns") or [])
    if not numeric or p.mapping.tables:   # a multi-table source holds whole persons in its combine step
        return []
    table = p.schema.tables[p.target]
    keys = {k for t in p.schema.tables.values() for k in t.primary_key}
    return list(dict.fromkeys(
        c.from_ for c in p.mapping.columns
        if c.target in keys and c.from_ in numeric and c.op != "zero_pad" and ops.OPS[c.op].prepare is None
        and c.target in {x.name for x in table.columns} and table.column(c.target).type == "text"))   # an integer: no zeros


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
    from ikou.extractors.keys import NO_PERSON
    from ikou.mappings import ops

    lines = _key_lines(p)
    errors = quarantine.filter((pl.col("stage") == "extract") & (pl.col("severity") == "error")) \
        if quarantine.height else quarantine
    if not errors.height:
        return q.empty()
    where = ["rule", "source", "source_line"]   # why and where it was held: what a household held with it names
    keyless = (errors.filter(pl.col("record_key").is_null() & ~pl.col("rule").is_in(list(NO_PERSON)))
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
           error: RunError | None, cutover: dict | None = None) -> RunSummary:
    """Write the run's record (summary.json, quarantine, report.html …) whatever happened: the flow's at its
    end, `ikou run`'s for a plan refused before Prefect started. When that fails too, summary.json alone.
    `cutover`: the target's cut-over declaration the run found (a parallel run: compared, not loaded)."""
    from ikou import quarantine as q
    from ikou.reports.summary import PARALLEL_RUN, build_summary, now, write_outputs

    quarantine = q.concat([r.quarantine for r in results])
    committed = any(r.stage == "load" for r in results)   # the target holds this run: a failure now says so
    error = after_commit(error) if committed and status == "failed" else error
    summary = None
    try:
        summary = build_summary(cfg, ctx, plans, results, quarantine, started=started, status=status, error=error,
                                cutover=cutover)
        for p in plans:   # what each source's mapping leaves behind, read or declared (names only)
            if p.source.name in summary.sources:
                summary.sources[p.source.name].unread_columns = unread_columns(p)
                summary.sources[p.source.name].not_migrated = dict(p.mapping.not_migrated)
                ex = next((r for r in results if r.stage == "extract" and r.name == p.source.name), None)
                summary.sources[p.source.name].numeric_keys = numeric_keys(p, ex.metrics) if ex else []
                summary.sources[p.source.name].byte_columns = list((ex.metrics if ex else {}).get("byte_columns") or [])
                summary.sources[p.source.name].snapshot = (ex.metrics if ex else {}).get("snapshot")
        write_outputs(cfg, ctx, plans, summary, quarantine)
    except Exception as exc:   # noqa: BLE001 - the record of a failed run must still be written
        if error is None:
            error = run_error("report", exc)
            error = after_commit(error) if committed else error
        failed = status if status != "succeeded" else "failed"
        if summary is not None:   # built, not written (a full disk at report): the counts already computed stay
            summary = summary.model_copy(update={"status": failed, "error": error, "finished_at": now(),
                                                 "sign_off_blockers": [*summary.sign_off_blockers,
                                                                       f"run failed: {error.kind}"]})
        else:
            summary = RunSummary(dantai=ctx.dantai_code, dantai_name=cfg.dantai.name, run_id=ctx.run_id,
                                 rehearsal=cfg.rehearsal, gyomu=list(cfg.gyomu), status=failed, started_at=started,
                                 finished_at=now(), error=error, sign_off_blockers=[f"run failed: {error.kind}"],
                                 **({"mode": PARALLEL_RUN, "cutover": {k: cutover.get(k) for k in ("run_id", "at")}}
                                    if cutover else {}))
        try:
            ctx.run_dir.mkdir(parents=True, exist_ok=True)
            summary.write(ctx.run_dir / "summary.json")
        except OSError:   # a full disk: a summary.json that says otherwise goes (its space with it), then once more
            (ctx.run_dir / "summary.json").unlink(missing_ok=True)
            try:
                summary.write(ctx.run_dir / "summary.json")
            except OSError as werr:   # the run's end is still told: the target, `ikou run`'s line (UNWRITTEN)
                logging.getLogger("ikou").error("summary.json not written: %s", one_line(werr))
    return summary


def make_context(cfg: RunConfig, run_id: str) -> RunContext:
    ctx = RunContext(dantai_code=cfg.dantai.code, run_id=run_id, runs_dir=cfg.runs_dir,
                     rehearsal=cfg.rehearsal, dantai_name=cfg.dantai.name)
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    return ctx
