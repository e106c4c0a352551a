"""Record-level checks shared by the file extractors: characters that are not text and overlong fields.

Both run on whole decoded columns (Polars expressions), never per row; a hit becomes a
quarantine dict and the row leaves the staging.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from functools import lru_cache

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
# Added to the message of a line break held in a column that may not hold one: how to allow it.
LINE_BREAK_HINT = (" (この項目が改行を含んでよいなら、レイアウトの項目に line_breaks: true を指定してください)",
                   " (if the column may hold line breaks, set line_breaks: true on it in the layout)")


def control_pattern(encoding: str, *, line_breaks: bool, unicode_breaks: bool | None = None) -> str:
    """A regex class of the characters that are not text; CR and LF too unless `line_breaks` (a column marked
    `line_breaks: true`, or a CSV value without quoted_newlines, where a CR or LF cannot be: its record is held
    whole); NEL, U+2028 and U+2029 unless `unicode_breaks` (default: `line_breaks`; a CSV's are not cut by the
    record finder, so they are allowed only in the columns where its layout allows quoted line breaks)."""
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


@lru_cache(maxsize=64)
def _control_table(pattern_chars: str, cp932: bool, hint: tuple[str, str] | None) -> pl.DataFrame:
    """For each character a control pattern matches: its rule and the start and end of its message."""
    rows = []
    for ch in pattern_chars:
        if ch == "\x00":
            rows.append((ch, "extract.nul_byte", " の ", " 文字目に NUL バイト (0x00) があります",
                         ": a NUL byte (0x00) at character ", "", "", ""))
        elif cp932 and ch in _CP932_UNDEFINED:
            b = _CP932_UNDEFINED[ch]
            rows.append((ch, "extract.undefined_byte", " の ",
                         f" 文字目のバイト 0x{b:02X} は CP932 の文字ではありません (Python の cp932 は U+{ord(ch):04X} に読み替えます)",
                         f": byte 0x{b:02X} at character ",
                         f" is not a CP932 character (Python's cp932 reads it as U+{ord(ch):04X})", "", ""))
        else:
            extra = hint if hint and ch in "\r\n" + _UNICODE_BREAKS else ("", "")
            rows.append((ch, "extract.control_char", " の ",
                         f" 文字目に制御文字 {_char_name(ch)} (U+{ord(ch):04X}) があります",
                         f": control character {_char_name(ch)} (U+{ord(ch):04X}) at character ", "", *extra))
    return pl.DataFrame(rows, schema=["_ch", "rule", "_ja1", "_ja2", "_en1", "_en2", "_hint_ja", "_hint_en"],
                        orient="row")


@lru_cache(maxsize=64)
def _class_chars(pattern: str) -> str:
    """Every character of a control pattern (a regex class as `control_pattern` writes it)."""
    rx = re.compile(pattern.replace(r"\x{F8F0}-\x{F8F3}", "\uf8f0-\uf8f3").replace(_UNICODE_BREAKS_RX, _UNICODE_BREAKS))
    return "".join(c for c in map(chr, [*range(0x00, 0xA0), 0x2028, 0x2029, *range(0xF8F0, 0xF8F4)]) if rx.fullmatch(c))


def control_frame(df: pl.DataFrame, layout: Layout, encoding: str, *, line_breaks: bool | Collection[str],
                  line_col: str = "_line", column_encodings: Mapping[str, str] | None = None,
                  line_break_hint: tuple[str, str] | None = None,
                  unicode_breaks: bool | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`control_findings` as a frame (columns source_line, column, rule, value, message_ja, message_en), built
    column by column: one set of expressions per layout column, never a loop over rows."""
    schema = {"source_line": pl.Int64, "column": pl.String, "rule": pl.String, "value": pl.String,
              "message_ja": pl.String, "message_en": pl.String}
    if df.height == 0:
        return df, pl.DataFrame(schema=schema)
    names = [c.name for c in layout.columns if c.name in df.columns]
    encs = {n: (column_encodings or {}).get(n, encoding) for n in names}
    allowed = {n: line_breaks if isinstance(line_breaks, bool) else n in line_breaks for n in names}
    pats = {n: control_pattern(encs[n], line_breaks=allowed[n],
                               unicode_breaks=allowed[n] if unicode_breaks is None else unicode_breaks)
            for n in names}
    hit = df.filter(pl.any_horizontal([pl.col(n).str.contains(pats[n]).fill_null(False) for n in names]))
    if hit.height == 0:
        return df, pl.DataFrame(schema=schema)
    parts = []
    for c in layout.columns:   # a loop over the layout's columns, each a few expressions over its hits
        if c.name not in names:
            continue
        pat = pats[c.name]
        cp932 = _cp932_like(encs[c.name])
        v = pl.col(c.name)
        rows = hit.filter(v.str.contains(pat).fill_null(False)).select(
            pl.col(line_col).cast(pl.Int64).alias("source_line"), v.alias("_v"))
        if rows.height == 0:
            continue
        table = _control_table(_class_chars(pat), cp932, line_break_hint)
        shown = pl.col("_v").str.replace_all("\x00", "\\x00", literal=True)
        if cp932:
            for u, b in _CP932_UNDEFINED.items():
                shown = shown.str.replace_all(u, f"\\x{b:02x}", literal=True)
        rows = rows.with_columns(
            pl.col("_v").str.extract(f"(?s)^(.*?){pat}").str.len_chars().alias("_pos"),
            pl.col("_v").str.extract(f"({pat})").alias("_ch"),
            (pl.col("_v").str.count_matches(pat) - 1).alias("_more"),
        ).join(table, on="_ch", how="left", maintain_order="left")
        more = pl.col("_more") > 0
        parts.append(rows.select(
            "source_line", pl.lit(c.name, pl.String).alias("column"), "rule", shown.alias("value"),
            pl.concat_str([pl.lit(c.ja), pl.col("_ja1"), (pl.col("_pos") + 1).cast(pl.String), pl.col("_ja2"),
                           pl.when(more).then(pl.format(" (ほかに {} 文字)", "_more")).otherwise(pl.lit("")),
                           pl.col("_hint_ja")]).alias("message_ja"),
            pl.concat_str([pl.lit(c.name), pl.col("_en1"), (pl.col("_pos") + 1).cast(pl.String), pl.col("_en2"),
                           pl.when(more).then(pl.format(" ({} more)", "_more")).otherwise(pl.lit("")),
                           pl.col("_hint_en")]).alias("message_en")))
    found = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
    return df.filter(~pl.col(line_col).is_in(hit[line_col].implode())), found.cast(schema)


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
    shown escaped (\x00, \xFD): what the source holds. The findings as dicts (`control_frame`: as a frame).
    """
    df, found = control_frame(df, layout, encoding, line_breaks=line_breaks, line_col=line_col,
                              column_encodings=column_encodings, line_break_hint=line_break_hint,
                              unicode_breaks=unicode_breaks)
    return df, found.to_dicts()


def overlong_frame(table: pl.DataFrame, layout: Layout, encoding: str,
                   line_col: str = "_line") -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows where a column is longer than its layout `max_bytes` (in source-encoding bytes), as a frame
    (columns source_line, column, rule, value, message_ja, message_en)."""
    schema = {"source_line": pl.Int64, "column": pl.String, "rule": pl.String, "value": pl.String,
              "message_ja": pl.String, "message_en": pl.String}
    limited = [c for c in layout.columns if c.max_bytes]
    if not limited or table.height == 0:
        return table, pl.DataFrame(schema=schema)
    parts = []
    for c in limited:   # a loop over the layout's columns, not rows
        n = byte_len(c.name, encoding)
        hit = table.filter(n > c.max_bytes).select(
            pl.col(line_col).cast(pl.Int64).alias("source_line"), pl.lit(c.name, pl.String).alias("column"),
            pl.lit("extract.overlong").alias("rule"), pl.col(c.name).alias("value"),
            pl.format(f"{c.ja} が {{}} バイトあります (レイアウトの上限は {c.max_bytes} バイト)", n).alias("message_ja"),
            pl.format(f"{c.name} is {{}} bytes, the layout allows {c.max_bytes}", n).alias("message_en"))
        if hit.height:
            parts.append(hit)
    if not parts:
        return table, pl.DataFrame(schema=schema)
    found = pl.concat(parts).cast(schema)
    return table.filter(~pl.col(line_col).is_in(found["source_line"].unique().sort().implode())), found


