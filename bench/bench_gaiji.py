"""Benchmark: MJ candidates for N 外字 (default 1,000) against the full glyph index vs a per-glyph Python baseline.

    .venv/bin/python bench/bench_gaiji.py [--glyphs 1000] [--baseline 20]
    .venv/bin/python bench/bench_gaiji.py --smoke      # 40 外字, baseline on 2 (tests)

The 外字 are real glyphs of Noto Serif CJK JP (another Mincho design than IPAmj明朝) of MJ characters,
every n-th unified ideograph by code point, placed at private-use code points of a TrueType font
written into a temporary folder. The vectorised path is `moji.glyphs.suggest` (read the font,
rasterize, features, one matrix product per batch against all 58,862 MJ glyphs); the baseline scores
each 外字 against each MJ glyph in a Python loop (np.dot per pair) on the first --baseline 外字, and
the ratio compares time per 外字. Checks: both give the same top 10; accuracy (rank 1, top 5) printed.
Index load time and peak RSS are printed too. Writes no files outside the temporary folder.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import SMOKE_HELP, Checks  # noqa: E402

from ikou.moji import glyphs as G  # noqa: E402
from ikou.moji.dictionary import ensure_dictionary  # noqa: E402
from ikou.sample.gaiji_font import build_pua_font, source_font  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline_top(q: np.ndarray, index: G.GlyphIndex, top: int) -> list[list[str]]:
    """Per glyph: score against every MJ glyph one by one, keep the best `top` (a Python loop)."""
    feats = [index.feats[i] for i in range(len(index))]
    names = index.names.tolist()
    out = []
    for v in q:
        scores = [(float(np.dot(v, f)), n) for f, n in zip(feats, names)]
        scores.sort(key=lambda s: (-s[0], s[1]))
        out.append([n for _, n in scores[:top]])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--glyphs", type=int, default=1000)
    ap.add_argument("--baseline", type=int, default=20, help="外字 scored by the Python baseline")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    a = ap.parse_args(argv)
    if a.smoke:
        a.glyphs, a.baseline = 40, 2
    check = Checks()
    src = source_font("noto")
    if src is None or G.ipamj_font() is None:
        print("fonts-noto-cjk and fonts-ipamj-mincho are needed (make system-deps)")
        return 1
    d = ensure_dictionary()
    G.ensure_index()
    t = time.perf_counter()
    index = G.load_index()
    t_load = time.perf_counter() - t
    g = d.glyphs.filter(pl.col("ucs").str.contains(r"^[\x{4E00}-\x{9FFF}]$")).sort("ucs")
    chars = g["ucs"].gather_every(max(1, g.height // a.glyphs)).head(a.glyphs).to_list()
    with tempfile.TemporaryDirectory() as tmp:
        font = Path(tmp) / "BENCH.TTE"
        written = build_pua_font(font, [(0xE000 + i if i < 6400 else 0xF0000 + i, c) for i, c in enumerate(chars)], src)
        t = time.perf_counter()
        r = G.suggest(font, top=10, index=index)
        t_vec = time.perf_counter() - t
        reader = G.FontReader(font)
        sub = written[:a.baseline]
        q = G.features(reader.rasterize([reader.cmap[cp] for cp, _ in sub]))
        t = time.perf_counter()
        base = baseline_top(q, index, 10)
        t_base = time.perf_counter() - t
    n = r["code"].n_unique()
    exp = pl.DataFrame({"code": [f"U+{cp:04X}" for cp, _ in written],
                        "mj": [d.lookup(c) for _, c in written]})
    rank = exp.join(r, on=["code", "mj"], how="left")["rank"].fill_null(99)
    vec_top = [r.filter(pl.col("code") == f"U+{cp:04X}").sort("rank")["mj"].to_list() for cp, _ in sub]
    per_vec, per_base = t_vec / max(n, 1), t_base / max(len(sub), 1)
    print(f"外字 ranked: {n} against {len(index)} MJ glyphs (font {index.meta['font_version']})")
    print(f"index load: {t_load:.2f} s ({index.feats.nbytes / 2**20:.0f} MB features in memory)")
    print(f"vectorised suggest: {t_vec:.2f} s ({per_vec * 1000:.1f} ms per 外字, font read + render included)")
    print(f"python baseline: {t_base:.2f} s for {len(sub)} 外字 ({per_base * 1000:.0f} ms per 外字)")
    print(f"ratio baseline/vectorised (time per 外字): {per_base / per_vec:.0f}x")
    print(f"accuracy: rank 1 {float((rank == 1).mean()):.3f}, top 5 {float((rank <= 5).mean()):.3f} of {exp.height}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")
    check(n == len(written), f"every glyph of the font ranked ({n} of {len(written)})")
    check(vec_top == base, "vectorised and baseline top 10 agree")
    if not a.smoke:   # 40 glyphs are too few to judge; tests/moji/test_glyphs.py checks a fixed 341
        check(float((rank == 1).mean()) >= 0.8 and float((rank <= 5).mean()) >= 0.95, "rank 1 ≥ 80 %, top 5 ≥ 95 %")
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
