"""CSV files meant for people (quarantine.csv, a diff's CSVs, the evidence pack's quarantine) are opened
in Excel, which runs a cell starting with `=`, `+`, `-` or `@` as a formula (`=HYPERLINK(…)`,
`=cmd|' /C calc'!A0`). Legacy values are whatever the old system held, so such a text cell gets a
leading `'` (OWASP, CSV injection), which Excel shows as text. An invisible character (a bidi override, a
zero-width space, a control) is written ⟨U+202E⟩, here and in report.html and report.xlsx (`visible_text`).
The Parquet files stay exact: they are the record; the CSV is a view.
"""
from __future__ import annotations

import functools
import unicodedata

import polars as pl

# the first characters Excel and LibreOffice read as the start of a formula (TAB and CR as well: some
# importers strip them and then read the formula behind them)
FORMULA_START = r"^[=+\-@\t\r]"


# Characters with no glyph of their own: a bidi override (U+202E) shows 「架空市\u202e町一丁目」 as 「架空市目丁一町」, a
# zero-width space or a BOM is not seen at all. In a cell meant for people each is written as ⟨U+202E⟩ (the
# Parquet files keep the value as it is). TAB, LF and CR stay: they hide and reorder nothing (a cell shows
# them as blank or a line break), and a formula behind a TAB is neutralised anyway.
INVISIBLE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")
_KEPT = "\t\n\r"
# the planes that hold such characters (BMP, SMP, SSP: U+E0001 …); the others hold none
_PLANES = (range(0x20000), range(0xE0000, 0xF0000))


def shown_as(ch: str) -> str:
    return f"⟨U+{ord(ch):04X}⟩"


@functools.cache
def invisible_chars() -> tuple[str, ...]:
    """Every character of INVISIBLE_CATEGORIES (C0/C1 controls but _KEPT, format characters, line and
    paragraph separators): about 230, found once."""
    return tuple(chr(cp) for r in _PLANES for cp in r
                 if unicodedata.category(chr(cp)) in INVISIBLE_CATEGORIES and chr(cp) not in _KEPT)


@functools.cache
def _table() -> dict[int, str]:
    return {ord(ch): shown_as(ch) for ch in invisible_chars()}


@functools.cache
def _class() -> str:
    return "[" + "".join(f"\\x{{{ord(ch):X}}}" for ch in invisible_chars()) + "]"


def visible_text(v: str) -> str:
    """`v` with every invisible character written as ⟨U+XXXX⟩: for a cell the HTML or the workbook shows
    (already a row at a time there); `visible` is the same for a column."""
    return v.translate(_table())


def visible(col: pl.Expr) -> pl.Expr:
    """`col` (text) with every invisible character written as ⟨U+XXXX⟩ (one Aho-Corasick pass over the
    values that hold one); null stays null."""
    chars = list(invisible_chars())
    return (pl.when(col.str.contains(_class()))
            .then(col.str.replace_many(chars, [shown_as(c) for c in chars]))
            .otherwise(col))


def neutralised(col: pl.Expr) -> pl.Expr:
    """`col` (text) with a `'` before a value that would start a formula; null stays null."""
    return pl.when(col.str.contains(FORMULA_START)).then(pl.lit("'") + col).otherwise(col)


def safe_for_csv(df: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """Every text column of `df` with its invisible characters shown (`visible`), then neutralised (one
    expression per column, no per-row Python); other types are left as they are (a number is never run as a
    formula)."""
    schema = df.collect_schema()
    cols = [name for name, dtype in schema.items() if dtype == pl.String]
    return df.with_columns(neutralised(visible(pl.col(c))).alias(c) for c in cols) if cols else df
