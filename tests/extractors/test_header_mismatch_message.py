"""A header that differs from the layout says, at the first differing fields, the layout's name and the
header's (header names are not personal data); a first line that may be a record keeps its values hidden."""
from __future__ import annotations

import pytest

from ikou.errors import LayoutError, message_ja
from tests.extractors.conftest import run, write_layout

NAMES = ["団体コード", "宛名番号", "氏", "カナ姓", "住所"]


def _error(tmp_path, first_line: str, ja: bool = False) -> str:
    path = tmp_path / "d.csv"
    path.write_bytes((first_line + "\r\n999822,0000000001,山田,ﾔﾏﾀﾞ,東京都\r\n").encode("cp932"))
    with pytest.raises(LayoutError) as e:
        run(path, write_layout(tmp_path, header=True, names=NAMES), tmp_path)
    return message_ja(e.value) if ja else str(e.value)


def test_a_header_that_differs_names_the_expected_and_the_found_header_names(tmp_path):
    msg = _error(tmp_path, "団体コード,宛名番号,氏,カナ氏,住所")
    assert "fields [4] differ" in msg and "4: expected 'カナ姓', found 'カナ氏'" in msg
    ja = _error(tmp_path, "団体コード,宛名番号,氏,カナ氏,住所", ja=True)
    assert "src: d.csv の1行目" in ja and "異なる項目 [4]" in ja and "4 番目: 'カナ姓' のところ 'カナ氏'" in ja, ja


def test_a_first_line_that_may_be_a_record_shows_the_expected_names_but_not_its_values(tmp_path):
    msg = _error(tmp_path, "999822,0000000009,鈴木,ｽｽﾞｷ,大阪府")
    assert "fields [1, 2, 3, 4, 5] differ" in msg and "'カナ姓'" in msg
    assert not any(v in msg for v in ("0000000009", "鈴木", "ｽｽﾞｷ", "大阪府"))
    ja = _error(tmp_path, "999822,0000000009,鈴木,ｽｽﾞｷ,大阪府", ja=True)
    assert "src: d.csv の1行目" in ja and "異なる項目 [1, 2, 3, 4, 5]" in ja and "'カナ姓'" in ja, ja
    assert not any(v in ja for v in ("0000000009", "鈴木", "ｽｽﾞｷ", "大阪府"))


def test_a_record_of_text_fields_only_is_never_taken_for_a_header(tmp_path):
    """鈴木, 花子, ｽｽﾞｷ, a dotted date and a two-character code hold no number the value test sees: only the
    names a header shares with the layout tell it apart, and a record shares none."""
    path = tmp_path / "d.csv"
    path.write_bytes("A1,鈴木,花子,ｽｽﾞｷ,H05.03.01\r\nA2,山田,太郎,ﾔﾏﾀﾞ,S45.01.02\r\n".encode("cp932"))
    with pytest.raises(LayoutError) as e:
        run(path, write_layout(tmp_path, header=True, names=["世帯区分", "氏", "名", "カナ氏", "生年月日"]), tmp_path)
    msg = str(e.value)
    assert "values are not shown" in msg
    assert not any(v in msg for v in ("A1", "鈴木", "花子", "ｽｽﾞｷ", "H05")), msg
