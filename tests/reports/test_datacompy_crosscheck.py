"""Counts agree with datacompy's wherever both define the same thing.

datacompy 1.1's PolarsCompare calls `join(join_nulls=…)`, removed in polars 2.0, so on the
project's polars it raises; the cross-check uses datacompy's pandas comparison instead.
"""
from __future__ import annotations

import pytest

from ikou.reports.diff import compare
from ikou.sample.diff_pair import planted_pair

datacompy = pytest.importorskip("datacompy", reason="datacompy is a test-only cross-check")
pytest.importorskip("pandas", reason="datacompy's PandasCompare needs pandas")


@pytest.mark.parametrize("rows,ncols,seed", [(20_000, 8, 0), (50_000, 12, 7)])
def test_counts_agree_with_datacompy(rows, ncols, seed):
    left, right, expected = planted_pair(rows, ncols, seed=seed)
    ours = compare(left, right, key=["atena_no"])
    dc = datacompy.PandasCompare(left.to_pandas(), right.to_pandas(), join_columns=["atena_no"])
    assert ours.only_left == len(dc.df1_unq_rows) == expected["only_left"]
    assert ours.only_right == len(dc.df2_unq_rows) == expected["only_right"]
    assert ours.matched == len(dc.intersect_rows) == expected["matched"]
    assert ours.matched - ours.changed_rows == dc.count_matching_rows()
    theirs = {s["column"]: int(s["unequal_cnt"]) for s in dc.column_stats
              if s["column"] != "atena_no"}
    assert ours.changed_cells == theirs == expected["changed_cells"]
