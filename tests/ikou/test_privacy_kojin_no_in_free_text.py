"""A 個人番号 written among other words of a free-text column (備考: 「纐纈鵺丸 735190462838」) is in no sensitive
column and is not the whole value, so neither column masking nor the identifier-shape guard saw it: `ikou diff`
showed it in differences.csv/.parquet, only_left.csv and report.html. A value holding a digit run that is a valid
個人番号 (12 digits, check digit) is now not shown; 12 digits with a wrong check digit are (not a 個人番号)."""
from __future__ import annotations

import polars as pl

from ikou.flows.cli import main
from ikou.privacy import NUMBER_IN_TEXT_MASK, mask_long

VALID = ["735190462838", "551172246997", "６４２０８１３５７９０２"]   # check digits valid (fictitious)
NOT_A_KOJIN_NO = "735190462839"                                      # wrong check digit


def _all_output_text(out) -> str:
    text = ""
    for f in sorted(p for p in out.rglob("*") if p.is_file()):
        text += f.read_bytes().decode("utf-8", errors="replace")
        if f.suffix == ".parquet":
            text += pl.read_parquet(f).write_csv()
    return text


def test_a_kojin_no_inside_free_text_is_not_shown_by_ikou_diff(tmp_path):
    left = pl.DataFrame({"atena_no": ["0001", "0002", "0003", "0004"],
                         "biko": [f"纐纈鵺丸 {VALID[0]}", f"連絡先 {VALID[1]} 転居", NOT_A_KOJIN_NO + " 整理番号",
                                  f"番号{VALID[2]}"]})
    right = pl.DataFrame({"atena_no": ["0001", "0003", "0004"],
                          "biko": ["纐纈鵺丸 転出", "整理番号", "なし"]})
    left.write_csv(tmp_path / "l.csv")
    right.write_csv(tmp_path / "r.csv")
    out = tmp_path / "out"
    assert main(["diff", str(tmp_path / "l.csv"), str(tmp_path / "r.csv"), "--key", "atena_no",
                 "--out", str(out)]) == 0
    text = _all_output_text(out)
    for number in VALID:
        assert number not in text, number
    assert NOT_A_KOJIN_NO in text                       # a wrong check digit: not a 個人番号, shown
    cells = pl.read_csv(out / "differences.csv", infer_schema=False)
    assert NUMBER_IN_TEXT_MASK in cells["left"].to_list()


def test_a_quarantined_free_text_holding_a_kojin_no_is_not_shown():
    q = pl.DataFrame({"column": ["biko", "biko"], "rule": ["schema.max_length", "schema.max_length"],
                      "value": [f"本人 {VALID[0]} 確認済", f"整理 {NOT_A_KOJIN_NO}"]})
    assert mask_long(q, set(), value_cols=("value",))["value"].to_list() == [NUMBER_IN_TEXT_MASK,
                                                                           f"整理 {NOT_A_KOJIN_NO}"]