def overlong_findings(table: pl.DataFrame, layout: Layout, encoding: str,
                      line_col: str = "_line") -> tuple[pl.DataFrame, list[dict]]:
    """Rows where a column is longer than its layout `max_bytes` (in source-encoding bytes)."""
    table, found = overlong_frame(table, layout, encoding, line_col)
    return table, found.to_dicts()


# Pad blanks in a row inside a value that make it suspect: one blank is the usual separator (氏　名), two or more
# are what a field's padding looks like when the next field's first bytes follow it (a width off in the layout)
INNER_PAD_RUN = 2


def inner_padding_frame(table: pl.DataFrame, layout: Layout, pad: str, line_col: str = "_line") -> pl.DataFrame:
    """Fixed width: values holding a run of `INNER_PAD_RUN` or more of the pad characters `pad` inside them, with
    something else on both sides (so neither the padding the field's own trimming leaves nor a right-aligned
    value's leading blanks): `鈴木　一郎　　　ｽｽ` is what 氏名 reads when its width in the layout is two bytes more
    than the file's and the フリガナ's two less (same record length, no other error). A warning
    (`extract.inner_padding`), the record staged: an address may hold two blanks on purpose. As a frame (columns
    source_line, column, rule, severity, value, message_ja, message_en), one set of expressions per column."""
    schema = {"source_line": pl.Int64, "column": pl.String, "rule": pl.String, "severity": pl.String,
              "value": pl.String, "message_ja": pl.String, "message_en": pl.String}
    names = [c for c in layout.columns if c.name in table.columns]
    if not names or table.height == 0 or not pad:
        return pl.DataFrame(schema=schema)
    cls = "".join(f"\\x{{{ord(ch):X}}}" for ch in pad)
    inner = f"[^{cls}]([{cls}]{{{INNER_PAD_RUN},}})[^{cls}]"
    hit = table.filter(pl.any_horizontal([pl.col(c.name).str.contains(inner).fill_null(False) for c in names]))
    if hit.height == 0:
        return pl.DataFrame(schema=schema)
    parts = []
    for c in names:   # a loop over the layout's columns, each a few expressions over its hits
        v = pl.col(c.name)
        rows = hit.filter(v.str.contains(inner).fill_null(False))
        if rows.height == 0:
            continue
        run = v.str.extract(inner, 1).str.len_chars()
        before = f"(?s)^(.*?[^{cls}])[{cls}]{{{INNER_PAD_RUN},}}[^{cls}]"   # up to the first run
        at = v.str.extract(before, 1).str.len_chars() + 1   # 1-based: the run's first blank
        parts.append(rows.select(
            pl.col(line_col).cast(pl.Int64).alias("source_line"), pl.lit(c.name, pl.String).alias("column"),
            pl.lit("extract.inner_padding").alias("rule"), pl.lit("warning").alias("severity"), v.alias("value"),
            pl.format(f"{c.ja} の途中 ({{}} 文字目から) に空白が {{}} 文字続いています: レイアウトの項目幅が実際と"
                      "ずれていると、この項目の埋め草の空白の後に次の項目の先頭が読み込まれます。レイアウトの幅を確認"
                      "してください (値がこのとおり正しければ問題ありません)", at, run).alias("message_ja"),
            pl.format(f"{c.name} holds {{}} blanks in a row inside its value (from character {{}}): when the layout's "
                      "field widths are off, the next field's first characters follow this field's padding; check "
                      "the layout's widths (nothing to do if the value is right)", run, at).alias("message_en")))
    return pl.concat(parts).cast(schema) if parts else pl.DataFrame(schema=schema)


