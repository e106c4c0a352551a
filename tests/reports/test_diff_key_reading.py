"""The run's diff reads a legacy key as the mapping read it: a padded or zero-padded legacy key names
the record the target holds under its trimmed key, never a record "only on the legacy side"."""
from __future__ import annotations

import polars as pl

from ikou import REPO_ROOT
from ikou.mappings.spec import load_mapping
from ikou.reports.diff import ParquetSource, compare
from ikou.reports.step import key_reading


def _sides(tmp_path):
    staged = tmp_path / "staged.parquet"
    pl.DataFrame({"ATENA_NO": [" 0123456785", "3997661671\u3000"], "RIREKI_NO": ["01", " 2"],
                  "SHIMEI": ["阿部　浩二", "青木　陽翔"]}).write_parquet(staged)
    right = pl.DataFrame({"atena_no": ["0123456785", "3997661671"], "rireki_no": ["1", "2"],
                          "shimei": ["阿部　浩二", "青木　陽翔"]})
    return staged, right


def test_padded_legacy_keys_match_the_targets_records(tmp_path):
    staged, right = _sides(tmp_path)
    cols = {"ATENA_NO": "atena_no", "RIREKI_NO": "rireki_no", "SHIMEI": "shimei"}
    r = compare(ParquetSource(staged, cols, keys={"atena_no": "text", "rireki_no": "integer"}), right,
                key=["atena_no", "rireki_no"])
    try:
        assert (r.matched, r.only_left, r.only_right, r.changed_rows) == (2, 0, 0, 0)
    finally:
        r.close()
    plain = compare(ParquetSource(staged, cols), right, key=["atena_no", "rireki_no"])   # as written: no match
    try:
        assert (plain.matched, plain.only_left, plain.only_right) == (0, 2, 2)
    finally:
        plain.close()


def test_the_crosswalk_path_reads_the_keys_the_same_way(tmp_path):
    staged, right = _sides(tmp_path)
    xw = tmp_path / "xw.csv"
    pl.DataFrame({"legacy_atena_no": ["0123456785", "3997661671"],
                  "atena_no": ["0123456785", "3997661671"]}).write_csv(xw)
    cols = {"ATENA_NO": "atena_no", "RIREKI_NO": "rireki_no", "SHIMEI": "shimei"}
    r = compare(ParquetSource(staged, cols, keys={"atena_no": "text", "rireki_no": "integer"}), right,
                key=["atena_no", "rireki_no"], crosswalk=xw)
    try:
        assert (r.matched, r.only_left, r.only_right) == (2, 0, 0)
    finally:
        r.close()


def test_the_key_reading_follows_the_mapping_ops():
    vendor_b = load_mapping(REPO_ROOT / "specs" / "vendors" / "vendor_b" / "mappings" / "juki" / "jumin.yaml")
    reading = key_reading(vendor_b, ["atena_no", "rireki_no"])
    ops = {c.target: c for c in vendor_b.columns if c.target in ("atena_no", "rireki_no")}
    for t, c in ops.items():
        want = "integer" if c.op == "integer" else "text" if c.op == "text" and c.strip else None if c.op == "text" \
            else "code"
        assert reading.get(t) == want, (t, c.op)


def test_a_key_is_read_exactly_as_the_op_reads_it_in_duckdb_and_in_polars(tmp_path):
    """No-break space around a code is trimmed (the op trims all whitespace); '1.0', '1e3', '0x1F' are
    not integers to the op, so they stay as written and never match record 1."""
    staged = tmp_path / "s.parquet"
    legacy = ["\u00a01", "1.0", "1e3", "0x1F", "+02", " 3\u3000"]
    pl.DataFrame({"K": [str(i) for i in range(6)], "R": legacy}).write_parquet(staged)
    want = ["1", "1.0", "1e3", "0x1F", "2", "3"]
    src = ParquetSource(staged, {"K": "k", "R": "r"}, keys={"r": "integer"})
    via_polars = pl.scan_parquet(staged).select(src.key_expr("r", pl.col("R"))).collect().to_series().to_list()
    import duckdb
    via_duckdb = [v for (v,) in duckdb.sql(f"SELECT {src.key_sql('r', 'R')} FROM read_parquet('{staged}')").fetchall()]
    assert via_polars == via_duckdb == want
