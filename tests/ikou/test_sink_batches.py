"""ikou.staging.sink_batches: staging written batch by batch by Polars' Parquet sink."""
from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ikou.errors import LayoutError
from ikou.staging import sink_batches

SCHEMA = pl.Schema({"_row_id": pl.Int64, "A": pl.String})


def batch(start: int, n: int) -> pl.DataFrame:
    return pl.DataFrame({"_row_id": range(start, start + n), "A": [f"v{i}" for i in range(start, start + n)]},
                        schema=SCHEMA)


def test_batches_land_in_one_file_in_their_order(tmp_path):
    out = tmp_path / "s.parquet"
    sink_batches((batch(i * 3, 3) for i in range(4)), SCHEMA, out)
    assert_frame_equal(pl.read_parquet(out), batch(0, 12))


def test_no_batches_give_an_empty_file_with_the_schema_columns(tmp_path):
    out = tmp_path / "s.parquet"
    sink_batches(iter(()), SCHEMA, out)
    got = pl.read_parquet(out)
    assert got.height == 0 and got.schema == SCHEMA


def test_an_error_while_producing_batches_is_raised_as_itself(tmp_path):
    def failing():
        yield batch(0, 2)
        raise LayoutError("JUMIN.csv: layout does not match")

    with pytest.raises(LayoutError, match="layout does not match"):
        sink_batches(failing(), SCHEMA, tmp_path / "s.parquet")
