"""Where the MJ data comes from (文字情報基盤 MJ文字情報一覧表, MJ縮退マップ, readings, 部首内画数).

Two sources give the same normalised frames:
- a folder of files (default `REPO_ROOT.parent/"shared"/"mj"`): the mojidata CSV exports and the
  official MJShrinkMap JSON;
- the pinned npm package @mandel59/mojidata@1.8.1 (sha256-checked), whose `dist/moji.db` SQLite holds
  the same tables (`mji`, `mji_reading`, `mji_rsindex`, `mjsm_*`).

Every character is kept as the exact code points given (UCS, UCS+IVS, UCS+SVS); nothing is NFC/NFKC
normalised, because that would fold CJK compatibility ideographs (U+F91D 欄 → U+6B04) into other
glyphs. The normalised frames use these columns:

glyphs: mj_name, ucs, ivs, svs, corresponding_ucs, x0213, strokes   (chars, not U+ strings)
extra_ivs: mj_name, ivs                                              (mji_duplicated_ivs)
shrink: mj_name, category, kind, note, hop, rank, x0213, ucs, pos
reading: mj_name, reading ; rsindex: mj_name, radical, inner_strokes
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ikou import REPO_ROOT
from ikou.errors import ConfigError

NPM_PACKAGE = "@mandel59/mojidata@1.8.1"
NPM_SHA256 = "d51b41cc0164211090757eb2f5e74cd343a1cae82061b14082c4f436891b87b4"
NPM_TARBALL = "mandel59-mojidata-1.8.1.tgz"

MJI_CSV = "mji.from-mojidata-1.8.1.csv"
READING_CSV = "mji_reading.from-mojidata-1.8.1.csv"
RSINDEX_CSV = "mji_rsindex.from-mojidata-1.8.1.csv"
SHRINK_JSON = "MJShrinkMap.1.2.0.json"
JISX0213_TXT = "jisx0213-2004-8bit-std.txt"

# MJ縮退マップ categories, as the JSON names them.
CAT_JIS = "JIS包摂規準・UCS統合規則"
CAT_HOMU = "法務省戸籍法関連通達・通知"
CAT_582 = "法務省告示582号別表第四"
CAT_JISHO = "辞書類等による関連字"
CAT_YOMI = "読み・字形による類推"
CATEGORIES = (CAT_JIS, CAT_HOMU, CAT_582, CAT_JISHO, CAT_YOMI)

# npm SQLite tables → (category, kind, note)
_MJSM_TABLES = {
    "mjsm_JIS包摂規準UCS統合規則": (CAT_JIS, None, None),
    "mjsm_法務省告示582号別表第四_一": (CAT_582, "一", None),
    "mjsm_法務省告示582号別表第四_二": (CAT_582, "二", None),
    "mjsm_戸籍統一文字情報_親字正字": (CAT_HOMU, "戸籍統一文字情報 親字・正字", None),
    "mjsm_民一2842号通達別表_誤字俗字正字一覧表_俗字": (CAT_HOMU, "民一2842号通達別表 誤字俗字・正字一覧表", "俗字"),
    "mjsm_民一2842号通達別表_誤字俗字正字一覧表_別字": (CAT_HOMU, "民一2842号通達別表 誤字俗字・正字一覧表", "別字"),
    "mjsm_民一2842号通達別表_誤字俗字正字一覧表_無印": (CAT_HOMU, "民一2842号通達別表 誤字俗字・正字一覧表", "無印"),
    "mjsm_民二5202号通知別表_正字俗字等対照表": (CAT_HOMU, "民二5202号通知別表 正字・俗字等対照表", None),
    "mjsm_読み字形による類推": (CAT_YOMI, None, None),
    "mjsm_辞書類等による関連字": (CAT_JISHO, None, None),
}

SHRINK_SCHEMA = {
    "mj_name": pl.String, "category": pl.String, "kind": pl.String, "note": pl.String,
    "hop": pl.Int32, "rank": pl.Int32, "x0213": pl.String, "ucs": pl.String, "pos": pl.Int32,
}


def default_source_dir() -> Path:
    """`IKOU_MJ_DIR` if set, else the shared folder next to the checkout."""
    env = os.environ.get("IKOU_MJ_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "mj"


def default_cache_dir() -> Path:
    env = os.environ.get("IKOU_MOJI_CACHE")
    return Path(env) if env else REPO_ROOT / ".cache" / "moji"


@dataclass
class MjSource:
    """The normalised MJ frames plus a label saying where they came from."""

    label: str
    glyphs: pl.DataFrame
    extra_ivs: pl.DataFrame
    shrink: pl.DataFrame
    reading: pl.DataFrame
    rsindex: pl.DataFrame


def _uplus_to_char(expr: pl.Expr) -> pl.Expr:
    """'U+9AD9' → '髙' (vectorised over the few thousand distinct values via a join-free map)."""
    return expr.map_elements(lambda s: chr(int(s[2:], 16)), return_dtype=pl.String, skip_nulls=True)


def _seq_to_char(expr: pl.Expr) -> pl.Expr:
    """'9F4B_E0104' → '齋\U000E0104' (IVS/SVS as BASE_VS hex)."""
    return expr.map_elements(
        lambda s: "".join(chr(int(p, 16)) for p in s.split("_")), return_dtype=pl.String, skip_nulls=True
    )


def _glyphs_from(mji: pl.DataFrame, convert: bool) -> pl.DataFrame:
    c1, c2 = (_uplus_to_char, _seq_to_char) if convert else (lambda e: e, lambda e: e)
    return mji.select(
        pl.col("MJ文字図形名").alias("mj_name"),
        c1(pl.col("実装したUCS")).alias("ucs"),
        c2(pl.col("実装したMoji_JohoコレクションIVS")).alias("ivs"),
        c2(pl.col("実装したSVS")).alias("svs"),
        c1(pl.col("対応するUCS")).alias("corresponding_ucs"),
        pl.col("X0213").alias("x0213"),
        pl.col("総画数").cast(pl.Int32, strict=False).alias("strokes"),
    )


def _rank(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return int(digits) if digits else None


def _shrink_from_json(path: Path) -> pl.DataFrame:
    """Flatten MJShrinkMap JSON into one row per (glyph, category, candidate), order kept in `pos`."""
    content = json.loads(path.read_text(encoding="utf-8"))["content"]
    rows: dict[str, list] = {k: [] for k in SHRINK_SCHEMA}
    for entry in content:  # ~59k glyphs: a one-off flattening at build time, not per data row
        name = entry["MJ文字図形名"]
        for cat in CATEGORIES:
            for pos, cand in enumerate(entry.get(cat, ())):
                rows["mj_name"].append(name)
                rows["category"].append(cat)
                rows["kind"].append(cand.get("種別") or cand.get("表"))
                rows["note"].append(cand.get("付記"))
                rows["hop"].append(cand.get("ホップ数"))
                rows["rank"].append(_rank(cand.get("順位")))
                rows["x0213"].append(cand.get("JIS X 0213"))
                ucs = cand.get("UCS")
                rows["ucs"].append(chr(int(ucs[2:], 16)) if ucs else None)
                rows["pos"].append(pos)
    return pl.DataFrame(rows, schema=SHRINK_SCHEMA)


def load_from_dir(d: Path) -> MjSource:
    missing = [f for f in (MJI_CSV, READING_CSV, RSINDEX_CSV, SHRINK_JSON) if not (d / f).exists()]
    if missing:
        raise ConfigError(f"MJ source folder {d} lacks {', '.join(missing)}")
    mji = pl.read_csv(d / MJI_CSV, infer_schema=False)
    reading = pl.read_csv(d / READING_CSV, infer_schema=False).rename({"MJ文字図形名": "mj_name", "読み": "reading"})
    rs = pl.read_csv(d / RSINDEX_CSV, infer_schema=False).select(
        pl.col("MJ文字図形名").alias("mj_name"),
        pl.col("部首").cast(pl.Int32, strict=False).alias("radical"),
        pl.col("内画数").cast(pl.Int32, strict=False).alias("inner_strokes"),
    )
    return MjSource(
        label=f"dir:{d.name}/{MJI_CSV}",
        glyphs=_glyphs_from(mji, convert=True),
        extra_ivs=pl.DataFrame(schema={"mj_name": pl.String, "ivs": pl.String}),
        shrink=_shrink_from_json(d / SHRINK_JSON),
        reading=reading,
        rsindex=rs,
    )


def fetch_npm(cache_dir: Path) -> Path:
    """`npm pack` the pinned mojidata package into the cache, check its sha256, return moji.db."""
    npm_dir = cache_dir / "npm"
    npm_dir.mkdir(parents=True, exist_ok=True)
    db = npm_dir / "package" / "dist" / "moji.db"
    if db.exists():
        return db
    tgz = npm_dir / NPM_TARBALL
    if not tgz.exists():
        try:
            subprocess.run(["npm", "pack", NPM_PACKAGE, "--silent"], cwd=npm_dir, check=True,
                           capture_output=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as exc:
            raise ConfigError(
                f"no MJ source folder and `npm pack {NPM_PACKAGE}` failed ({exc}); set IKOU_MJ_DIR "
                "to a folder holding the MJ files or make the npm registry reachable"
            ) from exc
    digest = hashlib.sha256(tgz.read_bytes()).hexdigest()
    if digest != NPM_SHA256:
        tgz.unlink()
        raise ConfigError(f"{NPM_TARBALL} has sha256 {digest}, expected {NPM_SHA256}; refused")
    with tarfile.open(tgz) as tf:
        member = tf.getmember("package/dist/moji.db")
        tf.extractall(npm_dir, members=[member], filter="data")
    return db


def load_from_sqlite(db: Path) -> MjSource:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        def q(sql: str) -> pl.DataFrame:
            cur = con.execute(sql)
            cols = [c[0] for c in cur.description]
            return pl.DataFrame(cur.fetchall(), schema=cols, orient="row", infer_schema_length=None)

        mji = q('SELECT * FROM mji ORDER BY "MJ文字図形名"').with_columns(pl.all().cast(pl.String))
        extra = q('SELECT "MJ文字図形名" AS mj_name, "重複実装したMoji_JohoコレクションIVS" AS ivs '
                  "FROM mji_duplicated_ivs")
        reading = q('SELECT "MJ文字図形名" AS mj_name, "読み" AS reading FROM mji_reading')
        rs = q('SELECT "MJ文字図形名" AS mj_name, "部首" AS radical, "内画数" AS inner_strokes FROM mji_rsindex')
        parts = []
        for table, (cat, kind, note) in _MJSM_TABLES.items():
            cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            rank = '"順位"' if "順位" in cols else "NULL"
            hop = '"ホップ数"' if "ホップ数" in cols else "NULL"
            f = q(f'SELECT "MJ文字図形名" AS mj_name, "縮退UCS" AS ucs, "縮退X0213" AS x0213, '
                  f'{rank} AS rank, {hop} AS hop FROM "{table}" ORDER BY rowid')
            parts.append(f.with_columns(
                pl.lit(cat).alias("category"), pl.lit(kind, pl.String).alias("kind"),
                pl.lit(note, pl.String).alias("note"),
                pl.int_range(pl.len()).over("mj_name").alias("pos"),
            ))
        shrink = pl.concat(parts, how="diagonal_relaxed")
        # one category can span several npm tables (法務省…): renumber pos within (glyph, category)
        shrink = shrink.with_columns(pl.int_range(pl.len()).over("mj_name", "category").alias("pos"))
        shrink = shrink.select([pl.col(k).cast(v) for k, v in SHRINK_SCHEMA.items()])
    finally:
        con.close()
    return MjSource(
        label=f"npm:{NPM_PACKAGE}",
        glyphs=_glyphs_from(mji, convert=False),
        extra_ivs=extra.cast(pl.String),
        shrink=shrink,
        reading=reading.cast(pl.String),
        rsindex=rs.select("mj_name", pl.col("radical").cast(pl.String).cast(pl.Int32, strict=False),
                        pl.col("inner_strokes").cast(pl.String).cast(pl.Int32, strict=False)),
    )


def load_source(source: Path | str | None = None, cache_dir: Path | None = None) -> MjSource:
    """Folder of files when present (or given), else the npm package; `source="npm"` forces npm."""
    cache_dir = cache_dir or default_cache_dir()
    if source == "npm":
        return load_from_sqlite(fetch_npm(cache_dir))
    d = Path(source) if source else default_source_dir()
    if (d / MJI_CSV).exists():
        return load_from_dir(d)
    if source:
        raise ConfigError(f"MJ source folder {d} has no {MJI_CSV}")
    return load_from_sqlite(fetch_npm(cache_dir))


def load_jis_sets(path: Path | None = None) -> pl.DataFrame:
    """JIS X 0213:2004 membership: char (one or two code points), plane-row-cell, in_x0208.

    A plane-1 character without a `[2000]`/`[2004]` tag in Project X0213's table is a JIS X 0208
    character; tagged ones were added by JIS X 0213.
    """
    path = path or default_source_dir() / JISX0213_TXT
    if not path.exists():
        raise ConfigError(f"JIS X 0213 table {path} not found")
    lines = pl.read_csv(path, has_header=False, separator="\n", new_columns=["line"],
                        comment_prefix="#", quote_char=None, infer_schema=False)
    f = lines.select(
        pl.col("line").str.extract(r"^0x([0-9A-F]{4})").alias("code"),
        pl.col("line").str.extract(r"^\S+\s+U\+([0-9A-F+U]+)").alias("ucs"),
        pl.col("line").str.contains(r"\[(2000|2004)\]").alias("added"),
    ).drop_nulls(["code", "ucs"])
    f = f.with_columns(
        pl.col("ucs").str.replace_all("U+", "", literal=True).str.split("+").list.eval(
            pl.element().str.to_integer(base=16).map_elements(chr, return_dtype=pl.String)
        ).list.join("").alias("char"),
        pl.col("code").str.slice(0, 2).str.to_integer(base=16).alias("hi"),
    )
    return f.select(
        "char",
        (~pl.col("added") & (pl.col("hi") < 0x80)).alias("in_x0208"),
    ).unique("char", keep="first")
