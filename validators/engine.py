"""The validation engine: schema-implied rules + rule-file rules → good rows, quarantine, counts.

Every rule is a set of Polars expressions evaluated over whole columns; all checks of a pass are
evaluated together (one `select` of masks, then `pl.collect_all`), so Polars runs them in
parallel. Errors hold the row back, warnings only list it. Phase 2 rules run on the rows that
survived phase 1, because that is what will be loaded; phase 3 rules (a person's history held
together, households) on every row, each marked with whether and why phases 1 and 2 hold it, with
the records held before validation (`held_before`) added as held rows, never reported themselves.

Memory grows with the input only through a narrow projection (and the findings themselves):
row-local checks (`Kind.row_local`) read the input batch by batch; the others get every row but
only the row position, key and the columns their expressions name, lineage being read afterwards
for the rows they hold; the good rows are the input minus the held positions, written batch by
batch. `validate` runs the same code on a DataFrame, with the whole frame as one batch.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import polars as pl

from ikou.staging import ROW_ID, SOURCE, SOURCE_LINE, sink_batches
from ikou import quarantine
from ikou.errors import ConfigError, ConservationError, ThresholdError
from ikou.schema import TargetSchema
from ikou.validators.kinds import HELD, HELD_BY, KINDS, Check, Context, Kind, held_by
from ikou.validators.spec import Rule, RuleSet

LINEAGE = {ROW_ID: ("row_id", pl.Int64), SOURCE: ("source", pl.String),   # input → quarantine column
           SOURCE_LINE: ("source_line", pl.Int64)}
_IDX = "__vidx"   # row position in the input, 0-based: what identifies a held row


@dataclass
class ValidationResult:
    good: pl.DataFrame          # rows passing every error rule, same columns as the input
    quarantine: pl.DataFrame    # ikou.quarantine schema, stage 'validate'; errors and warnings
    rule_counts: pl.DataFrame   # rule, severity, column, rows_failed (every rule listed)
    rows: int = 0               # input rows

    @property
    def counts(self) -> dict[str, int]:
        """rows in, good out, rows held by errors, rows with warnings (for thresholds and reports)."""
        q = self.quarantine
        return {
            "rows": self.rows,
            "good": self.good.height,
            "quarantined": q.filter(pl.col("severity") == "error")["row_id"].n_unique(),
            "warned": q.filter(pl.col("severity") == "warning")["row_id"].n_unique(),
        }


@dataclass
class Findings:
    """What validation found, without the good rows themselves (they may be larger than memory)."""
    quarantine: pl.DataFrame    # as ValidationResult.quarantine
    rule_counts: pl.DataFrame   # as ValidationResult.rule_counts
    rows: int                   # input rows
    held: pl.Series             # positions (0-based, input order) of the rows held by an error

    def good(self, source: pl.LazyFrame) -> pl.LazyFrame:
        """The rows of `source` (the validated input) not held, in input order."""
        return self._keep(source.with_row_index(_IDX))

    def write_good(self, source: pl.LazyFrame, path: Path, *, batch_rows: int) -> None:
        """Stream the good rows of `source` to a staging Parquet file, reading `batch_rows` at a time.

        Batches read by Polars' in-memory engine into its Parquet sink (`sink_batches`): half the
        peak memory of `good(source).sink_parquet` at the same speed (polars 2.1.0, 2M rows in
        batches of 250k: ~0.4 against ~0.8 GB).
        """
        indexed = source.with_row_index(_IDX)
        schema = indexed.drop(_IDX).collect_schema()   # not source's: see validate_lazy
        sink_batches((self._keep(indexed.slice(start, batch_rows)).collect()
                      for start in range(0, self.rows, batch_rows)), schema, path)

    def _keep(self, indexed: pl.LazyFrame) -> pl.LazyFrame:
        return indexed.filter(~pl.col(_IDX).is_in(self.held.implode())).drop(_IDX)


def decimal_regex(precision: int, scale: int) -> str:
    """A number written in plain digits that a NUMERIC(precision, scale) holds exactly: an optional sign, at most
    precision − scale digits before the point and scale after it (leading zeros before, trailing zeros after
    the point are not digits that count: '0012.50' and '1.2300' fit (12,2), their value is kept). Anything else
    (abc, 1,000, 1e5, full-width digits, surrounding spaces) does not match: the target would refuse or round it."""
    whole = precision - scale
    head = f"0*[0-9]{{1,{whole}}}" if whole else "0+"
    tail = f"[0-9]{{0,{scale}}}0*" if scale else "0*"
    bare = f"[0-9]{{1,{scale}}}0*" if scale else "0+"   # .5: no digit before the point
    return rf"^[+-]?(?:{head}(?:\.{tail})?|\.{bare})$"


def _decimal_rule(name: str, precision: int, scale: int) -> Rule:
    """schema.decimal on one column: not a number, or more digits than its NUMERIC(precision, scale) holds,
    is held at validate naming file, row and column, instead of failing the whole load (a cast error) or
    being rounded by the target."""
    return Rule(id="schema.decimal", kind="pattern",
                params={"columns": [name], "regex": decimal_regex(precision, scale)},
                message={"ja": f"数値でないか、桁数 (全体 {precision} 桁・小数 {scale} 桁) に収まりません",
                         "en": f"not a number, or more digits than NUMERIC({precision},{scale}) holds "
                               f"({precision - scale} before the point, {scale} after)"})


def _primary_key_rule(t, declared: Sequence[Rule]) -> Rule | None:
    """schema.primary_key: a duplicate primary key is held at validate (every row of it, with file and
    row), not found by the target at commit, failing the whole load. None when the rule file holds such
    duplicates already: an error `unique_key` on the key's columns or on fewer of them (juki's and
    kojin_juminzei's key.unique), so no row is reported twice."""
    key = set(t.primary_key)
    if not key or t.derive is not None:
        return None
    for r in declared:
        if r.kind == "unique_key" and r.severity == "error" and set(r.parsed_params().columns) <= key:
            return None
    labels = "・".join(next((c.ja for c in t.columns if c.name == k), k) for k in t.primary_key)
    return Rule(id="schema.primary_key", kind="unique_key", params={"columns": list(t.primary_key)},
                message={"ja": f"主キー ({labels}) が重複しています（重複した全行を保留）",
                         "en": f"duplicate primary key ({', '.join(t.primary_key)}): every row of it is held"})


