"""ikou.staging.batch_rows: rows per batch from the bytes per row of staging, so a batch of wide rows holds
no more bytes than a batch of ordinary rows; the stages' row-count constants stay the upper bound."""
from __future__ import annotations

import polars as pl
import pytest

from ikou import staging
from ikou.staging import BATCH_ROW_BYTES, batch_rows, row_bytes, rows_for_width


@pytest.mark.parametrize("width", [None, 0, 1, BATCH_ROW_BYTES / 2, BATCH_ROW_BYTES])
def test_rows_no_wider_than_the_limit_keep_the_row_count_batch(width):
    assert rows_for_width(500_000, width) == 500_000
    assert rows_for_width(250_000, width) == 250_000


@pytest.mark.parametrize("times", [2, 10, 100])
def test_wider_rows_get_proportionally_fewer_rows(times):
    assert rows_for_width(500_000, BATCH_ROW_BYTES * times) == 500_000 // times
    assert rows_for_width(200_000, BATCH_ROW_BYTES * times) == 200_000 // times


def test_a_batch_has_at_least_one_row():
    assert rows_for_width(500_000, BATCH_ROW_BYTES * 10**9) == 1


def test_the_limit_is_read_when_used(monkeypatch):
    monkeypatch.setattr(staging, "BATCH_ROW_BYTES", float("inf"))   # what a benchmark's "before" sets
    assert rows_for_width(500_000, 10**9) == 500_000


def _staged(path, n: int, chars: int, **extra) -> None:
    """n rows like a staging file's (lineage and a few short codes) plus a text column `chars` characters wide,
    each value its own (as real 方書 are)."""
    pl.DataFrame({"_row_id": range(n), "_source": "JUMIN.csv", "_source_line": range(1, n + 1),
                  "atena_no": [f"{i:015d}" for i in range(n)], "seibetsu": ["1", "2"] * (n // 2),
                  "katagaki": [f"{i:06d}" + "方" * (chars - 6) for i in range(n)], **extra}
                 ).write_parquet(path, compression=staging.STAGING_COMPRESSION)


def test_row_bytes_counts_what_the_rows_hold(tmp_path):
    _staged(tmp_path / "narrow.parquet", 10_000, 10)
    _staged(tmp_path / "wide.parquet", 10_000, 1_000)
    narrow, wide = row_bytes(tmp_path / "narrow.parquet"), row_bytes(tmp_path / "wide.parquet")
    assert narrow < 100
    assert 2_950 <= wide - narrow <= 3_000   # 990 more characters, 3 bytes each in UTF-8
    # only the columns a reader reads; several files: the widest
    assert row_bytes(tmp_path / "wide.parquet", ["atena_no"]) < 30
    assert row_bytes([tmp_path / "narrow.parquet", tmp_path / "wide.parquet"]) == wide


def test_a_wide_file_is_read_in_a_tenth_of_the_rows_of_one_ten_times_narrower(tmp_path):
    # a file whose rows are 10× the limit: about a tenth of the rows; one within it: all of them
    _staged(tmp_path / "ordinary.parquet", 2_000, BATCH_ROW_BYTES // 3 - 60)
    _staged(tmp_path / "wide.parquet", 2_000, 10 * BATCH_ROW_BYTES // 3)
    assert batch_rows(tmp_path / "ordinary.parquet", 500_000) == 500_000
    assert 45_000 <= batch_rows(tmp_path / "wide.parquet", 500_000) <= 50_000


def test_an_empty_file_keeps_the_row_count_batch(tmp_path):
    _staged(tmp_path / "empty.parquet", 0, 10)
    assert row_bytes(tmp_path / "empty.parquet") is None
    assert batch_rows(tmp_path / "empty.parquet", 500_000) == 500_000


def test_a_long_value_repeated_on_many_rows_counts_on_each(tmp_path):
    # the same 1,000-character 方書 on every second row: Parquet keeps it once, in the column's dictionary;
    # decoded, every one of those rows holds it
    n, value = 10_000, "方" * 1_000
    path = tmp_path / "repeated.parquet"
    _staged(path, n, 10)
    pl.read_parquet(path).with_columns(katagaki=pl.Series([value, None] * (n // 2))).write_parquet(
        path, compression=staging.STAGING_COMPRESSION)
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    katagaki = next(i for i in range(meta.num_columns) if meta.schema.column(i).name == "katagaki")
    assert meta.row_group(0).column(katagaki).has_dictionary_page   # the case: one copy in the file
    assert 1_500 <= row_bytes(path) - row_bytes(path, [c for c in pl.read_parquet_schema(path) if c != "katagaki"]) \
        <= 1_600   # 3,000 bytes on every second row
