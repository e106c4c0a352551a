"""文字同定: identify every character of the text columns against the MJ dictionary.

A character is a base code point plus its optional variation selector (SVS U+FE00–FE0F, IVS
U+E0100–E01EF). The values are decoded to code points at once (joined by Polars, widened to UCS-4 by
numpy, no per-row Python) and counted per character (bincount); only the DISTINCT
characters are classified (dict lookups in the dictionary's index, built once per loaded
dictionary; scope by code point ranges); one more pass over the code points finds the values
holding an unresolved character or one to rewrite; the rewrite back into the column is a
`str.replace_many` with the few characters whose output differs (外字 → MJ glyph), on those rows, each
sequence holding one of their code points listed as itself (`_guards`), so only whole characters change. `identify_lazy` gathers the distinct values from
a streaming scan and returns what applies to any batch of it, so a table larger than memory can be
identified; `identify_frame` works on a frame in memory: its columns are decoded as they are (no
grouping into distinct values, which costs more than it saves when names are mostly distinct), and
only the rows holding a character to rewrite or an unresolved one are touched again.

Outcomes per character, in this order of precedence:
  mj          exact key of the dictionary (実装したUCS, IVS or SVS sequence)
  gaiji       a private-use 外字 listed in the 団体's 外字 table (code,mj)
  invalid     not text at all: a format or invisible character (Unicode Cf, Zl, Zp: U+200B, U+FEFF,
              U+202E, U+2028 …), a control character other than CR/LF, U+FFFD (the data was damaged
              before export) or a noncharacter. Nobody can decide it onto a glyph, so the row is held
              (moji.step: rule moji.invalid_char, error)
  decided     a reviewer's decision from the 同定台帳 (moji.ledger)
  unresolved  an ideograph, private-use character or variation sequence none of the above knows, and
              any other character outside the allowed repertoire (emoji, Hangul, a combining mark
              left over): a warning (moji.unresolved) that blocks sign-off until decided
  passthrough a character of the allowed repertoire outside MJ's scope (`text_repertoire`: the
              non-kanji of JIS X 0208/0213 and their CP932 forms, JIS X 0201: kana, Latin, digits,
              punctuation, full-width forms, spaces)

A kana followed by a combining (semi-)voiced mark (カ+U+3099, as macOS and NFD exports write it) is
composed first (ガ), by a replace of exactly those pairs: never NFC, which would also fold the CJK
compatibility ideographs (U+F91D 欄 → U+6B04) onto other glyphs.

Half-width kana (JIS X 0201, U+FF61–FF9F: ﾀﾅｶ, ｶﾞ, ･) are made full width before that (ｶﾞ → ガ, ﾊﾟ → パ, the
marks combined as the フリガナ's kana_fullwidth op combines them): the standard keeps names in full width and a
standard system does not expect JIS X 0201 kana in one, nor are they MJ characters. Every cell converted is a
warning `moji.halfwidth_kana` (the step), so the PM sees how many, and the diff explains the change through
`kana_compositions`.
"""
from __future__ import annotations

import csv
import functools
import io
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import polars as pl

from ikou.errors import ConfigError
from ikou.moji.dictionary import MojiDictionary

if TYPE_CHECKING:  # pragma: no cover
    from ikou.moji.ledger import Ledger

# A character: a code point and at most one variation selector or combining mark joined to it (the JIS X 0213
# characters か゚ U+304B U+309A, æ̀ U+00E6 U+0300 are two code points; a JIS X 0213 combining mark is text after
# its base). Kept in step with `_decode` (_ATTACHABLE).
CHAR_RE = r"(?s).[\x{FE00}-\x{FE0F}\x{E0100}-\x{E01EF}\x{0300}-\x{036F}\x{3099}\x{309A}]?"
_VS_RE = r"[\x{FE00}-\x{FE0F}\x{E0100}-\x{E01EF}]"
_PUA_RE = r"^[\x{E000}-\x{F8FF}\x{F0000}-\x{FFFFD}\x{100000}-\x{10FFFD}]"
# Ideographs and ideographic marks that belong to MJ's scope when not found in the dictionary.
_IDEO_RE = (r"^[\x{2E80}-\x{2FDF}\x{3005}-\x{3007}\x{3021}-\x{3029}\x{3038}-\x{303B}"
            r"\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}\x{F900}-\x{FAFF}\x{20000}-\x{3FFFF}]")
# The ideographs proper: MJ's scope even where a JIS repertoire lists them. The ideographic marks of _IDEO_RE
# (〇 U+3007, a JIS X 0208 character) pass through when the repertoire holds them and MJ does not.
_KANJI_RE = r"^[\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}\x{F900}-\x{FAFF}\x{20000}-\x{3FFFF}]"

_NONCHARACTERS = [(0xFDD0, 0xFDEF)] + [(p << 16 | 0xFFFE, p << 16 | 0xFFFF) for p in range(17)]
# Not text (`invalid`): format and invisible characters, separators, controls but CR/LF, U+FFFD, noncharacters.
_INVALID_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")
_INVALID_RE = (r"^[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\x{FFFD}"
               + "".join(f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in _NONCHARACTERS) + "]")


def _invalid_cp(cp: int) -> bool:
    """A code point that is not text (see `invalid` above); CR and LF are text here: the extract lets a
    line break through only in a column its layout marks `line_breaks: true` (a table's, or a csv's with
    quoted_newlines), and holds it anywhere else."""
    if cp in (0x0A, 0x0D):
        return False
    if cp == 0xFFFD or (cp & 0xFFFE) == 0xFFFE or 0xFDD0 <= cp <= 0xFDEF:   # U+FFFD, the noncharacters
        return True
    return unicodedata.category(chr(cp)) in _INVALID_CATEGORIES


STATUSES = ("mj", "gaiji", "decided", "unresolved", "passthrough")
INVALID = "invalid"   # counted only when present: every summary so far has the five above
TOKEN_PASSTHROUGH = "-"
TOKEN_UNRESOLVED = "?"
TOKEN_INVALID = "!"

# The finding a character that is not text gives (moji.step holds its row); one line each, code points only.
RULE_INVALID = "moji.invalid_char"
# A 外字 (or decided character) whose MJ glyph has no code point (no 実装したUCS/IVS): the private-use code is
# loaded as it is (nothing is lost), which the new system cannot read: a warning naming code and glyph.
RULE_UNWRITABLE = "moji.gaiji_unwritable"
# Half-width kana made full width (`_widen`): the row is loaded, a warning per cell says so (values never shown).
RULE_HALFWIDTH = "moji.halfwidth_kana"
RULE_MESSAGES = {
    RULE_INVALID: ("見えない書式文字・区切り文字・制御文字、または置換文字 U+FFFD (出力前に壊れたデータ) があり、取り込めません",
                   "holds an invisible format, separator or control character, or U+FFFD (data damaged before "
                   "export): not loaded"),
    RULE_UNWRITABLE: ("外字の同定先 MJ 文字図形にコードポイント (実装したUCS・IVS) がないため、外字コードのまま移行します",
                      "the 外字's MJ glyph has no code point (no 実装したUCS/IVS): the private-use code is loaded "
                      "as it is"),
    RULE_HALFWIDTH: ("半角カナ (JIS X 0201) を全角カナに変換して移行します (標準では氏名等は全角です。元の値を確認してください)",
                     "half-width kana (JIS X 0201) converted to full-width kana (the standard keeps names in full "
                     "width: check the source value)"),
}

