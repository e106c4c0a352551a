"""文字同定: identify every character of the text columns against the MJ dictionary.

A character is a base code point plus its optional variation selector (SVS U+FE00–FE0F, IVS
U+E0100–E01EF). Work happens on the DISTINCT characters of each column (value_counts → extract_all
→ explode → group), classified by joins; the rewrite back into the column is one vectorised
`str.replace_many` with the few characters whose output differs (外字 → MJ glyph). `identify_lazy`
gathers the distinct values from a streaming scan and returns what applies to any batch of it, so
a table larger than memory can be identified; `identify_frame` is the same on a frame in memory.

Outcomes per character, in this order of precedence:
  mj          exact key of the dictionary (実装したUCS, IVS or SVS sequence)
  gaiji       a private-use 外字 listed in the 団体's 外字 table (code,mj)
  decided     a reviewer's decision from the 同定台帳 (moji.ledger)
  unresolved  an ideograph, private-use character or variation sequence none of the above knows
  passthrough anything else (kana, Latin, digits, punctuation, spaces): outside MJ's scope
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import polars as pl

from ikou.errors import ConfigError
from ikou.moji.dictionary import MojiDictionary

if TYPE_CHECKING:  # pragma: no cover
    from ikou.moji.ledger import Ledger

CHAR_RE = r"(?s).[\x{FE00}-\x{FE0F}\x{E0100}-\x{E01EF}]?"
_VS_RE = r"[\x{FE00}-\x{FE0F}\x{E0100}-\x{E01EF}]"
_PUA_RE = r"^[\x{E000}-\x{F8FF}\x{F0000}-\x{FFFFD}\x{100000}-\x{10FFFD}]"
# Ideographs and ideographic marks that belong to MJ's scope when not found in the dictionary.
_IDEO_RE = (r"^[\x{2E80}-\x{2FDF}\x{3005}-\x{3007}\x{3021}-\x{3029}\x{3038}-\x{303B}"
            r"\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}\x{F900}-\x{FAFF}\x{20000}-\x{3FFFF}]")

STATUSES = ("mj", "gaiji", "decided", "unresolved", "passthrough")
TOKEN_PASSTHROUGH = "-"
TOKEN_UNRESOLVED = "?"

CHARS_SCHEMA = {
    "column": pl.String, "char": pl.String, "codepoints": pl.String, "status": pl.String,
    "mj_name": pl.String, "output": pl.String, "occurrences": pl.Int64,
}


@dataclass
class MojiResult:
    frame: pl.DataFrame | None     # same rows and columns; moji columns rewritten (外字 → MJ glyph);
                                   # None where the stage streamed the rewrite to Parquet instead
    chars: pl.DataFrame            # one row per distinct (column, char), see CHARS_SCHEMA
    unresolved_rows: pl.DataFrame  # key cols, column, chars (the unresolved characters of that cell)
    counts: dict[str, int] = field(default_factory=dict)  # occurrences per status


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
    rewrite: pl.DataFrame            # char, output: the characters whose output differs, longest first
    unresolved_values: pl.DataFrame  # column, value, chars: distinct values holding unresolved characters
    null_columns: list[str] = field(default_factory=list)   # typed Null in the input: read as text

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
        keys = list(key_columns)
        schema = lf.collect_schema()
        ur_schema = {k: schema[k] for k in keys} | {"column": pl.String, "chars": pl.String}
        if not self.unresolved_values.height:
            return pl.LazyFrame(schema=ur_schema)
        lf = lf.with_columns(pl.col(c).cast(pl.String) for c in self.null_columns)
        parts = []
        for c in self.columns:
            vals = self.unresolved_values.filter(pl.col("column") == c).select(
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


def parse_codepoints(s: str) -> str:
    """'U+9AD9 U+E0100' (or 'U+9AD9') → the character sequence."""
    try:
        return "".join(chr(int(p[2:], 16)) for p in s.split() if p.upper().startswith("U+"))
    except ValueError as exc:
        raise ValueError(f"bad code point list {s!r}") from exc


def load_gaiji_table(path: Path, dictionary: MojiDictionary | None = None) -> pl.DataFrame:
    """The 団体's 外字 table, CSV `code,mj` (code as U+XXXX in a private-use area).

    Returns code (the PUA character), mj (MJ文字図形名). A malformed table is a ConfigError naming
    the file and the line: a wrong 外字 table would silently corrupt every name that uses it.
    """
    path = Path(path)
    try:
        raw = pl.read_csv(path, infer_schema=False, comment_prefix="#")
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(f"{path}: cannot read 外字 table: {exc}") from exc
    if not {"code", "mj"} <= set(raw.columns):
        raise ConfigError(f"{path}: 外字 table needs columns code,mj (has {raw.columns})")
    raw = raw.with_row_index("line", offset=2).with_columns(
        pl.col("code").str.strip_chars(), pl.col("mj").str.strip_chars())
    bad = raw.filter(
        ~pl.col("code").str.contains(r"^U\+[0-9A-Fa-f]{4,6}$").fill_null(False)
        | ~pl.col("mj").str.contains(r"^MJ\d{6}$").fill_null(False))
    if bad.height:
        r = bad.row(0, named=True)
        raise ConfigError(f"{path}: line {r['line']}: code must be U+XXXX and mj MJnnnnnn "
                          f"(got {r['code']!r}, {r['mj']!r}); {bad.height} bad line(s)")
    f = raw.with_columns(
        pl.col("code").str.slice(2).str.to_integer(base=16).alias("cp"))
    f = f.with_columns(
        pl.col("cp").map_elements(chr, return_dtype=pl.String).alias("code_char"))
    notpua = f.filter(~pl.col("code_char").str.contains(_PUA_RE))
    if notpua.height:
        r = notpua.row(0, named=True)
        raise ConfigError(f"{path}: line {r['line']}: {r['code']} is not a private-use code point")
    dup = f.filter(pl.col("code").str.to_uppercase().is_duplicated())
    if dup.height:
        raise ConfigError(f"{path}: code {dup['code'][0]} listed more than once (lines {dup['line'].to_list()})")
    out = f.select(pl.col("code_char").alias("code"), "mj")
    if dictionary is not None:
        unknown = out.filter(~dictionary.has_glyph(out["mj"]))
        if unknown.height:
            raise ConfigError(f"{path}: MJ glyph(s) not in the dictionary: {unknown['mj'].head(5).to_list()}")
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
    in_scope = (pl.col("char").str.contains(_PUA_RE) | pl.col("char").str.contains(_IDEO_RE)
                | pl.col("char").str.contains(_VS_RE))
    c = c.with_columns(
        pl.when(pl.col("_mj").is_not_null()).then(pl.lit("mj"))
        .when(pl.col("_gaiji").is_not_null()).then(pl.lit("gaiji"))
        .when(pl.col("_decided").is_not_null()).then(pl.lit("decided"))
        .when(in_scope).then(pl.lit("unresolved"))
        .otherwise(pl.lit("passthrough")).alias("status"),
        pl.coalesce("_mj", "_gaiji", "_decided").alias("mj_name"),
    )
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


def _codepoints_col(chars: pl.DataFrame) -> pl.DataFrame:
    return chars.with_columns(
        pl.col("char").map_elements(codepoints, return_dtype=pl.String).alias("codepoints"))


def identify_lazy(lf: pl.LazyFrame, columns: Sequence[str], *, dictionary: MojiDictionary,
                  gaiji: pl.DataFrame | None = None, ledger: "Ledger | None" = None) -> Identification:
    """Identify the characters of `columns` from their distinct values (one streaming scan per column).

    Memory follows the distinct values of the moji columns, not the rows; apply the result with
    `Identification.rewrite_exprs` and `.unresolved_rows` to the same (or a re-opened) scan.
    """
    columns = list(columns)
    schema = lf.collect_schema()
    missing = [c for c in columns if c not in schema]
    if missing:
        raise ConfigError(f"moji columns not in the frame: {missing}")
    # an all-null column read without a type is Null: make it text so the string ops apply
    null_columns = [c for c in columns if schema[c] == pl.Null]
    lf = lf.with_columns(pl.col(c).cast(pl.String) for c in null_columns)
    if gaiji is not None:
        unknown = gaiji.filter(~dictionary.has_glyph(gaiji["mj"]))
        if unknown.height:
            raise ConfigError(f"外字 table names MJ glyphs not in the dictionary: {unknown['mj'].head(5).to_list()}")
    if ledger is not None:
        ledger.validate(dictionary)
    decisions = ledger.decisions_frame() if ledger is not None else None
    values = {c: _column_values(lf, c) for c in columns}
    per_col = [_value_chars(v).drop_nulls("char").group_by("char")
               .agg(pl.col("n").sum().cast(pl.Int64).alias("occurrences"))
               .with_columns(pl.lit(c).alias("column")) for c, v in values.items()]
    allc = (pl.concat(pl.collect_all(per_col)) if per_col
            else pl.DataFrame(schema={"char": pl.String, "occurrences": pl.Int64, "column": pl.String}))
    classified = classify_chars(allc["char"].unique(), dictionary, gaiji, decisions)
    classified = _codepoints_col(classified)
    chars = (allc.join(classified, on="char", how="left")
             .select([pl.col(k).cast(v) for k, v in CHARS_SCHEMA.items()])
             .sort("column", "occurrences", "char", descending=[False, True, False]))
    # longer sequences first so a base+VS pattern wins over its bare base
    rewrite = (classified.filter(pl.col("output") != pl.col("char")).select("char", "output")
               .sort(pl.col("char").str.len_chars(), descending=True))

    # the distinct values holding unresolved characters, each with those characters once, in order:
    # what finds the rows to flag without reading the table again character by character
    unresolved = classified.filter(pl.col("status") == "unresolved")["char"]
    unresolved_values = pl.DataFrame(schema={"column": pl.String, "value": pl.String, "chars": pl.String})
    if unresolved.len():
        unresolved_values = pl.concat(pl.collect_all(
            _value_chars(v.filter(pl.col("v").str.contains_any(unresolved.to_list())))
            .filter(pl.col("char").is_in(unresolved.implode()))
            .group_by("v", maintain_order=True)
            .agg(pl.col("char").unique(maintain_order=True).str.join("").alias("chars"))
            .select(pl.lit(c).alias("column"), pl.col("v").alias("value"), "chars")
            for c, v in values.items()))
    totals = dict(chars.group_by("status").agg(pl.col("occurrences").sum()).iter_rows())
    counts = {s: int(totals.get(s, 0)) for s in STATUSES}
    return Identification(columns=columns, chars=chars, counts=counts, rewrite=rewrite,
                          unresolved_values=unresolved_values, null_columns=null_columns)


def identify_frame(df: pl.DataFrame, columns: Sequence[str], *, dictionary: MojiDictionary,
                   gaiji: pl.DataFrame | None = None, ledger: "Ledger | None" = None,
                   key_columns: Sequence[str] = ("_row_id",)) -> MojiResult:
    """Identify the characters of `columns`; rewrite 外字 and decided characters to their MJ glyph."""
    ident = identify_lazy(df.lazy(), columns, dictionary=dictionary, gaiji=gaiji, ledger=ledger)
    keys = [k for k in key_columns if k in df.columns]
    return MojiResult(frame=df.with_columns(ident.rewrite_exprs()), chars=ident.chars,
                      unresolved_rows=ident.unresolved_rows(df.lazy(), keys).collect(), counts=ident.counts)


def _token_map(column: str, result: MojiResult) -> pl.DataFrame:
    """Token map for `column`'s output characters: output char → MJ name, '-' or '?'."""
    tokens = (result.chars.filter(pl.col("column") == column)
              .select(pl.col("output").alias("char"),
                      pl.when(pl.col("status") == "unresolved").then(pl.lit(TOKEN_UNRESOLVED))
                      .when(pl.col("status") == "passthrough").then(pl.lit(TOKEN_PASSTHROUGH))
                      .otherwise(pl.col("mj_name")).alias("token"))
              .unique("char", keep="first"))
    return tokens


def mj_names(frame: pl.DataFrame, column: str, result: MojiResult, row_key: str = "_row_id") -> pl.Series:
    """One space-separated token per output character of `column` (MJ文字図形名, '-' or '?')."""
    tokens = _token_map(column, result)
    exploded = (frame.select(row_key, pl.col(column).str.extract_all(CHAR_RE).alias("char"))
                .explode("char")
                .join(tokens, on="char", how="left", maintain_order="left"))
    agg = (exploded.group_by(row_key, maintain_order=True)
           .agg(pl.col("token").drop_nulls().str.join(" ").alias("mj_names")))
    return frame.select(row_key).join(agg, on=row_key, how="left", maintain_order="left")["mj_names"].fill_null("")