def collapse_not_held(findings: list[dict]) -> list[dict]:
    """`not_held` findings, one per column and rule (the first record's, with how many share it): a FILLER of NUL
    in every record is one line of the quarantine per chunk, not a million warnings nobody reads one by one."""
    first: dict[tuple, dict] = {}
    count: dict[tuple, int] = {}
    for f in findings:
        k = (f.get("column"), f.get("rule"))
        count[k] = count.get(k, 0) + 1
        if k not in first or f["source_line"] < first[k]["source_line"]:
            first[k] = f
    out = []
    for k, f in first.items():
        n = count[k]
        out.append(f if n == 1 else {**f, "message_ja": f"{f['message_ja']} (この列・理由で {n:,} 件、最初の記録のみ記載)",
                                     "message_en": f"{f['message_en']} ({n:,} records for this column and reason; "
                                                   "the first listed)"})
    return out


def not_held(finding: dict) -> dict:
    """A finding in a column no mapping line reads (`not_migrated` or unread): a warning, its record staged. A
    table's columns and a fixed-width record's fields are read one by one, and a CSV's fields are cut before
    they are read, so a bad value there says nothing of the others: the person is not kept out of the target
    for a value that is not migrated."""
    return {**finding, "severity": "warning",
            "message_ja": f"{finding['message_ja']} (移行しない列: 記録は保留せず投入します)",
            "message_en": f"{finding['message_en']} (a column not migrated: the record is not held)"}


