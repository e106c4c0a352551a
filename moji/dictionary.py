"""The character dictionary: exact code-point sequences → MJ文字図形名, built once into Parquet.

The repertoire is a table of (sequence → glyph name) and nothing else is assumed about it, so a
later repertoire (行政事務標準文字 = MJ + PUA glyphs) is another source producing the same files.
Keys are 実装したUCS, 実装したMoji_JohoコレクションIVS and 実装したSVS as exact sequences (no Unicode
normalisation: U+F91D stays MJ030183, U+6B04 is MJ014716).
"""
from __future__ import annotations

import json
import time
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import polars as pl

from ikou.errors import ConfigError
from ikou.moji import source as src

FORMAT_VERSION = 1
FILES = ("keys", "glyphs", "shrink", "reading", "rsindex", "jis")


@dataclass
class MojiDictionary:
    """keys: seq, mj_name, kind (ucs/ivs/svs) — seq unique.
    glyphs: mj_name, ucs, ivs, svs, corresponding_ucs, x0213, strokes, output (ucs, else ivs, else svs).
    shrink/reading/rsindex: see moji.source; jis: char, in_x0208 (JIS X 0213 members)."""

    keys: pl.DataFrame
    glyphs: pl.DataFrame
    shrink: pl.DataFrame
    reading: pl.DataFrame
    rsindex: pl.DataFrame
    jis: pl.DataFrame
    meta: dict

    def __len__(self) -> int:
        return self.glyphs.height

    def lookup(self, seq: str) -> str | None:
        """MJ文字図形名 of one exact sequence (for tests and the ledger, not for data)."""
        hit = self.keys.filter(pl.col("seq") == seq)
        return hit["mj_name"][0] if hit.height else None

    def has_glyph(self, names: pl.Series) -> pl.Series:
        return names.is_in(self.glyphs["mj_name"].implode())

    @cached_property
    def key_index(self) -> dict[str, str]:
        """seq → mj_name, built once per loaded dictionary: 文字同定 looks up its few distinct
        characters here instead of joining them against the 64k keys on every call."""
        return dict(zip(self.keys["seq"].to_list(), self.keys["mj_name"].to_list()))

    @cached_property
    def glyph_output(self) -> dict[str, str | None]:
        """mj_name → the text a glyph is written as (None for the few glyphs without a code point)."""
        return dict(zip(self.glyphs["mj_name"].to_list(), self.glyphs["output"].to_list()))

    @cached_property
    def text_repertoire(self) -> frozenset[int]:
        """The code points besides MJ that a moji column may hold as they are (文字同定 `passthrough`).

        Declared, not inferred from the data: what a JIS-based legacy system can hold besides its
        kanji. The JIS X 0213 table this dictionary was built with (when it had one) and the same
        repertoire as Python's codecs know it (shift_jis_2004; cp932 adds its own forms of the same
        characters: ～ U+FF5E, － U+FF0D, ￠￡￢ …), JIS X 0201 (ASCII, half-width katakana), CR and LF
        (a line break the layout let through). Combining marks are left out (meaningless alone: an
        NFD remnant), as are control and format characters and the private-use area (外字).
        """
        jis = {ord(c) for c in self.jis["char"].to_list() if len(c) == 1} if self.jis.height else set()
        return frozenset(cp for cp in jis | _codec_repertoire()
                         if unicodedata.category(chr(cp))[0] not in "CM") | {0x0A, 0x0D}

    @cached_property
    def text_sequences(self) -> frozenset[str]:
        """The JIS X 0213 characters written with two code points (か゚ U+304B U+309A, æ̀ U+00E6 U+0300 …:
        25), from the JIS table this dictionary was built with: characters of the repertoire, passed through."""
        return frozenset(c for c in self.jis["char"].to_list() if len(c) == 2) if self.jis.height else frozenset()

    @cached_property
    def text_marks(self) -> frozenset[int]:
        """The JIS X 0213 combining marks (1-11-36 … U+0300 U+0301 U+0361 …): JIS text after a base character
        of the repertoire (a mark alone is an NFD remnant, not text: `text_repertoire` leaves them out)."""
        if not self.jis.height:
            return frozenset()
        return frozenset(ord(c) for c in self.jis["char"].to_list()
                         if len(c) == 1 and unicodedata.category(c).startswith("M"))


