"""Identification outcomes per character, on the full MJ dictionary."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.errors import ConfigError
from ikou.moji.identify import identify_frame, load_gaiji_table, mj_names

IVS_SAI = "\u9f4b\U000e0104"   # 齋 + IVS: MJ030061, no 実装したUCS


@pytest.fixture()
def gaiji_csv(tmp_path):
    p = tmp_path / "gaiji.csv"
    p.write_text("code,mj\nU+E000,MJ028902\nU+E002,MJ030061\n", encoding="utf-8")
    return p


def frame(names):
    return pl.DataFrame({"_row_id": pl.Series(range(1, len(names) + 1), dtype=pl.Int64),
                         "shimei": names, "jusho": ["東京都千代田区"] * len(names)})


def test_outcomes_per_character(dictionary, gaiji_csv):
    g = load_gaiji_table(gaiji_csv, dictionary)
    df = frame(["\ue000橋　太郎", "やまだ ﾊﾅｺ", "\ue001子", "欄\uf91d", "\u9ad9\U000e0105", None])
    res = identify_frame(df, ["shimei", "jusho"], dictionary=dictionary, gaiji=g)
    st = dict(res.chars.filter(pl.col("column") == "shimei").select("char", "status").iter_rows())
    assert st["\ue000"] == "gaiji"
    assert st["\ue001"] == "unresolved"
    assert st["\u9ad9\U000e0105"] == "unresolved"     # known base, unregistered IVS
    assert st["や"] == st["ﾊ"] == st["　"] == st[" "] == "passthrough"
    assert st["\uf91d"] == "mj" and st["欄"] == "mj"
    # 外字 replaced by the glyph's 実装したUCS; other text unchanged; nulls stay null
    assert res.frame["shimei"].to_list() == ["\u9ad9橋　太郎", "やまだ ﾊﾅｺ", "\ue001子", "欄\uf91d",
                                             "\u9ad9\U000e0105", None]
    assert res.frame["jusho"].equals(df["jusho"])
    assert res.frame.columns == df.columns and res.frame.height == df.height
    cp = dict(res.chars.select("char", "codepoints").iter_rows())
    assert cp["\u9ad9\U000e0105"] == "U+9AD9 U+E0105"
    assert res.counts["gaiji"] == 1 and res.counts["unresolved"] == 2
    assert res.counts["passthrough"] == 8   # 　 (1) + や ま だ (3) + space (1) + ﾊ ﾅ ｺ (3)
    # unresolved rows: one per (row, column), keys only
    ur = res.unresolved_rows.sort("_row_id")
    assert ur["_row_id"].to_list() == [3, 5]
    assert ur["chars"].to_list() == ["\ue001", "\u9ad9\U000e0105"]


def test_gaiji_without_ucs_becomes_its_ivs_sequence(dictionary, gaiji_csv):
    g = load_gaiji_table(gaiji_csv, dictionary)
    res = identify_frame(frame(["\ue002藤"]), ["shimei"], dictionary=dictionary, gaiji=g)
    assert res.frame["shimei"][0] == IVS_SAI + "藤"
    assert mj_names(res.frame, "shimei", res).to_list() == ["MJ030061 MJ023079"]


def test_counts_add_up_to_all_characters(dictionary):
    names = ["山田 花子", "髙橋\ue123", "ABC"]
    res = identify_frame(frame(names), ["shimei"], dictionary=dictionary)
    assert sum(res.counts.values()) == sum(len(n) for n in names)
    assert res.counts == {"mj": 6, "gaiji": 0, "decided": 0, "unresolved": 1, "passthrough": 4}


@pytest.mark.parametrize("body,msg", [
    ("code,mj\nU+4E00,MJ000001\n", "not a private-use"),
    ("code,mj\nE000,MJ000001\n", "U\\+XXXX"),
    ("code,mj\nU+E000,MJ000001\nU+e000,MJ000002\n", "more than once"),
    ("code,mj\nU+E000,MJ999999\n", "not in the dictionary"),
    ("char,glyph\nU+E000,MJ000001\n", "code,mj"),
])
def test_bad_gaiji_table_is_a_config_error(dictionary, tmp_path, body, msg):
    p = tmp_path / "g.csv"
    p.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError, match=msg):
        load_gaiji_table(p, dictionary)


def test_empty_and_all_null_columns(dictionary):
    empty = pl.DataFrame({"_row_id": pl.Series([], dtype=pl.Int64), "shimei": pl.Series([], dtype=pl.String)})
    res = identify_frame(empty, ["shimei"], dictionary=dictionary)
    assert res.frame.height == 0 and res.chars.height == 0 and sum(res.counts.values()) == 0
    nulls = pl.DataFrame({"_row_id": [1, 2], "shimei": [None, None]})
    res = identify_frame(nulls, ["shimei"], dictionary=dictionary)
    assert res.frame["shimei"].to_list() == [None, None] and res.unresolved_rows.height == 0


def test_fast_classification_agrees_with_the_joins(dictionary, gaiji_csv):
    """identify_frame classifies its distinct characters by dict lookups and code point ranges
    (_classify_keys); classify_chars (joins and the regex classes) is the reference: same verdicts."""
    import numpy as np

    from ikou.moji.identify import _VS_SHIFT, _classify_keys, classify_chars

    g = load_gaiji_table(gaiji_csv, dictionary)
    decisions = pl.DataFrame({"char": ["\ue005", "\u9ad9\U000e0105"], "mj": ["MJ028902", "MJ030061"]})
    chars = ["\ue000", "\ue001", "\ue002", "\ue005", "\U000f0001", "\U00100001", "\u9ad9\U000e0105", IVS_SAI,
             "\u845b\ufe00", "欄", "\uf91d", "\u3005", "\u3006", "\u2e80", "\u303b", "\U00020b9f", "\U0003ffff",
             "\ufe00", "\U000e0100", "あ", "ﾊ", "A", " ", "\u3000", "\u2010", "\u4dc0", "\ufb00"]
    keys = np.array([(ord(c[0]) << _VS_SHIFT) | (ord(c[1]) if len(c) > 1 else 0) for c in chars], dtype=np.int64)
    order = np.argsort(keys)
    keys, chars = keys[order], [chars[i] for i in order]
    fast = _classify_keys(keys, chars, dictionary, g, decisions).drop("codepoints")
    ref = classify_chars(chars, dictionary, g, decisions)
    assert fast.to_dicts() == ref.to_dicts()
    assert set(fast["status"]) == {"mj", "gaiji", "decided", "unresolved", "passthrough"}


def test_a_decided_ivs_sequence_is_rewritten_to_its_mj_glyph(dictionary):
    """A reviewer's decision on a base + IVS sequence (an unregistered IVS, as Adobe-Japan1's 葛󠄀):
    the rows holding it are found by its base and rewritten to the decided glyph."""
    from ikou.moji.ledger import Ledger

    led = Ledger()
    led.decide("葛\U000e0100", "MJ022335", decided_by="test")
    df = pl.DataFrame({"_row_id": [1, 2, 3], "shimei": ["葛\U000e0100西　花子", "葛西　一郎", None]})
    res = identify_frame(df, ["shimei"], dictionary=dictionary, ledger=led)
    glyph = dictionary.glyphs.filter(pl.col("mj_name") == "MJ022335")
    out = (glyph["ivs"].item() or glyph["ucs"].item())
    assert res.chars.filter(pl.col("char") == "葛\U000e0100")["status"].item() == "decided"
    assert res.frame["shimei"].to_list() == [f"{out}西　花子", "葛西　一郎", None]
