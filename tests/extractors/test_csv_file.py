"""Delimited files: encodings, header, quoting, streaming in bounded chunks, and bad input as data."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.errors import LayoutError, message_ja
from tests.extractors.conftest import COLS, rules_by_line, run, write_layout

NAMES = ["佐藤　太郎", "髙橋　花子", "渡辺　一郎", "ｻﾄｳ ﾀﾛｳ", "山﨑　誠"]


COMMON = ["佐藤　太郎", "渡辺　一郎", "ｻﾄｳ ﾀﾛｳ"]   # in every codec tested (髙 and ～ U+FF5E are not in shift_jis_2004)


def _rows(n: int, names: list[str] = NAMES) -> list[list[str]]:
    return [[f"{i:010d}", names[i % len(names)], str(i * 100)] for i in range(1, n + 1)]


def _csv(rows, sep="\r\n") -> str:
    return "".join(",".join(r) + sep for r in rows)


def test_a_file_many_times_larger_than_a_chunk_gives_the_same_staging_as_one_read(tmp_path, layout_csv):
    rows = _rows(40_000)
    rows[1234][1] += "\ue000"                          # 外字 in the user-defined area
    data = _csv(rows).encode("cp932")
    bad_at = data.index(b"\r\n", len(data) // 2) + 2  # a line in the middle: undecodable bytes
    data = data[:bad_at] + b"0000000001,\x85\x40,1\r\n" + data[bad_at:]
    assert len(data) > 1_000_000
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    small, staged_small = run(path, layout_csv, tmp_path, chunk_bytes=4096, out="small.parquet")
    whole, staged_whole = run(path, layout_csv, tmp_path, chunk_bytes=64 << 20, out="whole.parquet")
    assert staged_small.equals(staged_whole)
    assert small.quarantine.drop("message_ja", "message_en").equals(whole.quarantine.drop("message_ja", "message_en"))
    assert small.rows_read == 40_001 == small.rows_ok + small.quarantine.height
    assert staged_small["_source_line"].is_unique().all() and staged_small["_row_id"].is_unique().all()
    assert "\ue000" in staged_small.filter(pl.col("_source_line") == 1235)["SHIMEI"].item()


@pytest.mark.parametrize("encoding,bom", [("cp932", b""), ("shift_jis_2004", b""), ("utf-8", b""),
                                          ("utf-8", b"\xef\xbb\xbf"), ("utf-8-sig", b"\xef\xbb\xbf")])
def test_each_supported_encoding_reads_the_same_rows(tmp_path, encoding, bom):
    rows = _rows(50, COMMON)
    codec = "utf-8" if encoding.startswith("utf") else encoding
    path = tmp_path / "f.csv"
    path.write_bytes(bom + _csv(rows).encode(codec))
    r, df = run(path, write_layout(tmp_path, encoding=encoding), tmp_path)
    assert r.quarantine.height == 0
    assert df.select(COLS).rows() == [tuple(x) for x in rows]


def test_shift_jis_2004_reads_jis_x_0213_characters_cp932_lacks(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes("0000000001,森鷗外𩸽,1\r\n".encode("shift_jis_2004"))
    _, df = run(path, write_layout(tmp_path, encoding="shift_jis_2004"), tmp_path)
    assert df["SHIMEI"].item() == "森鷗外𩸽"


def test_header_is_checked_and_skipped_and_quoted_fields_keep_commas_and_quotes(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text('ATENA_NO,SHIMEI,KINGAKU\n0000000001,"佐藤,太郎","1"\n"0000000002","He said ""hi""",\n',
                    encoding="utf-8")
    _, df = run(path, write_layout(tmp_path, encoding="utf-8", header=True), tmp_path)
    assert df.select(COLS).rows() == [("0000000001", "佐藤,太郎", "1"), ("0000000002", 'He said "hi"', None)]
    assert df["_source_line"].to_list() == [2, 3]


def test_header_that_does_not_match_the_layout_is_a_layout_error_naming_the_file(tmp_path):
    path = tmp_path / "vendor.csv"
    path.write_text("ATENA,NAME,AMOUNT\n1,a,2\n", encoding="utf-8")
    with pytest.raises(LayoutError, match="vendor.csv") as e:
        run(path, write_layout(tmp_path, encoding="utf-8", header=True), tmp_path)
    assert "src: vendor.csv の1行目" in message_ja(e.value) and "見出し行" in message_ja(e.value)


