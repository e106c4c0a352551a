"""Adobe-Japan1 → MJ: variation sequences of Windows-era text identified by their pictures.

Text from Windows-era systems carries IVS of the Adobe-Japan1 collection (葛󠄀 U+845B U+E0100,
辻󠄀 U+8FBB U+E0100); the MJ table keys only Moji_Joho sequences, so these come out unresolved.
Each Adobe-Japan1 sequence of the IVD is drawn by a font that implements the collection (Noto Serif
CJK JP) and ranked, with the same features as every 外字 (moji.glyphs), against the MJ glyphs of the
same base character: the ones whose 実装したUCS or 対応するUCS is the base, or whose IVS starts with it.

`build_crosswalk` writes `<glyph index>/adobe_japan1.parquet` (+ .csv): seq, codepoints, cid,
rank, mj, score (top 5 per sequence), and one row with a null rank for a sequence the font cannot
draw, so the coverage is visible. A 団体 adopts it with `ikou moji adopt-crosswalk`.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from ikou.errors import ConfigError
from ikou.moji import glyphs as G
from ikou.moji import source as src

IVD_GLOB = "IVD_Sequences.*.txt"
COLLECTION = "Adobe-Japan1"
TOP = 5


def ivd_path() -> Path | None:
    found = sorted(src.default_source_dir().glob(IVD_GLOB))
    return found[-1] if found else None


def read_ivd(path: Path, collection: str = COLLECTION) -> pl.DataFrame:
    """seq (base + selector), codepoints, cid of every sequence of `collection`."""
    lines = pl.read_csv(path, has_header=False, separator="\n", new_columns=["line"], comment_prefix="#",
                        quote_char=None, infer_schema=False)
    f = lines.select(pl.col("line").str.extract_groups(
        r"^([0-9A-F]{4,6}) ([0-9A-F]{5});\s*([^;]+?);\s*(\S+)").alias("m")).unnest("m")
    f = f.rename({"1": "base", "2": "vs", "3": "collection", "4": "cid"}).filter(pl.col("collection") == collection)
    return f.select(
        pl.concat_str(pl.col("base").str.to_integer(base=16).map_elements(chr, return_dtype=pl.String),
                      pl.col("vs").str.to_integer(base=16).map_elements(chr, return_dtype=pl.String)).alias("seq"),
        pl.format("U+{} U+{}", "base", "vs").alias("codepoints"), "cid")


def same_base(seqs: pl.DataFrame, dictionary, index: G.GlyphIndex) -> pl.DataFrame:
    """q (row of seqs), row (index row): the MJ glyphs sharing each sequence's base character."""
    g = dictionary.glyphs.select("mj_name", pl.coalesce(
        "ucs", "corresponding_ucs", pl.col("ivs").str.slice(0, 1)).alias("base"))
    g2 = dictionary.glyphs.select("mj_name", pl.col("corresponding_ucs").alias("base"))
    g3 = dictionary.glyphs.select("mj_name", pl.col("ivs").str.slice(0, 1).alias("base"))
    bases = pl.concat([g, g2, g3]).drop_nulls().unique()
    q = seqs.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("q"), pl.col("seq").str.slice(0, 1).alias("base"))
    return (q.join(bases, on="base").join(index.glyphs.select("mj_name", "row"), on="mj_name")
            .select("q", "row").unique().sort("q", "row"))


def rank_sequences(seqs: list[str], *, dictionary, index: G.GlyphIndex, font: G.FontReader | None = None,
                   top: int = TOP) -> pl.DataFrame:
    """key (the sequence), rank, mj, score …: each sequence drawn by the font, ranked among its base's MJ glyphs."""
    font = font or _aj1_reader()
    names = [font.glyph_for(s) for s in seqs]
    drawn = [(s, n) for s, n in zip(seqs, names) if n is not None]
    if not drawn:
        return pl.DataFrame(schema=G.RANK_SCHEMA)
    q = G.features(font.rasterize([n for _, n in drawn]))
    keys = [s for s, _ in drawn]
    allowed = same_base(pl.DataFrame({"seq": keys}), dictionary, index)
    return index.rank_within(q, keys, allowed, top=top)


def _aj1_reader() -> G.FontReader:
    path = G.aj1_font()
    if path is None or not path.exists():
        raise ConfigError("no font with the Adobe-Japan1 IVS: install fonts-noto-cjk or set IKOU_AJ1_FONT")
    return G.FontReader(path, 0)


def build_crosswalk(out_dir: Path | None = None, *, dictionary=None, index: G.GlyphIndex | None = None,
                    ivd: Path | None = None) -> pl.DataFrame:
    from ikou.moji.dictionary import ensure_dictionary
    d = dictionary if dictionary is not None else ensure_dictionary()
    index = index if index is not None else G.ensure_index()
    ivd = ivd or ivd_path()
    if ivd is None or not ivd.exists():
        raise ConfigError(f"no IVD ({IVD_GLOB}) in {src.default_source_dir()}")
    seqs = read_ivd(ivd)
    has_mj = same_base(seqs, d, index).select("q").unique()
    seqs = seqs.with_row_index("q").join(has_mj.with_columns(pl.col("q").cast(pl.UInt32)), on="q").drop("q")
    ranked = rank_sequences(seqs["seq"].to_list(), dictionary=d, index=index)
    out = (seqs.join(ranked.rename({"key": "seq"}), on="seq", how="left")
           .select("seq", "codepoints", "cid", "rank", "mj", "score", "distance")
           .sort("codepoints", "rank", nulls_last=True))
    out_dir = Path(out_dir) if out_dir else G.default_index_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    out.write_parquet(out_dir / "adobe_japan1.parquet")
    out.drop("seq").write_csv(out_dir / "adobe_japan1.csv")
    return out


def load_crosswalk(path: Path | None = None) -> pl.DataFrame | None:
    p = (Path(path) if path else G.default_index_dir()) / "adobe_japan1.parquet"
    return pl.read_parquet(p) if p.exists() else None
