"""Fixtures of the glyph tests: the fonts (Debian packages) and the glyph index built from IPAmj明朝.

Without the fonts these tests skip saying which package to install; in CI (IKOU_REQUIRE_SERVICES=1)
they fail instead. The index is the checkout's (`make data` builds it into .cache/glyphs; built here
when missing, ~1 min).
"""
from __future__ import annotations

import os

import polars as pl
import pytest

from ikou.moji import glyphs as G
from ikou.sample.gaiji_font import source_font

REQUIRE = os.environ.get("IKOU_REQUIRE_SERVICES") == "1"


def need(ok: bool, reason: str) -> None:
    if not ok:
        if REQUIRE:
            pytest.fail(f"{reason} (IKOU_REQUIRE_SERVICES=1)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def glyph_index():
    need(G.ipamj_font() is not None, "IPAmj明朝 not installed (apt-get install fonts-ipamj-mincho)")
    return G.ensure_index()


@pytest.fixture(scope="session")
def noto():
    s = source_font("noto")
    need(s is not None and G.aj1_font() is not None, "Noto Serif CJK not installed (apt-get install fonts-noto-cjk)")
    return s


@pytest.fixture(scope="session")
def crosswalk(glyph_index, noto):
    from ikou.moji import crosswalk as X
    xw = X.load_crosswalk()
    return xw if xw is not None else X.build_crosswalk(index=glyph_index)


def fixed_set(dictionary) -> list[str]:
    """330 unified ideographs with an MJ glyph, every n-th by code point (no sampling: fixed whatever
    the library versions), plus variants that differ in small details."""
    g = dictionary.glyphs.filter(pl.col("ucs").str.contains(r"^[\x{4E00}-\x{9FFF}]$")).sort("ucs")
    return g["ucs"].gather_every(g.height // 330).head(330).to_list() + list(SMALL_DETAILS)


SMALL_DETAILS = "髙高﨑崎邊邉辺齋斎齊斉"