def schema_rules(schema: TargetSchema, table: str, declared: Sequence[Rule] = ()) -> list[Rule]:
    """The rules the target schema implies for `table`: required, length, max_length, integer, decimal
    (a number within its precision and scale), date (with `<column>_fumei_flag` when the schema has it),
    code values, no private-use (外字) character in a text column that 文字同定 does not cover (not
    `moji: true`: the 外字 table applies to the moji columns only, so elsewhere such a character is a bare
    vendor code, schema.private_use), and the primary key unique unless `declared` (the table's rules
    from the rule file) holds its duplicates already."""
    t = schema.resolved_table(table)
    names = {c.name for c in t.columns}
    by_kind: dict[str, list[str]] = {}
    rules: list[Rule] = []
    plain_text = [c.name for c in t.columns if c.type == "text" and not c.moji]
    if plain_text:
        rules.append(Rule(id="schema.private_use", kind="no_private_use", params={"columns": plain_text}))
    for c in t.columns:
        if c.required:
            by_kind.setdefault("required", []).append(c.name)
        if c.type == "integer":
            by_kind.setdefault("integer", []).append(c.name)
        if c.length:
            rules.append(Rule(id="schema.length", kind="length", params={"columns": [c.name], "length": c.length}))
        if c.max_length:
            rules.append(Rule(id="schema.max_length", kind="max_length",
                              params={"columns": [c.name], "length": c.max_length}))
        if c.type == "decimal":
            rules.append(_decimal_rule(c.name, c.digits, c.scale))
        if c.type == "date":
            flag = f"{c.name}_fumei_flag"
            rules.append(Rule(id="schema.date", kind="date_valid",
                              params={"column": c.name, "fumei_flag": flag if flag in names else None}))
        if c.code_table:
            rules.append(Rule(id="schema.code_value", kind="code_value",
                              params={"columns": [c.name], "code_table": c.code_table}))
    head = [Rule(id=f"schema.{k}", kind=k, params={"columns": cols}) for k, cols in by_kind.items()]
    key = _primary_key_rule(schema.tables[table], declared)
    return head + rules + ([key] if key is not None else [])


