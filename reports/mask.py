"""Masking of sensitive values (個人番号, 氏名 …) in everything a report shows.

個人番号 shows no digit at all (not even the last four): it is 特定個人情報. A value that is all
digits in any sensitive column is treated the same way. Other sensitive text (names) keeps its
first character followed by ＊＊, enough for a PM to tell rows apart.
"""
from __future__ import annotations

import polars as pl

MYNUMBER_COLUMNS = frozenset({"kojin_no", "個人番号"})
FULL_MASK = "************"
NAME_MASK = "＊＊"


def sensitive_columns(schema_path) -> set[str]:
    """Columns a target schema (mappings/schemas/*.yaml) marks `sensitive: true`."""
    from ikou.schema import load_schema
    schema = load_schema(schema_path)
    return {c.name for t in schema.tables.values() for c in t.columns if c.sensitive}


def _is_mynumber_column(name: str) -> bool:
    return name in MYNUMBER_COLUMNS or name.endswith("kojin_no")


def mask_expr(e: pl.Expr, *, mynumber: bool = False) -> pl.Expr:
    """Masked text of `e` (null stays null)."""
    digits = e.str.contains(r"^[0-9０-９\s\-]+$")
    full = pl.lit(FULL_MASK)
    if mynumber:
        return pl.when(e.is_null()).then(None).otherwise(full)
    return (pl.when(e.is_null()).then(None)
            .when(digits).then(full)
            .otherwise(e.str.slice(0, 1) + pl.lit(NAME_MASK)))


def _nothing_to_mask(df: pl.DataFrame | pl.LazyFrame, reveal: bool) -> bool:
    # a LazyFrame (the diff's cells, streamed to a file) is masked without being looked at
    return reveal or (isinstance(df, pl.DataFrame) and df.is_empty())


def mask_frame(df: pl.DataFrame | pl.LazyFrame, sensitive: set[str] | frozenset[str], *,
               reveal: bool = False) -> pl.DataFrame | pl.LazyFrame:
    """Mask the sensitive columns of a wide frame."""
    if _nothing_to_mask(df, reveal):
        return df
    names = df.collect_schema().names()
    cols = [c for c in names if c in sensitive or _is_mynumber_column(c)]
    return df.with_columns(
        [mask_expr(pl.col(c).cast(pl.String), mynumber=_is_mynumber_column(c)).alias(c)
         for c in cols])


def mask_long(df: pl.DataFrame, sensitive: set[str] | frozenset[str], *, reveal: bool = False,
              column_col: str = "column", value_cols: tuple[str, ...] = ("left", "right"),
              key_cols: tuple[str, ...] = ()) -> pl.DataFrame:
    """Mask a long frame whose `column_col` names the column each value came from."""
    if reveal or df.is_empty():
        return df
    sens = sorted(set(sensitive) | MYNUMBER_COLUMNS)
    is_sens = pl.col(column_col).is_in(sens) | pl.col(column_col).str.ends_with("kojin_no")
    is_mn = pl.col(column_col).is_in(sorted(MYNUMBER_COLUMNS)) | \
        pl.col(column_col).str.ends_with("kojin_no")
    exprs = []
    for v in value_cols:
        if v not in df.columns:
            continue
        c = pl.col(v).cast(pl.String)
        exprs.append(pl.when(is_mn).then(mask_expr(c, mynumber=True))
                     .when(is_sens).then(mask_expr(c))
                     .otherwise(c).alias(v))
    out = df.with_columns(exprs)
    return mask_frame(out, {k for k in key_cols if k in sensitive}, reveal=False)


def mask_cells_of(df: pl.DataFrame | pl.LazyFrame, column: str,
                  sensitive: set[str] | frozenset[str], *, reveal: bool = False,
                  value_cols: tuple[str, ...] = ("left", "right"),
                  key_cols: tuple[str, ...] = ()) -> pl.DataFrame | pl.LazyFrame:
    """`mask_long` for a frame whose values all come from `column`: the masking is decided once
    for the column instead of per row (the diff's millions of cells are read column by column)."""
    if _nothing_to_mask(df, reveal):
        return df
    if column in sensitive or _is_mynumber_column(column):
        mynumber = _is_mynumber_column(column)
        df = df.with_columns([mask_expr(pl.col(v).cast(pl.String), mynumber=mynumber).alias(v)
                              for v in value_cols])
    return mask_frame(df, {k for k in key_cols if k in sensitive}, reveal=False)
