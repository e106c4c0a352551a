"""An invisible character in a フリガナ (U+200B, U+202E, a control, U+FFFD) holds the record, as it does in a 文字同定
column (moji.invalid_char): it loaded with only the generic 「全角カナにできない文字」 warning and broke search and
sorting in the new system."""
from __future__ import annotations

import pytest

from tests.mappings.test_ops import cm, run


@pytest.mark.parametrize("value", ["ﾔﾏﾀﾞ\u200bﾀﾛｳ", "ヤマダ\u202eタロウ", "ヤマダ\u2028タロウ", "ヤマダ\ufffdタロウ", "\u200dヤマダ",
                                   "ヤマダ\x07タロウ"])
def test_an_invisible_character_in_a_furigana_holds_the_record(value):
    df = run(cm(op="kana_fullwidth", **{"from": "v"}), [value])
    assert df["error"].to_list() == ["kana.invalid_char"]


@pytest.mark.parametrize("value", ["ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ\u3000タロウ", "ｱ\u00a0ｲ", "ABC 123"])
def test_visible_text_and_spaces_in_a_furigana_are_not_held(value):
    df = run(cm(op="kana_fullwidth", **{"from": "v"}), [value])
    assert df["error"].to_list() == [None]
