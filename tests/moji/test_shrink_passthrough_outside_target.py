"""縮退 to JIS X 0208: text outside MJ's scope that the target cannot hold (か゚ and ① are JIS X 0213 only) is
`unmapped`, not "ok"; ASCII and half-width kana (JIS X 0201) and JIS X 0208 kana stay ok."""
from __future__ import annotations

import pytest

from ikou.moji.shrink import shrink_text


@pytest.mark.parametrize("text, jisx0208, jisx0213", [
    ("か\u309a", "unmapped", "ok"),
    ("\u2460", "unmapped", "ok"),
    ("ABC ｱｲ", "ok", "ok"),
    ("やまだ", "ok", "ok"),
    ("1－2－3 10時～12時 ￢", "ok", "ok"),   # the CP932 forms of JIS X 0208 cells
    ("a\nb\r\n", "ok", "ok"),
])
def test_passthrough_text_the_target_cannot_hold_is_unmapped(dictionary, text, jisx0208, jisx0213):
    assert shrink_text([text], target="jisx0208", dictionary=dictionary)["status"].to_list() == [jisx0208]
    assert shrink_text([text], target="jisx0213", dictionary=dictionary)["status"].to_list() == [jisx0213]
