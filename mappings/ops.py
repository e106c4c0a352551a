"""The registry of mapping operations. YAML names an op; the op returns Polars expressions.

Each op gives the target value, and optionally an error expression (a rule id where the source
value cannot be mapped: the row is quarantined, the value kept verbatim) and a warning expression
(the row passes, the finding is listed), plus extra target columns (e.g. 不詳 fields).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import polars as pl

from ikou.schema import TargetSchema
from ikou.mappings.spec import ColumnMap

# rule id → (日本語, English); ops add theirs on import.
RULE_MESSAGES: dict[str, tuple[str, str]] = {
    "type.integer": ("整数として読めません", "not an integer"),
    "code_table.unknown": ("コード表にない値です", "value not in the code table"),
    "isolation.dantai_mismatch": ("他団体の団体コードです (この移行の対象外)",
                                  "団体コード of another municipality (not part of this run)"),
}


@dataclass
class OpOut:
    value: pl.Expr
    error: pl.Expr | None = None
    warning: pl.Expr | None = None
    extra: dict[str, pl.Expr] = field(default_factory=dict)
    # Columns the engine materialises first (`with_columns`) so that several outputs can share one
    # costly evaluation: expressions above may refer to them by name.
    pre: dict[str, pl.Expr] = field(default_factory=dict)


@dataclass
class OpContext:
    schema: TargetSchema


OPS: dict[str, Callable[[ColumnMap, OpContext], OpOut]] = {}
# Ops whose result depends only on the value of their one source column: the engine evaluates them
# once per distinct value and joins the result back (dates and codes repeat a lot).
PER_VALUE: set[str] = set()


def op(name: str, per_value: bool = False):
    def deco(fn):
        OPS[name] = fn
        if per_value:
            PER_VALUE.add(name)
        return fn
    return deco


def _src(c: ColumnMap) -> pl.Expr:
    if not c.from_:
        raise ValueError(f"op {c.op} for {c.target} needs 'from'")
    return pl.col(c.from_)


def _blank_to_null(e: pl.Expr) -> pl.Expr:
    return pl.when(e.str.strip_chars(" \u3000") == "").then(None).otherwise(e)


@op("text")
def _text(c: ColumnMap, ctx: OpContext) -> OpOut:
    e = _src(c)
    if c.strip:
        e = e.str.strip_chars(" \u3000")
    return OpOut(_blank_to_null(e))


@op("constant")
def _constant(c: ColumnMap, ctx: OpContext) -> OpOut:
    return OpOut(pl.lit(c.value, dtype=pl.String))


@op("integer", per_value=True)
def _integer(c: ColumnMap, ctx: OpContext) -> OpOut:
    raw = _blank_to_null(_src(c).str.strip_chars())
    val = raw.cast(pl.Int64, strict=False)
    return OpOut(val, error=pl.when(raw.is_not_null() & val.is_null()).then(pl.lit("type.integer")))


@lru_cache(maxsize=64)
def _code_pairs(path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    df = pl.read_csv(path, infer_schema=False)
    if not {"source_code", "code"} <= set(df.columns):
        raise ValueError(f"{path}: a code mapping needs columns source_code,code")
    dup = df.filter(pl.col("source_code").is_duplicated())
    if dup.height:
        raise ValueError(f"{path}: source_code repeated: {dup['source_code'].unique().to_list()}")
    return tuple(df["source_code"].to_list()), tuple(df["code"].to_list())


@op("code_table", per_value=True)
def _code_table(c: ColumnMap, ctx: OpContext) -> OpOut:
    if not c.table:
        raise ValueError(f"op code_table for {c.target} needs 'table'")
    if c.table.startswith("standard:"):
        codes = ctx.schema.code_values(c.table.split(":", 1)[1])["code"].to_list()
        old, new = codes, codes
    else:
        old, new = _code_pairs(c.table)
    raw = _blank_to_null(_src(c).str.strip_chars())
    val = raw.replace_strict(list(old), list(new), default=None, return_dtype=pl.String)
    return OpOut(val, error=pl.when(raw.is_not_null() & val.is_null()).then(pl.lit("code_table.unknown")))


@lru_cache(maxsize=1)
def _kana_table() -> tuple[list[str], list[str]]:
    """Half-width katakana forms → full width, voiced two-char forms first (matches jaconv.h2z)."""
    import jaconv

    singles = [chr(c) for c in range(0xFF61, 0xFFA0)]
    pairs = []
    for ch in singles:
        for mark in "ﾞﾟ":
            z = jaconv.h2z(ch + mark, kana=True, ascii=False, digit=False)
            if len(z) == 1:
                pairs.append((ch + mark, z))
    pairs += [(ch, jaconv.h2z(ch, kana=True, ascii=False, digit=False)) for ch in singles]
    return [a for a, _ in pairs], [b for _, b in pairs]


@op("kana_fullwidth", per_value=True)
def _kana(c: ColumnMap, ctx: OpContext) -> OpOut:
    old, new = _kana_table()
    return OpOut(_blank_to_null(_src(c)).str.replace_many(old, new, leftmost=True))


@op("wareki_date", per_value=True)
def _wareki(c: ColumnMap, ctx: OpContext) -> OpOut:
    from ikou.mappings.wareki import RULE_MESSAGES as W, wareki_to_iso

    RULE_MESSAGES.update(W)
    w = wareki_to_iso(_src(c), c.format or "era2_yymmdd", c.eras)
    # Up to five outputs are fields of one struct: convert once, not once per field.
    parsed = f"__parsed_{c.target}"
    f = pl.col(parsed).struct.field
    extra = {}
    if c.fumei_flag:
        extra[c.fumei_flag] = f("fumei_flag")
    if c.fumei_hyoki:
        extra[c.fumei_hyoki] = f("fumei_hyoki")
    return OpOut(f("iso"), error=f("error"), warning=f("warning"), extra=extra, pre={parsed: w.parsed})


def build(c: ColumnMap, ctx: OpContext) -> OpOut:
    if c.op not in OPS:
        raise ValueError(f"unknown op {c.op!r} for {c.target}; known: {sorted(OPS)}")
    return OPS[c.op](c, ctx)


def message(rule: str) -> tuple[str, str]:
    return RULE_MESSAGES.get(rule, (rule, rule))
