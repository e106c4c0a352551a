"""Helpers: a small layout written to disk, and one call that extracts a file with it."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from ikou.extractors import load_layout
from ikou.extractors.csv_file import extract_csv
from ikou.extractors.fixed_width import extract_fixed

COLS = ["ATENA_NO", "SHIMEI", "KINGAKU"]


def write_layout(tmp: Path, *, fmt: str = "csv", encoding: str = "cp932", header: bool = False,
                 widths: list[int] | None = None, max_bytes: dict[str, int] | None = None,
                 names: list[str] | None = None, quoted_newlines: bool = False,
                 record_terminator: str = "line", line_breaks: list[str] | None = None) -> Path:
    names = names or COLS
    cols = []
    for i, n in enumerate(names):
        c = {"name": n, "ja": n}
        if widths:
            c["width"] = widths[i]
        if max_bytes and n in max_bytes:
            c["max_bytes"] = max_bytes[n]
        if n in (line_breaks if line_breaks is not None else ["SHIMEI"] if quoted_newlines else []):
            c["line_breaks"] = True   # quoted line breaks are kept only in the columns marked so
        cols.append(c)
    spec = {"spec_version": 1, "name": "test.layout", "format": fmt, "encoding": encoding, "header": header,
            "columns": cols}
    if quoted_newlines:
        spec["quoted_newlines"] = True
    if record_terminator != "line":
        spec["record_terminator"] = record_terminator
    path = tmp / f"layout_{fmt}_{encoding}_{header}_{quoted_newlines}_{record_terminator}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def run(path: Path, layout_path: Path, tmp: Path, *, chunk_bytes: int = 32 << 20, encoding: str | None = None,
        out: str = "out.parquet"):
    layout = load_layout(layout_path)
    fn = extract_fixed if layout.format == "fixed" else extract_csv
    r = fn(path, layout, out_path=tmp / out, source_name="src", source_ordinal=1, target_table="t",
           run_id="r1", dantai_code="999997", encoding=encoding, chunk_bytes=chunk_bytes)
    return r, pl.read_parquet(r.staging)


def rules_by_line(r) -> dict[int, str]:
    return dict(zip(r.quarantine["source_line"].to_list(), r.quarantine["rule"].to_list()))


@pytest.fixture
def layout_csv(tmp_path):
    return write_layout(tmp_path)
