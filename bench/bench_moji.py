"""Benchmark: 文字同定 of N synthetic names (default 2,000,000) vs a per-row Python baseline.

    .venv/bin/python bench/bench_moji.py [--rows 2000000] [--dictionary DIR]
    .venv/bin/python bench/bench_moji.py --smoke      # 2,000 names (tests)
    .venv/bin/python bench/bench_moji.py --flags 500000 [--flags-distinct 10000]   # the unresolved flags only

Names are drawn from the real MJ dictionary: surname = 1–3 JIS X 0208 kanji, given name = 1–2 kanji
or 2–3 kana, separated by U+3000; ~1 % carry a 外字 (PUA, half of them in the 外字 table), ~0.5 % an
IVS glyph, ~0.3 % a CJK compatibility ideograph. Both paths produce the rewritten column and the
per-status occurrence counts; the script checks they agree (exit 1 if not, or if the planted 外字 and
unresolved characters did not show), then prints times, the ratio and peak RSS. Writes no files.
Both paths get the same untimed warm-up, then `--repeat` (3) timed calls each, alternating in this
process; the ratio is of the best times (medians and first calls printed next to it).
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import SMOKE_HELP, Checks  # noqa: E402

from ikou.moji.dictionary import ensure_dictionary  # noqa: E402
from ikou.moji.identify import _IDEO_RE, _PUA_RE, _VS_RE, identify_frame  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(n: int, d, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    jis = d.jis.filter(pl.col("in_x0208") & pl.col("char").str.contains(_IDEO_RE))["char"]
    if jis.len() < 1500:   # no JIS X 0213 table (a machine without ../shared/mj): ideographs of the MJ table
        jis = d.glyphs.filter(pl.col("ucs").is_not_null() & pl.col("ucs").str.contains(_IDEO_RE))["ucs"].unique()
    kanji = pl.Series(jis.sample(1500, seed=seed).to_list())
    kana = pl.Series(list("あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわん"))
    ivs = d.glyphs.filter(pl.col("ucs").is_null() & pl.col("ivs").is_not_null())["ivs"].sample(200, seed=seed)
    compat = d.keys.filter(pl.col("seq").str.contains(r"^[\x{F900}-\x{FAFF}]$"))["seq"].head(50)
    gaiji_chars = [chr(0xE000 + i) for i in range(400)]
    gaiji = pl.DataFrame({"code": gaiji_chars[:200],
                          "mj": d.glyphs.filter(pl.col("ucs").is_not_null())["mj_name"].sample(200, seed=seed)})

    def pick(pool: pl.Series, _k: int) -> pl.Series:
        return pool.gather(rng.integers(0, pool.len(), n))

    sur = pick(kanji, n) + pl.Series(np.where(rng.random(n) < 0.8, pick(kanji, n).to_numpy(), ""))
    sur = sur + pl.Series(np.where(rng.random(n) < 0.1, pick(kanji, n).to_numpy(), ""))
    giv_kanji = pick(kanji, n) + pl.Series(np.where(rng.random(n) < 0.6, pick(kanji, n).to_numpy(), ""))
    giv_kana = pick(kana, n) + pick(kana, n) + pl.Series(np.where(rng.random(n) < 0.5, pick(kana, n).to_numpy(), ""))
    giv = pl.Series(np.where(rng.random(n) < 0.8, giv_kanji.to_numpy(), giv_kana.to_numpy()))
    r = rng.random(n)
    special = pl.Series(np.select([r < 0.01, r < 0.015, r < 0.018],
                                  [pick(pl.Series(gaiji_chars), n).to_numpy(), pick(ivs, n).to_numpy(),
                                   pick(compat, n).to_numpy()], ""))
    names = special + sur + "\u3000" + giv
    df = pl.DataFrame({"_row_id": pl.int_range(n, eager=True).cast(pl.Int64), "shimei": names})
    return df, gaiji


def baseline(names: list[str], d, gaiji: pl.DataFrame) -> tuple[list[str], dict[str, int]]:
    """Per-row Python: str.translate for 外字, then a per-character dict lookup with VS grouping."""
    import re
    keys = dict(zip(d.keys["seq"].to_list(), d.keys["mj_name"].to_list()))
    out_of = dict(zip(d.glyphs["mj_name"].to_list(), d.glyphs["output"].to_list()))
    gmap = {ord(c): out_of[m] or c for c, m in zip(gaiji["code"].to_list(), gaiji["mj"].to_list())}
    gset = set(gaiji["code"].to_list())
    # a character as moji.identify.CHAR_RE reads it: a base with at most one selector or combining mark
    char_re = re.compile(r".[\uFE00-\uFE0F\U000E0100-\U000E01EF\u0300-\u036F\u3099\u309A]?", re.S)
    # JIS text of two code points (か゚) and JIS characters in the ideographic block (〇 U+3007): passed through
    text, allowed = d.text_sequences, d.text_repertoire

    def py_re(rust: str) -> re.Pattern:  # the same classes as moji.identify, in Python syntax
        return re.compile(re.sub(r"\\x\{([0-9A-Fa-f]+)\}", lambda m: "\\U%08X" % int(m.group(1), 16), rust))

    pua, ideo, vs = py_re(_PUA_RE), py_re(_IDEO_RE), py_re(_VS_RE)
    scope = lambda c: bool(pua.search(c) or ideo.search(c) or vs.search(c))  # noqa: E731
    counts = dict.fromkeys(("mj", "gaiji", "decided", "unresolved", "passthrough"), 0)
    out = []
    for s in names:
        for c in char_re.findall(s):
            if c in keys:
                counts["mj"] += 1
            elif c in gset:
                counts["gaiji"] += 1
            elif scope(c) and c not in text and not (len(c) == 1 and ord(c) in allowed):
                counts["unresolved"] += 1
            else:
                counts["passthrough"] += 1
        out.append(s.translate(gmap))
    return out, counts


def flag_cells(n: int, distinct: int, seed: int = 7) -> pl.DataFrame:
    """`n` unresolved cells as identification finds them (_row_id, column, chars), drawn from `distinct`
    chars values of one to three 外字, IVS sequences and supplementary-plane ideographs each (a probe: 600k
    findings, 10,800 distinct characters); two columns on some rows."""
    rng = np.random.default_rng(seed)
    pool = ([chr(0xE000 + i) for i in range(400)] + [chr(0x9AD9) + chr(0xE0100 + i) for i in range(8)]
            + [chr(0x20000 + i) for i in range(100)] + ["\U0010FFFD", "\u9f4b\ufe00"])
    k = rng.integers(1, 4, distinct)
    picks = np.array(pool, dtype=object)[rng.integers(0, len(pool), int(k.sum()))]
    values = pl.Series(["".join(picks[a:b]) for a, b in zip(np.cumsum(k) - k, np.cumsum(k))])
    i = np.arange(n) * 2   # rows 0, 2, 4 …: shimei and jusho, rows 1, 3 …: shimei only
    return pl.DataFrame({"_row_id": (i // 3).astype(np.int64), "column": np.where(i % 3 == 2, "jusho", "shimei"),
                         "chars": values.gather(rng.integers(0, distinct, n))})


def bench_flags(n: int, distinct: int, repeat: int) -> int:
    """The unresolved flags of `n` cells (moji.step._flags) against the per-row Python call it replaced."""
    from ikou.moji.identify import codepoints, with_codepoints
    from ikou.moji.step import _flags

    def per_row(cells: pl.DataFrame) -> pl.DataFrame:   # moji.step._flags before: one Python call per cell
        return (cells.with_columns(pl.format("{}: {}", "column", pl.col("chars").map_elements(
                    lambda c: f"{codepoints(c)} ({c})", return_dtype=pl.String)).alias("_detail"))
                .group_by("_row_id").agg(pl.col("_detail").sort().str.join(" / ").alias("_moji_unresolved_chars"))
                .with_columns(pl.lit(True).alias("_moji_unresolved")))

    cells = flag_cells(n, distinct)
    print(f"unresolved cells={cells.height:,} distinct chars values={cells['chars'].n_unique():,}")
    _flags(cells.head(1000)), per_row(cells.head(1000))   # warm-up
    t_new, t_old, c_new, c_old = [], [], [], []
    for _ in range(repeat):   # alternating, in one process: a loaded machine slows both alike
        t = time.perf_counter()
        new = _flags(cells)
        t_new.append(time.perf_counter() - t)
        t = time.perf_counter()
        old = per_row(cells)
        t_old.append(time.perf_counter() - t)
        t = time.perf_counter()   # the code points alone (the grouping by row is the same in both)
        with_codepoints(cells, "chars", "cps")
        c_new.append(time.perf_counter() - t)
        t = time.perf_counter()
        cells.with_columns(pl.col("chars").map_elements(codepoints, return_dtype=pl.String).alias("cps"))
        c_old.append(time.perf_counter() - t)
    print(f"_flags (distinct values, expressions): best {min(t_new):.3f}s of {', '.join(f'{x:.3f}' for x in t_new)}")
    print(f"per-row map_elements: best {min(t_old):.3f}s of {', '.join(f'{x:.3f}' for x in t_old)}")
    print(f"ratio = {min(t_old) / min(t_new):.1f}x (best of {repeat} each); the code points alone: "
          f"{min(c_new):.3f}s vs {min(c_old):.3f}s, {min(c_old) / min(c_new):.1f}x")
    check = Checks()
    check(new.sort("_row_id").equals(old.sort("_row_id")), "the same flags as the per-row call")
    return check.exit_code()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=None, help="names (default 2,000,000; 2,000 with --smoke)")
    ap.add_argument("--dictionary")
    ap.add_argument("--repeat", type=int, default=3, help="timed calls of each path (best counts; default 3)")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    ap.add_argument("--flags", type=int, default=None, metavar="CELLS",
                    help="time only the unresolved flags of CELLS unresolved cells (moji.step._flags)")
    ap.add_argument("--flags-distinct", type=int, default=10_000,
                    help="distinct chars values among those cells (default 10,000)")
    a = ap.parse_args()
    if a.flags is not None:
        return bench_flags(a.flags, min(a.flags_distinct, a.flags), a.repeat)
    rows = a.rows or (2_000 if a.smoke else 2_000_000)
    t = time.perf_counter()
    d = ensure_dictionary(Path(a.dictionary) if a.dictionary else None)
    t_load = time.perf_counter() - t
    df, gaiji = generate(rows, d)
    print(f"rows={df.height:,} distinct names={df['shimei'].n_unique():,} dictionary load={t_load:.2f}s")
    rss0 = peak_rss_mb()
    names = df["shimei"].to_list()

    # The same warm-up for both paths (one untimed call each on the first names: imports, lookups
    # built once per loaded dictionary, allocator), then `--repeat` timed calls of each, alternating
    # in this one process, so that a machine shared with other jobs slows both alike; the ratio is
    # of the best times (and, printed too, of the medians and of the first timed calls).
    warm = min(df.height, 20_000)
    identify_frame(df.head(warm), ["shimei"], dictionary=d, gaiji=gaiji)
    baseline(names[:warm], d, gaiji)
    t_polars, t_base = [], []
    for _ in range(a.repeat):
        t = time.perf_counter()
        res = identify_frame(df, ["shimei"], dictionary=d, gaiji=gaiji)
        t_polars.append(time.perf_counter() - t)
        t = time.perf_counter()
        out, counts = baseline(names, d, gaiji)
        t_base.append(time.perf_counter() - t)
    rss_polars = peak_rss_mb()
    print(f"identify_frame (Polars + numpy, distinct chars): best {min(t_polars):.3f}s of "
          f"{', '.join(f'{x:.3f}' for x in t_polars)}  counts={res.counts}")
    print(f"  distinct chars={res.chars.height:,} unresolved rows={res.unresolved_rows.height:,} "
          f"peak RSS after={rss_polars:.0f} MB (before={rss0:.0f} MB)")
    print(f"per-row Python baseline (translate + dict lookup): best {min(t_base):.2f}s of "
          f"{', '.join(f'{x:.2f}' for x in t_base)}  counts={counts}")
    same_text = res.frame["shimei"].to_list() == out
    same_counts = counts == res.counts
    print(f"outputs agree: text={same_text} counts={same_counts}")
    print(f"ratio baseline/polars = {min(t_base) / min(t_polars):.1f}x (best of {a.repeat} each; medians "
          f"{statistics.median(t_base) / statistics.median(t_polars):.1f}x, first calls "
          f"{t_base[0] / t_polars[0]:.1f}x) ; peak RSS (whole run) = {peak_rss_mb():.0f} MB")
    check = Checks()
    check(same_text and same_counts, "both paths give the same text and counts")
    check(all(res.counts[k] > 0 for k in ("mj", "gaiji", "unresolved")),
          "the planted 外字 (in the table and not) surface as gaiji and unresolved")
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
