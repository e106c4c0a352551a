"""The validation engine: schema-implied rules + rule-file rules → good rows, quarantine, counts.

Every rule is a set of Polars expressions evaluated over whole columns; all rules of a phase are
collected together (`pl.collect_all`), so Polars runs them in parallel. Errors hold the row back,
warnings only list it. Phase 2 rules (households …) run on the rows that survived phase 1, because
that is what will be loaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import polars as pl

from ikou import quarantine
from ikou.errors import ConfigError, ConservationError, ThresholdError
from mappings.schema import TargetSchema
from validators.kinds import KINDS, Check, Context
from validators.spec import Rule, RuleSet

LINEAGE = ("_row_id", "_source", "_source_line")
_IDX = "__vidx"
_KEY = "__record_key"


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


def schema_rules(schema: TargetSchema, table: str) -> list[Rule]:
    """The rules the target schema implies for `table`: required, length, max_length, integer,
    date (with `<column>_fumei_flag` when the schema has it), code values."""
    t = schema.resolved_table(table)
    names = {c.name for c in t.columns}
    by_kind: dict[str, list[str]] = {}
    rules: list[Rule] = []
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
        if c.type == "date":
            flag = f"{c.name}_fumei_flag"
            rules.append(Rule(id="schema.date", kind="date_valid",
                              params={"column": c.name, "fumei_flag": flag if flag in names else None}))
        if c.code_table:
            rules.append(Rule(id="schema.code_value", kind="code_value",
                              params={"columns": [c.name], "code_table": c.code_table}))
    head = [Rule(id=f"schema.{k}", kind=k, params={"columns": cols}) for k, cols in by_kind.items()]
    return head + rules


def _record_key(keys: list[str]) -> pl.Expr:
    parts: list[pl.Expr] = []
    for i, k in enumerate(keys):
        parts += [pl.lit(("," if i else "") + f"{k}="), pl.col(k).cast(pl.String).fill_null("")]
    return pl.concat_str(parts)


def _lineage(name: str, dtype: pl.DataType, columns: set[str]) -> pl.Expr:
    return pl.col(name).cast(dtype) if name in columns else pl.lit(None, dtype)


def _run_phase(frame: pl.DataFrame, checks: list[tuple[Rule, Check]], meta: dict[str, str]) -> list[pl.DataFrame]:
    """One quarantine frame per check (only failing rows). All masks are computed in one `select`
    (Polars evaluates the expressions in parallel); quarantine rows are built only for checks
    that failed somewhere."""
    cols = set(frame.columns)
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
    plans = [_quarantine_rows(p, rule, chk, cols, meta) for p, (rule, chk) in zip(parts, checks) if p is not None]
    done = iter(pl.collect_all(plans) if plans else [])
    empty = _quarantine_rows(lf.head(0), None, None, cols, meta, empty=True)
    return [next(done) if p is not None else empty for p in parts]


def _quarantine_rows(failing: pl.LazyFrame, rule: Rule | None, chk: Check | None, cols: set[str],
                     meta: dict[str, str], empty: bool = False) -> pl.LazyFrame | pl.DataFrame:
    if empty:
        return quarantine.empty().with_columns(pl.lit(None, pl.UInt32).alias(_IDX))
    ja, en = rule.messages()
    msg_ja, msg_en = pl.lit(ja), pl.lit(en)
    if chk.detail is not None:
        msg_ja = pl.concat_str(msg_ja, pl.lit(" ("), chk.detail, pl.lit(")"))
        msg_en = pl.concat_str(msg_en, pl.lit(" ("), chk.detail, pl.lit(")"))
    return failing.select(
        pl.col(_IDX),
        _lineage("_row_id", pl.Int64, cols).alias("row_id"),
        _lineage("_source", pl.String, cols).alias("source"),
        _lineage("_source_line", pl.Int64, cols).alias("source_line"),
        pl.col(_KEY).alias("record_key"),
        pl.lit(chk.column, pl.String).alias("column"),
        pl.lit(rule.id).alias("rule"),
        pl.lit(rule.severity).alias("severity"),
        (chk.value if chk.value is not None else pl.lit(None, pl.String)).cast(pl.String).alias("value"),
        msg_ja.alias("message_ja"),
        msg_en.alias("message_en"),
        **{k: pl.lit(v) for k, v in meta.items()},
    )


def validate(df: pl.DataFrame, *, table: str, schema: TargetSchema, rules: RuleSet, run_id: str,
             dantai_code: str, source_frames: dict[str, pl.DataFrame] | None = None) -> ValidationResult:
    """Check `df` (rows of target `table`) against the schema's implied rules and the rule file."""
    if table not in schema.tables:
        raise ConfigError(f"validate: table {table!r} is not in schema {schema.gyomu}")
    unknown = sorted(set(rules.tables) - set(schema.tables))
    if unknown:
        raise ConfigError(f"validation rules name tables not in schema {schema.gyomu}: {unknown}")
    t = schema.resolved_table(table)
    missing = [c.name for c in t.columns if c.name not in df.columns]
    if missing:
        raise ConfigError(f"validate {table}: columns of the target schema missing from the data: {missing}")
    rule_list = (schema_rules(schema, table) if rules.schema_rules else []) + list(rules.tables.get(table, []))
    ctx = Context(table_name=table, table=t, schema=schema, columns=frozenset(df.columns),
                  dantai_code=dantai_code, source_frames=source_frames or {})
    built: list[tuple[Rule, Check, int]] = []
    for rule in rule_list:
        k = KINDS[rule.kind]
        for chk in k.build(rule.parsed_params(), ctx):
            built.append((rule, chk, k.phase))

    meta = {"run_id": run_id, "dantai_code": dantai_code, "stage": "validate", "table": table}
    work = df.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias(_IDX),
                           _record_key(t.primary_key).alias(_KEY))
    first = [(r, c) for r, c, ph in built if ph == 1]
    second = [(r, c) for r, c, ph in built if ph == 2]
    phase1 = _run_phase(work, first, meta)
    held = _held(phase1)
    survivors = work.filter(~_mask(held, work.height)) if held.len() else work
    phase2 = _run_phase(survivors, second, meta)
    parts = phase1 + phase2
    held = _held(parts)
    ordered = first + second   # parts[i] belongs to ordered[i]

    good = df.filter(~_mask(held, df.height)) if held.len() else df
    counts = pl.DataFrame(
        {"rule": [r.id for r, _ in ordered], "severity": [r.severity for r, _ in ordered],
         "column": [c.column for _, c in ordered], "rows_failed": [p[_IDX].n_unique() for p in parts]},
        schema={"rule": pl.String, "severity": pl.String, "column": pl.String, "rows_failed": pl.Int64},
    )
    q = quarantine.concat([p.drop(_IDX) for p in parts])
    return ValidationResult(good=good, quarantine=q, rule_counts=counts, rows=df.height)


