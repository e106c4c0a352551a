"""shown_expr for a coded column gives what the shape guard followed by the name-letters guard gives, with a plan
that does not copy the guard's tree into every branch: nested, each coded column's expression was 160,000
characters and masking 9 rows of 33 columns took seconds (20 s of a 1M-person diff's outputs)."""
from __future__ import annotations

import polars as pl

from ikou.privacy import CODED, FREE, MYNUMBER, SENSITIVE, guard_expr, name_letters_guard, shown_expr

VALUES = ["鵺川　一郎", "ﾇｴｶﾜ", "H30.02.30", "平成30年2月30日", "昭和45年3月頃", "123456789018", "1234-5678-9018",
          "備考 123456789018 鵺", "77", "", None, "＊＊", "Ｘ", "鵺\ue0fe", "０１２３４５６７８９０１"]


def test_a_coded_value_is_shown_as_the_guard_then_the_name_guard_would_show_it():
    df = pl.DataFrame({"v": VALUES})
    nested = df.select(name_letters_guard(guard_expr(pl.col("v")), dates=True).alias("v"))["v"].to_list()
    assert df.select(shown_expr(pl.col("v"), CODED).alias("v"))["v"].to_list() == nested


def test_every_kinds_mask_plan_stays_small():
    # a coded column's nested form read 159,358 characters; the flat one about 8,000
    for kind in (CODED, FREE, MYNUMBER, SENSITIVE):
        for key in (False, True):
            assert len(str(shown_expr(pl.col("seinengappi"), kind, key=key))) < 20_000, (kind, key)
