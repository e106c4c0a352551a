"""The key an extract quarantine row names its record by, so a person can find it in the vendor's file or
table, and the validation can hold the rest of that person's history with it.

`record_key` is `COL=value,COL=value`: the key columns in the order given, by their SOURCE names, each
value as the source holds it (decoded with the source's encoding; a null as empty), the format the
mapping writes with target names (`atena_no=…,rireki_no=…`). The columns are the `key_columns` the
caller passes (the flow: the source columns the target's primary key is mapped from), else the
layout's `key`; none at all: no record_key. It is null when a key field could not be read: its bytes
do not decode, or the record could not be cut into fields where the layout says (see `raw_fields_key`).
Rows that are not about a record (a blank line, the end-of-file mark) carry none.
"""
from __future__ import annotations

import polars as pl

from ikou.errors import LayoutError
from ikou.extractors.layout import Layout

NOT_A_RECORD = ("extract.blank_line", "extract.eof_marker")


def key_columns_of(layout: Layout, key_columns: list[str] | None, *, source_name: str, run_id: str) -> list[str]:
    """`key_columns`, else the layout's key; every one must be a column of the layout."""
    cols = list(layout.key if key_columns is None else key_columns)
    missing = [c for c in cols if c not in layout.names]
    if missing:
        raise LayoutError(f"{source_name}: key columns {missing} are not columns of layout {layout.name} "
                          f"(its columns: {layout.names[:8]}…)", run_id=run_id)
    sensitive = [c.name for c in layout.columns if c.sensitive and c.name in cols]
    if sensitive:   # record_key is shown unmasked in every report: it must never hold personal data
        raise LayoutError(f"{source_name}: key columns {sensitive} are sensitive in layout {layout.name}: a record "
                          "is named by an identifier, never by personal data", run_id=run_id)
    return cols


def key_expr(cols: list[str]) -> pl.Expr:
    """`record_key` of each row of a frame holding the key columns as text."""
    if not cols:
        return pl.lit(None, pl.String)
    return pl.concat_str([pl.format(f"{c}={{}}", pl.col(c).fill_null("")) for c in cols], separator=",")


def format_key(cols: list[str], values: list[str | None]) -> str:
    return ",".join(f"{c}={'' if v is None else v}" for c, v in zip(cols, values))


def raw_fields_key(fields: list[str], n_fields: int, key_index: list[int]) -> list[str] | None:
    """The key fields of a record the parser could not cut into the layout's fields, from a lenient split
    (`fields`), or None when they cannot be trusted.

    With the layout's number of fields (an undecodable byte, a quote out of place, a quoted line break)
    every field is where the layout says. Otherwise (a field too many or too few, a quote left open, a
    last line cut short) only the fields before the first problem are, and where that problem is cannot
    be known: the key is trusted only when the key columns come first in the layout and each of them is
    followed by a delimiter (an extra or a missing delimiter is far likelier in a name or an address than
    in a number at the start of the record; the last field may be cut short or hold the open quote).
    """
    if len(fields) == n_fields:
        return [fields[i] for i in key_index]
    leading = sorted(key_index) == list(range(len(key_index)))
    if leading and len(key_index) < len(fields):
        return [fields[i] for i in key_index]
    return None
