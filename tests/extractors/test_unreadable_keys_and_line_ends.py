"""A held record is named by its key only when the key can be trusted: a key value that is not text (0xFF
high-values, NUL, a control character, bytes that do not decode) or, back to back, a key that may be shifted by
a byte missing before it, gives no record_key (so the record counts as held without its key: a sign-off
blocker). A fixed-width line ends at CR LF, LF or a lone CR, as a CSV line does."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.extractors import load_layout
from ikou.extractors.csv_file import extract_csv
from ikou.extractors.fixed_width import extract_fixed
from ikou.extractors.keys import key_expr
from tests.extractors.conftest import run, write_layout

# 0xFF high-values, NUL, ESC, the undefined byte 0xFD, a pair that does not decode
JUNK = [b"\xff" * 10, b"\x00" * 10, b"00000\x1b0006", b"0000\xfd00007", b"00000\x85\x40008"]


def _fixed(tmp_path, recs: list[bytes], eol: bytes = b"\r\n", **kw):
    path = tmp_path / "k.dat"
    path.write_bytes(eol.join(recs) + eol)
    layout = load_layout(write_layout(tmp_path, fmt="fixed", widths=[10, 12, 8], **kw))
    return extract_fixed(path, layout, out_path=tmp_path / "k.parquet", source_name="src", source_ordinal=1,
                         target_table="t", run_id="r", dantai_code="999717", key_columns=["ATENA_NO"])


def _fw(atena: bytes, name: bytes = b"x" * 12, amount: bytes = b"00000001") -> bytes:
    return atena + name + amount


def test_a_fixed_width_key_of_high_values_nul_or_control_characters_names_no_record(tmp_path):
    recs = [_fw(b"0000000001"), *[_fw(k) for k in JUNK],
            _fw(b"0000000009", b"ab\x00" + b" " * 9)]                 # NUL in the name: the key is good
    r = _fixed(tmp_path, recs)
    keys = dict(r.quarantine.filter(pl.col("severity") == "error").select("source_line", "record_key").rows())
    assert keys == {2: None, 3: None, 4: None, 5: None, 6: None, 7: "ATENA_NO=0000000009"}


def test_a_fixed_width_record_of_the_wrong_length_with_a_high_values_key_names_no_record(tmp_path):
    r = _fixed(tmp_path, [_fw(b"0000000001"), _fw(b"\xff" * 10)[:-1], _fw(b"0000000003")[:-1]])
    assert r.quarantine.select("source_line", "rule", "record_key").rows() == [
        (2, "extract.record_length", None), (3, "extract.record_length", "ATENA_NO=0000000003")]


@pytest.mark.parametrize("chunk_bytes", [32 << 20, 60])
def test_a_csv_key_of_high_values_nul_or_control_characters_names_no_record(tmp_path, chunk_bytes):
    lines = [b"0000000001,a,1", b"\xff" * 10 + b",a,2", b"\x00" * 10 + b",a,3", b"00000\x1b0004,a,4",
             b"\xff" * 10 + b",a,5,extra",                             # not cut into fields: the lenient split
             b"0000000006,a\x1bb,6"]                                   # ESC in the name: the key is good
    path = tmp_path / "k.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    layout = load_layout(write_layout(tmp_path))
    r = extract_csv(path, layout, out_path=tmp_path / "k.parquet", source_name="src", source_ordinal=1,
                    target_table="t", run_id="r", dantai_code="999717", chunk_bytes=chunk_bytes,
                    key_columns=["ATENA_NO"])
    keys = dict(r.quarantine.filter(pl.col("severity") == "error").select("source_line", "record_key").rows())
    assert keys == {2: None, 3: None, 4: None, 5: None, 6: "ATENA_NO=0000000006"}


def test_the_shared_key_expression_gives_no_key_for_a_value_that_is_not_text():
    df = pl.DataFrame({"A": ["0001", "\uf8f3" * 3, "\x00\x00", "1\ufffd", "a\x85", "x\ty", "\x80", None, "髙橋"],
                       "B": ["1"] * 9})
    assert df.select(key_expr(["A", "B"])).to_series().to_list() == [
        "A=0001,B=1", None, None, None, None, None, None, "A=,B=1", "A=髙橋,B=1"]


# back-to-back records: DANTAI before the key, as 団体コード in a host file
NAMES = ["DANTAI", "ATENA_NO", "RIREKI", "KINGAKU", "SHIMEI"]
WIDTHS = [6, 10, 2, 8, 12]


def _hb(i: int) -> bytes:
    # あ (0x82 0xA0): one byte off, 0xA0 starts the name (no CP932 character) and 0x82 ends KINGAKU (cut in half)
    return b"999822" + b"%010d" % i + b"01" + b"%08d" % i + "あい".encode("cp932") + b" " * 8


def test_back_to_back_records_shifted_by_a_missing_byte_name_no_key_and_where_the_shift_starts(tmp_path):
    recs = [_hb(i) for i in range(1, 11)]
    recs[3] = recs[3][:-1]                    # record 4 one byte short: records 5, 6, 7 are shifted …
    recs[6] = recs[6] + b" "                  # … until record 7 one byte long puts them back in step
    recs[8] = recs[8][:-3] + b"\x00  "        # record 9: aligned, held for a NUL: keeps its key
    path = tmp_path / "host.dat"
    path.write_bytes(b"".join(recs))
    layout = load_layout(write_layout(tmp_path, fmt="fixed", widths=WIDTHS, names=NAMES, record_terminator="none"))
    r = extract_fixed(path, layout, out_path=tmp_path / "h.parquet", source_name="src", source_ordinal=1,
                      target_table="t", run_id="r", dantai_code="999822", key_columns=["ATENA_NO", "RIREKI"])
    err = r.quarantine.filter(pl.col("severity") == "error")
    keys = dict(err.select("source_line", "record_key").unique().rows())
    assert keys == {5: None, 6: None, 7: None, 9: "ATENA_NO=0000000009,RIREKI=01"}
    shift = err.filter(pl.col("rule") == "extract.misaligned")
    assert shift.select("source_line", "record_key").rows() == [(5, None)]
    assert "records 5 to 7 (3)" in shift["message_en"][0] and "record 4 or before" in shift["message_en"][0]
    assert "記録 5 から記録 7 までの 3 件" in shift["message_ja"][0] and "DANTAI" in shift["message_ja"][0]
    assert pl.read_parquet(r.staging)["ATENA_NO"].to_list() == [f"{i:010d}" for i in (1, 2, 3, 4, 8, 10)]


def _lines_layout(tmp_path):
    return write_layout(tmp_path, fmt="fixed", widths=[10, 12, 8])


@pytest.mark.parametrize("chunk_bytes", [32 << 20, 97])
def test_a_lone_cr_between_two_fixed_width_records_ends_the_first(tmp_path, chunk_bytes):
    recs = [_fw(b"%010d" % i) for i in range(1, 7)]
    path = tmp_path / "cr.dat"
    path.write_bytes(recs[0] + b"\r" + recs[1] + b"\r\n" + recs[2] + b"\n" + recs[3] + b"\r" + recs[4] + b"\r\n"
                     + recs[5] + b"\r")
    r, df = run(path, _lines_layout(tmp_path), tmp_path, chunk_bytes=chunk_bytes)
    assert df.select("_source_line", "ATENA_NO").rows() == [(i, f"{i:010d}") for i in range(1, 7)]
    assert r.rows_read == 6 and r.quarantine.height == 0


@pytest.mark.parametrize("chunk_bytes", [32 << 20, 97])
def test_a_fixed_width_file_of_cr_only_line_ends_is_read(tmp_path, chunk_bytes):
    """Larger than the 65,536 bytes looked at for a line break, with a bad record mid-file at its line."""
    recs = [_fw(b"%010d" % i) for i in range(1, 3001)]
    recs[1499] = _fw(b"0000001500")[:-1]
    path = tmp_path / "cronly.dat"
    path.write_bytes(b"\r".join(recs) + b"\r")
    r, df = run(path, _lines_layout(tmp_path), tmp_path, chunk_bytes=chunk_bytes)
    assert df.height == 2999 and df["_source_line"].to_list()[-1] == 3000
    assert r.quarantine.select("source_line", "rule").rows() == [(1500, "extract.record_length")]

