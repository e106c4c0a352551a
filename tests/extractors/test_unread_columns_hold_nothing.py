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


def test_a_character_cut_by_the_end_of_a_field_not_migrated_still_holds_the_record(tmp_path):
    """A double-byte character whose lead byte ends the unread field runs on into the next field, which would be
    read shifted (山田太 → R田太): held as ever, not a warning."""
    lay = write_layout(tmp_path, fmt="fixed", names=["ATENA_NO", "YOBI", "SHIMEI"], widths=[5, 1, 6])
    path = tmp_path / "s.dat"
    path.write_bytes(b"00001" + "山田太".encode("cp932") + b" \r\n" + b"00002 " + "鈴木".encode("cp932") + b"  \r\n")
    r, df = _run(path, lay, tmp_path, ["YOBI"])
    assert df["ATENA_NO"].to_list() == ["00002"]
    assert _found(r) == [(1, "YOBI", "extract.split_character", "error")]


def test_a_cr_byte_in_a_filler_not_migrated_is_a_byte_of_its_record_not_a_line_end(tmp_path):
    """In a CR LF file a lone CR shorter than a record into the line is a byte of the record: one record, listed
    (not two records of the wrong length, one of them without a key)."""
    lay = write_layout(tmp_path, fmt="fixed", names=["ATENA_NO", "FILLER", "SHIMEI"], widths=[5, 3, 4])
    path = tmp_path / "cr.dat"
    path.write_bytes(b"00001\x00\r\x00ABCD\r\n00002\x00\x00\x00ABCD\r\n")
    r, df = _run(path, lay, tmp_path, ["FILLER"])
    assert (r.rows_read, r.rows_ok) == (2, 2) and df["ATENA_NO"].to_list() == ["00001", "00002"]
    assert {sev for *_, sev in _found(r)} == {"warning"}


def test_the_same_finding_in_a_column_not_migrated_is_listed_once_with_its_count(tmp_path):
    """A FILLER of NUL in every record: one warning naming the first record and how many share it, not one each."""
    lay = write_layout(tmp_path, fmt="fixed", names=["ATENA_NO", "FILLER"], widths=[4, 2])
    path = tmp_path / "n.dat"
    path.write_bytes(b"".join(b"%04d\x00\x00\r\n" % i for i in range(1, 6)))
    r, df = _run(path, lay, tmp_path, ["FILLER"])
    assert df.height == 5 and r.quarantine.height == 1
    assert r.quarantine["source_line"][0] == 1 and "5 records for this column and reason" in r.quarantine["message_en"][0]
