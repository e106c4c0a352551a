"""Record-level checks shared by the file extractors: characters that are not text and overlong fields.

Both run on whole decoded columns (Polars expressions), never per row; a hit becomes a
quarantine dict and the row leaves the staging.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Mapping

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


# Characters that are not text. C0 and C1 controls (NUL, TAB, ESC, DEL, U+0080–U+009F …) are never part
# of a name, an address or a code: they come from binary padding, terminal escape sequences (ESC $ B of
# JIS), a TAB meant as a separator, or bytes read with the wrong codec. The 行政事務標準文字 of the target
# has none of them, and what the value should have been cannot be known, so the record is held
# (error) for a person to decide, never loaded silently. CP932 has no character at the single bytes
# 0x80, 0xA0 and 0xFD–0xFF; Python's cp932 codec maps them anyway (U+0080, U+F8F0–U+F8F3) instead of
# failing: those are undecodable bytes too (`extract.undefined_byte`, error). U+F8F0–U+F8F3 are only
# suspect in a CP932 source: in a UTF-8 source they are private-use characters (外字) like any other.
_C0_NAMES = ["NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "TAB", "LF", "VT", "FF", "CR", "SO", "SI",
             "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US"]
_CP932_LIKE = {"cp932", "ms932", "mskanji", "ms_kanji", "windows_31j"}
_CP932_UNDEFINED = {"\x80": 0x80, "\uf8f0": 0xA0, "\uf8f1": 0xFD, "\uf8f2": 0xFE, "\uf8f3": 0xFF}
_NOT_C0 = bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))


def _cp932_like(encoding: str) -> bool:
    return norm_encoding(encoding) in _CP932_LIKE


# Line breaks other than CR and LF: NEL (U+0085, a C1 control), LINE SEPARATOR (U+2028) and PARAGRAPH
# SEPARATOR (U+2029). Polars, Python and most editors break a line at them: like CR and LF they are held
# unless the value may hold line breaks.
_UNICODE_BREAKS = "\x85\u2028\u2029"
_UNICODE_BREAKS_RX = r"\x{85}\x{2028}\x{2029}"
_BREAK_NAMES = {"\x85": "NEL", "\u2028": "LS", "\u2029": "PS"}


def control_pattern(encoding: str, *, line_breaks: bool, unicode_breaks: bool | None = None) -> str:
    """A regex class of the characters that are not text; CR and LF too unless `line_breaks` (quoted line
    breaks in a layout that allows them, or a CSV value, where they can only be that); NEL, U+2028 and
    U+2029 unless `unicode_breaks` (default: `line_breaks`; a CSV's are not cut by the record finder, so
    they are allowed only where its layout allows quoted line breaks)."""
    unicode_breaks = line_breaks if unicode_breaks is None else unicode_breaks
    cls = (r"\x00-\x09\x0B\x0C\x0E-\x1F\x7F-\x84\x86-\x9F" + ("" if line_breaks else r"\x0A\x0D")
           + ("" if unicode_breaks else _UNICODE_BREAKS_RX))
    if _cp932_like(encoding):
        cls += r"\x{F8F0}-\x{F8F3}"
    return f"[{cls}]"


def may_hold_controls(raw: bytes, text: str | None, encoding: str) -> bool:
    """A fast look at a chunk (its bytes and, when decoded, its text): False means no value in it can hold a
    character `control_pattern` matches apart from CR and LF, so the per-column check can be skipped."""
    if raw.translate(None, _NOT_C0).translate(None, b"\r\n"):
        return True                                    # a C0 control or DEL (never inside a multi-byte character)
    enc = norm_encoding(encoding)
    if enc in _CP932_LIKE:
        return text is None or any(c in text for c in _CP932_UNDEFINED)
    if enc in ("utf_8", "utf8", "u8", "utf_8_sig"):
        return ((b"\xc2" in raw and re.search(rb"\xc2[\x80-\x9f]", raw) is not None)   # C1 controls, NEL
                or b"\xe2\x80\xa8" in raw or b"\xe2\x80\xa9" in raw)                  # U+2028, U+2029
    if enc in _DOUBLE_BYTE:
        return False                                   # Shift_JIS family, EUC: no C1 control, U+2028 or U+2029
    return True


def _char_name(c: str) -> str:
    o = ord(c)
    if c in _BREAK_NAMES:
        return _BREAK_NAMES[c]
    if o < 0x20:
        return _C0_NAMES[o]
    return "DEL" if o == 0x7F else "C1"


def control_findings(df: pl.DataFrame, layout: Layout, encoding: str, *, line_breaks: bool | Collection[str],
                     line_col: str = "_line", column_encodings: Mapping[str, str] | None = None,
                     line_break_hint: tuple[str, str] | None = None,
                     unicode_breaks: bool | None = None) -> tuple[pl.DataFrame, list[dict]]:
    """Rows where a value holds a character that is not text: `extract.nul_byte` (NUL),
    `extract.undefined_byte` (a CP932 byte without a character) or `extract.control_char`, all errors.

    `line_breaks`: True, False, or the columns whose values may hold CR and LF (a table's columns marked
    `line_breaks`); `column_encodings`: a column decoded otherwise than `encoding` (a table's binary
    column read as CP932 beside text the server decoded); `line_break_hint`: (ja, en) added to the message
    of a CR or LF found, saying how to allow them; `unicode_breaks`: whether NEL, U+2028 and U+2029 may
    be in a value (default: as CR and LF, column by column). One finding per row and column, on the first
    such character; the value is kept as it is, except that NUL and the stand-ins of undefined bytes are
    shown escaped (\x00, \xFD): what the source holds.
    """
    if df.height == 0:
        return df, []
    names = [c.name for c in layout.columns if c.name in df.columns]
    encs = {n: (column_encodings or {}).get(n, encoding) for n in names}
    allowed = {n: line_breaks if isinstance(line_breaks, bool) else n in line_breaks for n in names}
    pats = {n: control_pattern(encs[n], line_breaks=allowed[n],
                               unicode_breaks=allowed[n] if unicode_breaks is None else unicode_breaks)
            for n in names}
    hit = df.filter(pl.any_horizontal([pl.col(n).str.contains(pats[n]).fill_null(False) for n in names]))
    if hit.height == 0:
        return df, []
    out: list[dict] = []
    for c in layout.columns:   # a loop over the layout's columns and the few rows held, not every row
        if c.name not in names:
            continue
        pat = pats[c.name]
        cp932 = _cp932_like(encs[c.name])
        rx = re.compile(pat.replace(r"\x{F8F0}-\x{F8F3}", "\uf8f0-\uf8f3").replace(_UNICODE_BREAKS_RX,
                                                                                   _UNICODE_BREAKS))
        for line, value in hit.filter(pl.col(c.name).str.contains(pat).fill_null(False)).select(
                line_col, c.name).iter_rows():
            found = rx.findall(value)
            ch = found[0]
            pos = rx.search(value).start() + 1
            n_more = len(found) - 1
            more_ja = f" (ほかに {n_more} 文字)" if n_more else ""
            more_en = f" ({n_more} more)" if n_more else ""
            if ch == "\x00":
                rule, ja, en = ("extract.nul_byte", f"{c.ja} の {pos} 文字目に NUL バイト (0x00) があります",
                                f"{c.name}: a NUL byte (0x00) at character {pos}")
            elif cp932 and ch in _CP932_UNDEFINED:
                b = _CP932_UNDEFINED[ch]
                rule, ja, en = ("extract.undefined_byte",
                                f"{c.ja} の {pos} 文字目のバイト 0x{b:02X} は CP932 の文字ではありません "
                                f"(Python の cp932 は U+{ord(ch):04X} に読み替えます)",
                                f"{c.name}: byte 0x{b:02X} at character {pos} is not a CP932 character "
                                f"(Python's cp932 reads it as U+{ord(ch):04X})")
            else:
                rule, ja, en = ("extract.control_char",
                                f"{c.ja} の {pos} 文字目に制御文字 {_char_name(ch)} (U+{ord(ch):04X}) があります",
                                f"{c.name}: control character {_char_name(ch)} (U+{ord(ch):04X}) at character {pos}")
                if line_break_hint and ch in "\r\n" + _UNICODE_BREAKS:
                    more_ja, more_en = more_ja + line_break_hint[0], more_en + line_break_hint[1]
            shown = value.replace("\x00", "\\x00")
            if cp932:
                for u, b in _CP932_UNDEFINED.items():
                    shown = shown.replace(u, f"\\x{b:02x}")
            out.append({"source_line": line, "column": c.name, "rule": rule, "value": shown,
                        "message_ja": ja + more_ja, "message_en": en + more_en})
    return df.filter(~pl.col(line_col).is_in(hit[line_col].implode())), out


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
