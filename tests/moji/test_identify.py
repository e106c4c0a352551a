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
    assert st["や"] == st["ハ"] == st["　"] == st[" "] == "passthrough"
    assert st["\uf91d"] == "mj" and st["欄"] == "mj"
    # 外字 replaced by the glyph's 実装したUCS; other text unchanged; nulls stay null
    assert res.frame["shimei"].to_list() == ["\u9ad9橋　太郎", "やまだ ハナコ", "\ue001子", "欄\uf91d",
                                             "\u9ad9\U000e0105", None]
    assert res.frame["jusho"].equals(df["jusho"])
    assert res.frame.columns == df.columns and res.frame.height == df.height
    cp = dict(res.chars.select("char", "codepoints").iter_rows())
    assert cp["\u9ad9\U000e0105"] == "U+9AD9 U+E0105"
    assert res.counts["gaiji"] == 1 and res.counts["unresolved"] == 2
    assert res.counts["passthrough"] == 8   # 　 (1) + や ま だ (3) + space (1) + ハ ナ コ (3)
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
             "\ufe00", "\U000e0100", "あ", "ﾊ", "A", " ", "\u3000", "\u2010", "\u4dc0", "\ufb00",
             # not text (invalid), outside the repertoire (unresolved), CP932's own forms and CR/LF (passthrough)
             "\u2028", "\u200b", "\ufeff", "\u202e", "\ufffd", "\x1b", "\ufdd0", "\u200b\ufe00", "\U0001f600",
             "\U0001f600\ufe0f", "김", "\u3099", "\u0301", "\uff5e", "\uff0d", "\uffe4", "\n", "\r", "\u00a5"]
    keys = np.array([(ord(c[0]) << _VS_SHIFT) | (ord(c[1]) if len(c) > 1 else 0) for c in chars], dtype=np.int64)
    order = np.argsort(keys)
    keys, chars = keys[order], [chars[i] for i in order]
    fast = _classify_keys(keys, chars, dictionary, g, decisions).drop("codepoints")
    ref = classify_chars(chars, dictionary, g, decisions)
    assert fast.to_dicts() == ref.to_dicts()
    assert set(fast["status"]) == {"mj", "gaiji", "decided", "unresolved", "passthrough", "invalid"}


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


# --- characters outside MJ and outside the allowed repertoire (defect 1) -----------------------------

@pytest.mark.parametrize("name,char", [
    ("山\u2028田", "\u2028"),   # LINE SEPARATOR (Zl)
    ("山\u200b田", "\u200b"),   # ZERO WIDTH SPACE (Cf)
    ("\ufeff山田", "\ufeff"),   # BOM (Cf)
    ("山田\u202e", "\u202e"),   # RIGHT-TO-LEFT OVERRIDE (Cf)
    ("山\ufffd田", "\ufffd"),   # REPLACEMENT CHARACTER: damaged before export
])
def test_a_character_that_is_not_text_is_invalid_and_its_cell_is_found(dictionary, name, char):
    res = identify_frame(frame([name, "山田　太郎"]), ["shimei"], dictionary=dictionary)
    st = dict(res.chars.select("char", "status").iter_rows())
    assert st[char] == "invalid" and st["山"] == "mj" and st["\u3000"] == "passthrough"
    assert res.counts["invalid"] == 1 and res.counts["unresolved"] == 0
    assert res.invalid_rows.select("_row_id", "column", "chars").rows() == [(1, "shimei", char)]
    assert res.unresolved_rows.height == 0
    assert "!" in mj_names(res.frame, "shimei", res)[0].split()
    assert res.frame["shimei"].to_list() == [name, "山田　太郎"]   # identification changes nothing: the step holds it


@pytest.mark.parametrize("name,chars", [
    ("山田😀", ["\U0001f600"]),
    ("김민수", ["김", "민", "수"]),
    ("\u3099あ", ["\u3099"]),       # a voiced mark with no kana before it
    ("山\u0301", ["山\u0301"]),     # a JIS X 0213 combining mark after a kanji: not a JIS character
])
def test_a_character_outside_the_repertoire_is_unresolved_not_passed_through(dictionary, name, chars):
    res = identify_frame(frame([name]), ["shimei"], dictionary=dictionary)
    st = dict(res.chars.select("char", "status").iter_rows())
    assert [st[c] for c in chars] == ["unresolved"] * len(chars)
    assert res.unresolved_rows["chars"].to_list() == ["".join(chars)]
    assert res.invalid_rows.height == 0


