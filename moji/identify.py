"""文字同定: identify every character of the text columns against the MJ dictionary.

A character is a base code point plus its optional variation selector (SVS U+FE00–FE0F, IVS
U+E0100–E01EF). The values are decoded to code points at once (joined by Polars, UTF-32 by CPython's
codec into numpy, no per-row Python) and counted per character (bincount); only the DISTINCT
characters are classified (dict lookups in the dictionary's index, built once per loaded
dictionary; scope by code point ranges); one more pass over the code points finds the values
holding an unresolved character or one to rewrite; the rewrite back into the column is a
`str.replace_many` with the few characters whose output differs (外字 → MJ glyph), on those rows. `identify_lazy` gathers the distinct values from
a streaming scan and returns what applies to any batch of it, so a table larger than memory can be
identified; `identify_frame` works on a frame in memory: its columns are decoded as they are (no
grouping into distinct values, which costs more than it saves when names are mostly distinct), and
only the rows holding a character to rewrite or an unresolved one are touched again.

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

import numpy as np
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


_VS_SHIFT = 21   # a character as one integer: base code point << 21 | variation selector (or 0)


@dataclass
class _Decoded:
    """The code points of one column's values, decoded from its UTF-8 bytes (numpy, no per-row
    Python), and where CHAR_RE joins a variation selector to the code point before it."""
    cps: np.ndarray       # every code point, in order (int32)
    first: np.ndarray     # per value: index of its first code point (ascending)
    per_value: np.ndarray # per value: number of code points
    att: np.ndarray       # positions of the VS that belong to the character before them

    def rows_of(self, pos: np.ndarray) -> np.ndarray:
        """The values (indices, ascending, once each) holding these code point positions."""
        return np.unique(np.searchsorted(self.first, pos, side="right") - 1) if pos.size else pos


def _decode(values: pl.Series) -> _Decoded:
    values = values.cast(pl.String)
    if values.null_count():
        values = values.fill_null("")
    per_value = values.str.len_chars().to_numpy().astype(np.int64)
    # the values joined into one text (Rust), then UTF-32 by CPython's codec: one C pass each, 3-4x
    # the numpy decode of the UTF-8 bytes it replaces (which needed the Arrow copy and a pass per
    # sequence length); a Polars string is valid UTF-8, so every code point comes out as it is
    cps = np.frombuffer(values.str.join("").item().encode("utf-32-le"), dtype=np.int32)
    first = np.cumsum(per_value) - per_value
    # CHAR_RE, left to right: a code point starts a character unless it is a VS directly after
    # a code point of the same value that started one (so in a run of VS they alternate). VS are
    # rare: the rule is worked out on their positions only.
    high = np.flatnonzero(cps >= 0xFE00)
    hc = cps[high]
    vs_pos = high[((hc >= 0xFE00) & (hc <= 0xFE0F)) | ((hc >= 0xE0100) & (hc <= 0xE01EF))]
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
        for pos in (dec.att, dec.att - 1):
            c -= np.bincount(dec.cps[pos], weights=aw, minlength=c.size)[:c.size]
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
    pos = np.flatnonzero(v != 0)
    bits = v[pos]
    for bit, g in enumerate(groups):
        if g.size:
            out[bit] = dec.rows_of(pos[(bits & (1 << bit)) != 0])
    return out


_PUA_RANGES = ((0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))
_IDEO_RANGES = ((0x2E80, 0x2FDF), (0x3005, 0x3007), (0x3021, 0x3029), (0x3038, 0x303B), (0x3400, 0x4DBF),
                (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))
_VS_RANGES = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))


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
    index, glyph_out = dictionary.key_index, dictionary.glyph_output
    g = dict(zip(gaiji["code"].to_list(), gaiji["mj"].to_list())) if gaiji is not None else {}
    d = {}
    if decisions is not None:
        for ch, mj in zip(decisions["char"].to_list(), decisions["mj"].to_list()):
            d.setdefault(ch, mj)
    base, vs = keys >> _VS_SHIFT, keys & ((1 << _VS_SHIFT) - 1)
    scope = (_in(base, _PUA_RANGES) | _in(base, _IDEO_RANGES) | _in(base, _VS_RANGES) | (vs != 0)).tolist()
    status, mj_name, output = [], [], []
    for ch, sc in zip(texts, scope):
        mj = index.get(ch)
        if mj is not None:
            st = "mj"
        elif (mj := g.get(ch)) is not None:
            st = "gaiji"
        elif (mj := d.get(ch)) is not None:
            st = "decided"
        else:
            st = "unresolved" if sc else "passthrough"
        status.append(st)
        mj_name.append(mj)
        # a 外字/decided glyph without any code point (19 MJ glyphs have none) cannot be written: keep
        # the source character so nothing is lost
        output.append((glyph_out.get(mj) or ch) if st in ("gaiji", "decided") else ch)
    return pl.DataFrame({"char": texts, "status": status, "mj_name": mj_name, "output": output,
                         "codepoints": [codepoints(ch) for ch in texts]},
                        schema={"char": pl.String, "status": pl.String, "mj_name": pl.String,
                                "output": pl.String, "codepoints": pl.String})


def identify_lazy(lf: pl.LazyFrame, columns: Sequence[str], *, dictionary: MojiDictionary,
                  gaiji: pl.DataFrame | None = None, ledger: "Ledger | None" = None) -> Identification:
    """Identify the characters of `columns` from their distinct values (one streaming scan per column).

    Memory follows the distinct values of the moji columns, not the rows; apply the result with
    `Identification.rewrite_exprs` and `.unresolved_rows` to the same (or a re-opened) scan.
    """
    columns = list(columns)
    null_columns, decisions = _check(columns, lf.collect_schema(), dictionary, gaiji, ledger)
    lf = lf.with_columns(pl.col(c).cast(pl.String) for c in null_columns)
    values = {c: _column_values(lf, c) for c in columns}
    ident, _ = _identify({c: (v["v"], v["n"].to_numpy()) for c, v in values.items()},
                         dictionary=dictionary, gaiji=gaiji, decisions=decisions,
                         null_columns=null_columns)
    return ident


def _check(columns: list[str], schema, dictionary: MojiDictionary, gaiji: pl.DataFrame | None,
           ledger: "Ledger | None") -> tuple[list[str], pl.DataFrame | None]:
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
            ledger.decisions_frame() if ledger is not None else None)


def _identify(sources: dict[str, tuple[pl.Series, np.ndarray | None]], *,
              dictionary: MojiDictionary, gaiji: pl.DataFrame | None,
              decisions: pl.DataFrame | None,
              null_columns: list[str], decoded: dict[str, _Decoded] | None = None,
              ) -> tuple[Identification, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The verdict from each column's values (distinct values with their row counts as weights,
    or the rows themselves with None): the characters are decoded and counted on the values'
    code points at once (numpy), only the distinct characters are looked up.

    Also returns, per column, the values (indices) holding an unresolved character and those
    holding the first code point of a rewrite (supersets, one pass over the code points)."""
    if decoded is None:
        decoded = {c: _decode(v) for c, (v, _) in sources.items()}
    counted = {c: _char_counts(decoded[c], w) for c, (_, w) in sources.items()}
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
    # longer sequences first so a base+VS pattern wins over its bare base
    rewrite = (classified.filter(pl.Series(changed)).select("char", "output")
               .sort(pl.col("char").str.len_chars(), "char", descending=[True, False]))
    mask = (1 << _VS_SHIFT) - 1
    ukeys = keys[status == "unresolved"] if keys.size else keys
    # the code points that find them: a plain character's own, a base+VS sequence's VS
    ucps = np.where((ukeys & mask) != 0, ukeys & mask, ukeys >> _VS_SHIFT)
    first = np.array([ord(ch[0]) for ch in rewrite["char"].to_list()], dtype=np.int64)   # a base+VS: its base
    rows = {c: tuple(_rows_holding(decoded[c], [ucps, first])) for c in sources}

    # the distinct values holding unresolved characters, each with those characters once, in order:
    # what finds the rows to flag without reading the table again character by character
    unresolved = pl.Series([t for t, s in zip(texts, status) if s == "unresolved"], dtype=pl.String)
    unresolved_values = pl.DataFrame(schema={"column": pl.String, "value": pl.String, "chars": pl.String})
    if unresolved.len():
        unresolved_values = pl.concat(pl.collect_all(
            _value_chars(pl.DataFrame({"v": v.cast(pl.String).gather(rows[c][0])}))
            .filter(pl.col("char").is_in(unresolved.implode()))
            .group_by("v", maintain_order=True)
            .agg(pl.col("char").unique(maintain_order=True).str.join("").alias("chars"))
            .select(pl.lit(c).alias("column"), pl.col("v").alias("value"), "chars")
            for c, (v, _) in sources.items()))
    totals = dict(chars.group_by("status").agg(pl.col("occurrences").sum()).iter_rows())
    counts = {s: int(totals.get(s, 0)) for s in STATUSES}
    return Identification(columns=list(sources), chars=chars, counts=counts, rewrite=rewrite,
                          unresolved_values=unresolved_values, null_columns=null_columns), rows