def _mask(indices: pl.Series, n: int) -> pl.Series:
    return pl.Series("held", [False], dtype=pl.Boolean).extend_constant(False, n - 1).scatter(indices, True)


def _held(parts: list[pl.DataFrame]) -> pl.Series:
    errs = [p.filter(pl.col("severity") == "error")[_IDX] for p in parts if p.height]
    return pl.concat(errs).unique() if errs else pl.Series(_IDX, [], dtype=pl.UInt32)


def check_threshold(counts: Mapping[str, int], max_rate: float, table: str, *, run_id: str | None = None) -> None:
    """Stop the run when the share of rows held by errors exceeds `max_rate` (a mapping mistake,
    not dirty data). `counts` needs 'rows' and 'quarantined' (ValidationResult.counts)."""
    rows, held = counts["rows"], counts["quarantined"]
    rate = held / rows if rows else 0.0
    if rate > max_rate:
        raise ThresholdError(
            f"{table}: {held} of {rows} rows quarantined ({rate:.2%}) exceeds the threshold {max_rate:.2%}",
            run_id=run_id)


def check_conservation(extracted: int, loaded: int, quarantined: int, table: str, stage: str, *,
                       run_id: str | None = None) -> None:
    """extracted = loaded + quarantined, or a row was lost or invented between stages."""
    if extracted != loaded + quarantined:
        raise ConservationError(
            f"{table} at {stage}: {extracted} rows in ≠ {loaded} passed + {quarantined} quarantined "
            f"(difference {extracted - loaded - quarantined:+d})", run_id=run_id)
