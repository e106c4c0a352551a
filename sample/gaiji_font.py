"""A vendor's 外字 font, made the way vendors' EUDC.TTE files are: TrueType glyphs at private-use code points.

The glyphs are real glyphs of a packaged Mincho font other than IPAmj明朝 (Noto Serif CJK JP from
fonts-noto-cjk by default, IPA明朝 from fonts-ipafont-mincho as well), copied outline by outline
(CFF cubic curves converted to TrueType quadratics) by fontTools. Nothing here is committed: `make
data` writes the sample's font, the tests and the benchmark write theirs into temporary folders.
"""
from __future__ import annotations

import os
from pathlib import Path

NOTO_SERIF_JP = ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 0)
IPA_MINCHO = ("/usr/share/fonts/opentype/ipafont-mincho/ipam.ttf", 0)


def source_font(which: str = "noto") -> tuple[Path, int] | None:
    """(path, face index) of a packaged Mincho font other than IPAmj明朝, or None when not installed."""
    env = os.environ.get("IKOU_SAMPLE_MINCHO")
    if env:
        return Path(env), 0
    path, face = NOTO_SERIF_JP if which == "noto" else IPA_MINCHO
    return (Path(path), face) if Path(path).exists() else None


def build_pua_font(out: Path, glyphs: list[tuple[int, str]], source: tuple[Path, int] | None = None,
                   family: str = "ikou sample EUDC") -> list[tuple[int, str]]:
    """Write a TrueType font with, at each private-use code point, the source font's glyph for `seq`
    (a character or base + IVS, exactly as the source font maps it). Returns the pairs written
    (a sequence the source font does not map is left out)."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont

    source = source or source_font()
    if source is None:
        raise FileNotFoundError("no source Mincho font (apt-get install fonts-noto-cjk)")
    tt = TTFont(str(source[0]), fontNumber=source[1], lazy=True)
    cmap = tt.getBestCmap()
    uvs: dict[tuple[int, int], str] = {}
    for t in tt["cmap"].tables:
        if t.format == 14:
            for vs, pairs in t.uvsDict.items():
                for base, name in pairs:
                    if name is not None or base in cmap:
                        uvs[(base, vs)] = name or cmap[base]
    gs = tt.getGlyphSet()
    upm = tt["head"].unitsPerEm
    order, char_map, glyf, metrics, written = [".notdef"], {}, {}, {}, []
    empty = TTGlyphPen(None)
    glyf[".notdef"] = empty.glyph()
    metrics[".notdef"] = (upm, 0)
    for cp, seq in glyphs:
        cps = [ord(c) for c in seq]
        name = cmap.get(cps[0]) if len(cps) == 1 else uvs.get((cps[0], cps[1]))
        if name is None:
            continue
        pen = TTGlyphPen(None)
        gs[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        g = f"uni{cp:04X}"
        order.append(g)
        glyf[g] = pen.glyph()
        char_map[cp] = g
        metrics[g] = (upm, 0)
        written.append((cp, seq))
    fb = FontBuilder(upm, isTTF=True)
    fb.setupGlyphOrder(order)
    fb.setupCharacterMap(char_map)
    fb.setupGlyf(glyf)
    for g in order:
        glyf_g = fb.font["glyf"][g]
        metrics[g] = (upm, getattr(glyf_g, "xMin", 0) if glyf_g.numberOfContours else 0)
    fb.setupHorizontalMetrics(metrics)
    fb.setupHorizontalHeader(ascent=int(upm * 0.88), descent=-int(upm * 0.12))
    fb.setupNameTable({"familyName": family, "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=int(upm * 0.88), sTypoDescender=-int(upm * 0.12), usWinAscent=int(upm * 0.88),
                usWinDescent=int(upm * 0.12))
    fb.setupPost()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fb.save(str(out))
    return written


# vendor A's 外字 font: its 外字 at their user-defined-area code points (sample.generate.GAIJI and
# VENDOR_A_EXTRA_GAIJI), drawn from Noto Serif CJK JP, plus glyphs the 外字 table does not list
# (U+E700 is the unknown 外字 planted in the sample data), so the demo shows glyph suggestions.
VENDOR_A_UNLISTED = [(0xE700, "髙"), (0xE701, "﨑"), (0xE702, "邉")]
VENDOR_A_FONT = "vendor_a/EUDC.TTE"


def vendor_a_glyphs() -> list[tuple[int, str]]:
    from ikou.sample.generate import GAIJI, VENDOR_A_EXTRA_GAIJI
    listed = [(ord(code), glyph) for code, _, glyph, *_ in GAIJI] + [(ord(c), g) for c, _, g in VENDOR_A_EXTRA_GAIJI]
    # a 外字 whose exact IVS glyph the source font lacks is drawn as its base character (how vendors drew them)
    return listed + VENDOR_A_UNLISTED


def write_vendor_a_font(sample_dir: Path) -> Path | None:
    src = source_font()
    if src is None:
        print("note: Noto Serif CJK (fonts-noto-cjk) not installed: vendor A's 外字 font not written")
        return None
    out = Path(sample_dir) / VENDOR_A_FONT
    tt_pairs = vendor_a_glyphs()
    written = build_pua_font(out, tt_pairs, src, family="vendor A EUDC (sample)")
    missing = {cp for cp, _ in tt_pairs} - {cp for cp, _ in written}
    if missing:   # exact sequence not in the source font: its base character instead
        build_pua_font(out, [(cp, s if cp not in missing else s[0]) for cp, s in tt_pairs], src,
                       family="vendor A EUDC (sample)")
    return out


if __name__ == "__main__":
    import sys
    from ikou import REPO_ROOT
    p = write_vendor_a_font(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT / "data" / "sample")
    if p:
        print(f"vendor A 外字 font → {p}")
