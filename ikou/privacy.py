"""Masking of 個人番号 and names: reports and CSV exports mask by default.

個人番号 (特定個人情報) shows no digit at all; a name keeps its first character so a reviewer can
tell rows apart. Only an explicit `reveal` (an authorised review) shows values.
"""
from __future__ import annotations

import polars as pl

MASK = "＊＊＊"


def mask_value_expr(value: pl.Expr, column: pl.Expr, sensitive: set[str]) -> pl.Expr:
    """Mask `value` where `column` names a sensitive column (quarantine-shaped frames)."""
    if not sensitive:
        return value
    return (pl.when(column.is_in(sorted(sensitive)) & value.is_not_null())
            .then(pl.when(column.str.contains("(?i)kojin_no|mynumber|個人番号"))
                  .then(pl.lit("************"))
                  .otherwise(value.str.slice(0, 1) + pl.lit(MASK)))
            .otherwise(value))


def mask_columns(df: pl.DataFrame, sensitive: set[str]) -> pl.DataFrame:
    """Mask whole sensitive columns of a data frame."""
    exprs = []
    for c in df.columns:
        if c not in sensitive:
            continue
        if "kojin_no" in c.lower() or "mynumber" in c.lower():
            exprs.append(pl.when(pl.col(c).is_not_null()).then(pl.lit("************")).alias(c))
        else:
            exprs.append(pl.when(pl.col(c).is_not_null()).then(pl.col(c).cast(pl.String).str.slice(0, 1) + MASK).alias(c))
    return df.with_columns(exprs) if exprs else df
