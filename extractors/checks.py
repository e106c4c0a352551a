"""Record-level checks shared by the file extractors: NUL bytes and overlong fields, as columns.

Both run on whole decoded columns (Polars expressions), never per row; a hit becomes a
quarantine dict and the row leaves the staging.
"""
from __future__ import annotations

import polars as pl

from ikou.extractors.layout import Layout

# Encodings where a character outside ASCII and half-width katakana takes two bytes.
_DOUBLE_BYTE = {"cp932", "shift_jis", "shift_jis_2004", "shift_jisx0213", "sjis", "ms932", "windows_31j",
                "euc_jp", "euc_jis_2004"}


def norm_encoding(enc: str) -> str:
    return enc.lower().replace("-", "_")


def byte_len(col: str, encoding: str) -> pl.Expr:
    """Length of a decoded value in bytes of its source encoding, computed from the text.

    Shift_JIS family: 1 byte for ASCII and half-width katakana, 2 for anything else (JIS X 0213
    plane-2 characters are 2 bytes too); UTF-8: its own byte length.
    """
    enc = norm_encoding(encoding)
    if enc in _DOUBLE_BYTE:
        return pl.col(col).str.len_chars() + pl.col(col).str.count_matches(r"[^\x00-\x7F\x{FF61}-\x{FF9F}]")
    return pl.col(col).str.len_bytes()


def nul_findings(lines: pl.DataFrame, delimiter: str | None, layout: Layout) -> tuple[pl.DataFrame, list[dict]]:
    """Split off lines that contain NUL (0x00): a sign of a binary or padded export, never text."""
    has_nul = pl.col("text").str.contains("\x00", literal=True)
    bad = lines.filter(has_nul)
    if bad.height == 0:
        return lines, []
    if delimiter:
        idx = pl.col("text").str.slice(0, pl.col("text").str.find("\x00", literal=True)).str.count_matches(
            delimiter, literal=True)
        bad = bad.with_columns(idx.alias("_field"))
    else:
        bad = bad.with_columns(pl.lit(None, pl.UInt32).alias("_field"))
    names = layout.names
    out = [{
        "source_line": r["line"],
        "column": names[r["_field"]] if r["_field"] is not None and r["_field"] < len(names) else None,
        "rule": "extract.nul_byte",
        "value": r["text"].replace("\x00", "\\x00"),
        "message_ja": "NUL バイト (0x00) を含む行です",
        "message_en": "the line contains a NUL byte (0x00)",
    } for r in bad.iter_rows(named=True)]   # bad lines only: few
    return lines.filter(~has_nul), out


def overlong_findings(table: pl.DataFrame, layout: Layout, encoding: str,
                      line_col: str = "_line") -> tuple[pl.DataFrame, list[dict]]:
    """Rows where a column is longer than its layout `max_bytes` (in source-encoding bytes)."""
    limited = [c for c in layout.columns if c.max_bytes]
    if not limited or table.height == 0:
        return table, []
    out: list[dict] = []
    bad_lines: set[int] = set()
    for c in limited:   # a loop over the layout's columns, not rows
        hit = table.filter(byte_len(c.name, encoding) > c.max_bytes).select(
            line_col, c.name, byte_len(c.name, encoding).alias("_n"))
        for line, value, n in hit.iter_rows():
            bad_lines.add(line)
            out.append({
                "source_line": line, "column": c.name, "rule": "extract.overlong", "value": value,
                "message_ja": f"{c.ja} が {n} バイトあります (レイアウトの上限は {c.max_bytes} バイト)",
                "message_en": f"{c.name} is {n} bytes, the layout allows {c.max_bytes}",
            })
    if not bad_lines:
        return table, []
    return table.filter(~pl.col(line_col).is_in(sorted(bad_lines))), out
