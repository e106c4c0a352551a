"""JIS X 0208/0213 text passes 文字同定 as it is: 〇, the two-code-point characters (か゚, æ̀) and the combining
marks after their base; only what no JIS system holds is unresolved (#2 of the 文字同定 probe)."""
from __future__ import annotations

import unicodedata

import numpy as np
import polars as pl
import pytest

from ikou.moji.identify import _VS_SHIFT, _classify_keys, classify_chars, identify_frame, mj_names


def one(values):
    return pl.DataFrame({"_row_id": pl.Series(range(1, len(values) + 1), dtype=pl.Int64), "shimei": values})


def test_ideographic_number_zero_of_jis_x_0208_passes_through(dictionary):
    res = identify_frame(one(["一〇番地", "〇〇荘"]), ["shimei"], dictionary=dictionary)
    assert res.unresolved_rows.height == 0
    assert res.chars.filter(pl.col("char") == "〇")["status"].item() == "passthrough"


@pytest.mark.parametrize("text", ["か\u309aこ", "\u31f7\u309a田", "\u00e6\u0300", "\u0254\u0301", "\u025a\u0300"])
def test_jis_x_0213_two_code_point_characters_pass_through_whole(dictionary, text):
    res = identify_frame(one([text]), ["shimei"], dictionary=dictionary)
    assert res.unresolved_rows.height == 0 and res.invalid_rows.height == 0
    assert res.chars.filter(pl.col("char") == text[:2])["status"].item() == "passthrough"
    assert res.frame["shimei"][0] == text


def test_jis_combining_mark_after_its_base_passes_but_not_alone_or_after_a_kanji(dictionary):
    res = identify_frame(one(["e\u0301", "\u0301e", "山\u0301"]), ["shimei"], dictionary=dictionary)
    st = dict(res.chars.select("char", "status").iter_rows())
    assert st["e\u0301"] == "passthrough"
    assert st["\u0301"] == "unresolved" and st["山\u0301"] == "unresolved"
    assert sorted(res.unresolved_rows["_row_id"].to_list()) == [2, 3]


def test_every_jis_x_0213_character_is_text_but_the_soft_hyphen(jis_dictionary):
    """The whole JIS X 0213 table (a combining mark after a base letter): nothing unresolved, and only
    U+00AD, an invisible format character, invalid (a name holding it is held)."""
    chars = jis_dictionary.jis["char"].to_list()
    text = ["a" + c if len(c) == 1 and unicodedata.category(c).startswith("M") else c for c in chars]
    res = identify_frame(one(text), ["shimei"], dictionary=jis_dictionary)
    assert res.unresolved_rows.height == 0
    assert res.chars.filter(pl.col("status") == "invalid")["char"].to_list() == ["\u00ad"]


def test_fast_classification_agrees_with_the_joins_on_jis_text(dictionary):
    chars = ["〇", "か\u309a", "\u00e6\u0300", "e\u0301", "山\u0301", "\u0301", "\u309a", "あ\ufe00",
             "ｶ\u3099", "\u2e80", "\u3021", "\u00ad", "\U0001f600\u0301"]
    keys = np.array([(ord(c[0]) << _VS_SHIFT) | (ord(c[1]) if len(c) > 1 else 0) for c in chars], dtype=np.int64)
    order = np.argsort(keys)
    keys, chars = keys[order], [chars[i] for i in order]
    fast = _classify_keys(keys, chars, dictionary, None, None).drop("codepoints")
    assert fast.to_dicts() == classify_chars(chars, dictionary).to_dicts()
    st = dict(fast.select("char", "status").iter_rows())
    assert {c for c, s in st.items() if s == "passthrough"} == {"〇", "か\u309a", "\u00e6\u0300", "e\u0301"}


def test_mj_names_give_one_token_per_jis_character(dictionary):
    res = identify_frame(one(["か\u309a田"]), ["shimei"], dictionary=dictionary)
    assert mj_names(res.frame, "shimei", res).to_list() == ["- MJ017636"]
