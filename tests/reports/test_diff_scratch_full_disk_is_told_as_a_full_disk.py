"""A diff whose scratch folder fills up says the disk is full, naming the file: not that its input cannot be read."""
from __future__ import annotations

import errno

import polars as pl
import pytest

from ikou.errors import message_ja
from ikou.reports.diff import DiffInputError, _stage
from tests.conftest import fill_disk


def test_a_full_scratch_disk_is_a_disk_error_naming_the_file(tmp_path, small_tmpfs):
    scratch = small_tmpfs(tmp_path / "scratch", "1m")
    fill_disk(scratch)
    out = scratch / "left.parquet"
    side = pl.LazyFrame({"atena_no": [f"{i:010d}" for i in range(50_000)], "shimei": ["x" * 40] * 50_000})
    with pytest.raises(OSError) as exc:
        _stage(side, "legacy.csv", out)
    assert not isinstance(exc.value, DiffInputError)
    assert exc.value.errno == errno.ENOSPC and exc.value.filename == str(out)
    assert "ディスク" in message_ja(exc.value) and not out.exists()


def test_an_unreadable_input_is_still_told_as_one(tmp_path):
    with pytest.raises(DiffInputError, match="legacy.csv: cannot read"):
        _stage(pl.scan_csv(tmp_path / "missing.csv"), "legacy.csv", tmp_path / "left.parquet")