def _record_key(keys: list[str]) -> pl.Expr:
    parts: list[pl.Expr] = []
    for i, k in enumerate(keys):
        parts += [pl.lit(("," if i else "") + f"{k}="), pl.col(k).cast(pl.String).fill_null("")]
    return pl.concat_str(parts)


def _lineage(name: str, dtype: pl.DataType, columns: set[str]) -> pl.Expr:
    return pl.col(name).cast(dtype) if name in columns else pl.lit(None, dtype)


def _run_phase(frame: pl.DataFrame, checks: list[tuple[Rule, Check]], meta: dict[str, str],
               keys: list[str]) -> list[pl.DataFrame]:
    """One quarantine frame per check (only failing rows). All masks are computed in one `select`
    (Polars evaluates the expressions in parallel); quarantine rows are built only for checks
    that failed somewhere."""
    cols = set(frame.columns)
    checks = [(rule, chk.prepare(frame) if chk.prepare is not None else chk) for rule, chk in checks]
    lf = frame.lazy()
    plain = [i for i, (_, chk) in enumerate(checks) if not chk.stages]
    masks = lf.select([checks[i][1].failed.fill_null(False).alias(f"m{i}") for i in plain]).collect() \
        if plain else pl.DataFrame()
    parts = []
    for i, (rule, chk) in enumerate(checks):
        if chk.stages:
            plan = lf
            for stage in chk.stages:
                plan = plan.with_columns(**stage)
            failing = plan.filter(chk.failed.fill_null(False))
        else:
            mask = masks.get_column(f"m{i}")
            if not mask.any():
                parts.append(None)
                continue
            failing = lf.filter(mask)
        parts.append(failing)
    plans = [_quarantine_rows(p, rule, chk, cols, meta, keys)
             for p, (rule, chk) in zip(parts, checks) if p is not None]
    done = iter(pl.collect_all(plans) if plans else [])
    return [next(done) if p is not None else _EMPTY for p in parts]


_EMPTY = quarantine.empty().with_columns(pl.lit(None, pl.UInt32).alias(_IDX))


def _rule_id(rule: Rule, chk: Check) -> str:
    """The rule id a check's findings carry: its own outcome's (kinds.Outcome), else the rule's."""
    return chk.outcome.id if chk.outcome is not None else rule.id


def _quarantine_rows(failing: pl.LazyFrame, rule: Rule, chk: Check, cols: set[str], meta: dict[str, str],
                     keys: list[str]) -> pl.LazyFrame:
    ja, en = (chk.outcome.ja, chk.outcome.en) if chk.outcome is not None else rule.messages()
    msg_ja, msg_en = pl.lit(ja), pl.lit(en)
    if chk.detail is not None:
        msg_ja = pl.concat_str(msg_ja, pl.lit(" ("), chk.detail, pl.lit(")"))
        detail_en = chk.detail_en if chk.detail_en is not None else chk.detail
        msg_en = pl.concat_str(msg_en, pl.lit(" ("), detail_en, pl.lit(")"))
    return failing.select(
        pl.col(_IDX),
        *(_lineage(c, dtype, cols).alias(name) for c, (name, dtype) in LINEAGE.items()),
        _record_key(keys).alias("record_key"),
        pl.lit(chk.column, pl.String).alias("column"),
        pl.lit(_rule_id(rule, chk)).alias("rule"),
        pl.lit(rule.severity).alias("severity"),
        (chk.value if chk.value is not None else pl.lit(None, pl.String)).cast(pl.String).alias("value"),
        msg_ja.alias("message_ja"),
        msg_en.alias("message_en"),
        **{k: pl.lit(v) for k, v in meta.items()},
    )


def _lineage_of(parts: list[pl.DataFrame], indexed: pl.LazyFrame, columns: list[str]) -> list[pl.DataFrame]:
    """`parts` with their lineage (row_id, source, source_line) read from `indexed` for their rows only:
    lineage is half the width of a projection, so leaving it out of it lowers the peak (−13 % at 2M persons)."""
    present = [c for c in LINEAGE if c in columns]
    ids = [p[_IDX] for p in parts if p.height]
    if not present or not ids:
        return parts
    found = (indexed.filter(pl.col(_IDX).is_in(pl.concat(ids).unique().implode()))
             .select(_IDX, *(pl.col(c).cast(LINEAGE[c][1]).alias(LINEAGE[c][0]) for c in present))
             .collect(engine="streaming"))
    names = [LINEAGE[c][0] for c in present]
    return [p.drop(names).join(found, on=_IDX, how="left", maintain_order="left").select(p.columns) if p.height else p
            for p in parts]


