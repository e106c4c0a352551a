"""A file's field no mapping line reads (`not_migrated`, or unread): NUL or 0xFF filler in a fixed-width FILLER, a
control character in a CSV 備考, is a warning with its record staged, not a held person; the same value in a
column that is migrated, or in a key column, still holds the record."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.extractors import load_layout
from ikou.extractors.csv_file import extract_csv
from ikou.extractors.fixed_width import extract_fixed
from tests.extractors.conftest import write_layout


def _run(path, layout_path, tmp, unread):
    layout = load_layout(layout_path)
    fn = extract_fixed if layout.format == "fixed" else extract_csv
    r = fn(path, layout, out_path=tmp / "out.parquet", source_name="src", source_ordinal=1, target_table="t",
           run_id="r1", dantai_code="999997", unread_columns=unread)
    return r, pl.read_parquet(r.staging)


def _found(r) -> list[tuple]:
    return sorted(r.quarantine.select("source_line", "column", "rule", "severity").rows())


@pytest.mark.parametrize("filler", [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff"])
def test_a_fixed_width_filler_of_low_or_high_values_not_migrated_holds_nobody(tmp_path, filler):
    lay = write_layout(tmp_path, fmt="fixed", names=["ATENA_NO", "SHIMEI", "FILLER"], widths=[4, 6, 4])
    rows = [b"0001" + "山田".encode("cp932") + b"  " + filler, b"0002" + "鈴木".encode("cp932") + b"  " + b"    "]
    path = tmp_path / "f.dat"
    path.write_bytes(b"".join(r + b"\r\n" for r in rows))
    r, df = _run(path, lay, tmp_path, ["FILLER"])
    assert df["ATENA_NO"].to_list() == ["0001", "0002"] and (r.rows_read, r.rows_ok) == (2, 2)
    assert [(line, col, sev) for line, col, _, sev in _found(r)] == [(1, "FILLER", "warning")]
    assert "not held" in r.quarantine["message_en"][0]
    held, _ = _run(path, lay, tmp_path, [])   # migrated: the record is held, as before
    assert (held.rows_read, held.rows_ok) == (2, 1) and _found(held)[0][3] == "error"


def test_a_control_character_in_a_csv_column_not_migrated_is_listed_and_the_key_is_always_checked(tmp_path):
    lay = write_layout(tmp_path, names=["ATENA_NO", "SHIMEI", "BIKO"])
    path = tmp_path / "c.csv"
    path.write_bytes("0001,山田,メモ\x07です\r\n0002\x07,鈴木,\r\n0003,佐藤,\r\n".encode("cp932"))
    r, df = _run(path, lay, tmp_path, ["BIKO", "ATENA_NO"])   # no key declared: an unread ATENA_NO is listed too
    assert df["SHIMEI"].to_list() == ["山田", "鈴木", "佐藤"]
    assert _found(r) == [(1, "BIKO", "extract.control_char", "warning"), (2, "ATENA_NO", "extract.control_char",
                                                                         "warning")]
    # as the record's key it is always checked: the record is held
    keyed = extract_csv(path, load_layout(lay), out_path=tmp_path / "k.parquet", source_name="src", source_ordinal=1,
                        target_table="t", run_id="r1", dantai_code="999997", key_columns=["ATENA_NO"],
                        unread_columns=["BIKO", "ATENA_NO"])
    assert sorted(keyed.quarantine.select("source_line", "severity").rows()) == [(1, "warning"), (2, "error")]
    assert (keyed.rows_read, keyed.rows_ok) == (3, 2)
