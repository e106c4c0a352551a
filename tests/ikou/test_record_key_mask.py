"""A schema may put a sensitive column in a table's key (被保険者証番号): the quarantine's `record_key` shows that
part masked, and keeps the rest (and a key nobody declared sensitive) as written, so the record stays traceable."""
from __future__ import annotations

import polars as pl

from ikou.privacy import FULL_MASK, mask_long


def test_the_sensitive_parts_of_a_record_key_are_masked_and_the_rest_kept():
    q = pl.DataFrame({"column": ["shimei", "seibetsu"], "value": ["山田", "9"],
                      "record_key": ["hihokensha_bango=79210525,rireki_no=1", "atena_no=0123456785,rireki_no=2"]})
    got = mask_long(q, {"hihokensha_bango", "shimei"}, value_cols=("value",))
    assert got["record_key"].to_list() == [f"hihokensha_bango={FULL_MASK},rireki_no=1",
                                           "atena_no=0123456785,rireki_no=2"]
    named = mask_long(q.with_columns(record_key=pl.lit("KOJIN_NO=123456789018,RIREKI=1")), set(), value_cols=("value",))
    assert named["record_key"].to_list() == [f"KOJIN_NO={FULL_MASK},RIREKI=1"] * 2   # 個人番号 by its name
    assert mask_long(q, {"hihokensha_bango"}, value_cols=("value",), reveal=True).equals(q)