def identify_frame(df: pl.DataFrame, columns: Sequence[str], *, dictionary: MojiDictionary,
                   gaiji: pl.DataFrame | None = None, ledger: "Ledger | None" = None,
                   key_columns: Sequence[str] = ("_row_id",)) -> MojiResult:
    """Identify the characters of `columns`; rewrite 外字 and decided characters to their MJ glyph.

    The frame is in memory already, so its columns are decoded as they are (no grouping into
    distinct values first: with mostly distinct names that costs more than it saves), and only
    the rows that hold a character to rewrite or an unresolved one are touched again.
    """
    columns = list(columns)
    null_columns, decisions = _check(columns, df.schema, dictionary, gaiji, ledger)
    decoded = {c: _decode(df[c]) for c in columns}
    ident, rows = _identify({c: (df[c], None) for c in columns},
                            dictionary=dictionary, gaiji=gaiji, decisions=decisions,
                            null_columns=null_columns, decoded=decoded)
    keys = [k for k in key_columns if k in df.columns]
    frame = df.with_columns(pl.col(c).cast(pl.String) for c in null_columns)
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
    if ident.unresolved_values.height:   # the rows holding an unresolved character, in order
        sub = sub[np.unique(np.concatenate([r[0] for r in rows.values()]))]
    else:
        sub = sub.clear()
    return MojiResult(frame=frame, chars=ident.chars,
                      unresolved_rows=ident.unresolved_rows(sub.lazy(), keys).collect(),
                      counts=ident.counts)


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
