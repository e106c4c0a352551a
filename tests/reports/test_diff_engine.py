"""The DuckDB engine behind `compare`: exact under a small memory limit, DataFrame inputs of any
type compared as the text Polars writes, null keys, and numeric columns that differ only as text."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ikou.reports.diff import compare
from ikou.sample.diff_pair import planted_pair


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


def _triple_pair(n: int = 3_000) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Most rows differ, and the same way: code 'A' → '01' on every row, a few unexpected 'B' → '99'."""
    k = [f"{i:05d}" for i in range(n)]
    left = pl.DataFrame({"k": k, "code": ["A"] * (n - 10) + ["B"] * 10,
                         "name": [f"n{i}" for i in range(n)], "same": ["x"] * n})
    right = left.with_columns(
        pl.when(pl.col("code") == "A").then(pl.lit("01")).otherwise(pl.lit("99")).alias("code"),
        pl.when(pl.col("k").str.ends_with("7")).then(pl.col("name") + "!").otherwise("name")
        .alias("name"))
    return left, right


def _code_rules(tmp_path) -> Path:
    (tmp_path / "codes.csv").write_text("source_code,code\nA,01\nB,02\n", encoding="utf-8")
    (tmp_path / "rules.yaml").write_text(
        "spec_version: 1\nrules:\n  - {name: codes, columns: [code], condition: {type: code_table, "
        "table: codes.csv}, reason: 旧コード → 標準コード, owner: 移行チーム}\n", encoding="utf-8")
    return tmp_path / "rules.yaml"


def test_rules_run_per_distinct_triple_and_counts_match_the_cells(tmp_path):
    left, right = _triple_pair()
    res = compare(left, right, key="k", rules=_code_rules(tmp_path))
    code = res.triples.filter(pl.col("column") == "code").sort("left")
    assert code.select("left", "right", "cells", "rule").rows() == [
        ("A", "01", 2_990, "codes"), ("B", "99", 10, None)]
    # every count the summary shows agrees with the cells themselves
    cells = res.cells
    assert res.changed_cells == {c: cells.filter(pl.col("column") == c).height
                                 for c in ("code", "name", "same")}
    assert res.explained["codes"]["by_column"] == {"code": 2_990}
    unexplained = cells.filter(pl.col("rule").is_null())
    assert res.unexplained_cells == {"code": 10, "name": 300}
    assert res.unexplained_rows == unexplained["k"].n_unique() == 309   # 300 names, 10 codes, 1 both
    assert res.changed_rows == cells["k"].n_unique() == 3_000


@pytest.mark.parametrize("batch_rows", [500_000, 7])   # 7: the samples are picked across 428 batches
def test_explained_cells_are_counted_and_sampled_while_unexplained_cells_are_kept_in_full(tmp_path, monkeypatch,
                                                                                        batch_rows):
    import json

    from ikou.reports.report import write_diff_outputs

    monkeypatch.setattr("ikou.reports.diff.SAMPLE_BATCH_ROWS", batch_rows)

    left, right = _triple_pair()
    res = compare(left, right, key="k", rules=_code_rules(tmp_path), explained_sample=5)
    summary = write_diff_outputs(res, tmp_path / "out", reveal=True)
    # the counts still cover every cell
    assert summary["explained_cells"] == 2_990
    assert summary["unexplained_cells"] == {"code": 10, "name": 300}
    assert summary["changed_cells"] == {"code": 3_000, "name": 300, "same": 0}
    assert json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))[
        "explained"]["codes"]["by_column"] == {"code": 2_990}
    stored = pl.read_parquet(tmp_path / "out" / "differences.parquet")
    unexplained = stored.filter(pl.col("kind") == "unexplained")
    assert unexplained["rule"].null_count() == unexplained.height == 310
    assert sorted(unexplained.filter(pl.col("column") == "code")["k"]) == [f"{i:05d}" for i in range(2_990, 3_000)]
    # explained: the rule's 5 smallest keys per column, not its 2,990 cells
    sample = stored.filter(pl.col("kind") == "sample")
    assert sample.select("k", "column", "left", "right", "rule").rows() == [
        (f"{i:05d}", "code", "A", "01", "codes") for i in range(5)]
    assert stored.height == 315
    # the CSV: the unexplained cells only, as before
    assert pl.read_csv(tmp_path / "out" / "differences.csv", infer_schema=False).height == 310
    # the report's first rows per column come from the stored detail: unexplained first, by key
    assert res.column_sample("code", 12)["k"].to_list() == [
        *(f"{i:05d}" for i in range(2_990, 3_000)), "00000", "00001"]


