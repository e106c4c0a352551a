"""`run-report --diff/--quarantine` refuses a file in another 団体's folder, not one in a month's folder whose name
is a valid 団体コード too (202410)."""
from __future__ import annotations

from pathlib import Path

import pytest

from ikou.context import check_run_input
from ikou.errors import IsolationError

RUN = "20261130T000000Z-R1-abcd"


@pytest.mark.parametrize("path", ["/data/diffs/202410/summary.json", "/data/20240131/q.parquet",
                                  "/data/R1_export/202401/summary.json"])
def test_a_month_folder_is_not_another_dantai(path):
    assert check_run_input(Path(path), "999997", "--diff") == Path(path)


@pytest.mark.parametrize("path", [f"/x/runs/202410/{RUN}/diff/s/summary.json",
                                  f"/x/runs/999750/{RUN}/quarantine.parquet", "/x/in_999750/summary.json"])
def test_another_dantais_run_folder_is_refused(path):
    with pytest.raises(IsolationError):
        check_run_input(Path(path), "999997", "--diff")