def _exprs(chk: Check) -> list[pl.Expr]:
    """A check's expressions: its mask, value, detail and the helper columns of its stages."""
    return [e for e in [chk.failed, chk.value, chk.detail, chk.detail_en] + [e for st in chk.stages for e in st.values()]
            if e is not None]


def _reads(chk: Check) -> list[str]:
    """The input columns a check's expressions name (helper columns of its stages and the engine's HELD* excluded)."""
    made = {name for stage in chk.stages for name in stage} | {HELD, HELD_BY}
    return [c for e in _exprs(chk) for c in e.meta.root_names() if c not in made]


def _held_rows(whole: pl.DataFrame, parts: list[pl.DataFrame], held_before: pl.DataFrame | None,
               reads: set[str], keys: list[str]) -> pl.DataFrame:
    """`whole` marked for phase 3: `HELD` (an error of phases 1 and 2 holds the row), `HELD_BY` (the first
    such error: rule, source and line; when a check reads it), and the records held before validation
    (`held_before`: their key, `HELD_BY`, and whatever columns of `whole` they carry) appended as held rows
    with no position (`_IDX` null), so a group or household sees them; validate_lazy drops their findings."""
    errors = [p.filter(pl.col("severity") == "error").select(_IDX, "rule", "source", "source_line")
              for p in parts if p.height]
    held = pl.concat(errors).unique(_IDX, keep="first", maintain_order=True) if errors else None
    ids = held[_IDX] if held is not None else pl.Series(_IDX, [], dtype=pl.UInt32)
    out = whole.with_columns(pl.col(_IDX).is_in(ids.implode()).alias(HELD))
    if HELD_BY in reads:
        why = (held.select(_IDX, held_by(pl.col("rule"), pl.col("source"), pl.col("source_line")).alias(HELD_BY))
               if held is not None else pl.DataFrame(schema={_IDX: pl.UInt32, HELD_BY: pl.String}))
        out = out.join(why, on=_IDX, how="left", maintain_order="left")
    if held_before is None or not held_before.height:
        return out
    known = [c for c in out.columns if c in held_before.columns and c not in (_IDX, HELD)]
    if not known:
        return out
    named = [pl.col(k).cast(pl.String).fill_null("").str.strip_chars() != "" for k in keys if k in known]
    ghosts = held_before.filter(pl.any_horizontal(named)) if named else held_before.clear()   # a key to group on
    ghosts = ghosts.select(*(pl.col(c).cast(out.schema[c], strict=False) for c in known))
    ghosts = ghosts.with_columns(pl.lit(True).alias(HELD))
    return pl.concat([out, ghosts], how="diagonal_relaxed").select(out.columns)


_RULE, _CHECK = "__rule", "__check"   # which rule of the rule list, which of its checks (RowLocal findings)


_JST = dt.timezone(dt.timedelta(hours=9))
_RUN_STAMP = re.compile(r"([0-9]{8}T[0-9]{6})Z-")


def run_date_of(run_id: str) -> dt.date:
    """The run's date, as a `date_range` rule's `max: run_date` reads it: the day in Japan (the register's
    dates are Japan's) at the UTC time the run id starts with (ikou.context.new_run_id), so every stage and a
    re-run of the report agree; a run id without one (a test's `R1`): today in Japan."""
    m = _RUN_STAMP.match(str(run_id))
    when = (dt.datetime.strptime(m.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=dt.timezone.utc) if m
            else dt.datetime.now(dt.timezone.utc))
    return when.astimezone(_JST).date()