def split_unread(layout, unread: set[str]):
    """(the layout's columns that are read, those that are not) as two layouts, for the checks: a finding in the
    second is `not_held`. A key column is always read."""
    return (layout.model_copy(update={"columns": [c for c in layout.columns if c.name not in unread]}),
            layout.model_copy(update={"columns": [c for c in layout.columns if c.name in unread]}))


# ------------------------------------------------------------------ the encoding undecodable records read in
# A file written in another encoding than the layout declares: the records that do not decode are the visible few,
# and those that do may hold other, real characters (a Shift_JIS-2004 export read as cp932 decodes 704 JIS X 0213
# characters as another valid one: 䉤 → 寘, 䝤 → ⅸ, 䟽 → 鍈; an EUC-JP one gives mojibake). So the bytes of the
# records that did not decode (a bounded sample) are tried in the likely alternatives of the declared encoding, the
# strictest first (UTF-8 is almost never valid by chance, EUC-JP rarely, Shift_JIS-2004 often): when they all decode
# in one, it is recorded (summary.json `sources.<name>.likely_encoding`), named in the extract.decode messages and
# made a sign-off blocker (reports.summary.likely_encoding_lines), whatever the share of records held.
_LIKELY = {
    "cp932": ("utf-8", "euc_jp", "shift_jis_2004"),
    "shift_jis": ("utf-8", "euc_jp", "cp932", "shift_jis_2004"),   # NEC/IBM characters: most often CP932
    "euc_jp": ("utf-8", "euc_jis_2004", "cp932"),
    "utf-8": ("euc_jp", "cp932"),
    "shift_jis_2004": ("utf-8", "euc_jis_2004"),
    "shift_jisx0213": ("utf-8", "euc_jis_2004"),
    "euc_jis_2004": ("utf-8", "shift_jis_2004"),
    "euc_jisx0213": ("utf-8", "shift_jis_2004"),
}
ENCODING_NAMES = {"shift_jis_2004": "Shift_JIS-2004", "euc_jp": "EUC-JP", "utf-8": "UTF-8",
                  "cp932": "CP932 (Windows-31J)", "euc_jis_2004": "EUC-JIS-2004"}
LIKELY_SAMPLE = 256             # undecodable records tried, at most …
LIKELY_SAMPLE_BYTES = 256 << 10  # … and bytes of them


def likely_alternatives(encoding: str) -> tuple[str, ...]:
    """The encodings a file declared in `encoding` is likely in instead, in the order they are tried."""
    import codecs

    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return ()
    return _LIKELY.get("utf-8" if name == "utf-8-sig" else name, ())


