"""字形による同定: MJ glyphs rendered from IPAmj明朝 as compact direction features, and ranking against them.

Method (measured in bench/README.md and tests/moji/test_glyphs.py): every glyph is rasterized by
FreeType at 96 px without hinting, cropped to its ink box, centred in a square and resampled to
64×64 (2 px margin). Its feature is the classic printed-kanji "directional element" vector: the
image gradient's orientation soft-assigned to 8 directions, each direction map pooled by a Gaussian
onto an 8×8 grid (512 values), square-rooted and L2-normalised. The score of a candidate is the
cosine of the two vectors (1 = same picture); ranking a batch of 外字 is one matrix product against
the whole index (numpy), never a Python loop over MJ glyphs.

Evidence next to the score: the image distance (1 − score), the candidate's 総画数 and 部首 from the
MJ table, the stroke count estimated from the query's ten nearest glyphs (median) and whether the
candidate's 部首 agrees with theirs (the most frequent).

The index (`<repo>/.cache/glyphs/`): features.npy (float16, n×512), bitmaps.npy (packed 64×64
bitmaps, for pictures), glyphs.parquet (mj_name, strokes, radical), lacking.csv (MJ glyphs the
installed IPAmj明朝 does not draw, or draws from an older 図形バージョン), manifest.json.
"""
from __future__ import annotations

import io
import json
import os
import re
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import polars as pl

from ikou import REPO_ROOT
from ikou.errors import ConfigError
from ikou.moji import source as src

INDEX_FORMAT = 1
RENDER_PX = 96          # FreeType render size (em), before the crop to the ink box
CELL = 64               # the normalised picture, CELL×CELL
MARGIN = 2
GRID = 8                # pooling grid per direction
BINS = 8                # gradient directions
FEATURE_DIM = GRID * GRID * BINS
NEIGHBOURS = 10         # nearest glyphs that estimate strokes and 部首 of a query

IPAMJ_FONTS = ("/usr/share/fonts/truetype/ipamj/ipamjm.ttf", "/usr/share/fonts/opentype/ipamj/ipamjm.ttf")
# a font implementing the Adobe-Japan1 IVS collection (the JP face of Noto Serif CJK)
AJ1_FONTS = ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
             "/usr/share/fonts/opentype/noto/NotoSerifCJKjp-Regular.otf")
