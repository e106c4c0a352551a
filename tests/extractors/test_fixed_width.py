"""Fixed-width CP932 records: widths in bytes, cut without decoding, bad fields quarantined."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.errors import LayoutError, message_ja
from tests.extractors.conftest import rules_by_line, run, write_layout

WIDTHS = [10, 12, 8]   # ATENA_NO, SHIMEI (6 double-byte characters), KINGAKU


def _rec(atena: str, name: str, amount: int) -> bytes:
    n = name.encode("cp932")
    return atena.encode() + n + b" " * (12 - len(n)) + str(amount).rjust(8, "0").encode()


@pytest.fixture
def layout(tmp_path):
    return write_layout(tmp_path, fmt="fixed", widths=WIDTHS)


def test_fields_are_cut_by_bytes_so_double_byte_names_stay_whole(tmp_path, layout):
    path = tmp_path / "f.dat"
    path.write_bytes(_rec("0000000001", "山田　太郎", 1200) + b"\r\n" + _rec("0000000002", "ｻﾄｳ ﾀﾛｳ", 5) + b"\r\n"
                     + _rec("0000000003", "外\ue000字", 7) + b"\r\n")
    r, df = run(path, layout, tmp_path)
    assert r.quarantine.height == 0
    assert df.select("ATENA_NO", "SHIMEI", "KINGAKU").rows() == [
        ("0000000001", "山田　太郎", "00001200"), ("0000000002", "ｻﾄｳ ﾀﾛｳ", "00000005"),
        ("0000000003", "外\ue000字", "00000007")]


def test_a_field_that_cuts_a_double_byte_character_in_half_is_quarantined(tmp_path, layout):
    good = _rec("0000000001", "山田", 1)
    cut = b"0000000002" + b"A" + "山田花子あ".encode("cp932") + b"\x82" + b"00000002"   # 11 + lead byte
    assert len(cut) == sum(WIDTHS)
    bad = b"0000000003" + b"\x85\x40" + b" " * 10 + b"00000003"     # undecodable pair
    nul = b"0000000004" + b"\x00" * 12 + b"00000004"
    short = b"000000000512345"
    path = tmp_path / "f.dat"
    path.write_bytes(b"\r\n".join([good, cut, bad, nul, short]) + b"\r\n")
    r, df = run(path, layout, tmp_path)
    assert df["_source_line"].to_list() == [1]
    assert rules_by_line(r) == {2: "extract.split_character", 3: "extract.decode", 4: "extract.nul_byte",
                                5: "extract.record_length"}
    q = r.quarantine
    assert q.filter(pl.col("source_line") == 2)["column"].item() == "SHIMEI"
    assert "\\x82" in q.filter(pl.col("source_line") == 2)["value"].item()
    assert r.rows_read == 5 == r.rows_ok + q.height


def test_chunked_reading_of_a_large_file_equals_one_read(tmp_path, layout):
    names = ["山田　太郎", "ｻﾄｳ", "髙橋　花子", "渡辺"]
    recs = [_rec(f"{i:010d}", names[i % 4], i) for i in range(40_000)]
    recs[20_000] = recs[20_000][:12] + b"\x85\x40" + recs[20_000][14:]
    path = tmp_path / "big.dat"
    path.write_bytes(b"\r\n".join(recs) + b"\r\n")
    assert path.stat().st_size > 1_000_000
    a, da = run(path, layout, tmp_path, chunk_bytes=4096, out="a.parquet")
    b, db = run(path, layout, tmp_path, chunk_bytes=64 << 20, out="b.parquet")
    assert da.equals(db) and a.quarantine.drop("message_ja", "message_en").equals(
        b.quarantine.drop("message_ja", "message_en"))
    assert a.rows_ok == 39_999 and a.quarantine["source_line"].to_list() == [20_001]


def test_a_layout_whose_record_length_matches_no_line_is_a_layout_error(tmp_path):
    path = tmp_path / "f.dat"
    path.write_bytes(b"x" * 25 + b"\r\n" + b"y" * 25 + b"\r\n")
    with pytest.raises(LayoutError, match="30 bytes per record") as e:
        run(path, write_layout(tmp_path, fmt="fixed", widths=WIDTHS), tmp_path)
    assert "(レコード長 30 バイト) は f.dat と一致しません" in message_ja(e.value), message_ja(e.value)


def _unterminated_layout(tmp_path):
    import yaml

    path = write_layout(tmp_path, fmt="fixed", widths=WIDTHS)
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["record_terminator"] = "none"
    out = tmp_path / "layout_none.yaml"
    out.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return out


@pytest.mark.parametrize("chunk_bytes", [100, 32 << 20])
def test_records_without_terminators_are_cut_by_record_length(tmp_path, chunk_bytes):
    """Back-to-back records (no line breaks): record n is bytes (n-1)·30 … n·30, its number is source_line."""
    recs = [_rec(f"{i:010d}", ["山田　太郎", "ｻﾄｳ", "髙橋"][i % 3], i) for i in range(1, 11)]
    recs[4] = b"0000000005" + b"\x85\x40" + b" " * 10 + b"00000005"   # undecodable, record 5
    path = tmp_path / "host.dat"
    path.write_bytes(b"".join(recs) + b"0000000011ab")                # record 11 cut short
    r, df = run(path, _unterminated_layout(tmp_path), tmp_path, chunk_bytes=chunk_bytes)
    assert df["_source_line"].to_list() == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert df.filter(pl.col("_source_line") == 3)["SHIMEI"].item() == "山田　太郎"
    assert df["ATENA_NO"].to_list()[-1] == "0000000010"
    assert rules_by_line(r) == {5: "extract.decode", 11: "extract.truncated"}
    assert r.rows_read == 11 == r.rows_ok + r.quarantine.height


def test_layout_and_file_that_disagree_on_line_breaks_are_a_layout_error(tmp_path, layout):
    recs = [_rec(f"{i:010d}", "山田", i) for i in range(1, 5)]
    joined = tmp_path / "joined.dat"
    joined.write_bytes(b"".join(recs))
    with pytest.raises(LayoutError, match="record_terminator: none") as e:
        run(joined, layout, tmp_path)
    assert "joined.dat の先頭" in message_ja(e.value) and "record_terminator: none" in message_ja(e.value)
    lines = tmp_path / "lines.dat"
    lines.write_bytes(b"\r\n".join(recs) + b"\r\n")
    with pytest.raises(LayoutError, match="has a line break right after its first 30-byte record") as e:
        run(lines, _unterminated_layout(tmp_path), tmp_path)
    assert "lines.dat は最初の 30 バイトのレコードの直後に改行があります" in message_ja(e.value)


def test_record_terminator_belongs_to_fixed_width_layouts_only(tmp_path):
    import yaml

    from ikou.extractors import load_layout
    from ikou.errors import ConfigError

    path = write_layout(tmp_path)
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) | {"record_terminator": "none"}
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with pytest.raises((ConfigError, ValueError), match="fixed-width layouts only"):
        load_layout(path)