CHARS_SCHEMA = {
    "column": pl.String, "char": pl.String, "codepoints": pl.String, "status": pl.String,
    "mj_name": pl.String, "output": pl.String, "occurrences": pl.Int64,
}


def _no_rows() -> pl.DataFrame:
    return pl.DataFrame(schema={"column": pl.String, "chars": pl.String})


@dataclass
class MojiResult:
    frame: pl.DataFrame | None     # same rows and columns; moji columns rewritten (外字 → MJ glyph);
                                   # None where the stage streamed the rewrite to Parquet instead
    chars: pl.DataFrame            # one row per distinct (column, char), see CHARS_SCHEMA
    unresolved_rows: pl.DataFrame  # key cols, column, chars (the unresolved characters of that cell)
    counts: dict[str, int] = field(default_factory=dict)  # occurrences per status
    invalid_rows: pl.DataFrame = field(default_factory=_no_rows)   # as unresolved_rows: cells holding an
                                                                   # invalid character (the step holds the row)
    unwritable_rows: pl.DataFrame = field(default_factory=_no_rows)   # as unresolved_rows: cells holding a
                                                                      # 外字 kept as its code (`unwritable`)
    halfwidth_rows: pl.DataFrame = field(default_factory=_no_rows)    # as unresolved_rows: cells whose half-width
                                                                      # kana were made full width (`_widen`)
    widened: pl.DataFrame = field(default_factory=lambda: _widened_schema())   # column, char, codepoints,
                                                                               # occurrences: what `_widen` converted


@dataclass
class Identification:
    """The verdict on every distinct character of the moji columns, taken from their distinct values.

    It is small (distinct characters, and the few distinct values that hold unresolved ones), so a
    streaming scan or any number of batches can be rewritten and flagged with it without the table
    ever being in memory whole.
    """
    columns: list[str]
    chars: pl.DataFrame              # one row per distinct (column, char), see CHARS_SCHEMA
    counts: dict[str, int]           # occurrences per status
    rewrite: pl.DataFrame            # char, output: the characters whose output differs, and the sequences
                                     # holding one of their code points as themselves (_guards), longest first
    unresolved_values: pl.DataFrame  # column, value, chars: distinct values holding unresolved characters
    null_columns: list[str] = field(default_factory=list)   # typed Null in the input: read as text
    invalid_values: pl.DataFrame = field(default_factory=lambda: _values_schema())   # the same, invalid
    unwritable_values: pl.DataFrame = field(default_factory=lambda: _values_schema())   # the same, `unwritable`
    halfwidth_values: pl.DataFrame = field(default_factory=lambda: _values_schema())   # the same, half-width kana
    widened: pl.DataFrame = field(default_factory=lambda: _widened_schema())   # column, char, codepoints, occurrences

    def rewrite_exprs(self) -> list[pl.Expr]:
        """The moji columns as text with 外字 and decided characters replaced by their MJ glyph."""
        exprs = [pl.col(c).cast(pl.String) if c in self.null_columns else pl.col(c) for c in self.columns]
        if self.rewrite.height:
            pats, reps = self.rewrite["char"].to_list(), self.rewrite["output"].to_list()
            exprs = [e.str.replace_many(pats, reps, leftmost=True) for e in exprs]
        return exprs

    def unresolved_rows(self, lf: pl.LazyFrame, key_columns: Sequence[str]) -> pl.LazyFrame:
        """key columns, column, chars: one row per key and column holding unresolved characters.

        Rows are found by value (is_in the few distinct values that hold unresolved characters),
        so a scan streams through and only the matching rows are kept.
        """
        return self._cells(self.unresolved_values, lf, key_columns)

    def invalid_rows(self, lf: pl.LazyFrame, key_columns: Sequence[str]) -> pl.LazyFrame:
        """As `unresolved_rows`, for the invalid characters (the rows the step holds)."""
        return self._cells(self.invalid_values, lf, key_columns)

    def unwritable_rows(self, lf: pl.LazyFrame, key_columns: Sequence[str]) -> pl.LazyFrame:
        """As `unresolved_rows`, for the 外字 kept as their code (`unwritable`: a warning each)."""
        return self._cells(self.unwritable_values, lf, key_columns)

    def halfwidth_rows(self, lf: pl.LazyFrame, key_columns: Sequence[str]) -> pl.LazyFrame:
        """As `unresolved_rows`, for the cells whose half-width kana are made full width (a warning each)."""
        return self._cells(self.halfwidth_values, lf, key_columns)

    def _cells(self, values: pl.DataFrame, lf: pl.LazyFrame, key_columns: Sequence[str]) -> pl.LazyFrame:
        keys = list(key_columns)
        schema = lf.collect_schema()
        ur_schema = {k: schema[k] for k in keys} | {"column": pl.String, "chars": pl.String}
        if not values.height:
            return pl.LazyFrame(schema=ur_schema)
        lf = lf.with_columns(pl.col(c).cast(pl.String) for c in self.null_columns)
        parts = []
        for c in self.columns:
            vals = values.filter(pl.col("column") == c).select(
                pl.col("value").alias("_moji_value"), "chars")
            parts.append(
                lf.select(*keys, pl.col(c).alias("_moji_value"))
                .filter(pl.col("_moji_value").is_in(vals["_moji_value"].implode()))
                .join(vals.lazy(), on="_moji_value", how="left", maintain_order="left")
                .select(*keys, pl.col("chars").str.extract_all(CHAR_RE).alias("char"))
                .explode("char")
                .group_by(keys, maintain_order=True)
                .agg(pl.col("char").unique(maintain_order=True).str.join("").alias("chars"))
                .with_columns(pl.lit(c).alias("column")))
        return pl.concat(parts).select(list(ur_schema))


def codepoints(s: str) -> str:
    return " ".join(f"U+{ord(c):04X}" for c in s)


