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
    r = compare(ParquetSource(staged, cols, keys={"atena_no": "trim", "rireki_no": "integer"}), right,
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
    r = compare(ParquetSource(staged, cols, keys={"atena_no": "trim", "rireki_no": "integer"}), right,
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
        want = "integer" if c.op == "integer" else "trim" if (c.op != "text" or c.strip) else None
        assert reading.get(t) == want, (t, c.op)
