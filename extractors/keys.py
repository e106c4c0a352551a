"""The key an extract quarantine row names its record by, so a person can find it in the vendor's file or
table, and the validation can hold the rest of that person's history with it.

`record_key` is `COL=value,COL=value`: the key columns in the order given, by their SOURCE names, each
value as the source holds it (decoded with the source's encoding; a null as empty), the format the
mapping writes with target names (`atena_no=…,rireki_no=…`). The columns are the `key_columns` the
caller passes (the flow: the source columns the target's primary key is mapped from), else the
layout's `key`; none at all: no record_key. It is null when a key field could not be read: its bytes
do not decode or hold no text (NUL, a control character, 0xFF high-values: `UNREADABLE_KEY`), or the record
could not be cut into fields where the layout says (see `raw_fields_key`, and for fixed-width records the
columns before the key, `fixed_width`).
Rows that are not about a record (a blank line, the end-of-file mark) carry none.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import polars as pl

from ikou.errors import LayoutError
from ikou.extractors.checks import control_pattern
from ikou.extractors.layout import Layout

NOT_A_RECORD = ("extract.blank_line", "extract.eof_marker")
# held without a key because it is nobody's record (the header line again, mid-file): it names no person whose
# history or household could be missing a row, so it is not counted as a record held without its key
NO_PERSON = (*NOT_A_RECORD, "extract.repeated_header")


def key_columns_of(layout: Layout, key_columns: list[str] | None, *, source_name: str, run_id: str) -> list[str]:
    """`key_columns`, else the layout's key; every one must be a column of the layout."""
    cols = list(layout.key if key_columns is None else key_columns)
    missing = [c for c in cols if c not in layout.names]
    if missing:
        raise LayoutError(f"{source_name}: key columns {missing} are not columns of layout {layout.name} "
                          f"(its columns: {layout.names[:8]}…)", run_id=run_id,
                          ja=f"{source_name}: キー列 {missing} はレイアウト {layout.name} の列ではありません "
                             f"(レイアウトの列: {layout.names[:8]}…): key_columns またはレイアウトの key を確認してください")
    sensitive = [c.name for c in layout.columns if c.sensitive and c.name in cols]
    if sensitive:   # record_key is shown unmasked in every report: it must never hold personal data
        raise LayoutError(f"{source_name}: key columns {sensitive} are sensitive in layout {layout.name}: a record "
                          "is named by an identifier, never by personal data", run_id=run_id,
                          ja=f"{source_name}: キー列 {sensitive} はレイアウト {layout.name} で個人情報 (sensitive) の列です: "
                             "記録は識別番号で示し、個人情報では示しません。キーには識別番号の列を指定してください")
    return cols


# A key value that names nobody: it holds U+FFFD (bytes that did not decode), a character that is not text
# (`checks.control_pattern`: NUL, every other C0 and C1 control, NEL, U+2028/U+2029) or a stand-in Python's cp932
# gives a byte CP932 does not define (U+0080, U+F8F0–U+F8F3: 0xFF high-values, 0xFD, 0xFE, 0xA0). Such a key is
# junk that exists nowhere: named, it would hold nobody with the record while the person's other rows load; null,
# the record counts as held without its key (a sign-off blocker). U+F8F0–U+F8F3 count in every encoding here:
# a key is an identifier, never a 外字.
UNREADABLE_KEY = control_pattern("cp932", line_breaks=False)[:-1] + r"\x{FFFD}]"
_UNREADABLE_KEY_PY = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\uf8f0-\uf8f3\ufffd\udc80-\udcff]")


def readable_key(cols: list[str]) -> pl.Expr:
    """Whether every key column of a row holds text that names a record (see UNREADABLE_KEY)."""
    return ~pl.any_horizontal([pl.lit(False), *[pl.col(c).str.contains(UNREADABLE_KEY).fill_null(False)
                                                for c in cols]])


def key_expr(cols: list[str]) -> pl.Expr:
    """`record_key` of each row of a frame holding the key columns as text; null where a key value is not
    readable text (UNREADABLE_KEY)."""
    if not cols:
        return pl.lit(None, pl.String)
    key = pl.concat_str([pl.format(f"{c}={{}}", pl.col(c).fill_null("")) for c in cols], separator=",")
    return pl.when(readable_key(cols)).then(key).otherwise(pl.lit(None, pl.String))


def key_value_readable(value: str | None) -> bool:
    """UNREADABLE_KEY for one value in Python (surrogateescape's stand-ins of undecoded bytes too)."""
    return value is None or _UNREADABLE_KEY_PY.search(value) is None


def format_key(cols: list[str], values: list[str | None]) -> str:
    return ",".join(f"{c}={'' if v is None else v}" for c, v in zip(cols, values))


# A field of a code, a number or a date: where an extra or a missing delimiter is far less likely than in a
# name, an address or a note (free text, spaces, kanji), and where it would show (see `raw_fields_key`).
_PLAIN = re.compile(r"[+-]?[0-9A-Za-z]+(?:[._/:-][0-9A-Za-z]+)*")


def raw_fields_key(fields: list[str], n_fields: int, key_index: list[int], *, quote: str | None = '"',
                   lengths: Mapping[int, tuple[int, int]] | None = None) -> list[str] | None:
    """The key fields of a record the parser could not cut into the layout's fields, from a lenient split
    (`fields`, each unquoted when its quotes were well formed), or None when they cannot be trusted.

    With the layout's number of fields (an undecodable byte, a quote out of place, a quoted line break)
    every field is where the layout says. Otherwise (a field too many or too few, a quote left open, a
    last line cut short) the fields before the first damaged one are still where the layout says, and
    the ones from it on may be shifted. Where the damage is cannot be known for sure, so the rule is:

    the key is trusted when every field up to and including the last key column (key or not: a
    shifted DANTAI_CD shifts ATENA_NO) is clean, that is:
      * it is not the last field of the split (that one may be cut short, or hold the quote left open
        and the rest of the line with it: the fields before the one where a quote opens are reliable);
      * it holds no quote character (a quote problem: what follows may be cut anywhere);
      * it looks like a code, a number or a date: ASCII letters and digits, joined by . _ / : -, with an
        optional sign; not empty (a delimiter at a field's edge leaves an empty field), no space, no
        kanji: a delimiter too many or too few is far likelier in a name, an address or a note;
      * when the clean records of the same chunk give them (`lengths`: field index → shortest and
        longest value there), its length is within theirs: a delimiter inside the key fields cuts a
        code in two (ATENA_NO 01234,56785) or a missing one joins two (RIREKI_NO+SETAI_NO), which the
        characters alone cannot show.
    The first field failing one of these is the first suspicious field; every key column must lie
    before it. Vendor A (DANTAI_CD, ATENA_NO, RIREKI_NO first, then codes, then 氏名 …): a record with
    `,EXTRA` appended, cut to 10 fields, or with a quote left open in 方書 keeps its
    `ATENA_NO=…,RIREKI_NO=…`; a comma inside ATENA_NO does not.
    """
    if len(fields) == n_fields:
        return [fields[i] for i in key_index]
    if not key_index:
        return []
    last = max(key_index)
    if last >= len(fields) - 1:
        return None
    for i in range(last + 1):
        v = fields[i]
        if (quote and quote in v) or not _PLAIN.fullmatch(v):
            return None
        if lengths and i in lengths and not lengths[i][0] <= len(v) <= lengths[i][1]:
            return None
    return [fields[i] for i in key_index]
