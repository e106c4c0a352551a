"""同定台帳: the per-団体 review ledger of unresolved characters and the reviewers' decisions.

A ledger is a folder (one per 団体, e.g. `runs/<団体コード>/moji_ledger/`) with plain files a
reviewer can open:

- `ledger.csv`     one row per unresolved character and source, as of each source's latest run:
                   char, codepoints, column(s), occurrences, record_keys (row keys, never names),
                   candidates (ranked MJ glyphs with the evidence), glyph_candidates (MJ glyphs
                   ranked by picture, 'MJnnnnnn(score) …': a 外字 as the source's 外字 font draws it,
                   an Adobe-Japan1 sequence as Noto Serif CJK draws it; moji.glyphs), glyph_font
                   (the font that drew it), decided_mj (the active decision, if any), source.
                   A run of one source replaces that source's rows only.
- `decisions.csv`  append-only history: codepoints, mj, decided_by, decided_at, version, note.
                   The active decision of a character is its highest version; an empty `mj`
                   withdraws it. The next `identify_frame(..., ledger=…)` applies active decisions
                   (outcome `decided`).
- `hints.csv`      optional: codepoints, reading, radical, inner_strokes — what a reviewer knows of a
                   外字 (reading from the paper register, 部首/内画数) to rank candidates for it.

Usage::

    led = Ledger.load(dir)                 # empty when the folder is new
    res = identify_frame(df, cols, dictionary=d, ledger=led)
    led.update(res, dictionary=d); led.save(dir)
    led.decide("\\ue001", "MJ028902", decided_by="reviewer-1", note="戸籍謄本で確認")
    led.diff(Ledger.load(dir_of_previous_release))   # what changed between two versions
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ikou.errors import ConfigError
from ikou.moji.dictionary import MojiDictionary
from ikou.moji.identify import MojiResult, codepoints, parse_codepoints
from ikou.moji import source as src

DECISIONS_SCHEMA = {"codepoints": pl.String, "mj": pl.String, "decided_by": pl.String,
                    "decided_at": pl.String, "version": pl.Int64, "note": pl.String}
ENTRIES_SCHEMA = {"char": pl.String, "codepoints": pl.String, "columns": pl.String, "occurrences": pl.Int64,
                  "record_keys": pl.String, "candidates": pl.String, "glyph_candidates": pl.String,
                  "glyph_font": pl.String, "decided_mj": pl.String, "source": pl.String}
HINTS_SCHEMA = {"codepoints": pl.String, "reading": pl.String, "radical": pl.Int32, "inner_strokes": pl.Int32}
MAX_KEYS = 100
MAX_CANDIDATES = 10


def _read(path: Path, schema: dict) -> pl.DataFrame:
    if not path.exists():
        return pl.DataFrame(schema=schema)
    try:
        f = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise ConfigError(f"{path}: unreadable: {exc}") from exc
    # ledgers written before per-source rows and before glyph candidates lack these columns
    missing = set(schema) - set(f.columns) - {"char", "source", "glyph_candidates", "glyph_font"}
    if missing:
        raise ConfigError(f"{path}: missing columns {sorted(missing)}")
    try:
        return f.select([pl.col(k).cast(v) if k in f.columns else pl.lit(None, v).alias(k)
                         for k, v in schema.items()])
    except pl.exceptions.PolarsError as exc:
        raise ConfigError(f"{path}: bad value: {exc}") from exc


@dataclass
class Ledger:
    decisions: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=DECISIONS_SCHEMA))
    entries: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ENTRIES_SCHEMA))
    hints: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=HINTS_SCHEMA))

    # -- files -------------------------------------------------------------------------------
    @classmethod
    def load(cls, directory: Path) -> "Ledger":
        d = Path(directory)
        dec = _read(d / "decisions.csv", DECISIONS_SCHEMA)
        bad = dec.filter(pl.col("codepoints").is_null() | pl.col("version").is_null()
                         | (pl.col("mj").is_not_null() & ~pl.col("mj").str.contains(r"^MJ\d{6}$")))
        if bad.height:
            raise ConfigError(f"{d / 'decisions.csv'}: {bad.height} bad row(s), first {bad.row(0)}")
        dup = dec.filter(pl.struct("codepoints", "version").is_duplicated())
        if dup.height:
            raise ConfigError(f"{d / 'decisions.csv'}: version {dup['version'][0]} of "
                              f"{dup['codepoints'][0]} recorded twice")
        return cls(decisions=dec, entries=_read(d / "ledger.csv", ENTRIES_SCHEMA).drop("char").pipe(_with_char)
                   .select(list(ENTRIES_SCHEMA)),
                   hints=_read(d / "hints.csv", HINTS_SCHEMA))

    def save(self, directory: Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.decisions.sort("codepoints", "version").write_csv(d / "decisions.csv")
        self.entries.write_csv(d / "ledger.csv")
        if self.hints.height:
            self.hints.write_csv(d / "hints.csv")

    # -- decisions ---------------------------------------------------------------------------
    def active(self) -> pl.DataFrame:
        """Active decision per character: codepoints, mj (null = withdrawn), version, decided_by …"""
        return (self.decisions.sort("version").group_by("codepoints").last()
                .sort("codepoints"))

    def decisions_frame(self) -> pl.DataFrame:
        """char, mj of the active, non-withdrawn decisions (what identify_frame applies)."""
        act = self.active().filter(pl.col("mj").is_not_null())
        return _with_char(act).select("char", "mj")

    def decide(self, char: str, mj: str | None, *, decided_by: str, note: str = "",
               decided_at: str | None = None) -> int:
        """Record a new version of the decision for `char` (mj=None withdraws it); returns the version."""
        cps = codepoints(char)
        prev = self.decisions.filter(pl.col("codepoints") == cps)["version"].max()
        version = int(prev or 0) + 1
        row = pl.DataFrame([{"codepoints": cps, "mj": mj, "decided_by": decided_by,
                             "decided_at": decided_at or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                             "version": version, "note": note}], schema=DECISIONS_SCHEMA)
        self.decisions = pl.concat([self.decisions, row])
        self.entries = self.entries.with_columns(
            pl.when(pl.col("codepoints") == cps).then(pl.lit(mj, pl.String))
            .otherwise(pl.col("decided_mj")).alias("decided_mj"))
        return version

    def diff(self, previous: "Ledger") -> pl.DataFrame:
        """Decisions that differ from `previous`: codepoints, mj_before, mj_after, versions, change."""
        a = previous.active().select("codepoints", pl.col("mj").alias("mj_before"),
                                     pl.col("version").alias("version_before"))
        b = self.active().select("codepoints", pl.col("mj").alias("mj_after"),
                                 pl.col("version").alias("version_after"), "decided_by", "note")
        j = a.join(b, on="codepoints", how="full", coalesce=True)
        j = j.filter(pl.col("version_before").is_null() | pl.col("version_after").is_null()
                     | (pl.col("version_before") != pl.col("version_after")))
        return j.with_columns(
            pl.when(pl.col("mj_before").is_null() & pl.col("mj_after").is_not_null()).then(pl.lit("added"))
            .when(pl.col("mj_after").is_null() & pl.col("mj_before").is_not_null()).then(pl.lit("withdrawn"))
            .when(pl.col("mj_before") != pl.col("mj_after")).then(pl.lit("changed"))
            .otherwise(pl.lit("reconfirmed")).alias("change")
        ).filter(~(pl.col("mj_before").is_null() & pl.col("mj_after").is_null())).sort("codepoints")

    def validate(self, dictionary: MojiDictionary) -> None:
        act = self.active().filter(pl.col("mj").is_not_null())
        unknown = act.filter(~dictionary.has_glyph(act["mj"]))
        if unknown.height:
            raise ConfigError(f"ledger decisions name MJ glyphs not in the dictionary: {unknown['mj'].to_list()[:5]}")

    # -- inventory ---------------------------------------------------------------------------
    def update(self, result: MojiResult, *, dictionary: MojiDictionary | None = None,
               source: str | None = None, glyph_candidates: pl.DataFrame | None = None) -> pl.DataFrame:
        """Replace `source`'s part of the inventory with this run's unresolved characters (counts, keys,
        candidates, and `glyph_candidates`: char, glyph_candidates, glyph_font from
        moji.glyphs.glyph_candidates); other sources' rows stay (another vendor's run must not erase them)."""
        chars = result.chars.filter(pl.col("status") == "unresolved")
        inv = (chars.group_by("char").agg(pl.col("codepoints").first(),
                                          pl.col("column").unique().sort().str.join(" ").alias("columns"),
                                          pl.col("occurrences").sum()))
        ur = result.unresolved_rows
        key_cols = [c for c in ur.columns if c not in ("column", "chars")]
        if ur.height and key_cols:
            keyed = (ur.select(pl.concat_str([pl.col(k).cast(pl.String) for k in key_cols], separator="/").alias("key"),
                               pl.col("chars").str.extract_all(r"(?s).[\x{FE00}-\x{FE0F}\x{E0100}-\x{E01EF}]?").alias("char"))
                     .explode("char").unique(maintain_order=True)
                     .group_by("char").agg(pl.col("key").head(MAX_KEYS).str.join(" ").alias("record_keys")))
            inv = inv.join(keyed, on="char", how="left")
        else:
            inv = inv.with_columns(pl.lit(None, pl.String).alias("record_keys"))
        cands = (candidates(inv["char"], dictionary, self.hints) if dictionary is not None
                 else pl.DataFrame(schema={"char": pl.String, "candidates": pl.String}))
        inv = inv.join(cands, on="char", how="left")
        gc = (glyph_candidates if glyph_candidates is not None
              else pl.DataFrame(schema={"char": pl.String, "glyph_candidates": pl.String, "glyph_font": pl.String}))
        inv = inv.join(gc.select("char", "glyph_candidates", "glyph_font"), on="char", how="left")
        act = self.decisions_frame().rename({"mj": "decided_mj"})
        inv = inv.join(act, on="char", how="left").with_columns(pl.lit(source, pl.String).alias("source"))
        kept = self.entries.filter(~pl.col("source").eq_missing(pl.lit(source, pl.String)))
        self.entries = pl.concat([kept, inv.select([pl.col(k).cast(v) for k, v in ENTRIES_SCHEMA.items()])]).sort(
            "occurrences", "codepoints", "source", descending=[True, False, False], nulls_last=True)
        return self.entries


def _with_char(f: pl.DataFrame) -> pl.DataFrame:
    """Add `char` from `codepoints` (mapping the few distinct values)."""
    if not f.height:
        return f.with_columns(pl.lit(None, pl.String).alias("char"))
    return f.with_columns(pl.col("codepoints").map_elements(parse_codepoints, return_dtype=pl.String).alias("char"))


# Ranking of candidate evidence: lower is better.
_RANK = {"same_base": 0, src.CAT_JIS: 1, src.CAT_HOMU: 2, src.CAT_582: 3, src.CAT_JISHO: 4, src.CAT_YOMI: 5,
         "reading+rs": 6, "reading": 7, "rs": 8}


def candidates(chars: pl.Series, dictionary: MojiDictionary, hints: pl.DataFrame | None = None) -> pl.DataFrame:
    """Ranked MJ candidates per unresolved character, as 'MJnnnnnn(evidence) …' strings.

    Evidence: glyphs sharing the base code point (an unknown IVS of a known ideograph), glyphs
    related to that base in the 縮退マップ (by category), and for 外字 the reviewer's hints
    matched against readings (mji_reading) and 部首/内画数 (mji_rsindex).
    """
    c = pl.DataFrame({"char": chars.cast(pl.String)}).unique().with_columns(
        pl.col("char").str.slice(0, 1).alias("base"))
    g = dictionary.glyphs
    same = (c.join(g.select("mj_name", pl.col("corresponding_ucs").alias("base")), on="base")
            .vstack(c.join(g.select("mj_name", pl.col("ucs").alias("base")), on="base"))
            .with_columns(pl.lit("same_base").alias("evidence")))
    rel = (c.join(dictionary.shrink.select("mj_name", pl.col("ucs").alias("base"), pl.col("category").alias("evidence")),
                  on="base"))
    parts = [same.select("char", "mj_name", "evidence"), rel.select("char", "mj_name", "evidence")]
    if hints is not None and hints.height:
        h = _with_char(hints).join(c.select("char"), on="char")
        by_reading = h.filter(pl.col("reading").is_not_null()).join(
            dictionary.reading, on="reading").select("char", "mj_name", pl.lit("reading").alias("evidence"))
        by_rs = h.filter(pl.col("radical").is_not_null()).join(
            dictionary.rsindex, on=["radical", "inner_strokes"]).select("char", "mj_name", pl.lit("rs").alias("evidence"))
        both = by_reading.join(by_rs.select("char", "mj_name"), on=["char", "mj_name"]).with_columns(
            pl.lit("reading+rs").alias("evidence"))
        parts += [both, by_reading, by_rs]
    allc = pl.concat(parts).with_columns(
        pl.col("evidence").replace_strict(_RANK, default=99, return_dtype=pl.Int32).alias("_rank"))
    best = (allc.group_by("char", "mj_name").agg(pl.col("_rank").min(), pl.col("evidence").sort_by("_rank").first())
            .sort("char", "_rank", "mj_name")
            .group_by("char", maintain_order=True)
            .agg(pl.format("{}({})", "mj_name", "evidence").head(MAX_CANDIDATES).str.join(" ").alias("candidates")))
    return best