def _build(schema: TargetSchema, table: str, rules: RuleSet, columns: list[str], dantai_code: str,
           source_frames: Mapping | None, *, only_row_local: bool = False, held_before: pl.DataFrame | None = None,
           run_date: dt.date | None = None):
    """The checks of `table`'s rules as (rule, check, kind), with each one's (rule position, check
    position): the signature that ties a check found in the one pass to the same check here."""
    if table not in schema.tables:
        raise ConfigError(f"validate: table {table!r} is not in schema {schema.gyomu}")
    unknown = sorted(set(rules.tables) - set(schema.tables))
    if unknown:
        raise ConfigError(f"validation rules name tables not in schema {schema.gyomu}: {unknown}")
    t = schema.resolved_table(table)
    missing = [c.name for c in t.columns if c.name not in columns]
    if missing:
        raise ConfigError(f"validate {table}: columns of the target schema missing from the data: {missing}")
    declared = list(rules.tables.get(table, []))
    rule_list = (schema_rules(schema, table, declared) if rules.schema_rules else []) + declared
    ctx = Context(table_name=table, table=t, schema=schema, columns=frozenset(columns),
                  dantai_code=dantai_code, source_frames=dict(source_frames or {}), held_before=held_before,
                  run_date=run_date)
    built: list[tuple[Rule, Check, Kind]] = []
    signature: list[tuple[int, int]] = []
    for r, rule in enumerate(rule_list):
        k = KINDS[rule.kind]
        if only_row_local and not (k.row_local and k.phase == 1):
            continue
        for c, chk in enumerate(k.build(rule.parsed_params(), ctx)):
            built.append((rule, chk, k))
            signature.append((r, c))
    return built, signature


def _meta(run_id: str, dantai_code: str, table: str) -> dict[str, str]:
    return {"run_id": run_id, "dantai_code": dantai_code, "stage": "validate", "table": table}


class RowLocal:
    """A table's row-local phase-1 checks, run on each batch where its rows are made (ikou.onepass), so
    the validate step reads the rows once, for the table-wide rules only. `findings` is what
    `validate_lazy(row_local=…)` takes: the same quarantine rows the batches there would give."""

    def __init__(self, *, table: str, schema: TargetSchema, rules: RuleSet, columns: list[str], run_id: str,
                 dantai_code: str, run_date: dt.date | None = None):
        self.built, self.signature = _build(schema, table, rules, columns, dantai_code, None, only_row_local=True,
                                            run_date=run_date or run_date_of(run_id))
        self.meta, self.keys = _meta(run_id, dantai_code, table), list(schema.resolved_table(table).primary_key)
        self._found: list[pl.DataFrame] = []
        self.rows = 0

    def check(self, batch: pl.DataFrame) -> None:
        """Check the next batch (its rows follow the ones checked before)."""
        found = _run_phase(batch.with_row_index(_IDX, offset=self.rows), [b[:2] for b in self.built],
                           self.meta, self.keys)
        self._found += [f.with_columns(pl.lit(r, pl.Int32).alias(_RULE), pl.lit(c, pl.Int32).alias(_CHECK))
                        for f, (r, c) in zip(found, self.signature) if f.height]
        self.rows += batch.height

    def findings(self) -> pl.DataFrame:
        if self._found:
            return pl.concat(self._found, how="vertical_relaxed")
        return _EMPTY.with_columns(pl.lit(None, pl.Int32).alias(_RULE), pl.lit(None, pl.Int32).alias(_CHECK))


