"""The DuckDB engine behind `compare`: exact under a small memory limit, DataFrame inputs of any
type compared as the text Polars writes, null keys, and numeric columns that differ only as text."""
from __future__ import annotations

import polars as pl

from reports.diff import compare
from reports.synth import planted_pair


def test_counts_and_cells_stay_exact_under_a_memory_limit(monkeypatch):
    # every non-null cell of 300k rows × 7 columns differs: the wide join and the ~2.1M cells
    # go through DuckDB with 256MB, less than the two sides take as Python strings
    monkeypatch.setenv("IKOU_DIFF_MEMORY_LIMIT", "256MB")
    left, _, _ = planted_pair(300_000, 8, seed=3)
    right = left.with_columns(pl.exclude("atena_no") + "y")
    res = compare(left, right, key=["atena_no"])
    assert res.matched == res.changed_rows == 300_000
    # a null stays null (null + 'y'), and null equals null
    expected = {c: left[c].count() for c in left.columns[1:]}
    assert min(expected.values()) < 300_000
    assert res.changed_cells == expected
    assert res.cells.height == sum(expected.values())
    assert res.cells.filter(pl.col("right") != pl.col("left") + "y").is_empty()


def test_planted_differences_are_found_exactly(monkeypatch):
    monkeypatch.setenv("IKOU_DIFF_MEMORY_LIMIT", "256MB")
    left, right, expected = planted_pair(300_000, 12, seed=3)
    res = compare(left, right, key=["atena_no"])
    for k in ("only_left", "only_right", "matched", "changed_rows", "changed_cells"):
        assert getattr(res, k) == expected[k], k
    assert res.cells.height == sum(expected["changed_cells"].values())
    assert res.only_left_rows.height == expected["only_left"]
    assert res.only_right_rows.height == expected["only_right"]


def test_dataframe_columns_of_any_type_compare_as_polars_text():
    left = pl.DataFrame({"atena_no": [1, 2, 3], "zeigaku": [1000, 2000, 3000],
                         "flag": [True, False, None]})
    right = pl.DataFrame({"atena_no": ["1", "2", "3"], "zeigaku": ["1000", "2000", "3000.0"],
                          "flag": ["true", "False", ""]})
    res = compare(left, right, key="atena_no")
    assert res.matched == 3 and res.only_left == res.only_right == 0
    # '3000' vs '3000.0' differ as text; 'false' vs 'False' too; null vs '' is equal
    assert res.changed_cells == {"zeigaku": 1, "flag": 1}
    assert sorted(res.cells.select("atena_no", "column").rows()) == [("2", "flag"), ("3", "zeigaku")]


def test_numeric_columns_drop_cells_equal_by_value_but_keep_text_counts_exact():
    left = pl.DataFrame({"k": ["a", "b", "c", "d"], "n": ["1,000", "2", "x", "5"],
                         "t": ["p", "q", "r", "s"]})
    right = pl.DataFrame({"k": ["a", "b", "c", "d"], "n": ["1000", "2.5", "x", "5.0"],
                          "t": ["p", "q", "R", "s"]})
    res = compare(left, right, key="k", numeric=["n"])
    assert res.changed_cells == {"n": 1, "t": 1}
    assert res.changed_rows == 2
    assert res.cells.select("k", "column", "left", "right").rows() == [
        ("b", "n", "2", "2.5"), ("c", "t", "r", "R")]


def test_a_null_key_is_a_key_value_on_both_sides():
    left = pl.DataFrame({"k": [None, "1", "1"], "v": ["a", "b", "c"]})
    right = pl.DataFrame({"k": ["", "1", "2"], "v": ["z", "b", "d"]})
    res = compare(left, right, key="k")
    # left key '1' is duplicated: reported, excluded; null key (blank on the right) matches
    assert res.duplicates["left"]["keys"] == 1 and res.duplicates["left"]["rows"] == 2
    assert res.duplicates["left"]["sample"].height == 2
    assert res.matched == 1 and res.only_left == 0 and res.only_right == 2
    assert res.cells.select("k", "left", "right").rows() == [(None, "a", "z")]
    assert res.control_totals["left"] == {"rows": 3, "distinct_keys": 2, "sums": {}}