@lru_cache(maxsize=1)
def _codec_repertoire() -> frozenset[int]:
    """Every single character the Shift_JIS family decodes to (JIS X 0201, 0208, 0213 and CP932's
    forms), one decode per code: about 22k, once per process."""
    cps = set(range(0x20, 0x7F))
    for codec in ("cp932", "shift_jis_2004"):
        for b in range(0xA1, 0xE0):
            cps.update(ord(c) for c in bytes([b]).decode(codec, errors="ignore"))
        for lead in (*range(0x81, 0xA0), *range(0xE0, 0xFD)):
            for trail in (*range(0x40, 0x7F), *range(0x80, 0xFD)):
                try:
                    s = bytes([lead, trail]).decode(codec)
                except UnicodeDecodeError:
                    continue
                if len(s) == 1:
                    cps.add(ord(s))
    return frozenset(cps)


def build_frames(source: src.MjSource, jis: pl.DataFrame) -> dict[str, pl.DataFrame]:
    g = source.glyphs.with_columns(
        pl.coalesce("ucs", "ivs", "svs").alias("output")
    )
    keys = pl.concat([
        g.select(pl.col("ucs").alias("seq"), "mj_name", pl.lit("ucs").alias("kind")),
        g.select(pl.col("ivs").alias("seq"), "mj_name", pl.lit("ivs").alias("kind")),
        g.select(pl.col("svs").alias("seq"), "mj_name", pl.lit("svs").alias("kind")),
        source.extra_ivs.select(pl.col("ivs").alias("seq"), "mj_name", pl.lit("ivs").alias("kind")),
    ]).drop_nulls("seq")
    dup = keys.filter(pl.col("seq").is_duplicated())
    if dup.height:
        raise ConfigError(f"MJ source {source.label}: {dup.height} key sequences map to several glyphs, "
                          f"e.g. {dup.head(3)['mj_name'].to_list()}")
    return {"keys": keys, "glyphs": g, "shrink": source.shrink, "reading": source.reading,
            "rsindex": source.rsindex, "jis": jis}


def build(out_dir: Path | None = None, source: Path | str | None = None,
          jis_path: Path | None = None) -> Path:
    """Read the MJ source once and write the compact dictionary (Parquet) into `out_dir`."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir) if out_dir else src.default_cache_dir()
    s = src.load_source(source, cache_dir=out_dir)
    if jis_path is None:
        sd = Path(source) if source not in (None, "npm") else src.default_source_dir()
        jis_path = sd / src.JISX0213_TXT
    jis = (src.load_jis_sets(jis_path) if jis_path.exists()
           else pl.DataFrame(schema={"char": pl.String, "in_x0208": pl.Boolean}))
    frames = build_frames(s, jis)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, f in frames.items():
        tmp = out_dir / f"{name}.parquet.tmp"
        f.write_parquet(tmp)
        tmp.replace(out_dir / f"{name}.parquet")
    meta = {"format_version": FORMAT_VERSION, "source": s.label, "glyphs": frames["glyphs"].height,
            "keys": frames["keys"].height, "jis_members": jis.height,
            "build_seconds": round(time.perf_counter() - t0, 2)}
    (out_dir / "manifest.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    return out_dir


def load_dictionary(path: Path | None = None) -> MojiDictionary:
    """Load a built dictionary (default `<repo>/.cache/moji`, or `IKOU_MOJI_CACHE`)."""
    d = Path(path) if path else src.default_cache_dir()
    manifest = d / "manifest.json"
    if not manifest.exists():
        raise ConfigError(f"no moji dictionary in {d}: run `ikou moji build`")
    meta = json.loads(manifest.read_text(encoding="utf-8"))
    if meta.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"moji dictionary in {d} has format {meta.get('format_version')}, "
                          f"expected {FORMAT_VERSION}: rebuild it")
    frames = {name: pl.read_parquet(d / f"{name}.parquet") for name in FILES}
    return MojiDictionary(meta=meta, **frames)


def ensure_dictionary(path: Path | None = None, source: Path | str | None = None) -> MojiDictionary:
    """Load, building first when the cache is missing."""
    d = Path(path) if path else src.default_cache_dir()
    if not (d / "manifest.json").exists():
        build(d, source)
    return load_dictionary(d)