def validate_lazy(source: pl.LazyFrame, *, table: str, schema: TargetSchema, rules: RuleSet, run_id: str,
                  dantai_code: str, source_frames: Mapping[str, pl.DataFrame | pl.LazyFrame] | None = None,
                  batch_rows: int | None = None, row_local: pl.DataFrame | None = None,
                  held_before: pl.DataFrame | None = None, run_date: dt.date | None = None) -> Findings:
    """Check the rows of `source` (target `table`) against the schema's implied rules and the rule file.

    Row-local checks read `batch_rows` rows at a time (None: all at once), unless `row_local` holds
    what they found already (`RowLocal.findings`, positions counted in `source`); the others read
    the whole input projected to the columns they name. `source` is read several times, so it
    should be a scan (or an in-memory frame), not an expensive plan. `run_date`: the date a `date_range`
    rule's `max: run_date` means (default: `run_date_of(run_id)`).
    """
    run_date = run_date or run_date_of(run_id)
    indexed = source.with_row_index(_IDX)
    # not source.collect_schema(): on a scan, that stops later slices being pushed down (polars
    # 2.1.0: each batch then decodes the whole file; 10× the time, 2× the memory at 2M rows)
    columns = [c for c in indexed.collect_schema().names() if c != _IDX]
    built, signature = _build(schema, table, rules, columns, dantai_code, source_frames, held_before=held_before,
                              run_date=run_date)
    t = schema.resolved_table(table)
    meta = _meta(run_id, dantai_code, table)
    keys = list(t.primary_key)
    rows = source.select(pl.len()).collect().item()
    local = [i for i, (_, _, k) in enumerate(built) if k.row_local and k.phase == 1]
    if row_local is None and local:   # no one pass before (the staged steps, `validate`): here, batch by batch
        finder = RowLocal(table=table, schema=schema, rules=rules, columns=columns, run_id=run_id,
                          dantai_code=dantai_code, run_date=run_date)
        step = batch_rows or max(rows, 1)
        for start in range(0, rows, step):
            finder.check(indexed.slice(start, step).collect().drop(_IDX))   # slices of `indexed`: see above
        row_local = finder.findings()
    parts: dict[int, pl.DataFrame] = {}
    for i in local:   # what RowLocal found, matched to these checks by (rule, check) position
        r, c = signature[i]
        parts[i] = row_local.filter((pl.col(_RULE) == r) & (pl.col(_CHECK) == c)).drop(_RULE, _CHECK)

    # the others (and phase 2, which needs all of phase 1) on a projection: row position, key and
    # the columns their expressions name; lineage (half the width) only for the rows they hold
    # phase 3 (groups held together) sees every row, marked with whether phases 1 and 2 hold it
    wide = {ph: [i for i, (_, _, k) in enumerate(built) if k.phase == ph and i not in local] for ph in (1, 2, 3)}
    if wide[1] or wide[2] or wide[3]:
        later = wide[1] + wide[2] + wide[3]
        names = [_IDX, *keys, *(c for i in later for c in _reads(built[i][1]))]
        whole = indexed.select(list(dict.fromkeys(names))).collect()
        parts.update(zip(wide[1], _run_phase(whole, [built[i][:2] for i in wide[1]], meta, keys)))
        held = _held([parts[i] for i in local + wide[1]])
        narrow = whole.filter(~pl.col(_IDX).is_in(held.implode())) if held.len() else whole   # survivors
        parts.update(zip(wide[2], _run_phase(narrow, [built[i][:2] for i in wide[2]], meta, keys)))
        del narrow
        # lineage before phase 3, which says where the rows it sees held are (HELD_BY)
        parts.update(zip(wide[1] + wide[2], _lineage_of([parts[i] for i in wide[1] + wide[2]], indexed, columns)))
        if wide[3]:
            reads = {c for i in wide[3] for e in _exprs(built[i][1]) for c in e.meta.root_names()}
            whole = _held_rows(whole, [parts[i] for i in local + wide[1] + wide[2]], held_before, reads, keys)
            found = _run_phase(whole, [built[i][:2] for i in wide[3]], meta, keys)
            # a record held before validation (no position) is never reported here
            parts.update(zip(wide[3], (f.filter(pl.col(_IDX).is_not_null()) for f in found)))
            parts.update(zip(wide[3], _lineage_of([parts[i] for i in wide[3]], indexed, columns)))
        del whole

    ordered = sorted(range(len(built)), key=lambda i: built[i][2].phase)   # phase 1, 2, then 3
    counts = pl.DataFrame(
        {"rule": [_rule_id(*built[i][:2]) for i in ordered], "severity": [built[i][0].severity for i in ordered],
         "column": [built[i][1].column for i in ordered], "rows_failed": [parts[i][_IDX].n_unique() for i in ordered]},
        schema={"rule": pl.String, "severity": pl.String, "column": pl.String, "rows_failed": pl.Int64},
    )
    q = quarantine.concat([parts[i].drop(_IDX) for i in ordered])
    return Findings(quarantine=q, rule_counts=counts, rows=rows, held=_held([parts[i] for i in ordered]))


def validate(df: pl.DataFrame, *, table: str, schema: TargetSchema, rules: RuleSet, run_id: str,
             dantai_code: str, source_frames: Mapping[str, pl.DataFrame | pl.LazyFrame] | None = None,
             batch_rows: int | None = None, held_before: pl.DataFrame | None = None,
             run_date: dt.date | None = None) -> ValidationResult:
    """`validate_lazy` on a DataFrame, good rows included (by default the whole frame is one batch)."""
    f = validate_lazy(df.lazy(), table=table, schema=schema, rules=rules, run_id=run_id, dantai_code=dantai_code,
                      source_frames=source_frames, batch_rows=batch_rows, held_before=held_before,
                      run_date=run_date)
    return ValidationResult(good=f.good(df.lazy()).collect(), quarantine=f.quarantine, rule_counts=f.rule_counts,
                            rows=f.rows)