PUA_RANGES = ((0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))
_VS = re.compile(r"[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def _find(env: str, candidates: tuple[str, ...]) -> Path | None:
    if os.environ.get(env):
        return Path(os.environ[env])
    return next((Path(p) for p in candidates if Path(p).exists()), None)


def ipamj_font() -> Path | None:
    """IPAmj明朝: `IKOU_IPAMJ_FONT`, else the Debian package fonts-ipamj-mincho's file."""
    return _find("IKOU_IPAMJ_FONT", IPAMJ_FONTS)


def aj1_font() -> Path | None:
    """A font with the Adobe-Japan1 IVS: `IKOU_AJ1_FONT`, else Noto Serif CJK (fonts-noto-cjk)."""
    return _find("IKOU_AJ1_FONT", AJ1_FONTS)


def default_index_dir() -> Path:
    """`IKOU_GLYPH_INDEX`, else `<repo>/.cache/glyphs` (apart from the dictionary cache: one index per checkout)."""
    env = os.environ.get("IKOU_GLYPH_INDEX")
    return Path(env) if env else REPO_ROOT / ".cache" / "glyphs"


def is_pua(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in PUA_RANGES)


# -- fonts ---------------------------------------------------------------------------------------
class FontReader:
    """One face of a font file (TrueType, OpenType, .TTE, a face of a .ttc): glyph lookup and pictures."""

    def __init__(self, path: Path | str, face_index: int = 0):
        from fontTools.ttLib import TTFont
        import freetype
        self.path = Path(path)
        if not self.path.exists():
            raise ConfigError(f"font {self.path} not found")
        try:
            self.tt = TTFont(str(self.path), fontNumber=face_index, lazy=True)
            self.face = freetype.Face(str(self.path), face_index)
        except Exception as exc:  # fontTools/FreeType raise many kinds on a broken file
            raise ConfigError(f"{self.path}: not a TrueType/OpenType font: {exc}") from exc
        self.face.set_pixel_sizes(RENDER_PX, RENDER_PX)
        self._load = freetype.FT_LOAD_NO_HINTING | freetype.FT_LOAD_NO_BITMAP | freetype.FT_LOAD_RENDER

    @cached_property
    def glyph_order(self) -> list[str]:
        return self.tt.getGlyphOrder()

    @cached_property
    def glyph_id(self) -> dict[str, int]:
        return {g: i for i, g in enumerate(self.glyph_order)}

    @cached_property
    def cmap(self) -> dict[int, str]:
        return self.tt.getBestCmap() or {}

    @cached_property
    def uvs(self) -> dict[tuple[int, int], str]:
        """(base, selector) → glyph name, from the format-14 cmap (defaults resolve to the base's glyph)."""
        out: dict[tuple[int, int], str] = {}
        for t in self.tt["cmap"].tables:
            if t.format == 14:
                for vs, pairs in t.uvsDict.items():
                    for base, name in pairs:
                        g = name if name is not None else self.cmap.get(base)
                        if g is not None:
                            out[(base, vs)] = g
        return out

    @property
    def version(self) -> str:
        return self.tt["name"].getDebugName(5) or ""

    def glyph_for(self, seq: str) -> str | None:
        """Glyph name of one character: a code point, or base + variation selector (exact, no fallback)."""
        cps = [ord(c) for c in seq]
        if len(cps) == 1:
            return self.cmap.get(cps[0])
        if len(cps) == 2:
            return self.uvs.get((cps[0], cps[1]))
        return None

    def pua_codes(self) -> list[int]:
        return sorted(cp for cp in self.cmap if is_pua(cp))

    def rasterize(self, names: list[str]) -> np.ndarray:
        """Normalised CELL×CELL uint8 pictures (ink = 255) of the named glyphs; an empty glyph stays blank.

        One FreeType call per glyph (the library renders one outline at a time); everything after the
        render is array work.
        """
        from PIL import Image
        out = np.zeros((len(names), CELL, CELL), np.uint8)
        inner = CELL - 2 * MARGIN
        gid = self.glyph_id
        for i, name in enumerate(names):
            self.face.load_glyph(gid[name], self._load)
            b = self.face.glyph.bitmap
            if b.width == 0 or b.rows == 0:
                continue
            a = np.asarray(b.buffer, dtype=np.uint8).reshape(b.rows, b.pitch)[:, :b.width]
            h, w = a.shape
            s = max(h, w)
            sq = np.zeros((s, s), np.uint8)
            sq[(s - h) // 2:(s - h) // 2 + h, (s - w) // 2:(s - w) // 2 + w] = a
            img = Image.fromarray(sq).resize((inner, inner), Image.BOX if s >= inner else Image.BILINEAR)
            out[i, MARGIN:MARGIN + inner, MARGIN:MARGIN + inner] = np.asarray(img)
        return out

    def svg(self, name: str, size: int = 64, title: str = "") -> str:
        """The glyph outline as an inline <svg> (em box, no external resources)."""
        from fontTools.pens.svgPathPen import SVGPathPen
        gs = self.tt.getGlyphSet()
        pen = SVGPathPen(gs)
        gs[name].draw(pen)
        upm = self.tt["head"].unitsPerEm
        os2 = self.tt["OS/2"] if "OS/2" in self.tt else None
        top = int(getattr(os2, "sTypoAscender", 0) or upm * 0.88)
        t = f"<title>{title}</title>" if title else ""
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
                f'viewBox="0 {-top} {upm} {upm}" role="img">{t}'
                f'<path transform="scale(1,-1)" d="{pen.getCommands()}"/></svg>')

    def png(self, name: str, size: int = 48) -> bytes:
        """The glyph as a PNG picture (black on white) of size×size."""
        from PIL import Image
        img = 255 - self.rasterize([name])[0]
        buf = io.BytesIO()
        Image.fromarray(img).resize((size, size), Image.LANCZOS).save(buf, format="PNG")
        return buf.getvalue()


# -- features --------------------------------------------------------------------------------------
def _pool_matrix(n_in: int, n_out: int) -> np.ndarray:
    centres = (np.arange(n_out) + 0.5) * n_in / n_out
    x = np.arange(n_in) + 0.5
    p = np.exp(-0.5 * ((x[None, :] - centres[:, None]) / (n_in / n_out)) ** 2)
    return (p / p.sum(1, keepdims=True)).astype(np.float32)


_POOL = _pool_matrix(CELL, GRID)


def features(images: np.ndarray, batch: int = 2048) -> np.ndarray:
    """(n, CELL, CELL) uint8 pictures → (n, FEATURE_DIM) float32 unit vectors (directional features)."""
    out = np.empty((len(images), FEATURE_DIM), np.float32)
    for s in range(0, len(images), batch):
        x = images[s:s + batch].astype(np.float32) / 255
        gx = np.zeros_like(x)
        gy = np.zeros_like(x)
        gx[:, :, 1:-1] = x[:, :, 2:] - x[:, :, :-2]
        gy[:, 1:-1, :] = x[:, 2:, :] - x[:, :-2, :]
        mag = np.hypot(gx, gy)
        b = (np.arctan2(gy, gx) + np.pi) / (2 * np.pi) * BINS
        lo = np.floor(b)
        w1 = (b - lo).astype(np.float32)
        b0 = lo.astype(np.int64) % BINS
        b1 = (b0 + 1) % BINS
        f = np.empty((len(x), BINS, GRID, GRID), np.float32)
        for k in range(BINS):   # 8 directions, each a batched matrix product
            ch = mag * ((b0 == k) * (1 - w1) + (b1 == k) * w1)
            f[:, k] = _POOL @ ch @ _POOL.T
        f = np.sqrt(f.reshape(len(x), -1))
        out[s:s + batch] = f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-9)
    return out


