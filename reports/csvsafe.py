"""CSV files meant for people (quarantine.csv, a diff's CSVs, the evidence pack's quarantine) are opened
in Excel, which runs a cell starting with `=`, `+`, `-` or `@` as a formula (`=HYPERLINK(…)`,
`=cmd|' /C calc'!A0`). Legacy values are whatever the old system held, so such a text cell gets a
leading `'` (OWASP, CSV injection), which Excel shows as text. The Parquet files stay exact: they are
the record; the CSV is a view.
"""
from __future__ import annotations

import polars as pl

# the first characters Excel and LibreOffice read as the start of a formula (TAB and CR as well: some
# importers strip them and then read the formula behind them)
FORMULA_START = r"^[=+\-@\t\r]"


def neutralised(col: pl.Expr) -> pl.Expr:
    """`col` (text) with a `'` before a value that would start a formula; null stays null."""
    return pl.when(col.str.contains(FORMULA_START)).then(pl.lit("'") + col).otherwise(col)


def safe_for_csv(df: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """Every text column of `df` neutralised (one expression per column, no per-row Python); other
    types are left as they are (a number is never run as a formula)."""
    schema = df.collect_schema()
    cols = [name for name, dtype in schema.items() if dtype == pl.String]
    return df.with_columns(neutralised(pl.col(c)).alias(c) for c in cols) if cols else df
