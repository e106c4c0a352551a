"""The dictionary keys exact code-point sequences over the whole MJ table, without normalisation."""
from __future__ import annotations

import unicodedata

import polars as pl
import pytest

from ikou.errors import ConfigError
from ikou.moji.dictionary import build, load_dictionary


def test_full_mj_table_is_loaded(dictionary):
    assert len(dictionary) == 58862
    assert dictionary.glyphs["mj_name"].n_unique() == 58862
    assert dictionary.keys["seq"].is_unique().all()
    # every glyph with a code point is reachable by it
    reachable = dictionary.glyphs.filter(pl.col("output").is_not_null())
    assert reachable["mj_name"].is_in(dictionary.keys["mj_name"].implode()).all()


def test_compatibility_ideograph_is_not_folded(dictionary):
    # NFC would turn U+F91D into U+6B04; the dictionary must keep them apart
    assert unicodedata.normalize("NFC", "\uf91d") == "\u6b04"
    assert dictionary.lookup("\uf91d") == "MJ030183"
    assert dictionary.lookup("\u6b04") == "MJ014716"
    assert dictionary.lookup("\ufa11") == "MJ030196"   # 﨑


def test_ivs_only_glyph_and_svs_are_keys(dictionary):
    # MJ030061 (齋 variant) has no 実装したUCS, only the IVS 9F4B_E0104
    g = dictionary.glyphs.filter(pl.col("mj_name") == "MJ030061").row(0, named=True)
    assert g["ucs"] is None and g["output"] == "\u9f4b\U000e0104"
    assert dictionary.lookup("\u9f4b\U000e0104") == "MJ030061"
    assert dictionary.lookup("\u9f4b") == "MJ030060"
    # SVS U+6B04 U+FE00 is the compatibility glyph MJ030183
    assert dictionary.lookup("\u6b04\ufe00") == "MJ030183"


@pytest.mark.parametrize("block,lo,hi", [("B", 0x20000, 0x2A6DF), ("C", 0x2A700, 0x2B73F),
                                         ("D", 0x2B740, 0x2B81F), ("E", 0x2B820, 0x2CEAF),
                                         ("F", 0x2CEB0, 0x2EBEF)])
def test_extension_blocks_are_keyed(dictionary, block, lo, hi):
    keys = dictionary.keys.filter(pl.col("kind") == "ucs").with_columns(
        pl.col("seq").str.len_bytes().alias("nbytes"))
    in_block = [s for s in keys.filter(pl.col("nbytes") == 4)["seq"].to_list() if lo <= ord(s) <= hi]
    assert in_block, f"no Extension {block} glyphs"
    assert dictionary.lookup("\U00020bb7") == "MJ032129"  # 𠮷 (Extension B)


def test_missing_cache_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="ikou moji build"):
        load_dictionary(tmp_path)


def test_missing_source_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="has no"):
        build(tmp_path / "out", tmp_path)


def test_npm_fallback_gives_the_same_keys(dictionary, tmp_path):
    """The pinned npm package (sha256-checked) yields the same dictionary as the CSV folder."""
    import shutil
    from tests.moji.conftest import NPM_CACHE, have_mj_folder
    if not have_mj_folder():
        pytest.skip("the session dictionary already comes from npm")
    if shutil.which("npm") is None:
        pytest.skip("npm not installed: fallback not testable here")
    try:
        build(NPM_CACHE, "npm")
    except ConfigError as exc:
        pytest.skip(f"npm registry not reachable: {exc}")
    npm = load_dictionary(NPM_CACHE)
    assert npm.meta["source"].startswith("npm:")
    both = dictionary.keys.join(npm.keys, on="seq", how="inner")
    assert both.height == dictionary.keys.height
    assert (both["mj_name"] == both["mj_name_right"]).all()
    assert npm.shrink.height == dictionary.shrink.height
