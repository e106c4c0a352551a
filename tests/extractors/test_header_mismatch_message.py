"""A header that differs from the layout says, at the first differing fields, the layout's name and the
header's (header names are not personal data); a first line that may be a record keeps its values hidden."""
from __future__ import annotations

import pytest

from ikou.errors import LayoutError
from tests.extractors.conftest import run, write_layout

NAMES = ["団体コード", "宛名番号", "氏", "カナ姓", "住所"]


def _error(tmp_path, first_line: str) -> str:
    path = tmp_path / "d.csv"
    path.write_bytes((first_line + "\r\n999822,0000000001,山田,ﾔﾏﾀﾞ,東京都\r\n").encode("cp932"))
    with pytest.raises(LayoutError) as e:
        run(path, write_layout(tmp_path, header=True, names=NAMES), tmp_path)
    return str(e.value)


def test_a_header_that_differs_names_the_expected_and_the_found_header_names(tmp_path):
    msg = _error(tmp_path, "団体コード,宛名番号,氏,カナ氏,住所")
    assert "fields [4] differ" in msg and "4: expected 'カナ姓', found 'カナ氏'" in msg


def test_a_first_line_that_may_be_a_record_shows_the_expected_names_but_not_its_values(tmp_path):
    msg = _error(tmp_path, "999822,0000000009,鈴木,ｽｽﾞｷ,大阪府")
    assert "fields [1, 2, 3, 4, 5] differ" in msg and "'カナ姓'" in msg
    assert not any(v in msg for v in ("0000000009", "鈴木", "ｽｽﾞｷ", "大阪府"))
