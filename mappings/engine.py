"""Apply a mapping spec to a staged extract: one `select` over whole columns, errors as data.

Rows where any op reports an error go to the quarantine (one row per failing column, with the
source value verbatim); warnings are listed but the row passes. Where a column gets its value is
the mapping YAML: one line per target column.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from extractors.lineage import LINEAGE, ROW_ID, SOURCE, SOURCE_LINE
from ikou import quarantine as q
from mappings import ops
from mappings.schema import POLARS_TYPES, TargetSchema
from mappings.spec import MappingSpec


@dataclass
class MapResult:
    frame: pl.DataFrame        # lineage + target columns, typed per the schema
    quarantine: pl.DataFrame   # errors (row dropped) and warnings (row kept), stage='map'
    rows_in: int
    rows_out: int


def _record_key(pk: list[str], available: set[str]) -> pl.Expr:
    parts = [pl.format(f"{k}={{}}", pl.col(k).cast(pl.String).fill_null("")) for k in pk if k in available]
    return pl.concat_str(parts, separator=",") if parts else pl.lit(None, pl.String)


def apply_mapping(df: pl.DataFrame, spec: MappingSpec, schema: TargetSchema, *, run_id: str,
                  dantai_code: str) -> MapResult:
    table = schema.tables[spec.target]
    ctx = ops.OpContext(schema=schema)
    values: list[pl.Expr] = []
    checks: list[tuple[str, str, str | None, pl.Expr]] = []   # (kind, target, from, expr)
    for c in spec.columns:
        out = ops.build(c, ctx)
        values.append(out.value.alias(c.target))
        values += [e.alias(name) for name, e in out.extra.items()]
        if out.error is not None:
            checks.append(("error", c.target, c.from_, out.error))
        if out.warning is not None:
            checks.append(("warning", c.target, c.from_, out.warning))
    declared = {col.name for col in table.columns}
    produced = [c.target for c in spec.columns] + [n for c in spec.columns for n in (c.fumei_flag, c.fumei_hyoki) if n]
    unknown = [n for n in produced if n not in declared]
    if unknown:
        raise ValueError(f"mapping {spec.target}: columns not in the target schema: {unknown}")
    if "dantai_code" in declared and "dantai_code" in produced:
        dc = next(c for c in spec.columns if c.target == "dantai_code")
        checks.append(("error", "dantai_code", dc.from_,
                       pl.when(ops.build(dc, ctx).value != pl.lit(dantai_code))
                       .then(pl.lit("isolation.dantai_mismatch"))))

    check_cols = [e.alias(f"__chk{i}") for i, (_, _, _, e) in enumerate(checks)]
    mapped = df.select(*[pl.col(c) for c in LINEAGE], *values, *check_cols)

    # Type every declared column (missing ones as null) in schema order.
    typed = [pl.col(ROW_ID), pl.col(SOURCE), pl.col(SOURCE_LINE)]
    for col in table.columns:
        dtype = POLARS_TYPES[col.type]
        typed.append((pl.col(col.name) if col.name in mapped.columns else pl.lit(None)).cast(dtype).alias(col.name))

    findings = []
    for i, (kind, target, src, _) in enumerate(checks):
        chk = f"__chk{i}"
        hit = mapped.lazy().filter(pl.col(chk).is_not_null()).select(
            pl.col(ROW_ID).alias("row_id"), pl.col(SOURCE).alias("source"), pl.col(SOURCE_LINE).alias("source_line"),
            pl.col(chk).alias("rule"),
            pl.lit(None, pl.String).alias("value"),
            _record_key(table.primary_key, set(mapped.columns)).alias("record_key"),
        ).with_columns(pl.lit(target).alias("column"), pl.lit(kind).alias("severity"))
        if src:
            hit = hit.join(df.lazy().select(pl.col(ROW_ID).alias("row_id"), pl.col(src).alias("__v")),
                           on="row_id", how="left").with_columns(pl.col("__v").alias("value")).drop("__v")
        findings.append(hit.collect())
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