def test_both_join_strategies_give_the_same_result(monkeypatch):
    # the key join reads every row when most keys differ, only the differing keys otherwise
    import ikou.reports.diff as diff

    left, right, _ = planted_pair(20_000, 8, seed=5)
    right = right.with_columns(pl.when(pl.col("c01").is_not_null()).then(pl.col("c01") + "z")
                               .alias("c01"))
    results = {}
    for share in (0.0, 1.0):
        monkeypatch.setattr(diff, "DIRECT_JOIN_SHARE", share)
        results[share] = compare(left, right, key="atena_no")
    a, b = results.values()
    for k in ("matched", "only_left", "only_right", "changed_rows", "changed_cells"):
        assert getattr(a, k) == getattr(b, k), k
    assert a.changed_rows > 10_000
    assert a.cells.equals(b.cells)
    assert a.only_left_rows.equals(b.only_left_rows) and a.only_right_rows.equals(b.only_right_rows)


def test_cells_stay_on_disk_until_the_result_is_closed():
    left, right = _triple_pair(100)
    res = compare(left, right, key="k")
    files = list(res.cell_files.values())
    assert files and all(f.is_file() for f in files)
    # grouped by column; a column's cells are read without the others'
    assert res.scan_cells(["name"]).collect()["column"].unique().to_list() == ["name"]
    sample = res.column_sample("code", 3)
    assert sample["k"].to_list() == ["00000", "00001", "00002"]
    res.close()
    assert not any(f.exists() for f in files)


def test_a_parquet_source_is_read_in_place_under_the_compared_names(tmp_path, monkeypatch):
    import ikou.reports.diff as diff

    staged = tmp_path / "staging.parquet"
    pl.DataFrame({"_row_id": [1, 2], "ATENA": ["001", "002"], "SHIMEI": ["山田", ""]}).write_parquet(
        staged)
    right = tmp_path / "right.parquet"
    pl.DataFrame({"atena_no": ["001", "002"], "shimei": ["山田", "鈴木"]}).write_parquet(right)

    def no_staging(*a, **k):
        raise AssertionError("a text Parquet file must not be rewritten")

    monkeypatch.setattr(diff, "_stage", no_staging)
    res = compare(diff.ParquetSource(staged, {"ATENA": "atena_no", "SHIMEI": "shimei"}), right,
                  key="atena_no")
    assert res.left_name == "staging.parquet" and res.matched == 2
    assert res.cells.select("atena_no", "left", "right").rows() == [("002", None, "鈴木")]


def test_a_duckdb_table_is_read_in_place_as_the_text_polars_writes(tmp_path, monkeypatch):
    import duckdb

    import ikou.reports.diff as diff

    db = tmp_path / "t.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA s")
    con.execute("CREATE TABLE s.t (k VARCHAR, n BIGINT, d DATE, m DECIMAL(18,3), b BOOLEAN)")
    con.execute("INSERT INTO s.t VALUES ('1', 7, DATE '2020-01-02', 12.5, true), "
                "('2', NULL, NULL, -3, false)")
    con.close()
    url = f"duckdb:///{db}#s.t"
    as_polars = diff.read_table(url)[0].collect()   # what Polars makes of the same rows
    assert as_polars.row(0) == ("1", "7", "2020-01-02", "12.500", "true")
    as_polars.write_parquet(tmp_path / "right.parquet")
    monkeypatch.setattr(diff, "_stage", lambda *a, **k: pytest.fail("read in place"))
    res = compare(url, tmp_path / "right.parquet", key="k")
    assert res.matched == 2 and res.changed_rows == 0


def test_a_duckdb_type_written_differently_is_staged_as_polars_text(tmp_path):
    import duckdb

    db = tmp_path / "t.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE t AS SELECT '1' AS k, TIMESTAMP '2020-01-02 03:04:05' AS ts")
    con.close()
    right = pl.DataFrame({"k": ["1"], "ts": ["2020-01-02 03:04:05.000000"]})
    res = compare(f"duckdb:///{db}#t", right, key="k")
    assert res.matched == 1 and res.changed_rows == 0


def test_the_diff_memory_limit_is_sized_to_what_the_budget_leaves(monkeypatch):
    from ikou import memory
    from ikou.reports.diff import _memory_limit

    monkeypatch.delenv("IKOU_DIFF_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(memory, "rss_mb", lambda: 1000.0)
    monkeypatch.setenv("IKOU_MEMORY_BUDGET", "3000MB")
    assert _memory_limit() == "1500MB"              # three quarters of 3000 - 1000
    monkeypatch.setenv("IKOU_MEMORY_BUDGET", "1GB")
    assert _memory_limit() == "1024MB"              # never below 1GB: DuckDB spills, slower
    monkeypatch.setenv("IKOU_MEMORY_BUDGET", "64GB")
    assert _memory_limit() == "2048MB"              # nor above 2GB
    monkeypatch.setenv("IKOU_DIFF_MEMORY_LIMIT", "256MB")
    assert _memory_limit() == "256MB"               # an explicit limit wins
    monkeypatch.setenv("IKOU_MEMORY_BUDGET", "three gigabytes")
    with pytest.raises(ValueError, match="not a memory size"):
        memory.budget_mb()
