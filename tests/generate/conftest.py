"""One generated 1,000-person sample per test session, read back as text (fixture `sample`)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
import pytest
import yaml

from ikou import REPO_ROOT
from ikou.sample.generate import generate

LAYOUT_A = REPO_ROOT / "specs" / "vendors" / "vendor_a" / "layouts" / "jumin.yaml"
LAYOUT_B = REPO_ROOT / "specs" / "vendors" / "vendor_b" / "layouts" / "b_jumin.yaml"
STANDARD_CODES = REPO_ROOT / "specs" / "gyomu" / "juki" / "code_tables"
VENDOR_B_CODES = REPO_ROOT / "specs" / "vendors" / "vendor_b" / "code_tables"


def layout_columns(path: Path) -> list[str]:
    return [c["name"] for c in yaml.safe_load(path.read_text(encoding="utf-8"))["columns"]]


def code_set(path: Path, column: str) -> set[str]:
    with path.open(encoding="utf-8", newline="") as f:
        return {r[column] for r in csv.DictReader(f)}


class Sample:
    """A generated directory, with vendor A split into physical lines and parsed where possible."""

    def __init__(self, root: Path):
        self.root = root
        raw = (root / "vendor_a" / "JUMIN.csv").read_bytes()
        self.raw_a = raw
        assert raw.endswith(b"\r\n")
        self.lines_a = raw[:-2].split(b"\r\n")  # index i = physical line i+1
        self.faults = pl.read_csv(root / "faults.csv", infer_schema=False)
        self.cols_a = layout_columns(LAYOUT_A)
        self.cols_b = layout_columns(LAYOUT_B)
        bad = set(self.faults.filter(pl.col("fault") == "undecodable_bytes")["line"].cast(pl.Int64))
        extra = set(self.faults.filter(pl.col("fault") == "wrong_field_count")["line"].cast(pl.Int64))
        self.bad_lines = bad | extra
        # parse the well-formed lines of vendor A (the test data is small: a csv reader is fine here)
        good = [(i + 1, line.decode("cp932")) for i, line in enumerate(self.lines_a) if i + 1 not in self.bad_lines]
        records = list(csv.reader(io.StringIO("\n".join(t for _, t in good))))
        self.a = pl.DataFrame(records, schema=self.cols_a, orient="row").with_columns(
            line=pl.Series([n for n, _ in good], dtype=pl.Int64))
        self.b = pl.read_csv(root / "vendor_b" / "B_JUMIN.csv", infer_schema=False).with_row_index(
            "line", offset=1).with_columns(pl.col("line").cast(pl.Int64))

    def line_a(self, n: int) -> bytes:
        return self.lines_a[n - 1]

    standard_codes = STANDARD_CODES
    vendor_b_codes = VENDOR_B_CODES

    @staticmethod
    def code_set(path: Path, column: str) -> set[str]:
        return code_set(path, column)

    def faults_of(self, vendor: str, kind: str) -> list[dict]:
        return self.faults.filter((pl.col("vendor") == vendor) & (pl.col("fault") == kind)).to_dicts()



@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> Sample:
    root = tmp_path_factory.mktemp("gen1000")
    generate(root, 1000)
    return Sample(root)