def _held(parts: list[pl.DataFrame]) -> pl.Series:
    errs = [p.filter(pl.col("severity") == "error")[_IDX] for p in parts if p.height]
    return pl.concat(errs).unique() if errs else pl.Series(_IDX, [], dtype=pl.UInt32)


def check_threshold(counts: Mapping[str, int], max_rate: float, table: str, *, run_id: str | None = None,
                    top: list[tuple[str, str | None, int]] | None = None) -> None:
    """Stop the run when the share of rows held by errors exceeds `max_rate` (a mapping mistake,
    not dirty data). `counts` needs 'rows' and 'quarantined' (ValidationResult.counts). `top`
    (`top_rules`): the rules holding the most rows, named in both languages so that the line says which
    mapping line to look at without opening the report; rule ids and column names only, never a value."""
    rows, held = counts["rows"], counts["quarantined"]
    rate = held / rows if rows else 0.0
    if rate > max_rate:
        most_en = ", ".join(f"{r}{f' on {c}' if c else ''} ({n} row{'' if n == 1 else 's'})" for r, c, n in top or [])
        most_ja = "、".join(f"{r}{f' ({c})' if c else ''} {n}行" for r, c, n in top or [])
        err = ThresholdError(
            f"{table}: {held} of {rows} rows quarantined ({rate:.2%}) exceeds the threshold {max_rate:.2%}: "
            f"a mapping mistake must stop the rehearsal" + (f"; most held by: {most_en}" if most_en else ""),
            run_id=run_id)
        if most_ja:
            err.ja = f"{ThresholdError.ja}: {table} {held}/{rows}行を保留。主な保留理由: {most_ja}"
        raise err


# rules a threshold failure names: the few that hold most rows (one mistaken mapping line is usually one or two)
TOP_RULES = 3


def top_rules(quarantine: pl.DataFrame, table: str, n: int = TOP_RULES) -> list[tuple[str, str | None, int]]:
    """The error rules holding the most distinct rows of `table`: (rule id, column, rows), most first."""
    err = quarantine.filter((pl.col("table") == table) & (pl.col("severity") == "error"))
    top = (err.group_by("rule", "column").agg(pl.col("row_id").n_unique().alias("rows"))
           .sort(["rows", "rule", "column"], descending=[True, False, False], nulls_last=True).head(n))
    return [(r, c, int(k)) for r, c, k in top.iter_rows()]


def check_conservation(extracted: int, loaded: int, quarantined: int, table: str, stage: str, *,
                       run_id: str | None = None) -> None:
    """extracted = loaded + quarantined, or a row was lost or invented between stages."""
    if extracted != loaded + quarantined:
        from ikou.reports.labels import stage as stage_ja   # the PM's word for the stage (投入, 検証 …)

        raise ConservationError(
            f"{table} at {stage}: {extracted} rows in ≠ {loaded} passed + {quarantined} quarantined "
            f"(difference {extracted - loaded - quarantined:+d})", run_id=run_id,
            ja=f"{ConservationError.ja}: {table} ({stage_ja(stage)}) 入力 {extracted} 件 ≠ 通過 {loaded} 件 "
               f"+ 保留 {quarantined} 件 (差 {extracted - loaded - quarantined:+d} 件)")


def check_tables(tables: Mapping[str, Mapping], max_rate: float, *, run_id: str | None = None,
                 loaded: bool = True, quarantine: pl.DataFrame | None = None) -> None:
    """Run-level checks over the per-table counts of a run (summary `tables`): the quarantine rate of
    each source-fed table, and, once loaded, that every extracted record is loaded or quarantined.
    `quarantine` (the run's, every stage): a threshold failure names the rules holding most rows."""
    for name, t in tables.items():
        if t.get("derived"):
            continue
        counts = {"rows": t["extracted"], "quarantined": t["quarantined"]}
        rate = counts["quarantined"] / counts["rows"] if counts["rows"] else 0.0
        top = top_rules(quarantine, name) if quarantine is not None and rate > max_rate else None
        check_threshold(counts, max_rate, name, run_id=run_id, top=top)
        if loaded:
            check_conservation(t["extracted"], t["loaded"], t["quarantined"], name, "load", run_id=run_id)
            check_conservation(t["validated"], t["loaded"], 0, name, "load", run_id=run_id)