def _utf8_codepoint(ch: pl.Expr) -> pl.Expr:
    """The code point of a one-character string, from its UTF-8 bytes (a Polars string is valid UTF-8)."""
    b = ch.cast(pl.Binary)
    byte = [b.bin.get(i, null_on_oob=True).cast(pl.Int64) for i in range(4)]
    n = ch.str.len_bytes()
    cont = [x - 0x80 for x in byte[1:]]   # 10xxxxxx
    return (pl.when(n == 1).then(byte[0])
            .when(n == 2).then((byte[0] - 0xC0) * 0x40 + cont[0])
            .when(n == 3).then((byte[0] - 0xE0) * 0x1000 + cont[0] * 0x40 + cont[1])
            .otherwise((byte[0] - 0xF0) * 0x40000 + cont[0] * 0x1000 + cont[1] * 0x40 + cont[2]))


_HEX = list("0123456789ABCDEF")


def codepoints_expr(text: pl.Expr) -> pl.Expr:
    """`codepoints` as an expression ('髙󠄀' → 'U+9AD9 U+E0100'), for the flagged and held cells
    (`with_codepoints`): no Python call per row."""
    cp = _utf8_codepoint(pl.element())
    digit = [(cp // 16 ** k % 16).replace_strict(list(range(16)), _HEX, return_dtype=pl.String)
             for k in range(6)]
    hexa = pl.concat_str([pl.lit("U+"), pl.when(cp >= 0x100000).then(digit[5]),
                          pl.when(cp >= 0x10000).then(digit[4]), digit[3], digit[2], digit[1], digit[0]],
                         ignore_nulls=True)
    return text.str.extract_all(r"(?s).").list.eval(hexa).list.join(" ")


def with_codepoints(frame: pl.DataFrame, column: str, alias: str) -> pl.DataFrame:
    """`frame` with `codepoints` of `column` as `alias`, worked out once per distinct value and joined back:
    a probe had 600k unresolved cells; at 500k cells of 7,119 distinct values 0.12 s, where a Python call
    per cell took 1.38 s (bench/README.md). Null stays null."""
    distinct = frame.select(pl.col(column).unique().drop_nulls())
    return frame.join(distinct.with_columns(codepoints_expr(pl.col(column)).alias(alias)), on=column, how="left",
                      maintain_order="left")


def parse_codepoints(s: str) -> str:
    """'U+9AD9 U+E0100' (or 'U+9AD9') → the character sequence."""
    try:
        return "".join(chr(int(p[2:], 16)) for p in s.split() if p.upper().startswith("U+"))
    except ValueError as exc:
        raise ValueError(f"bad code point list {s!r}") from exc


_GAIJI_CODE_RE = r"^U\+[0-9A-Fa-f]{4,6}$"
_GAIJI_MJ_RE = r"^MJ\d{6}$"


def _is_pua(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _PUA_RANGES)


def load_gaiji_table(path: Path, dictionary: MojiDictionary | None = None) -> pl.DataFrame:
    """The 団体's 外字 table, CSV `code,mj` (code as U+XXXX in a private-use area; other columns allowed).

    Returns code (the PUA character), mj (MJ文字図形名). A malformed table is a ConfigError naming
    the file and the line(s): a wrong 外字 table would silently corrupt every name that uses it. So a
    code point listed twice with different glyphs is refused (U+E000 and U+0E000 are the same code
    point: neither line may silently win); listed twice with the same glyph it is kept once (a
    repeated line changes nothing). Blank lines (Excel ends a sheet with `,` or empty lines) and `#`
    comment lines are skipped; lines are counted as in an editor (the header is line 1).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read 外字 table: {exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: 外字 table is not UTF-8 (save it as CSV UTF-8)") from None
    rows = _csv_rows(text)
    if not rows:
        raise ConfigError(f"{path}: 外字 table needs columns code,mj (the file is empty)")
    _, header = rows[0]
    names = [h.strip() for h in header]
    if not {"code", "mj"} <= set(names):
        raise ConfigError(f"{path}: 外字 table needs columns code,mj (has {names})")
    ci, mi = names.index("code"), names.index("mj")
    entries = [(line, (r[ci] if ci < len(r) else "").strip(), (r[mi] if mi < len(r) else "").strip())
               for line, r in rows[1:]]
    f = pl.DataFrame(entries, schema={"line": pl.Int64, "code": pl.String, "mj": pl.String}, orient="row")
    bad = f.filter(~pl.col("code").str.contains(_GAIJI_CODE_RE) | ~pl.col("mj").str.contains(_GAIJI_MJ_RE))
    if bad.height:
        r = bad.row(0, named=True)
        raise ConfigError(f"{path}: line {r['line']}: code must be U+XXXX and mj MJnnnnnn "
                          f"(got {r['code']!r}, {r['mj']!r}); {bad.height} bad line(s)")
    f = f.with_columns(pl.col("code").str.slice(2).str.to_integer(base=16).alias("cp"))
    notpua = f.filter(~pl.col("cp").map_elements(_is_pua, return_dtype=pl.Boolean))
    if notpua.height:
        r = notpua.row(0, named=True)
        raise ConfigError(f"{path}: line {r['line']}: {r['code']} is not a private-use code point")
    clash = f.filter(pl.col("mj").n_unique().over("cp") > 1)
    if clash.height:
        cp = clash["cp"][0]
        lines = "; ".join(f"line {ln} {code},{mj}" for ln, code, mj in
                          clash.filter(pl.col("cp") == cp).select("line", "code", "mj").iter_rows())
        more = clash["cp"].n_unique() - 1
        raise ConfigError(f"{path}: 外字 U+{cp:04X} listed more than once with different MJ glyphs ({lines})"
                          + (f"; {more} more such code(s)" if more else ""))
    f = f.unique("cp", keep="first", maintain_order=True)
    if dictionary is not None:
        unknown = f.filter(~dictionary.has_glyph(f["mj"]))
        if unknown.height:
            shown = ", ".join(f"line {ln} ({mj})" for ln, mj in unknown.head(5).select("line", "mj").iter_rows())
            more = f" and {unknown.height - 5} more" if unknown.height > 5 else ""
            raise ConfigError(f"{path}: MJ glyph(s) not in the dictionary: {shown}{more}")
    return f.select(pl.col("cp").map_elements(chr, return_dtype=pl.String).alias("code"), "mj")


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line where the record starts, fields) of every CSV record that is neither blank nor a `#` comment."""
    out, start = [], 1
    reader = csv.reader(io.StringIO(text, newline=""))
    for fields in reader:
        line, start = start, reader.line_num + 1
        if not any(x.strip() for x in fields) or fields[0].lstrip().startswith("#"):
            continue
        out.append((line, fields))
    return out


def classify_chars(chars: pl.Series | list[str], dictionary: MojiDictionary,
                   gaiji: pl.DataFrame | None = None,
                   decisions: pl.DataFrame | None = None) -> pl.DataFrame:
    """Distinct characters → char, status, mj_name, output (joins, no per-character Python)."""
    c = pl.DataFrame({"char": pl.Series(chars, dtype=pl.String)}).unique(maintain_order=True)
    out_of = dictionary.glyphs.select("mj_name", pl.col("output").alias("_glyph_out"))
    c = c.join(dictionary.keys.select(pl.col("seq").alias("char"), pl.col("mj_name").alias("_mj")),
               on="char", how="left")
    g = gaiji if gaiji is not None else pl.DataFrame(schema={"code": pl.String, "mj": pl.String})
    c = c.join(g.select(pl.col("code").alias("char"), pl.col("mj").alias("_gaiji")), on="char", how="left")
    d = decisions if decisions is not None else pl.DataFrame(schema={"char": pl.String, "mj": pl.String})
    c = c.join(d.select("char", pl.col("mj").alias("_decided")), on="char", how="left")
    base, mark = pl.col("char").str.slice(0, 1), pl.col("char").str.slice(1, 1)
    in_scope = (base.str.contains(_PUA_RE) | base.str.contains(_KANJI_RE) | base.str.contains(_VS_RE))
    invalid = pl.col("char").str.contains(_INVALID_RE) & ~pl.col("char").str.contains(r"^[\n\r]")
    repertoire = pl.Series([chr(cp) for cp in dictionary.text_repertoire]).implode()
    single = pl.col("char").str.len_chars() == 1
    text = ((single & ~in_scope & base.is_in(repertoire))
            | pl.col("char").is_in(pl.Series(sorted(dictionary.text_sequences), dtype=pl.String).implode())
            | (~single & ~in_scope & base.is_in(repertoire)
               & mark.is_in(pl.Series([chr(m) for m in sorted(dictionary.text_marks)], dtype=pl.String).implode())))
    c = c.with_columns(
        pl.when(pl.col("_mj").is_not_null()).then(pl.lit("mj"))
        .when(pl.col("_gaiji").is_not_null()).then(pl.lit("gaiji"))
        .when(invalid).then(pl.lit(INVALID))
        .when(pl.col("_decided").is_not_null()).then(pl.lit("decided"))
        .when(text).then(pl.lit("passthrough"))
        .otherwise(pl.lit("unresolved")).alias("status"),
    )
    c = c.with_columns(pl.when(pl.col("status") != INVALID).then(pl.coalesce("_mj", "_gaiji", "_decided"))
                       .alias("mj_name"))
    c = c.join(out_of, on="mj_name", how="left")
    # a 外字/decided glyph without any code point (19 MJ glyphs have none) cannot be written: keep
    # the source character so nothing is lost
    c = c.with_columns(
        pl.when(pl.col("status").is_in(["gaiji", "decided"]))
        .then(pl.coalesce("_glyph_out", "char")).otherwise(pl.col("char")).alias("output"))
    return c.select("char", "status", "mj_name", "output")


def _column_values(lf: pl.LazyFrame, column: str) -> pl.DataFrame:
    """Distinct non-null values of one column with their row counts, from a streaming scan."""
    return (lf.select(pl.col(column).alias("v")).drop_nulls().group_by("v").agg(pl.len().alias("n"))
            .collect(engine="streaming"))


def _value_chars(values: pl.DataFrame) -> pl.LazyFrame:
    """The rows of `values` once per character of v, in order (column char)."""
    return values.lazy().with_columns(pl.col("v").str.extract_all(CHAR_RE).alias("char")).explode("char")


_VS_SHIFT = 21   # a character as one integer: base code point << 21 | variation selector (or 0)


@dataclass
class _Decoded:
    """The code points of one column's values, decoded from its UTF-8 bytes (numpy, no per-row
    Python), and where CHAR_RE joins a variation selector to the code point before it."""
    cps: np.ndarray       # every code point, in order (intp)
    first: np.ndarray     # per value: index of its first code point (ascending)
    per_value: np.ndarray # per value: number of code points
    att: np.ndarray       # positions of the VS that belong to the character before them

    def rows_of(self, pos: np.ndarray) -> np.ndarray:
        """The values (indices, ascending, once each) holding these code point positions."""
        return np.unique(np.searchsorted(self.first, pos, side="right") - 1) if pos.size else pos


_DECODE_SLICE = 65_536   # values per slice decoded at once (_decode)


def _decode(values: pl.Series) -> _Decoded:
    values = values.cast(pl.String)
    if values.null_count():
        values = values.fill_null("")
    per_value = values.str.len_chars().to_numpy()
    # slices of the values joined into one text each (Rust), handed to Python (its UTF-8 decode), widened
    # to UCS-4 by numpy (a str array stores code points: 3x CPython's UTF-32 codec) into one intp array
    # (bincount and the lookups index by intp and would each copy to it). Slices, not the whole column:
    # a text of a few MB is reused from the heap where one of 40 MB is a fresh mapping every call (its
    # page faults cost more than the decode after other work has fragmented the heap). A Polars string
    # is valid UTF-8, so every code point comes out as it is.
    cps = np.empty(int(per_value.sum(dtype=np.int64)), dtype=np.intp)
    at = 0
    for i in range(0, len(values), _DECODE_SLICE):
        text = values.slice(i, _DECODE_SLICE).str.join("").item()
        if text:
            cps[at:at + len(text)] = np.array([text]).view(np.uint32)[:len(text)]
        at += len(text)
    first = np.cumsum(per_value, dtype=np.int64) - per_value
    # CHAR_RE, left to right: a code point starts a character unless it is a VS (or a combining mark CHAR_RE
    # joins: _ATTACHABLE) directly after a code point of the same value that started one (so in a run of them
    # they alternate). They are rare: the rule is worked out on their positions only.
    high = np.flatnonzero((cps >= 0xFE00) | ((cps >= 0x0300) & (cps <= 0x036F)) | (cps == 0x3099) | (cps == 0x309A))
    hc = cps[high]
    vs_pos = high[((hc >= 0xFE00) & (hc <= 0xFE0F)) | ((hc >= 0xE0100) & (hc <= 0xE01EF)) | (hc < 0xFE00)]
    if not vs_pos.size:
        return _Decoded(cps=cps, first=first, per_value=per_value, att=vs_pos)
    row = np.searchsorted(first, vs_pos, side="right") - 1
    first_in_value = vs_pos == first[row]
    # a run: consecutive VS positions within one value
    run_start = first_in_value | np.concatenate([[True], vs_pos[1:] != vs_pos[:-1] + 1])
    k = np.arange(vs_pos.size)
    start_of = np.maximum.accumulate(np.where(run_start, k, 0))
    j = k - start_of
    attached = np.where(first_in_value[start_of], j % 2 == 1, j % 2 == 0)
    return _Decoded(cps=cps, first=first, per_value=per_value, att=vs_pos[attached])


def _seq_keys(dec: _Decoded) -> np.ndarray:
    """The base+VS characters, as integers base << _VS_SHIFT | VS, at the positions of their base."""
    return (dec.cps[dec.att - 1].astype(np.int64) << _VS_SHIFT) | dec.cps[dec.att]


def _key_chars(keys: np.ndarray) -> list[str]:
    """Integer characters back to text (distinct characters only)."""
    mask = (1 << _VS_SHIFT) - 1
    return [chr(k >> _VS_SHIFT) + (chr(k & mask) if k & mask else "") for k in keys.tolist()]


def _char_counts(dec: _Decoded, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Distinct characters (integer keys) and their occurrences, each value counted `weights` times."""
    w = None if weights is None else np.repeat(weights.astype(np.float64), dec.per_value)
    c = np.bincount(dec.cps, weights=w)
    if dec.att.size:   # a base+VS pair is one character, not its base and a VS
        aw = None if w is None else w[dec.att]
        for pos in (dec.att, dec.att - 1):   # few: no pass over the table of every code point
            np.subtract.at(c, dec.cps[pos], 1 if aw is None else aw)
    nz = np.flatnonzero(c)
    keys, counts = [nz.astype(np.int64) << _VS_SHIFT], [c[nz]]
    if dec.att.size:
        u, inv = np.unique(_seq_keys(dec), return_inverse=True)
        keys.append(u)
        counts.append(np.bincount(inv, weights=None if w is None else w[dec.att]))
    return np.concatenate(keys), np.rint(np.concatenate(counts)).astype(np.int64)


_NO_ROWS = np.zeros(0, dtype=np.int64)


def _rows_holding(dec: _Decoded, groups: list[np.ndarray]) -> list[np.ndarray]:
    """Per group of code points, the values (indices, ascending, once each) holding any of them
    anywhere: one pass over the code points for every group (a bit each in one lookup table).

    A superset of the values holding those characters (a base also found with a VS, a VS of
    another base): every caller re-checks the few values it gets, so the result stays exact."""
    out = [_NO_ROWS for _ in groups]
    if not dec.cps.size or not any(g.size for g in groups):
        return out
    lut = np.zeros(0x110000, dtype=np.uint8)   # every Unicode code point
    for bit, g in enumerate(groups):
        if g.size:
            lut[np.unique(g)] |= np.uint8(1 << bit)
    v = lut[dec.cps]
    pos = np.flatnonzero(v)
    bits = v[pos]
    for bit, g in enumerate(groups):
        if g.size:
            out[bit] = dec.rows_of(pos[(bits & (1 << bit)) != 0])
    return out


_PUA_RANGES = ((0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))
_IDEO_RANGES = ((0x2E80, 0x2FDF), (0x3005, 0x3007), (0x3021, 0x3029), (0x3038, 0x303B), (0x3400, 0x4DBF),
                (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))
_VS_RANGES = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
_KANJI_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))


def _in(cps: np.ndarray, ranges) -> np.ndarray:
    out = np.zeros(cps.shape, dtype=bool)
    for lo, hi in ranges:
        out |= (cps >= lo) & (cps <= hi)
    return out


def _classify_keys(keys: np.ndarray, texts: list[str], dictionary: MojiDictionary,
                   gaiji: pl.DataFrame | None, decisions: pl.DataFrame | None) -> pl.DataFrame:
    """classify_chars for distinct integer characters (sorted keys, their texts), by dict lookups on
    the few distinct characters and the scope by code point ranges (the same classes as _PUA_RE,
    _IDEO_RE and _VS_RE): char, status, mj_name, output, codepoints, in the order of `keys`."""
    index, glyph_out, allowed = dictionary.key_index, dictionary.glyph_output, dictionary.text_repertoire
    g = dict(zip(gaiji["code"].to_list(), gaiji["mj"].to_list())) if gaiji is not None else {}
    d = {}
    if decisions is not None:
        for ch, mj in zip(decisions["char"].to_list(), decisions["mj"].to_list()):
            d.setdefault(ch, mj)
    seqs, marks = dictionary.text_sequences, dictionary.text_marks
    base, vs = keys >> _VS_SHIFT, keys & ((1 << _VS_SHIFT) - 1)
    scope = (_in(base, _PUA_RANGES) | _in(base, _KANJI_RANGES) | _in(base, _VS_RANGES)).tolist()
    status, mj_name, output = [], [], []
    for ch, sc, b, v in zip(texts, scope, base.tolist(), vs.tolist()):
        mj = index.get(ch)
        if mj is not None:
            st = "mj"
        elif (mj := g.get(ch)) is not None:
            st = "gaiji"
        elif _invalid_cp(b):
            st = INVALID
        elif (mj := d.get(ch)) is not None:
            st = "decided"
        elif ch in seqs or (not sc and b in allowed and (v == 0 or v in marks)):
            st = "passthrough"   # JIS text: 〇, か゚, a JIS X 0213 combining mark after a base of the repertoire
        else:
            st = "unresolved"
        status.append(st)
        mj_name.append(mj)
        # a 外字/decided glyph without any code point (19 MJ glyphs have none) cannot be written: keep
        # the source character so nothing is lost
        output.append((glyph_out.get(mj) or ch) if st in ("gaiji", "decided") else ch)
    return pl.DataFrame({"char": texts, "status": status, "mj_name": mj_name, "output": output,
                         "codepoints": [f"U+{b:04X}" if not s else f"U+{b:04X} U+{s:04X}"   # codepoints(ch)
                                        for b, s in zip(base.tolist(), vs.tolist())]},
                        schema={"char": pl.String, "status": pl.String, "mj_name": pl.String,
                                "output": pl.String, "codepoints": pl.String})


def _guards(keys: np.ndarray, texts: list[str], changed: np.ndarray, patterns: list[str]) -> pl.DataFrame:
    """char → itself for every base+VS (or base+mark) sequence holding a code point of a rewrite pattern: listed
    with the rewrite (longest first, leftmost wins), a sequence is matched whole and left as it is, so a
    rewrite changes whole characters only (a decided lone U+E0100 never turns か+U+E0100 into 「か々」, a 外字 U+E000
    never loses its own selector)."""
    seq = (keys & ((1 << _VS_SHIFT) - 1)) != 0
    if not patterns or not seq.any():
        return pl.DataFrame(schema={"char": pl.String, "output": pl.String})
    used = np.fromiter({ord(c) for p in patterns for c in p}, dtype=np.int64)
    guard = seq & ~changed & (np.isin(keys >> _VS_SHIFT, used) | np.isin(keys & ((1 << _VS_SHIFT) - 1), used))
    found = [texts[i] for i in np.flatnonzero(guard).tolist()]
    return pl.DataFrame({"char": found, "output": found}, schema={"char": pl.String, "output": pl.String})


def identify_lazy(lf: pl.LazyFrame, columns: Sequence[str], *, dictionary: MojiDictionary,
                  gaiji: pl.DataFrame | None = None, ledger: "Ledger | None" = None,
                  source: str | None = None) -> Identification:
    """Identify the characters of `columns` from their distinct values (one streaming scan per column).

    Memory follows the distinct values of the moji columns, not the rows; apply the result with
    `Identification.rewrite_exprs`, `.unresolved_rows` and `.invalid_rows` to the same (or a re-opened) scan.
    `source`: the source the values come from (a 外字 decision applies to its own source only).
    """
    columns = list(columns)
    null_columns, decisions = _check(columns, lf.collect_schema(), dictionary, gaiji, ledger, source)
    lf = lf.with_columns(pl.col(c).cast(pl.String) for c in null_columns)
    values = {c: _column_values(lf, c) for c in columns}
    ident, _, _ = _identify({c: (v["v"], v["n"].to_numpy()) for c, v in values.items()},
                            dictionary=dictionary, gaiji=gaiji, decisions=decisions,
                            null_columns=null_columns)
    return ident


def _check(columns: list[str], schema, dictionary: MojiDictionary, gaiji: pl.DataFrame | None,
           ledger: "Ledger | None", source: str | None = None) -> tuple[list[str], pl.DataFrame | None]:
    missing = [c for c in columns if c not in schema]
    if missing:
        raise ConfigError(f"moji columns not in the frame: {missing}")
    if gaiji is not None:
        unknown = [m for m in gaiji["mj"].to_list() if m is not None and m not in dictionary.glyph_output]
        if unknown:
            raise ConfigError(f"外字 table names MJ glyphs not in the dictionary: {unknown[:5]}")
    if ledger is not None:
        ledger.validate(dictionary)
    # an all-null column read without a type is Null: make it text so the string ops apply
    return ([c for c in columns if schema[c] == pl.Null],
            ledger.decisions_frame(source) if ledger is not None else None)


_MARKS = (0x3099, 0x309A)   # combining (semi-)voiced sound marks


@functools.lru_cache(maxsize=1)
def _kana_compositions() -> dict[int, str]:
    """kana << _VS_SHIFT | mark → the precomposed kana (カ+U+3099 → ガ): the 58 pairs NFC composes
    in the kana blocks, and nothing else (a blanket NFC would fold compatibility ideographs)."""
    out = {}
    for cp in range(0x3040, 0x3100):
        d = unicodedata.normalize("NFD", chr(cp))
        if len(d) == 2 and ord(d[1]) in _MARKS and unicodedata.normalize("NFC", d) == chr(cp):
            out[ord(d[0]) << _VS_SHIFT | ord(d[1])] = chr(cp)
    return out


def kana_compositions() -> dict[str, str]:
    """The kana + combining mark pairs 文字同定 composes, as text (カ\u3099 → ガ), and the half-width kana it makes
    full width (ｶﾞ → ガ, ｶ → カ: `halfwidth_kana`): for the diff, which explains them as changes made on purpose."""
    return {chr(k >> _VS_SHIFT) + chr(k & ((1 << _VS_SHIFT) - 1)): v for k, v in _kana_compositions().items()} \
        | halfwidth_kana()


HALF_KANA = (0xFF61, 0xFF9F)   # JIS X 0201 kana: ｡｢｣､･ ｦ…ﾝ ﾞ ﾟ


@functools.lru_cache(maxsize=1)
def _halfwidth_table() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Patterns → replacements for one leftmost-first `replace_many`, the pairs first (they win where they start).

    As the フリガナ's kana_fullwidth op (mappings.ops._kana_table): a half-width kana followed by ﾞ ﾟ or a combining
    U+3099/U+309A, or a full-width kana followed by ﾞ ﾟ, becomes its precomposed letter wherever Unicode has one
    (NFC decides: ｶﾞ ガ, ﾜﾞ ヷ, ｳﾞ ヴ, カﾞ ガ); every other half-width form its NFKC full width (ｰ ー, ･ ・, ｡ 。), and
    a ﾞ ﾟ left over (ｲﾞ: no precomposed letter) the spacing ゛ ゜ (NFKC would make it a combining mark). A full-width
    kana + combining mark is `_compose`'s."""
    half = [chr(c) for c in range(HALF_KANA[0], HALF_KANA[1] + 1)]
    single = {ch: unicodedata.normalize("NFKC", ch) for ch in half} | {"ﾞ": "゛", "ﾟ": "゜"}
    full = [chr(c) for c in (*range(0x3041, 0x3097), 0x309D, *range(0x30A1, 0x30FB), 0x30FD)]
    comb = {"ﾞ": "\u3099", "ﾟ": "\u309a", "\u3099": "\u3099", "\u309a": "\u309a"}
    pairs = [(b + m, z) for b in half if b not in comb for m, c in comb.items()
             if len(z := unicodedata.normalize("NFC", single[b] + c)) == 1]
    pairs += [(b + m, z) for b in full for m in "ﾞﾟ" if len(z := unicodedata.normalize("NFC", b + comb[m])) == 1]
    pairs += [(ch, z) for ch, z in single.items() if z != ch]
    return tuple(a for a, _ in pairs), tuple(b for _, b in pairs)


def halfwidth_kana() -> dict[str, str]:
    """What 文字同定 makes of half-width kana in a moji column (ｶﾞ → ガ, ﾀ → タ, ･ → ・), pairs first."""
    return dict(zip(*_halfwidth_table()))


def _half_chars(column: str, keys: np.ndarray, counts: np.ndarray) -> pl.DataFrame:
    """column, char, codepoints, occurrences of the half-width kana among a column's distinct characters (a
    half-width kana with a combining mark joined is one character, as CHAR_RE reads it)."""
    pick = np.flatnonzero(((keys >> _VS_SHIFT) >= HALF_KANA[0]) & ((keys >> _VS_SHIFT) <= HALF_KANA[1]))
    texts = _key_chars(keys[pick])
    return pl.DataFrame({"column": [column] * len(texts), "char": texts, "codepoints": [codepoints(t) for t in texts],
                         "occurrences": counts[pick].tolist()}, schema=_widened_schema().schema)


def _widen(values: pl.Series, dec: _Decoded,
           keys: np.ndarray) -> tuple[pl.Series, _Decoded, dict[str, str], np.ndarray]:
    """The values with their half-width kana made full width (`_halfwidth_table`), their code points, the
    replacements that apply to the distinct characters `keys` (for a batch read as it is) and the values
    (indices) changed. Only the values holding one are replaced (gather, one replace_many, scatter); nothing to do
    (no half-width kana among the distinct characters) costs nothing."""
    base = keys >> _VS_SHIFT
    if not ((base >= HALF_KANA[0]) & (base <= HALF_KANA[1])).any():
        return values, dec, {}, _NO_ROWS
    at = dec.rows_of(np.flatnonzero((dec.cps >= HALF_KANA[0]) & (dec.cps <= HALF_KANA[1])))
    pats, reps = _halfwidth_table()
    # the patterns whose characters all occur among the distinct ones (a pair: both its halves): a superset of
    # those a batch needs, from the few distinct characters, not the values
    present = set(_key_chars(keys))
    present |= {ch[0] for ch in present}
    found = {p: r for p, r in zip(pats, reps) if p in present or (len(p) == 2 and p[0] in present and p[1] in present)}
    col = values.cast(pl.String)
    fixed = col.gather(at).str.replace_many(list(pats), list(reps), leftmost=True)
    col = col.clone().scatter(at, fixed)
    return col, _decode(col), found, at


def _compose(values: pl.Series, dec: _Decoded, keys: np.ndarray) -> tuple[pl.Series, _Decoded, dict[str, str]]:
    """The values with every kana + combining voiced mark composed, their code points, and the pairs
    composed (pair → kana). Nothing to do (no mark among the distinct characters `keys`) costs nothing."""
    marks = np.array(_MARKS, dtype=np.int64)
    if not (np.isin(keys & ((1 << _VS_SHIFT) - 1), marks).any() or np.isin(keys >> _VS_SHIFT, marks).any()):
        return values, dec, {}
    pos = np.flatnonzero((dec.cps == _MARKS[0]) | (dec.cps == _MARKS[1]))
    pos = pos[~np.isin(pos, dec.first)]   # a mark that starts its value has no kana before it
    pairs = (dec.cps[pos - 1].astype(np.int64) << _VS_SHIFT) | dec.cps[pos]
    table = _kana_compositions()
    composable = np.isin(pairs, np.fromiter(table, dtype=np.int64))
    if not composable.any():
        return values, dec, {}
    found = {chr(k >> _VS_SHIFT) + chr(k & ((1 << _VS_SHIFT) - 1)): table[k]
             for k in np.unique(pairs[composable]).tolist()}
    at = dec.rows_of(pos[composable])
    col = values.cast(pl.String)
    fixed = col.gather(at).str.replace_many(list(found), list(found.values()))
    col = col.clone().scatter(at, fixed)
    return col, _decode(col), found


def unwritable_count(chars: pl.DataFrame) -> int:
    """Occurrences of 外字/decided characters kept as their code: their MJ glyph has no code point."""
    return int(chars.filter(pl.col("status").is_in(["gaiji", "decided"]) & (pl.col("output") == pl.col("char")))
               ["occurrences"].sum())


def status_counts(chars: pl.DataFrame) -> dict[str, int]:
    """Occurrences per status: the five always, `invalid` when there is any."""
    totals = dict(chars.group_by("status").agg(pl.col("occurrences").sum()).iter_rows())
    counts = {s: int(totals.get(s, 0)) for s in STATUSES}
    if totals.get(INVALID):
        counts[INVALID] = int(totals[INVALID])
    return counts


def _values_schema() -> pl.DataFrame:
    return pl.DataFrame(schema={"column": pl.String, "value": pl.String, "chars": pl.String})


def _widened_schema() -> pl.DataFrame:
    return pl.DataFrame(schema={"column": pl.String, "char": pl.String, "codepoints": pl.String,
                                "occurrences": pl.Int64})


def _values_holding(raw: pl.Series, text: pl.Series, at: np.ndarray, column: str,
                    chars: pl.Series) -> pl.LazyFrame:
    """column, value, chars: the distinct values (as read: what finds their rows again) among `at` holding
    any of `chars` in their identified text, each with those characters once, in order."""
    return (_value_chars(pl.DataFrame({"value": raw.cast(pl.String).gather(at), "v": text.cast(pl.String).gather(at)}))
            .filter(pl.col("char").is_in(chars.implode()))
            .group_by("value", maintain_order=True)
            .agg(pl.col("char").unique(maintain_order=True).str.join("").alias("chars"))
            .select(pl.lit(column).alias("column"), "value", "chars"))


def _identify(sources: dict[str, tuple[pl.Series, np.ndarray | None]], *,
              dictionary: MojiDictionary, gaiji: pl.DataFrame | None,
              decisions: pl.DataFrame | None,
              null_columns: list[str], decoded: dict[str, _Decoded] | None = None,
              ) -> tuple[Identification, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], dict[str, pl.Series]]:
    """The verdict from each column's values (distinct values with their row counts as weights,
    or the rows themselves with None): the characters are decoded and counted on the values'
    code points at once (numpy), only the distinct characters are looked up.

    Also returns, per column, the values (indices) holding an unresolved character, those holding
    the first code point of a rewrite and those holding an invalid character (supersets, one pass
    over the code points), and those whose half-width kana were made full width (exact); and the columns whose
    values changed by widening half-width kana or composing kana + voiced mark."""
    if decoded is None:
        decoded = {c: _decode(v) for c, (v, _) in sources.items()}
    counted = {c: _char_counts(decoded[c], w) for c, (_, w) in sources.items()}
    composed: dict[str, pl.Series] = {}
    compositions: dict[str, str] = {}
    widened_at: dict[str, np.ndarray] = {}   # per column, the values whose half-width kana were made full width
    widened: list[pl.DataFrame] = []
    for c, (v, w) in sources.items():
        text, dec, found, at = _widen(v, decoded[c], counted[c][0])
        if found:
            widened.append(_half_chars(c, *counted[c]))
            composed[c], decoded[c], counted[c] = text, dec, _char_counts(dec, w)
            compositions.update(found)
            widened_at[c] = at
        text, dec, found = _compose(composed.get(c, v), decoded[c], counted[c][0])
        if found:
            composed[c], decoded[c], counted[c] = text, dec, _char_counts(dec, w)
            compositions.update(found)
    keys = (np.unique(np.concatenate([k for k, _ in counted.values()])) if counted
            else np.zeros(0, dtype=np.int64))
    texts = _key_chars(keys)
    classified = _classify_keys(keys, texts, dictionary, gaiji, decisions)
    at = [np.searchsorted(keys, k) for k, _ in counted.values()]
    chars = (classified[np.concatenate(at) if at else []]
             .with_columns(pl.Series("column", np.repeat(list(counted), [len(a) for a in at]) if at else [],
                                     dtype=pl.String),
                           pl.Series("occurrences", np.concatenate([n for _, n in counted.values()]) if at else [],
                                     dtype=pl.Int64))
             .select([pl.col(k).cast(v) for k, v in CHARS_SCHEMA.items()])
             .sort("column", "occurrences", "char", descending=[False, True, False]))
    status = np.array(classified["status"].to_list(), dtype=object)
    changed = np.array([o != ch for o, ch in zip(classified["output"].to_list(), texts)], dtype=bool)
    replaced = classified.filter(pl.Series(changed)).select("char", "output")
    first = np.array([ord(ch[0]) for ch in replaced["char"].to_list()], dtype=np.int64)   # a base+VS: its base
    # what a batch read as it is needs: the kana compositions too (identify_frame composed its own already);
    # longer sequences first so a base+VS pattern wins over its bare base
    mask = (1 << _VS_SHIFT) - 1
    rewrite = (pl.concat([replaced, pl.DataFrame({"char": list(compositions), "output": list(compositions.values())},
                                                 schema={"char": pl.String, "output": pl.String}),
                          _guards(keys, texts, changed, replaced["char"].to_list() + list(compositions))])
               .sort(pl.col("char").str.len_chars(), "char", descending=[True, False]))

    def finding(keys_of: np.ndarray) -> np.ndarray:   # the code points that find them: a plain character's
        return np.where((keys_of & mask) != 0, keys_of & mask, keys_of >> _VS_SHIFT)   # own, a sequence's VS

    ukeys = keys[status == "unresolved"] if keys.size else keys
    ikeys = keys[status == INVALID] if keys.size else keys
    # a 外字/decided character whose glyph has no code point: kept as it is (`unwritable`)
    wkeys = keys[np.isin(status, ["gaiji", "decided"]) & ~changed] if keys.size else keys
    rows = {c: tuple(_rows_holding(decoded[c], [finding(ukeys), first, finding(ikeys), finding(wkeys)]))
            for c in sources}

    # the distinct values holding unresolved (invalid) characters, each with those characters once, in
    # order: what finds the rows to flag (hold) without reading the table again character by character
    def values_with(st: str, which: int) -> pl.DataFrame:
        found = pl.Series([t for t, x, ch in zip(texts, status, changed) if x == st or
                           (st == "unwritable" and x in ("gaiji", "decided") and not ch)], dtype=pl.String)
        if not found.len():
            return _values_schema()
        return pl.concat(pl.collect_all(_values_holding(v, composed.get(c, v), rows[c][which], c, found)
                                        for c, (v, _) in sources.items()))

    # the distinct values (as read) holding half-width kana, each with those characters once, in order
    half = pl.concat(widened)["char"] if widened else None
    halfwidth_values = (pl.concat(pl.collect_all(_values_holding(v, v, widened_at[c], c, half)
                                                 for c, (v, _) in sources.items() if c in widened_at))
                        if widened_at else _values_schema())
    rows = {c: (*r, widened_at.get(c, _NO_ROWS)) for c, r in rows.items()}
    return Identification(columns=list(sources), chars=chars, counts=status_counts(chars), rewrite=rewrite,
                          unresolved_values=values_with("unresolved", 0), null_columns=null_columns,
                          invalid_values=values_with(INVALID, 2),
                          unwritable_values=values_with("unwritable", 3), halfwidth_values=halfwidth_values,
                          widened=pl.concat(widened) if widened else _widened_schema()), rows, composed


def identify_frame(df: pl.DataFrame, columns: Sequence[str], *, dictionary: MojiDictionary,
                   gaiji: pl.DataFrame | None = None, ledger: "Ledger | None" = None,
                   key_columns: Sequence[str] = ("_row_id",), source: str | None = None) -> MojiResult:
    """Identify the characters of `columns`; rewrite 外字 and decided characters to their MJ glyph
    (and, before anything is identified, half-width kana to full width and kana + combining voiced mark to the
    composed kana).

    The frame is in memory already, so its columns are decoded as they are (no grouping into
    distinct values first: with mostly distinct names that costs more than it saves), and only
    the rows that hold a character to rewrite, an unresolved or an invalid one are touched again.
    `source`: the source the rows come from (a 外字 decision applies to its own source only).
    """
    columns = list(columns)
    null_columns, decisions = _check(columns, df.schema, dictionary, gaiji, ledger, source)
    decoded = {c: _decode(df[c]) for c in columns}
    ident, rows, composed = _identify({c: (df[c], None) for c in columns},
                                      dictionary=dictionary, gaiji=gaiji, decisions=decisions,
                                      null_columns=null_columns, decoded=decoded)
    keys = [k for k in key_columns if k in df.columns]
    frame = df.with_columns(pl.col(c).cast(pl.String) for c in null_columns)
    if composed:
        frame = frame.with_columns(composed.values())
    if ident.rewrite.height:
        pats, reps = ident.rewrite["char"].to_list(), ident.rewrite["output"].to_list()
        # every row holding the first code point of a pattern: a superset of the rows
        # replace_many changes, so the result is the same as replacing in every row
        new = []
        for c in columns:
            at = rows[c][1]
            if at.size:
                col = frame[c]
                fixed = col.gather(at).str.replace_many(pats, reps, leftmost=True)
                new.append(col.clone().scatter(at, fixed))
        if new:
            frame = frame.with_columns(new)
    sub = df.select(list(dict.fromkeys(keys + columns)))

    def cells(values: pl.DataFrame, which: int) -> pl.DataFrame:   # the rows holding such a character, in order
        held = sub[np.unique(np.concatenate([r[which] for r in rows.values()]))] if values.height else sub.clear()
        return ident._cells(values, held.lazy(), keys).collect()

    return MojiResult(frame=frame, chars=ident.chars, unresolved_rows=cells(ident.unresolved_values, 0),
                      counts=ident.counts, invalid_rows=cells(ident.invalid_values, 2),
                      unwritable_rows=cells(ident.unwritable_values, 3),
                      halfwidth_rows=cells(ident.halfwidth_values, 4), widened=ident.widened)


def _token_map(column: str, result: MojiResult) -> pl.DataFrame:
    """Token map for `column`'s output characters: output char → MJ name, '-', '?' or '!'."""
    tokens = (result.chars.filter(pl.col("column") == column)
              .select(pl.col("output").alias("char"),
                      pl.when(pl.col("status") == INVALID).then(pl.lit(TOKEN_INVALID))
                      .when(pl.col("status") == "unresolved").then(pl.lit(TOKEN_UNRESOLVED))
                      .when(pl.col("status") == "passthrough").then(pl.lit(TOKEN_PASSTHROUGH))
                      .otherwise(pl.col("mj_name")).alias("token"))
              .unique("char", keep="first"))
    return tokens


def mj_names(frame: pl.DataFrame, column: str, result: MojiResult, row_key: str = "_row_id") -> pl.Series:
    """One space-separated token per output character of `column` (MJ文字図形名, '-', '?' or '!' invalid)."""
    tokens = _token_map(column, result)
    exploded = (frame.select(row_key, pl.col(column).str.extract_all(CHAR_RE).alias("char"))
                .explode("char")
                .join(tokens, on="char", how="left", maintain_order="left"))
    agg = (exploded.group_by(row_key, maintain_order=True)
           .agg(pl.col("token").drop_nulls().str.join(" ").alias("mj_names")))
    return frame.select(row_key).join(agg, on=row_key, how="left", maintain_order="left")["mj_names"].fill_null("")
