"""report.xlsx is written whole or not at all: into a temporary file beside it, renamed once whole. A full disk
leaves the workbook there before as it was (xlsxwriter wrote in place: a half-written, unreadable .xlsx under the
final name) and no temporary file, the error naming report.xlsx; a failure while its sheets are made leaves no
workbook at all. A real full file system: a small tmpfs (mounting needs root: CI runs as root)."""
from __future__ import annotations

import errno

import openpyxl
import polars as pl
import pytest

from ikou.errors import message_ja
from ikou.reports.workbook import write_workbook
from tests.conftest import fill_disk

# the ZipFile xlsxwriter failed to write is closed, not left for a later collection to write again and print
# "Exception ignored … No space left" (once it broke Python's compile of the next test module)
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")


def _summary(run: str) -> dict:
    return {"dantai": "999717", "run_id": f"20261201T000000Z-{run}-abcd", "rehearsal": run, "status": "succeeded",
            "tables": {}}


def test_a_full_disk_leaves_the_previous_workbook_as_it_was_and_no_temporary_file(tmp_path, small_tmpfs):
    disk = small_tmpfs(tmp_path / "disk", "1m")
    out = write_workbook(_summary("R1"), disk / "report.xlsx", run_dir=disk)
    before = out.read_bytes()
    fill_disk(disk)
    with pytest.raises(Exception) as caught:
        write_workbook(_summary("R2"), out, run_dir=disk)
    assert out.read_bytes() == before                       # never half, never 0 bytes
    assert message_ja(caught.value) == f"ディスクの空きがありません ({out})"
    assert openpyxl.load_workbook(out)["概要"]["B6"].value == "R1"
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "report.xlsx"]


def test_a_failure_while_making_the_sheets_leaves_no_workbook_and_no_temporary_file(tmp_path):
    foreign = pl.DataFrame({"x": [1]})   # a quarantine of another shape: no severity to split it by
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        write_workbook(_summary("R1"), tmp_path / "report.xlsx", run_dir=tmp_path, quarantine=foreign)
    assert list(tmp_path.iterdir()) == []


def test_a_workbook_that_cannot_replace_its_name_is_told_naming_it_and_leaves_no_temporary_file(tmp_path):
    (tmp_path / "report.xlsx").mkdir()   # a folder in the workbook's place
    with pytest.raises(OSError) as caught:
        write_workbook(_summary("R1"), tmp_path / "report.xlsx", run_dir=tmp_path)
    assert caught.value.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST)
    assert caught.value.filename == str(tmp_path / "report.xlsx")
    assert [p.name for p in tmp_path.iterdir()] == ["report.xlsx"]