def test_the_repertoire_keeps_kana_latin_full_width_forms_and_cp932s_own_forms(dictionary):
    """JIS X 0208/0213 non-kanji, JIS X 0201 and CP932's forms of them pass through as before."""
    text = "ヤマダ ﾀﾛｳ yamada ＡＢＣ１２３ ～－￤ ① ㈱ ヴ ゔ ・ー（）\u3000¥"
    res = identify_frame(frame([text]), ["shimei"], dictionary=dictionary)
    assert set(res.chars["status"]) == {"passthrough"}
    assert res.unresolved_rows.height == 0 and res.invalid_rows.height == 0


def test_kana_and_a_combining_voiced_mark_are_composed_not_normalized(dictionary):
    """カ+U+3099 → ガ before identification; the compatibility ideograph beside it stays what it was
    (NFC would fold U+F91D onto U+6B04, another MJ glyph)."""
    df = frame(["カ\u3099ス欄\uf91d", "は\u309aる", "ガス"])
    res = identify_frame(df, ["shimei"], dictionary=dictionary)
    assert res.frame["shimei"].to_list() == ["ガス欄\uf91d", "ぱる", "ガス"]
    st = dict(res.chars.select("char", "status").iter_rows())
    assert "\u3099" not in st and "\u309a" not in st
    assert st["ガ"] == st["ぱ"] == "passthrough" and st["\uf91d"] == "mj"
    assert res.chars.filter(pl.col("char") == "ガ")["occurrences"].item() == 2
    assert res.unresolved_rows.height == 0


def test_the_lazy_identification_composes_and_finds_rows_as_the_frame_does(dictionary):
    """identify_lazy works on distinct values and is applied to batches read as they are: its rewrite
    carries the compositions, its rows are found by the values as read."""
    from ikou.moji.identify import identify_lazy

    df = frame(["カ\u3099ス", "山\u200b田", "김", "カ\u3099ス", None])
    whole = identify_frame(df, ["shimei"], dictionary=dictionary)
    ident = identify_lazy(df.lazy(), ["shimei"], dictionary=dictionary)
    assert df.lazy().with_columns(ident.rewrite_exprs()).collect()["shimei"].equals(whole.frame["shimei"])
    assert ident.counts == whole.counts
    assert ident.invalid_rows(df.lazy(), ["_row_id"]).collect().equals(whole.invalid_rows)
    assert ident.unresolved_rows(df.lazy(), ["_row_id"]).collect().equals(whole.unresolved_rows)


# --- the 外字 table (defects 2–4) -----------------------------------------------------------------

def _gaiji(tmp_path, body: str, name: str = "gaiji.csv"):
    p = tmp_path / name
    p.write_bytes(body.encode("utf-8"))
    return p


def test_one_code_point_written_two_ways_with_two_glyphs_is_refused_naming_both_lines(dictionary, tmp_path):
    p = _gaiji(tmp_path, "code,mj\nU+E000,MJ032932\nU+E001,MJ028902\nU+0E000,MJ042849\n")
    with pytest.raises(ConfigError) as e:
        load_gaiji_table(p, dictionary)
    msg = str(e.value)
    assert str(p) in msg and "U+E000" in msg
    assert "line 2 U+E000,MJ032932" in msg and "line 4 U+0E000,MJ042849" in msg


def test_one_code_point_listed_twice_with_the_same_glyph_is_kept_once(dictionary, tmp_path):
    p = _gaiji(tmp_path, "code,mj\nU+E000,MJ028902\nU+0E000,MJ028902\n")
    assert load_gaiji_table(p, dictionary).rows() == [("\ue000", "MJ028902")]


def test_an_unknown_mj_name_names_the_file_and_its_line(dictionary, tmp_path):
    p = _gaiji(tmp_path, "code,mj\n# vendor A\nU+E000,MJ028902\n\nU+E001,MJ999999\n")
    with pytest.raises(ConfigError, match=r"gaiji\.csv: MJ glyph\(s\) not in the dictionary: line 5 \(MJ999999\)"):
        load_gaiji_table(p, dictionary)


def test_blank_lines_as_excel_writes_them_are_skipped(dictionary, tmp_path):
    p = _gaiji(tmp_path, "\ufeffcode,mj,note\r\nU+E000,MJ028902,髙\r\n,,\r\n\r\nU+E002,MJ030061,\r\n,,\r\n,,\r\n\r\n")
    assert load_gaiji_table(p, dictionary).rows() == [("\ue000", "MJ028902"), ("\ue002", "MJ030061")]


def test_a_bad_line_after_blank_and_comment_lines_is_named_by_its_line_in_the_file(dictionary, tmp_path):
    p = _gaiji(tmp_path, "code,mj\n\n# comment\nU+E000,MJ028902\n,\nE001,MJ028902\n")
    with pytest.raises(ConfigError, match=r"line 6: code must be U\+XXXX"):
        load_gaiji_table(p, dictionary)
