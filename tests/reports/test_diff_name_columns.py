"""`ikou diff` masks by default every column whose name says it holds a name: 氏 / SHI, 旧氏, 通称 and 本名 as
well as 姓 and 名, matched as words so that SHIKUCHOSON, SHITEI or JUSHO stay unmasked."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.reports.cli import is_name_column

NAMES = ["氏", "SHI", "shi", "SHI_KANJI", "KANJI_SHI", "ShiKanji", "UJI", "KYU_UJI", "KYUUJI", "旧氏", "旧氏カナ",
         "氏_漢字", "氏（カナ）", "通称", "通称名", "TSUSHO", "TSUSHOMEI", "HONMYO", "本名",
         "名", "MEI", "姓", "SEI_KANJI", "SHIMEI", "氏名"]
NOT_NAMES = ["SHIKUCHOSON", "SHIKUCHOSON_CODE", "JUSHO", "SHITEI", "SHITEI_TOSHI", "SHIHARAI", "SHIBU", "SHISHO",
             "TSUSHIN", "SEIBETSU", "SEINENGAPPI", "MEISAI", "KOUJI", "KYUSHI_FLAG", "KYUSHOKU", "UJIIE_CODE",
             "BANCHI", "市区町村", "住所", "指定都市", "支所", "名称", "続柄", "生年月日", "atena_no", "zeigaku"]


@pytest.mark.parametrize("name", NAMES)
def test_a_column_named_for_a_name_is_a_name_column(name):
    assert is_name_column(name)


@pytest.mark.parametrize("name", NOT_NAMES)
def test_a_column_whose_name_only_contains_the_letters_is_not_a_name_column(name):
    assert not is_name_column(name)


def test_diff_masks_shi_kyuuji_and_tsusho_by_default(tmp_path):
    from ikou.flows.cli import main

    left, right = tmp_path / "l.csv", tmp_path / "r.csv"
    left.write_text("atena_no,氏,名,旧氏,通称,SHI,TSUSHO,JUSHO\n"
                    "9100000011,鬮瀬,𠮷之助,鬮瀬,鬮瀬𠮷之助,鬮瀬,鬮瀬𠮷之助,本町1\n", encoding="utf-8")
    right.write_text("atena_no,氏,名,旧氏,通称,SHI,TSUSHO,JUSHO\n"
                     "9100000011,髙瀬,吉之助,髙瀬,髙瀬吉之助,髙瀬,髙瀬吉之助,本町2\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["diff", str(left), str(right), "--key", "atena_no", "--out", str(out)]) == 0
    cells = pl.read_csv(out / "differences.csv", infer_schema=False)
    shown = dict(zip(cells["column"], cells["left"]))
    assert shown == {"氏": "＊＊", "名": "＊＊", "旧氏": "＊＊", "通称": "＊＊", "SHI": "＊＊",
                     "TSUSHO": "＊＊", "JUSHO": "本町1"}
    for f in ("differences.csv", "report.html"):
        text = (out / f).read_text(encoding="utf-8")
        assert "鬮瀬" not in text and "髙瀬" not in text, f
