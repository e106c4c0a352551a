"""Two UTF-8-with-BOM exports joined (`cat a.csv b.csv`): the second part's BOM (U+FEFF) starts a record. Its
repeated header is held once as `extract.repeated_header` (not read as a record with a finding per column, one of
them 「他団体の団体コードです」), and a data record behind it is read without the BOM, with a warning naming U+FEFF:
a 団体コード behind an invisible BOM is the run's own, not another 団体's."""
from __future__ import annotations

import polars as pl
import pytest
import yaml

from tests.extractors.conftest import run, write_layout

BOM = "\ufeff".encode()
NAMES = ["DANTAI_CD", "ATENA_NO", "SHIMEI"]


def _part(header: bool, rows: list[str]) -> bytes:
    return BOM + "".join(f"{r}\r\n" for r in ([",".join(NAMES)] if header else []) + rows).encode()


@pytest.mark.parametrize("chunk_bytes", [32 << 20, 40])   # the second part inside a chunk, and starting one
def test_a_repeated_header_behind_a_bom_is_held_once_as_a_repeated_header(tmp_path, chunk_bytes):
    layout = write_layout(tmp_path, encoding="utf-8", header=True, names=NAMES)
    path = tmp_path / "joined.csv"
    path.write_bytes(_part(True, ["999768,0000000001,山田"]) + _part(True, ["999768,0000000002,鈴木"]))
    r, df = run(path, layout, tmp_path, chunk_bytes=chunk_bytes)
    assert r.quarantine.select("source_line", "rule", "severity").rows() == [(3, "extract.repeated_header", "error")]
    assert df.select("DANTAI_CD", "ATENA_NO").rows() == [("999768", "0000000001"), ("999768", "0000000002")]
    assert r.rows_read == 3 == r.rows_ok + 1


@pytest.mark.parametrize("chunk_bytes", [32 << 20, 30])   # inside a chunk, and starting one (pyarrow drops a
@pytest.mark.parametrize("first", ["999768", '"999768"'])  # BOM starting its text: warned all the same)
def test_a_record_starting_with_a_bom_is_read_without_it_and_warned_naming_u_feff(tmp_path, first, chunk_bytes):
    layout = write_layout(tmp_path, encoding="utf-8", names=NAMES)
    spec = yaml.safe_load(layout.read_text(encoding="utf-8"))
    layout.write_text(yaml.safe_dump({**spec, "key": ["DANTAI_CD", "ATENA_NO"]}, allow_unicode=True),
                      encoding="utf-8")   # a key starting with the BOM'd field: read without it
    path = tmp_path / "joined.csv"
    path.write_bytes(_part(False, ["999768,0000000001,山田"]) + _part(False, [f"{first},0000000002,鈴木",
                                                                            "999768,0000000003,\ufeff佐藤"]))
    r, df = run(path, layout, tmp_path, chunk_bytes=chunk_bytes)
    assert df.select("DANTAI_CD", "ATENA_NO", "SHIMEI").rows() == [
        ("999768", "0000000001", "山田"), ("999768", "0000000002", "鈴木"),
        ("999768", "0000000003", "\ufeff佐藤")]   # not at a record's start: left to 文字同定 (moji.invalid_char)
    q = r.quarantine
    assert q.select("source_line", "column", "rule", "severity").rows() == [
        (2, "DANTAI_CD", "extract.bom_in_record", "warning")]
    assert "U+FEFF" in q["message_ja"].item() and "U+FEFF" in q["message_en"].item()
    assert q["record_key"].item() == "DANTAI_CD=999768,ATENA_NO=0000000002"
    assert r.rows_read == 3 == r.rows_ok and not q.filter(pl.col("severity") == "error").height