# -- the index -----------------------------------------------------------------------------------
@dataclass
class GlyphIndex:
    glyphs: pl.DataFrame        # row, mj_name, strokes, radical (row = position in the arrays)
    feats: np.ndarray           # (n, FEATURE_DIM) float32
    bitmaps: np.ndarray         # (n, CELL*CELL/8) packed bits
    meta: dict
    path: Path | None = None

    def __len__(self) -> int:
        return self.glyphs.height

    @cached_property
    def names(self) -> np.ndarray:
        return self.glyphs["mj_name"].to_numpy()

    @cached_property
    def row_of(self) -> dict[str, int]:
        return dict(zip(self.glyphs["mj_name"].to_list(), range(self.glyphs.height)))

    def image(self, mj_name: str) -> np.ndarray:
        return np.unpackbits(self.bitmaps[self.row_of[mj_name]]).reshape(CELL, CELL) * 255

    def search(self, q: np.ndarray, top: int, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Top `top` rows and scores per query feature (cosine, best first; ties by MJ文字図形名)."""
        top = min(top, len(self))
        idx = np.empty((len(q), top), np.int64)
        sc = np.empty((len(q), top), np.float32)
        for s in range(0, len(q), batch):
            S = q[s:s + batch] @ self.feats.T
            part = np.argpartition(-S, top - 1, axis=1)[:, :top]
            ps = np.take_along_axis(S, part, 1)
            order = np.lexsort((part, -ps), axis=1)   # score desc, then row (= MJ name order)
            idx[s:s + batch] = np.take_along_axis(part, order, 1)
            sc[s:s + batch] = np.take_along_axis(ps, order, 1)
        return idx, sc

    def rank(self, q: np.ndarray, keys: list[str], top: int = 10) -> pl.DataFrame:
        """key, rank, mj, score + evidence (distance, strokes, est_strokes, radical, radical_agrees)."""
        if not len(keys):
            return pl.DataFrame(schema=RANK_SCHEMA)
        k = max(top, NEIGHBOURS)
        idx, sc = self.search(q, k)
        strokes = self.glyphs["strokes"].to_numpy()
        radical = self.glyphs["radical"].to_numpy()
        nb = idx[:, :NEIGHBOURS]
        est = np.nanmedian(np.where(strokes[nb] > 0, strokes[nb], np.nan), axis=1)
        return _evidence(keys, idx[:, :top], sc[:, :top], strokes, radical, est, _mode(radical[nb]), self.names)

    def rank_within(self, q: np.ndarray, keys: list[str], allowed: pl.DataFrame, top: int = 10) -> pl.DataFrame:
        """Like rank, but query i is ranked only against the rows `allowed` lists for it (columns q, row)."""
        if not allowed.height:
            return pl.DataFrame(schema=RANK_SCHEMA)
        qi = allowed["q"].to_numpy()
        ri = allowed["row"].to_numpy()
        score = np.einsum("ij,ij->i", q[qi], self.feats[ri])
        g = self.glyphs
        f = (allowed.with_columns(pl.Series("score", score))
             .join(g.select("row", "mj_name", "strokes", "radical"), on="row")
             .sort(["q", "score", "mj_name"], descending=[False, True, False])
             .with_columns(pl.int_range(1, pl.len() + 1).over("q").alias("rank"))
             .filter(pl.col("rank") <= top))
        return f.select(
            pl.Series(keys)[f["q"].to_numpy()].alias("key"), pl.col("rank").cast(pl.Int32),
            pl.col("mj_name").alias("mj"), pl.col("score").round(4),
            (1 - pl.col("score")).round(4).alias("distance"), "strokes", pl.lit(None, pl.Float64).alias("est_strokes"),
            "radical", pl.lit(None, pl.Boolean).alias("radical_agrees"))


RANK_SCHEMA = {"key": pl.String, "rank": pl.Int32, "mj": pl.String, "score": pl.Float32, "distance": pl.Float32,
               "strokes": pl.Int32, "est_strokes": pl.Float64, "radical": pl.Int32, "radical_agrees": pl.Boolean}


def _mode(a: np.ndarray) -> np.ndarray:
    """Most frequent value per row (the first on a tie), ignoring values ≤ 0."""
    eq = (a[:, :, None] == a[:, None, :]) & (a[:, None, :] > 0)
    return a[np.arange(len(a)), eq.sum(2).argmax(1)]


def _evidence(keys, idx, sc, strokes, radical, est, rad_mode, names) -> pl.DataFrame:
    n, top = idx.shape
    return pl.DataFrame({
        "key": np.repeat(np.asarray(keys, dtype=object), top).astype(str),
        "rank": np.tile(np.arange(1, top + 1, dtype=np.int32), n),
        "mj": names[idx].ravel(),
        "score": sc.ravel().round(4),
        "distance": (1 - sc.ravel()).round(4),
        "strokes": strokes[idx].ravel(),
        "est_strokes": np.repeat(est, top),
        "radical": radical[idx].ravel(),
        "radical_agrees": (radical[idx] == rad_mode[:, None]).ravel(),
    }, schema=RANK_SCHEMA)


def build_index(out_dir: Path | None = None, font: Path | None = None, dictionary=None) -> Path:
    """Render every MJ glyph of the dictionary from IPAmj明朝 (by its glyph name, mjNNNNNN) into the index."""
    from ikou.moji.dictionary import ensure_dictionary
    t0 = time.perf_counter()
    font = Path(font) if font else ipamj_font()
    if font is None or not font.exists():
        raise ConfigError("IPAmj明朝 not found: install the Debian package fonts-ipamj-mincho (`make system-deps`) "
                          "or set IKOU_IPAMJ_FONT to ipamjm.ttf")
    d = dictionary if dictionary is not None else ensure_dictionary()
    reader = FontReader(font)
    out_dir = Path(out_dir) if out_dir else default_index_dir()
    rs = d.rsindex.group_by("mj_name", maintain_order=True).first()
    g = (d.glyphs.select("mj_name", "strokes").join(rs.select("mj_name", "radical"), on="mj_name", how="left")
         .sort("mj_name").with_columns(pl.col("mj_name").str.to_lowercase().alias("_font_name")))
    in_font = g["_font_name"].is_in(pl.Series(reader.glyph_order).implode())
    have = g.filter(in_font)
    imgs = reader.rasterize(have["_font_name"].to_list())
    blank = imgs.reshape(len(imgs), -1).max(1) == 0
    have = have.filter(pl.Series(~blank))
    imgs = imgs[~blank]
    feats = features(imgs)
    font_version = _version_number(reader.version)
    lacking = pl.concat([
        g.filter(~in_font).select("mj_name", pl.lit("not in the font").alias("reason")),
        g.filter(in_font).filter(pl.Series(blank)).select("mj_name", pl.lit("empty outline").alias("reason")),
        _newer_shapes(font_version),
    ])
    out_dir.mkdir(parents=True, exist_ok=True)
    glyphs = have.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), "mj_name",
                         pl.col("strokes").fill_null(0).cast(pl.Int32), pl.col("radical").fill_null(0).cast(pl.Int32))
    for name, arr in (("features", feats.astype(np.float16)),
                      ("bitmaps", np.packbits(imgs >= 128, axis=None).reshape(len(imgs), -1))):
        np.save(out_dir / f"{name}.tmp.npy", arr)
        (out_dir / f"{name}.tmp.npy").replace(out_dir / f"{name}.npy")
    glyphs.write_parquet(out_dir / "glyphs.parquet")
    lacking.write_csv(out_dir / "lacking.csv")
    meta = {"format_version": INDEX_FORMAT, "font": str(font), "font_version": reader.version,
            "glyphs": glyphs.height, "dictionary_glyphs": g.height,
            "lacking": {r: int(n) for r, n in lacking["reason"].value_counts().iter_rows()},
            "method": f"directional features {BINS} directions × {GRID}×{GRID}, {CELL}px cells, cosine",
            "build_seconds": round(time.perf_counter() - t0, 1)}
    (out_dir / "manifest.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    return out_dir


def _version_number(v: str) -> float:
    m = re.search(r"(\d+)\.(\d+)", v)
    return float(f"{int(m.group(1))}.{m.group(2)}") if m else 0.0


def _newer_shapes(font_version: float) -> pl.DataFrame:
    """MJ glyphs whose 図形バージョン in the MJ table is newer than the font (drawn from an older shape)."""
    path = src.default_source_dir() / src.MJI_CSV
    empty = pl.DataFrame(schema={"mj_name": pl.String, "reason": pl.String})
    if not path.exists() or not font_version:
        return empty
    t = pl.read_csv(path, infer_schema=False, columns=["MJ文字図形名", "MJ文字図形バージョン"])
    return t.filter(pl.col("MJ文字図形バージョン").cast(pl.Float64, strict=False) > font_version).select(
        pl.col("MJ文字図形名").alias("mj_name"),
        pl.format("図形バージョン {} is newer than the font's", "MJ文字図形バージョン").alias("reason"))


def load_index(path: Path | None = None) -> GlyphIndex:
    d = Path(path) if path else default_index_dir()
    manifest = d / "manifest.json"
    if not manifest.exists():
        raise ConfigError(f"no glyph index in {d}: run `ikou moji glyphs` (needs fonts-ipamj-mincho)")
    meta = json.loads(manifest.read_text(encoding="utf-8"))
    if meta.get("format_version") != INDEX_FORMAT:
        raise ConfigError(f"glyph index in {d} has format {meta.get('format_version')}: rebuild it")
    return GlyphIndex(glyphs=pl.read_parquet(d / "glyphs.parquet"),
                      feats=np.load(d / "features.npy").astype(np.float32),
                      bitmaps=np.load(d / "bitmaps.npy", mmap_mode="r"), meta=meta, path=d)


def ensure_index(path: Path | None = None) -> GlyphIndex:
    d = Path(path) if path else default_index_dir()
    if not (d / "manifest.json").exists():
        build_index(d)
    return load_index(d)


# -- a vendor's 外字 font --------------------------------------------------------------------------
def parse_codes(spec: str | None) -> list[int] | None:
    """'U+E000-U+E0FF,U+E700' → code points (None = every private-use glyph of the font)."""
    if not spec:
        return None
    out: list[int] = []
    for part in spec.split(","):
        m = re.fullmatch(r"\s*U\+([0-9A-Fa-f]{4,6})(?:\s*-\s*U\+([0-9A-Fa-f]{4,6}))?\s*", part)
        if not m:
            raise ConfigError(f"--codes {spec!r}: expected U+XXXX or U+XXXX-U+YYYY, comma separated")
        lo = int(m.group(1), 16)
        hi = int(m.group(2), 16) if m.group(2) else lo
        if hi < lo:
            raise ConfigError(f"--codes {spec!r}: {part.strip()} is a reversed range (write the lower code first)",
                              ja=f"--codes {spec!r}: {part.strip()} は範囲の上下が逆です (小さいコードを先に書いてください)")
        if not _same_pua_area(lo, hi):
            raise ConfigError(f"--codes {spec!r}: {part.strip()} is not within a private-use area (外字 are "
                              "U+E000–F8FF, U+F0000–FFFFD, U+100000–10FFFD)",
                              ja=f"--codes {spec!r}: {part.strip()} は私用領域 (外字の範囲) ではありません")
        out.extend(range(lo, hi + 1))
    return out


def _same_pua_area(lo: int, hi: int) -> bool:
    """Both ends in one private-use area: a range across areas would name every code point between them."""
    return any(a <= lo <= hi <= b for a, b in PUA_RANGES)


def suggest(font: Path | str, codes: list[int] | None = None, top: int = 10,
            index: GlyphIndex | None = None) -> pl.DataFrame:
    """Rank the MJ glyphs for every private-use glyph of a 外字 font (or those of `codes` it draws).

    Returns code ('U+XXXX'), rank (from 1), mj, score (higher is better) and the evidence columns.
    """
    reader = FontReader(font)
    index = index if index is not None else ensure_index()
    have = reader.pua_codes()
    cps = have if codes is None else [c for c in codes if c in set(have) and is_pua(c)]
    names = [reader.cmap[c] for c in cps]
    imgs = reader.rasterize(names)
    drawn = imgs.reshape(len(imgs), -1).max(1) > 0 if len(imgs) else np.zeros(0, bool)
    keys = [f"U+{c:04X}" for c, ok in zip(cps, drawn) if ok]
    ranked = index.rank(features(imgs[drawn]), keys, top=top)
    return ranked.rename({"key": "code"})


def format_candidates(ranked: pl.DataFrame, top: int = 5) -> pl.DataFrame:
    """key → 'MJ028902(0.934) MJ…' (the ledger's glyph_candidates)."""
    return (ranked.filter(pl.col("rank") <= top).sort("key", "rank")
            .group_by("key", maintain_order=True)
            .agg(pl.format("{}({})", "mj", pl.col("score").round(3)).str.join(" ").alias("glyph_candidates")))


def glyph_candidates(chars: pl.Series, *, gaiji_font: Path | None = None, dictionary=None,
                     index: GlyphIndex | None = None, top: int = 5) -> pl.DataFrame:
    """char, glyph_candidates, glyph_font for unresolved characters that have a picture to rank:

    - a private-use 外字 drawn in the source's 外字 font (`gaiji_font`), ranked against every MJ glyph;
    - a variation sequence of the Adobe-Japan1 collection, from the crosswalk (moji.crosswalk), or
      drawn by the Adobe-Japan1 font and ranked among its base's MJ glyphs when the crosswalk lacks it.
    Characters without a picture are left out. A missing font or index is a ConfigError for the caller.
    """
    from ikou.moji import crosswalk as X
    out_schema = {"char": pl.String, "glyph_candidates": pl.String, "glyph_font": pl.String}
    c = pl.DataFrame({"char": chars.cast(pl.String)}).unique().drop_nulls()
    pua = c.filter(pl.col("char").str.len_chars() == 1).filter(
        pl.col("char").str.contains(r"^[\x{E000}-\x{F8FF}\x{F0000}-\x{FFFFD}\x{100000}-\x{10FFFD}]$"))
    vs = c.filter((pl.col("char").str.len_chars() == 2) & pl.col("char").str.contains(_VS.pattern))
    parts = []
    if pua.height and gaiji_font is not None:
        index = index if index is not None else ensure_index()
        cps = [ord(x) for x in pua["char"]]
        r = suggest(gaiji_font, cps, top=top, index=index)
        f = format_candidates(r.rename({"code": "key"}), top)
        parts.append(f.select(pl.col("key").str.slice(2).str.to_integer(base=16)
                              .map_elements(chr, return_dtype=pl.String).alias("char"),
                              "glyph_candidates", pl.lit(str(gaiji_font)).alias("glyph_font")))
    if vs.height:
        xw = X.load_crosswalk()
        found = pl.DataFrame(schema={"key": pl.String, "rank": pl.Int32, "mj": pl.String, "score": pl.Float32})
        if xw is not None:
            found = xw.filter(pl.col("seq").is_in(vs["char"].implode()) & pl.col("rank").is_not_null()).select(
                pl.col("seq").alias("key"), "rank", "mj", "score")
        rest = vs.filter(~pl.col("char").is_in(found["key"].implode()))
        if rest.height:
            from ikou.moji.dictionary import ensure_dictionary
            index = index if index is not None else ensure_index()
            more = X.rank_sequences(rest["char"].to_list(), dictionary=dictionary or ensure_dictionary(),
                                    index=index, top=top)
            found = pl.concat([found, more.select("key", "rank", "mj", "score")])
        if found.height:
            font = str(aj1_font())
            parts.append(format_candidates(found, top).select(pl.col("key").alias("char"), "glyph_candidates",
                                                              pl.lit(font).alias("glyph_font")))
    if not parts:
        return pl.DataFrame(schema=out_schema)
    return pl.concat(parts).select([pl.col(k).cast(v) for k, v in out_schema.items()])
