"""Apply a mapping spec to a staged extract: one `select` over whole columns, errors as data.

Rows where any op reports an error go to the quarantine (one row per failing column, with the
source value verbatim); warnings are listed but the row passes. Where a column gets its value is
the mapping YAML: one line per target column.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ikou.staging import LINEAGE, ROW_ID, SOURCE, SOURCE_LINE
from ikou import checkdigit, quarantine as q
from ikou.mappings import ops
from ikou.schema import POLARS_TYPES, TargetSchema
from ikou.mappings.spec import MappingSpec, check_mapping


# What a 団体コード that is not the run's is, before anyone reads it as another 団体's data (_dantai_finding)
DANTAI_RULES = {
    "isolation.own_code_written_otherwise": (
        "この団体の団体コードが別の書き方で書かれています（空白・全角数字・検査数字のない5桁など。他団体のデータではありませんが、"
        "標準の6桁の団体コードではないため保留）",
        "the run's own 団体コード written another way (a blank, full-width digits, the 5 digits without the check "
        "digit …): not another 団体's data, but held, as it is not the standard's 6-digit code"),
    "format.dantai_code": (
        "団体コードではありません（団体コードは半角6桁の数字で、検査数字が正しいもの。どの団体のコードでもないため保留）",
        "not a valid 団体コード (6 ASCII digits with a valid check digit): no 団体's code, held"),
}
ops.declare_rules("mappings.engine", DANTAI_RULES)


def _dantai_finding(value: pl.Expr, dantai_code: str) -> pl.Expr:
    """The rule a mapped 団体コード other than the run's is held by (null: the run's own, or none given).

    Every such row is held, as before; what differs is what it is called. The run's own code with a blank,
    in full width or as its 5 digits without the check digit (legacy systems) is a format difference, and
    no valid code at all (999751: a wrong check digit) is no 団体's: called `isolation.dantai_mismatch`
    ("another 団体's data") a PM would open a data-isolation incident over either. Only a valid code of
    another 団体 (also once blanks and full width are folded: ９９９７３３ is 999733's) is that."""
    v = value.cast(pl.String)
    folded = v.str.normalize("NFKC").str.strip_chars()
    return (pl.when(v.is_null() | (v == pl.lit(dantai_code))).then(pl.lit(None, pl.String))
            .when(folded.is_in([dantai_code, dantai_code[:5]]).fill_null(False))
            .then(pl.lit("isolation.own_code_written_otherwise"))
            .when(~checkdigit.dantai_code_valid(folded).fill_null(False)).then(pl.lit("format.dantai_code"))
            .otherwise(pl.lit("isolation.dantai_mismatch")))


@dataclass
class MapResult:
    frame: pl.DataFrame        # lineage + target columns, typed per the schema
    quarantine: pl.DataFrame   # errors (row dropped) and warnings (row kept), stage='map'
    rows_in: int
    rows_out: int


def _record_key(pk: list[str], available: set[str], legacy: set[str] = frozenset()) -> pl.Expr:
    """`k=value,…` over the target key columns the mapping fills. Where the op gave a key column no value
    (a code it does not know: the row is held for it), the legacy value as read (`__legacy_<k>`, for the
    columns in `legacy`), so that the record is named by what the legacy system holds, never by a blank."""
    parts = []
    for k in (k for k in pk if k in available):
        value = pl.col(k).cast(pl.String)
        if k in legacy:
            value = pl.coalesce(value, pl.col(f"__legacy_{k}"))
        parts.append(pl.format(f"{k}={{}}", value.fill_null("")))
    return pl.concat_str(parts, separator=",") if parts else pl.lit(None, pl.String)


def _legacy_keys(spec: MappingSpec, pk: list[str]) -> dict[str, str]:
    """Target key column → the source column its (first) mapping line reads, for the record_key of a held row;
    not for a key renumbered through a crosswalk (an op with `prepare`: new_key), where a legacy key in the
    slot of a new number would name another record."""
    out: dict[str, str] = {}
    for c in spec.columns:
        if c.target in pk and c.from_ and ops.OPS[c.op].prepare is None:
            out.setdefault(c.target, c.from_)
    return out


def apply_mapping(df: pl.DataFrame, spec: MappingSpec, schema: TargetSchema, *, run_id: str,
                  dantai_code: str, prepared: dict | None = None) -> MapResult:
    """`prepared`: what the ops' `prepare` gave for this source, by target column (mappings.step)."""
    check_mapping(spec, schema, f"mapping for {spec.target}")   # load_mapping did; a spec built in code too
    table = schema.tables[spec.target]
    ctx = ops.OpContext(schema=schema, prepared=dict(prepared or {}))
    values: list[pl.Expr] = []
    checks: list[tuple[str, str, str | None, str]] = []   # (kind, target, from, check column)
    lookups: list[tuple[str, pl.DataFrame]] = []          # (source column, per-value result)
    direct_checks: list[pl.Expr] = []

    def add_check(kind: str, c, expr: pl.Expr, sink: list) -> None:
        name = f"__chk{len(checks)}"
        # a line joining several columns (a list `from`) names no one source column for the finding's value
        checks.append((kind, c.target, c.from_ if isinstance(c.from_, str) else None, name))
        sink.append(expr.alias(name))

    pre: dict[str, pl.Expr] = {}                           # shared evaluations for the direct ops
    for c in spec.columns:
        out = ops.build(c, ctx)
        if c.op in ops.PER_VALUE and isinstance(c.from_, str):   # a joined line (list `from`): as a whole column
            # Evaluate once per distinct source value, join back by value.
            exprs = [pl.col(c.from_).alias("__value"), out.value.alias(c.target)]
            exprs += [e.alias(name) for name, e in out.extra.items()]
            for kind, e in (("error", out.error), ("warning", out.warning)):
                if e is not None:
                    add_check(kind, c, e, exprs)
            lookups.append((c.from_, df.select(pl.col(c.from_).unique()).with_columns(**out.pre).select(exprs)))
            continue
        pre |= out.pre
        values.append(out.value.alias(c.target))
        values += [e.alias(name) for name, e in out.extra.items()]
        for kind, e in (("error", out.error), ("warning", out.warning)):
            if e is not None:
                add_check(kind, c, e, direct_checks)
    # a row of another 団体 never passes: every column the schema says holds the 団体コード (`dantai: true`,
    # by default the one named dantai_code) must hold the run's; what else it holds is named (_dantai_finding)
    for col in (col for col in table.columns if col.holds_dantai_code):
        dc = next((c for c in spec.columns if c.target == col.name), None)
        if dc is not None:
            add_check("error", dc, _dantai_finding(ops.build(dc, ctx).value, dantai_code), direct_checks)

    # One lookup per source column (ops sharing a column share its join), each joined to that
    # column alone: joining the wide frame would copy every column once per lookup.
    by_source: dict[str, pl.DataFrame] = {}
    for src, lookup in lookups:
        by_source[src] = (lookup if src not in by_source else
                          by_source[src].join(lookup, on="__value", how="left", nulls_equal=True))
    base = df.lazy().with_columns(**pre).select(*[pl.col(c) for c in LINEAGE], *values, *direct_checks)
    parts = [df.lazy().select(pl.col(src).alias("__value"))
             .join(lookup.lazy(), on="__value", how="left", nulls_equal=True, maintain_order="left")
             .drop("__value") for src, lookup in by_source.items()]
    mapped = pl.concat(pl.collect_all([base, *parts]), how="horizontal")

    # Type every declared column (missing ones as null) in schema order.
    typed = [pl.col(ROW_ID), pl.col(SOURCE), pl.col(SOURCE_LINE)]
    for col in table.columns:
        dtype = POLARS_TYPES[col.type]
        typed.append((pl.col(col.name) if col.name in mapped.columns else pl.lit(None)).cast(dtype).alias(col.name))

    # All findings in one pass: unpivot the check columns, keep the hits, then fetch the source
    # values of just those rows.
    check_names = [chk for *_, chk in checks]
    meta = pl.DataFrame({"__check": check_names, "column": [t for _, t, _, _ in checks],
                         "severity": [k for k, *_ in checks], "__src": [s for _, _, s, _ in checks]},
                        schema={"__check": pl.String, "column": pl.String, "severity": pl.String, "__src": pl.String})
    hits = (mapped.lazy()
            .select(ROW_ID, SOURCE, SOURCE_LINE, *check_names)
            .unpivot(on=check_names, index=[ROW_ID, SOURCE, SOURCE_LINE], variable_name="__check", value_name="rule")
            .filter(pl.col("rule").is_not_null())
            .collect()) if check_names else pl.DataFrame()
    findings = []
    if hits.height:
        hits = hits.join(meta, on="__check", how="left")
        rows = mapped.filter(pl.col(ROW_ID).is_in(hits[ROW_ID].unique().implode()))
        legacy = _legacy_keys(spec, table.primary_key)
        if legacy:   # the legacy key values as read (mappings.ops.read_code), for a key column the op left null
            rows = rows.join(df.select(ROW_ID, *[ops.read_code(pl.col(s).cast(pl.String)).alias(f"__legacy_{t}")
                                                 for t, s in legacy.items()]), on=ROW_ID, how="left")
        keys = rows.select(ROW_ID, _record_key(table.primary_key, set(mapped.columns), set(legacy)).alias("record_key"))
        srcs = sorted({s for s in meta["__src"].drop_nulls()})
        values = (df.filter(pl.col(ROW_ID).is_in(hits[ROW_ID].unique().implode()))
                  .select(ROW_ID, *[pl.col(c).cast(pl.String) for c in srcs])
                  .unpivot(on=srcs, index=ROW_ID, variable_name="__src", value_name="value")) if srcs else None
        hits = hits.join(keys, on=ROW_ID, how="left")
        if values is not None:
            hits = hits.join(values, on=[ROW_ID, "__src"], how="left")
        findings.append(hits.select(
            pl.col(ROW_ID).alias("row_id"), pl.col(SOURCE).alias("source"), pl.col(SOURCE_LINE).alias("source_line"),
            "rule", "record_key", "column", "severity",
            (pl.col("value") if values is not None else pl.lit(None, pl.String)).alias("value")))
    qdf = q.concat(findings)
    if qdf.height:
        msgs = pl.DataFrame(
            [(r, *ops.message(r)) for r in qdf["rule"].unique().to_list()],
            schema={"rule": pl.String, "message_ja": pl.String, "message_en": pl.String}, orient="row")
        qdf = q.conform(qdf.drop("message_ja", "message_en").join(msgs, on="rule", how="left"))
    qdf = qdf.with_columns(pl.lit(run_id).alias("run_id"), pl.lit(dantai_code).alias("dantai_code"),
                           pl.lit("map").alias("stage"), pl.lit(spec.target).alias("table"))
    bad_ids = qdf.filter(pl.col("severity") == "error")["row_id"].unique()
    good = mapped.filter(~pl.col(ROW_ID).is_in(bad_ids.implode())).select(typed)
    return MapResult(frame=good, quarantine=q.conform(qdf), rows_in=df.height, rows_out=good.height)