class EncodingSample:
    """The raw bytes of a file's undecodable records, bounded (LIKELY_SAMPLE records, LIKELY_SAMPLE_BYTES): filled
    by the chunks (two at a time: list.extend is atomic), read once at the end (`likely`)."""

    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.size = 0

    @property
    def full(self) -> bool:
        return len(self.records) >= LIKELY_SAMPLE or self.size >= LIKELY_SAMPLE_BYTES

    def add(self, raws: list[bytes]) -> None:
        if self.full:
            return
        raws = raws[:LIKELY_SAMPLE - len(self.records)]
        self.records.extend(raws)
        self.size += sum(map(len, raws))

    def likely(self, encoding: str) -> str | None:
        return likely_encoding(self.records, encoding)


def likely_encoding(records: list[bytes], encoding: str) -> str | None:
    """The first of `likely_alternatives(encoding)` every one of `records` (raw bytes that did not decode in
    `encoding`) decodes in, the characters `encoding` lacks being mostly kanji or kana (`_japanese_letter`): one
    decode call per alternative over the records joined by LF (a byte no character of these encodings holds);
    None: no sample, or no alternative reads them so."""
    if not records:
        return None
    joined = b"\n".join(records)
    for alt in likely_alternatives(encoding):
        try:
            text = joined.decode(alt)
        except UnicodeDecodeError:
            continue
        odd = _odd_chars(text, alt, encoding)
        if 2 * sum(map(_japanese_letter, odd)) > len(odd) and not any(_also_other(ch, alt) for ch in odd):
            return alt
    return None


def _odd_chars(text: str, alt: str, declared: str) -> list[str]:
    """The distinct characters of `text` (read in `alt`) that `declared` cannot read: a few hundred at most."""
    out = []
    for ch in set(text):
        if ch < "\x80":
            continue
        try:
            ch.encode(alt).decode(declared)
        except UnicodeError:
            out.append(ch)
    return out


def _japanese_letter(ch: str) -> bool:
    """Kanji or kana, what names and addresses hold: the characters a declared encoding lacks must mostly be these
    for another encoding to be named (a damaged byte pair of a CP932 file that Shift_JIS-2004 happens to define,
    0x85 0x40, reads as €: that is damage, not an encoding)."""
    import unicodedata

    return unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA"))


# bytes an alternative reads as one character and a variant Python has no codec for as another: not named there.
# EUC-JIS-2004 vs eucJP-ms (an EUC-JP export of a Windows system): row 13 (0xAD: NEC specials), rows 85–94
# (0xF5–0xFE: user-defined 外字, IBM extension kanji) and JIS X 0212 rows 83–94 (0x8F 0xF3–0xFE): JIS X 0213 has
# other kanji there, so a vendor's 外字 or 髙 would load as another real kanji.
def _also_other(ch: str, alt: str) -> bool:
    if alt != "euc_jis_2004":
        return False
    b = ch.encode(alt)
    return b[0] == 0xAD or b[0] >= 0xF5 or (b[0] == 0x8F and len(b) > 1 and b[1] >= 0xF3)


def likely_hint(likely: str) -> tuple[str, str]:
    """The sentence added to an extract.decode message when the file reads as `likely` (Japanese, English)."""
    name = ENCODING_NAMES.get(likely, likely)
    return (f"{name} として読めます: layout の encoding を確認してください (encoding: {likely})",
            f"the file reads as {name}: check the layout's encoding (encoding: {likely})")


def with_likely_encoding(found: pl.DataFrame, likely: str | None) -> pl.DataFrame:
    """Findings (message_ja, message_en, rule) with `likely_hint` added to every extract.decode one."""
    if likely is None or found.height == 0 or "rule" not in found.columns:
        return found
    ja, en = likely_hint(likely)
    hit = pl.col("rule") == "extract.decode"
    return found.with_columns(pl.when(hit).then(pl.col("message_ja") + f"。{ja}").otherwise("message_ja")
                              .alias("message_ja"),
                              pl.when(hit).then(pl.col("message_en") + f"; {en}").otherwise("message_en")
                              .alias("message_en"))