def test_every_row_with_the_wrong_field_count_means_the_wrong_layout(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("".join(f"{i},a,b,c,d\n" for i in range(20)), encoding="utf-8")
    with pytest.raises(LayoutError, match="does not match other.csv") as e:
        run(path, write_layout(tmp_path, encoding="utf-8"), tmp_path)
    ja = message_ja(e.value)   # the field-count detail in Japanese too
    assert "other.csv と一致しません" in ja and "3 項目" in ja and "項目数が 3 個ではありません" in ja, ja


def test_missing_and_empty_files_are_layout_errors_naming_them(tmp_path, layout_csv):
    with pytest.raises(LayoutError, match="not found") as e:
        run(tmp_path / "absent.csv", layout_csv, tmp_path)
    assert "absent.csv がありません" in message_ja(e.value)
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(LayoutError, match="empty.csv is empty") as e:
        run(tmp_path / "empty.csv", layout_csv, tmp_path)
    assert "src: ソースファイル empty.csv が空です" in message_ja(e.value) and "やり直して" in message_ja(e.value)


@pytest.mark.parametrize("chunk_bytes", [40, 32 << 20])
def test_bad_records_are_quarantined_with_line_column_and_reason_and_the_counts_balance(tmp_path, chunk_bytes):
    lines = [
        b"0000000001,\x82\xa0\x82\xa2,100\r\n",          # 1 good (あい)
        b"0000000002,\x85\x40,200\r\n",                  # 2 undecodable CP932
        b"0000000003,x,300,extra\r\n",                   # 3 one field too many
        b"0000000004,a\x00b,400\n",                      # 4 NUL byte; LF only (mixed endings)
        b"0000000005," + "長い名前です".encode("cp932") + b",500\r\n",  # 5 overlong SHIMEI (12 bytes > 10)
        b"0000000006,ok,600\n",                          # 6 good, LF
        b"0000000007,cut",                               # 7 truncated last line, no line break
    ]
    path = tmp_path / "bad.csv"
    path.write_bytes(b"".join(lines))
    r, df = run(path, write_layout(tmp_path, max_bytes={"SHIMEI": 10}), tmp_path, chunk_bytes=chunk_bytes)
    assert df["_source_line"].to_list() == [1, 6]
    assert df["SHIMEI"].to_list() == ["あい", "ok"]
    assert rules_by_line(r) == {2: "extract.decode", 3: "extract.field_count", 4: "extract.nul_byte",
                                5: "extract.overlong", 7: "extract.truncated"}
    q = r.quarantine
    assert q.filter(pl.col("source_line") == 2)["column"].item() == "SHIMEI"
    assert "ファイル先頭から" in q.filter(pl.col("source_line") == 2)["message_ja"].item()   # byte offset
    assert q.filter(pl.col("source_line") == 4)["column"].item() == "SHIMEI"
    offset_3 = sum(len(x) for x in lines[:2])
    assert f"ファイル先頭から {offset_3} バイト目" in q.filter(pl.col("source_line") == 3)["message_ja"].item()
    assert q.filter(pl.col("source_line") == 5)["column"].item() == "SHIMEI"
    assert (q["source"] == "bad.csv").all() and (q["stage"] == "extract").all()
    assert r.rows_read == 7 == r.rows_ok + q["row_id"].n_unique()


def test_a_complete_last_line_without_a_line_break_is_kept(tmp_path, layout_csv):
    path = tmp_path / "f.csv"
    path.write_bytes(b"0000000001,a,1\r\n0000000002,b,2")
    r, df = run(path, layout_csv, tmp_path)
    assert r.quarantine.height == 0 and df["ATENA_NO"].to_list() == ["0000000001", "0000000002"]


def test_staging_carries_lineage_and_the_source_checksum(tmp_path, layout_csv):
    import hashlib

    path = tmp_path / "f.csv"
    path.write_bytes(_csv(_rows(3)).encode("cp932"))
    r, df = run(path, layout_csv, tmp_path)
    assert df.columns[:3] == ["_row_id", "_source", "_source_line"]
    assert df["_row_id"].to_list() == [(1 << 40) + i for i in (1, 2, 3)]
    assert r.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("chunk_bytes", [24, 32 << 20])
def test_odd_lines_keep_their_line_numbers_and_a_lone_cr_ends_a_record(tmp_path, layout_csv, chunk_bytes):
    """A CR alone ends a record (CR-only and mixed files are records too), also inside an unquoted
    field; empty lines are not records (listed as warnings); the records around keep their lines."""
    data = (b"0000000001,a,1\r\n"
            b"0000000002,x\ry,2\r\n"        # 2 and 3: a CR ends the line: two records, both short
            b"\r\n"                         # 4: empty line: not a record
            b"0000000004,c,4\n"
            b"\n"                           # 6: empty line, LF only
            b"0000000006,n\x00l,6\r\n"      # 7: NUL byte
            b"0000000007,d,7\r\n"
            b"0000000008,e,8,9\r\n"         # 9: one field too many
            b"0000000009,f,9\r\n")
    path = tmp_path / "odd.csv"
    path.write_bytes(data)
    r, df = run(path, layout_csv, tmp_path, chunk_bytes=chunk_bytes)
    assert df["_source_line"].to_list() == [1, 5, 8, 10]
    assert df["SHIMEI"].to_list() == ["a", "c", "d", "f"]
    errors = r.quarantine.filter(pl.col("severity") == "error")
    assert rules_by_line(r) == {2: "extract.field_count", 3: "extract.field_count", 4: "extract.blank_line",
                                6: "extract.blank_line", 7: "extract.nul_byte", 9: "extract.field_count"}
    assert r.rows_read == 8 == r.rows_ok + errors.height


def _oracle_rows(seed: int, n: int) -> list[list[str]]:
    import random

    rnd = random.Random(seed)
    pieces = ["佐藤", "ｻﾄｳ", "a", ",", '"', '""', "\r\n", "\n", "\r", " ", "髙", "\ue000", "x,y", "1"]
    return [[f"{i:010d}", "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 6))), str(rnd.randint(1, 10**6))]
            for i in range(1, n + 1)]


@pytest.mark.parametrize("chunk_bytes", [61, 4096, 32 << 20])
def test_quoted_fields_read_as_pythons_csv_module_writes_them(tmp_path, chunk_bytes):
    """A random file written by Python's csv module (quotes, delimiters, CR LF, LF and CR inside values,
    minimal or full quoting, mixed line ends) reads back value for value, at any chunk size."""
    import csv
    import io

    rows = _oracle_rows(7, 2_000)
    text, starts, line = [], [], 1
    for i, row in enumerate(rows):
        piece = io.StringIO()   # CR LF as terminator so that the writer quotes every CR and LF in a value
        csv.writer(piece, quoting=csv.QUOTE_ALL if i % 3 == 0 else csv.QUOTE_MINIMAL, lineterminator="\r\n"
                   ).writerow(row)
        p = piece.getvalue()[:-2] + ["\r\n", "\n", "\r"][i % 3]
        text.append(p)
        starts.append(line)
        line += p.count("\n") + p.count("\r") - p.count("\r\n")
    path = tmp_path / "oracle.csv"
    path.write_bytes("".join(text).encode("cp932"))
    r, df = run(path, write_layout(tmp_path, quoted_newlines=True), tmp_path, chunk_bytes=chunk_bytes)
    assert r.quarantine.height == 0
    assert df.select(COLS).rows() == [tuple(x) for x in rows]
    assert df["_source_line"].to_list() == starts
    multi = [i for i, x in enumerate(rows) if "\n" in x[1] or "\r" in x[1]]
    assert len(multi) > 100
    # the same file where the layout says fields hold no line breaks: those records are held whole
    r, df = run(path, write_layout(tmp_path), tmp_path, chunk_bytes=chunk_bytes, out="off.parquet")
    assert r.rows_read == len(rows) and df.height == len(rows) - len(multi)
    assert r.quarantine["source_line"].to_list() == [starts[i] for i in multi]
    assert set(r.quarantine["rule"]) == {"extract.quoted_newline"}


def test_a_cr_only_file_is_read_and_a_file_without_any_line_break_stops_with_a_layout_error(tmp_path, layout_csv,
                                                                                          monkeypatch):
    import ikou.extractors.records as rec

    path = tmp_path / "cr_only.csv"
    path.write_bytes(b"".join(f"{i:010d},a,{i}\r".encode() for i in range(1, 201)))   # classic Mac line ends
    r, df = run(path, layout_csv, tmp_path, chunk_bytes=256)
    assert r.rows_read == 200 == df.height and df["_source_line"].to_list() == list(range(1, 201))
    monkeypatch.setattr(rec, "MAX_LINE_BYTES", 1000)   # instead of 64 MB
    path.write_bytes(b"0000000001,a," + b"9" * 5000)
    with pytest.raises(LayoutError, match="no line break .LF or CR. in") as e:
        run(path, layout_csv, tmp_path, chunk_bytes=256)
    assert "src: cr_only.csv のファイル先頭から 0 バイト目以降" in message_ja(e.value), message_ja(e.value)


@pytest.mark.parametrize("chunk_bytes", [32 << 20, 24])
def test_nel_and_unicode_line_separators_are_held_like_a_line_break_unless_quoted_newlines(tmp_path, chunk_bytes):
    """U+2028, U+2029 and NEL (U+0085) end a line for Polars, Python and most editors: a CSV field holding
    one is held (extract.control_char) as a quoted CR or LF is, and kept where the layout allows quoted
    line breaks."""
    lines = ["0000000001,山田\u2028花子,100", "0000000002,a\x85b,200", '0000000003,"鈴木\u2029一",300',
             "0000000004,佐藤　太郎,400"]
    path = tmp_path / "u.csv"
    path.write_bytes("".join(x + "\r\n" for x in lines).encode("utf-8"))
    r, df = run(path, write_layout(tmp_path, encoding="utf-8"), tmp_path, chunk_bytes=chunk_bytes)
    assert df["ATENA_NO"].to_list() == ["0000000004"]
    held = r.quarantine.select("source_line", "column", "rule").rows()
    assert held == [(1, "SHIMEI", "extract.control_char"), (2, "SHIMEI", "extract.control_char"),
                    (3, "SHIMEI", "extract.control_char")]
    en = r.quarantine["message_en"].to_list()
    assert "LS (U+2028)" in en[0] and "NEL (U+0085)" in en[1] and "PS (U+2029)" in en[2]
    r, df = run(path, write_layout(tmp_path, encoding="utf-8", quoted_newlines=True), tmp_path,
                chunk_bytes=chunk_bytes, out="q.parquet")
    assert df["SHIMEI"].to_list() == ["山田\u2028花子", "a\x85b", "鈴木\u2029一", "佐藤　太郎"]
    assert r.quarantine.height == 0
