"""`same_after_normalising` runs on the column's distinct values (Check.prepare); its expressions over every row
stay the definition, and the two must hold the same rows with the same detail."""
from __future__ import annotations

import random

import polars as pl
import pytest

from ikou.validators.kinds import KINDS, SameAfterNormalising

SPELLINGS = ["0000080101", "80101", "0000080101 ", "０００００８０１０１", "A80101", "0000080102", "80103", "",
             "   ", None, "000", "0", "0000000000", "8010１", "０", "x", "0000080104"]


def _failing(frame: pl.DataFrame, chk) -> pl.DataFrame:
    lf = frame.lazy()
    for stage in chk.stages:
        lf = lf.with_columns(**stage)
    return (lf.with_row_index("i").filter(chk.failed.fill_null(False))
            .select("i", chk.value.alias("value"), chk.detail.alias("detail")).collect())


@pytest.mark.parametrize("normalise", [["width", "digits_only", "leading_zeros"], ["strip", "leading_zeros"],
                                       ["width", "strip", "case"]])
def test_the_check_on_distinct_values_holds_the_rows_the_check_over_every_row_holds(normalise):
    rnd = random.Random(7)
    frame = pl.DataFrame({"atena_no": [rnd.choice(SPELLINGS) for _ in range(3000)]}, schema={"atena_no": pl.String})
    kind = KINDS["same_after_normalising"]
    (chk,) = kind.build(SameAfterNormalising(columns=["atena_no"], normalise=normalise),
                        type("Ctx", (), {"need": lambda self, *a: None})())
    assert chk.prepare is not None
    by_rows, by_distinct = _failing(frame, chk), _failing(frame, chk.prepare(frame))
    assert by_rows.height > 0
    assert by_distinct.sort("i").equals(by_rows.sort("i"))
