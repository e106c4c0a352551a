"""Bad records described in bulk (columns, numpy) say exactly what the record-by-record description says.

The extractor describes a chunk's bad records all together: the records that do not decode (their
column, value and byte), their `record_key`, the records with a wrong field count, the lines whose quotes
sit inside unquoted fields, the values holding control characters, the undecodable values of a binary
column. The record-by-record code is still there (encodings `fields.columnar` does not cover, values
holding every separator byte); here both run on the same files and must give the same staging and the
same quarantine, row for row, message for message.
"""
from __future__ import annotations

import random

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import ikou.extractors.csv_file as csv_file
import ikou.extractors.records as records
from ikou.extractors import text as text_mod
from ikou.extractors.csv_file import _fields_of
from ikou.extractors.fields import plain_codes, split_fields
from ikou.extractors.keys import _PLAIN
from tests.extractors.conftest import run, write_layout

CP932_PIECES = [b"0123", "佐藤".encode("cp932"), "髙".encode("cp932"), b'"', b'""', b'"a,b"', b",", b"\x85\x40",
                b"\x82", b"\x80", b"\xa0", b"\xfd", b"\x00", b"\t", b"\x1b", b"\x7f", b"\r\n", b"", b"x" * 30,
                "コーポ\"A\"棟".encode("cp932"), b'"q"', b'"un', b'ab"', b"\xed\x40", b"\xfa\x5c", b'"a\r\nb"',
                b'x"y', b'"ab"c', b'"x""y"', b"\xb1\xb2"]
UTF8_PIECES = [b"0123", "佐藤".encode(), b'"', b'""', b'"a,b"', b",", b"\xff", b"\xe3\x81", b"\xc2\x85",
               "\u2028".encode(), b"\x00", b"\t", "コーポ\"A\"棟".encode(), b"", b'x"y', b'"a\r\nb"', b"\xf0\x9f\x98"]


def _random_file(seed: int, encoding: str, n: int = 400) -> bytes:
    """Records of three fields, about a third of them damaged in every way the pieces allow."""
    rnd = random.Random(seed)
    pieces = UTF8_PIECES if encoding == "utf-8" else CP932_PIECES
    out = bytearray()
    for i in range(1, n + 1):
        if rnd.random() < 0.65:
            fields = [b"%010d" % i, "山田　花子".encode(encoding), b"%d" % (i * 100)]
        else:
            fields = [b"%010d" % i if rnd.random() < 0.7 else b"".join(rnd.choice(pieces) for _ in range(2))]
            fields += [b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 3)))
                       for _ in range(rnd.choice([2, 2, 2, 1, 3]))]
        out += b",".join(fields) + rnd.choice([b"\r\n", b"\r\n", b"\n", b"\r"])
    return bytes(out)


def _both(tmp_path, monkeypatch, data: bytes, layout, chunk_bytes: int, key_columns):
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    bulk, staged_bulk = _extract(path, layout, tmp_path, chunk_bytes, key_columns, "bulk")
    with monkeypatch.context() as m:   # the record-by-record description, and the walk stopping at every quote
        m.setattr(csv_file, "columnar", lambda *a: False)
        m.setattr(records._QuotedFinder, "_run_with_stray_lines", lambda self: None)
        one, staged_one = _extract(path, layout, tmp_path, chunk_bytes, key_columns, "one")
    return (bulk, staged_bulk), (one, staged_one)


def _extract(path, layout, tmp_path, chunk_bytes, key_columns, tag):
    from ikou.extractors import load_layout

    r = csv_file.extract_csv(path, load_layout(layout), out_path=tmp_path / f"{tag}.parquet", source_name="src",
                             source_ordinal=1, target_table="t", run_id="r1", dantai_code="999717",
                             chunk_bytes=chunk_bytes, key_columns=key_columns)
    return r, pl.read_parquet(r.staging)


@pytest.mark.parametrize("encoding", ["cp932", "utf-8", "shift_jis_2004"])
@pytest.mark.parametrize("seed", range(4))
def test_bulk_description_equals_the_record_by_record_one(tmp_path, monkeypatch, encoding, seed):
    rnd = random.Random(seed)
    data = _random_file(seed, encoding)
    layout = write_layout(tmp_path, encoding=encoding, quoted_newlines=seed % 2 == 1,
                          max_bytes={"SHIMEI": 12} if seed % 3 == 0 else None)
    chunk_bytes = rnd.choice([61, 97, 4096, 32 << 20])
    key_columns = [["ATENA_NO"], ["KINGAKU", "ATENA_NO"], ["SHIMEI"], None][seed]
    (bulk, staged_bulk), (one, staged_one) = _both(tmp_path, monkeypatch, data, layout, chunk_bytes, key_columns)
    assert staged_bulk.equals(staged_one)
    assert (bulk.rows_read, bulk.rows_ok) == (one.rows_read, one.rows_ok)
    assert bulk.quarantine.rows() == one.quarantine.rows()
    rules = set(bulk.quarantine["rule"])
    assert {"extract.decode", "extract.field_count", "extract.stray_quote"} <= rules   # the file is bad enough
    if key_columns == ["ATENA_NO"]:
        assert bulk.quarantine["record_key"].null_count() < bulk.quarantine.height


@pytest.mark.parametrize("few_bad", [0, 4096])
def test_many_undecodable_records_in_one_chunk_are_cut_out_either_way(tmp_path, monkeypatch, few_bad):
    """Up to `_FEW_BAD` bad records of a range are cut out of its text, more make it decode again without
    them: the same staging and quarantine as record by record."""
    monkeypatch.setattr(csv_file, "_FEW_BAD", few_bad)
    rows = []
    for i in range(1, 3001):
        name = "佐藤".encode("cp932") + (b"\x85\x40" if i % 4 == 0 else b"") + "花子".encode("cp932")
        rows.append(b"%010d,%s,%d" % (i, name, i))
    data = b"\r\n".join(rows) + b"\r\n0000003001," + "佐".encode("cp932") + b"\x82"   # cut inside a character
    layout = write_layout(tmp_path)
    (bulk, staged), (one, staged_one) = _both(tmp_path, monkeypatch, data, layout, 32 << 20, ["ATENA_NO"])
    assert staged.equals(staged_one) and bulk.quarantine.rows() == one.quarantine.rows()
    assert staged.height == 2250
    q = bulk.quarantine
    assert q.height == 751 and set(q["column"]) == {"SHIMEI"}
    first = q.row(0, named=True)
    assert first["source_line"] == 4 and first["record_key"] == "ATENA_NO=0000000004"
    assert first["value"] == "佐藤\\x85@花子"
    # where the bad bytes are and how many, never their values (a name's first character could be read back)
    assert first["message_en"].startswith("1 byte(s) not valid cp932 at byte 15 of the record")
    last = q.row(-1, named=True)
    assert last["rule"] == "extract.truncated" and last["value"] == "佐\\x82"
    assert "0x" not in last["message_en"]


def test_a_bad_byte_is_named_by_the_field_that_holds_it_quotes_and_extra_fields_included(tmp_path, monkeypatch):
    data = b"\r\n".join([
        b'0000000001,"a,b\x85\x40",1',          # in a quoted field holding the delimiter: SHIMEI
        b'0000000002,x,1,\x85\x40',             # in a field the layout does not have: no column
        b'"00000\x85\x4003",x,1',                # in the (quoted) key: no record_key
        b'0000000004,"a""b",\x85',               # after a field with a doubled quote, the last byte of the record
    ]) + b"\r\n"
    layout = write_layout(tmp_path)
    (bulk, _), (one, _) = _both(tmp_path, monkeypatch, data, layout, 32 << 20, ["ATENA_NO"])
    assert bulk.quarantine.rows() == one.quarantine.rows()
    got = bulk.quarantine.select("source_line", "column", "value", "record_key").rows()
    assert got == [(1, "SHIMEI", '"a,b\\x85@"', "ATENA_NO=0000000001"), (2, None, "\\x85@", "ATENA_NO=0000000002"),
                   (3, "ATENA_NO", '"00000\\x85@03"', None), (4, "KINGAKU", "\\x85", "ATENA_NO=0000000004")]
    assert "1 byte(s) not valid" in bulk.quarantine["message_en"][3]   # one byte left in the record: counted


def test_keys_of_records_with_a_wrong_field_count_follow_the_lenient_rule(tmp_path, monkeypatch):
    data = b"\r\n".join([
        b"0000000001,a,1",
        b'"0000000002",a,1,extra',               # quoted key, a field too many: trusted, unquoted
        b'"00000""03",a,1,extra',                # a quote inside the key: not trusted
        b"0000000004,a",                         # too few: the key field is the split's last but one: trusted
        b"00000,00005,a,1",                      # a delimiter inside the key: a field of another length
        b"+0000000006,a,1,x",                    # a sign is allowed in a code
    ]) + b"\r\n"
    layout = write_layout(tmp_path)
    (bulk, _), (one, _) = _both(tmp_path, monkeypatch, data, layout, 32 << 20, ["ATENA_NO"])
    assert bulk.quarantine.rows() == one.quarantine.rows()
    keys = dict(bulk.quarantine.select("source_line", "record_key").rows())
    assert keys == {2: "ATENA_NO=0000000002", 3: None, 4: "ATENA_NO=0000000004", 5: None, 6: None}


def test_stray_quote_lines_found_in_bulk_give_way_to_a_quote_left_open_before_them(tmp_path, monkeypatch):
    """`x"y` on its own is a quote inside an unquoted field; after a line whose quote is still open, the walk
    over every quote decides (the quote may close there, or the open one is unclosed)."""
    data = b"\r\n".join([b'0000000001,ab"c,1', b'0000000002,"open,2', b'0000000003,x"y,3',
                         b'0000000004,d"e,4']) + b"\r\n"
    for quoted_newlines in (False, True):
        layout = write_layout(tmp_path, quoted_newlines=quoted_newlines)
        (bulk, staged), (one, staged_one) = _both(tmp_path, monkeypatch, data, layout, 32 << 20, ["ATENA_NO"])
        assert staged.equals(staged_one) and bulk.quarantine.rows() == one.quarantine.rows()
        assert bulk.quarantine.filter(pl.col("source_line") == 2)["rule"].to_list() == ["extract.unclosed_quote"]


def test_a_stray_quote_line_is_warned_with_its_value_as_staged(tmp_path):
    data = "0000000001,コーポ\"A\"棟,1\r\n0000000002,山田,2\r\n".encode("cp932")
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    r, df = run(path, write_layout(tmp_path), tmp_path)
    assert df["SHIMEI"].to_list() == ['コーポ"A"棟', "山田"]
    assert r.quarantine.select("source_line", "rule", "column", "value", "severity").rows() == [
        (1, "extract.stray_quote", "SHIMEI", 'コーポ"A"棟', "warning")]


def test_control_character_messages_name_the_first_one_and_count_the_others(tmp_path):
    data = b"\r\n".join([b"0000000001,a\tb\tc\x1b,1", b"0000000002,\x00x,2", b"0000000003,ab\xfd,3",
                         b"0000000004,\x1b,4\x7f"]) + b"\r\n"
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    r, _ = run(path, write_layout(tmp_path), tmp_path)
    got = r.quarantine.select("source_line", "column", "rule", "value", "message_ja", "message_en").rows()
    cut = [(a, b, c, d, ja.split(" (行の位置")[0], en.split(" (line starts")[0]) for a, b, c, d, ja, en in got]
    assert cut == [
        (1, "SHIMEI", "extract.control_char", "a\tb\tc\x1b", "SHIMEI の 2 文字目に制御文字 TAB (U+0009) があります (ほかに 2 文字)",
         "SHIMEI: control character TAB (U+0009) at character 2 (2 more)"),
        (2, "SHIMEI", "extract.nul_byte", "\\x00x", "SHIMEI の 1 文字目に NUL バイト (0x00) があります",
         "SHIMEI: a NUL byte (0x00) at character 1"),
        (3, "SHIMEI", "extract.undefined_byte", "ab\\xfd",
         "SHIMEI の 3 文字目のバイト 0xFD は CP932 の文字ではありません (Python の cp932 は U+F8F1 に読み替えます)",
         "SHIMEI: byte 0xFD at character 3 is not a CP932 character (Python's cp932 reads it as U+F8F1)"),
        (4, "SHIMEI", "extract.control_char", "\x1b", "SHIMEI の 1 文字目に制御文字 ESC (U+001B) があります",
         "SHIMEI: control character ESC (U+001B) at character 1"),
        (4, "KINGAKU", "extract.control_char", "4\x7f", "KINGAKU の 2 文字目に制御文字 DEL (U+007F) があります",
         "KINGAKU: control character DEL (U+007F) at character 2"),
    ]


def test_the_lenient_split_on_bytes_is_the_split_on_text():
    rnd = random.Random(11)
    pieces = ["a", ",", '"', '""', '"x,y"', 'b"c', "", "12", "\udc85", '"""', ',"', '",']
    for _ in range(2000):
        recs = ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 8))) for _ in range(rnd.randint(1, 5))]
        data = "\n".join(recs).encode("utf-8", "surrogateescape")
        starts, pos = [], 0
        for r in recs:
            starts.append(pos)
            pos += len(r.encode("utf-8", "surrogateescape")) + 1
        s = np.asarray(starts, np.int64)
        e = s + np.asarray([len(r.encode("utf-8", "surrogateescape")) for r in recs], np.int64)
        sp = split_fields(np.frombuffer(data, np.uint8), s, e, ord(","), ord('"'))
        for k, r in enumerate(recs):
            want = [r[a:b] for a, b in _fields_of(r, ",", '"')]
            got = [data[sp.a[sp.first[k] + j]:sp.b[sp.first[k] + j]].decode("utf-8", "surrogateescape")
                   for j in range(sp.count[k])]
            assert got == want, r


def test_codes_are_recognised_on_bytes_as_the_key_rule_reads_them():
    rnd = random.Random(12)
    alphabet = ["1", "a", "Z", "-", "+", ".", "_", "/", ":", "é", '"', " ", "９"]
    values = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 5))) for _ in range(5000)]
    data = "\n".join(values).encode("utf-8")
    a = np.cumsum([0] + [len(v.encode()) + 1 for v in values[:-1]])
    b = a + np.asarray([len(v.encode()) for v in values])
    got = plain_codes(np.frombuffer(data, np.uint8), a, b)
    assert got.tolist() == [_PLAIN.fullmatch(v) is not None for v in values]


@pytest.mark.parametrize("encoding", ["cp932", "utf-8", "shift_jis_2004"])
def test_binary_values_that_do_not_decode_are_found_in_one_call(encoding):
    rnd = random.Random(13)
    pieces = [b"ab", "佐藤".encode(encoding), b"\x85\x40", b"\x82", b"\xff", b"\xe3\x81", b"", b"\x0a", b","]
    values = [None if rnd.random() < 0.1 else b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 4)))
              for _ in range(3000)]
    arr = pa.array(values, pa.binary()).cast(pa.large_binary())
    col = text_mod.Column("NAME", "氏名", encoding, "Asia/Tokyo", type_name="bytea")
    offsets, data = text_mod._buffers(arr)
    sep = next(s for s in text_mod._SEPARATORS if not (data == s).any())
    joined = np.insert(data, offsets[1:], sep)
    bulk = text_mod._decode_skipping(arr, col, joined, offsets, sep, arr.is_valid())
    one = text_mod._decode_by_value(arr, col, offsets, data, arr.is_valid())
    assert bulk is not None and len(bulk.held) > 100
    assert bulk.text.to_pylist() == one.text.to_pylist()
    assert bulk.held == one.held and bulk.unreadable.tolist() == one.unreadable.tolist()
    r = text_mod.render(arr, col, source_name="s", table="t", run_id=None)
    assert r.held == one.held


def _cr_then_dropped() -> dict:
    from tests.extractors.test_malformed import Build, Kind, _r

    k = {}
    # a record ended by CR alone, then one left out of the parse ended by LF: two records, never one CR LF
    b = Build().row(*_r(1), eol="\r").bad(b"0000000002,\x85\x40,200", "extract.decode", "SHIMEI", eol="\n")
    k["cr_then_undecodable_lf"] = Kind(b.rows(2, 3))
    b = Build().row(*_r(1), eol="\r").bad('0000000002,"佐藤"太郎,200', "extract.bad_quote", eol="\n")
    k["cr_then_bad_quote_lf"] = Kind(b.rows(2, 3))
    b = Build().row(*_r(1), eol="\r").bad('0000000002,"佐藤\r\n太郎",200', "extract.quoted_newline", eol="\n")
    k["cr_then_quoted_newline_lf"] = Kind(b.rows(2, 3))
    b = Build().row(*_r(1), eol="\r").row("0000000002", "二行\r\nの名前", "200", eol="\n")
    k["cr_then_multi_line_record_lf_on"] = Kind(b.rows(2, 3), {"quoted_newlines": True})
    return k


CR_KINDS = _cr_then_dropped()


@pytest.mark.parametrize("chunk_bytes", [32 << 20, 97], ids=["whole", "97-byte-chunks"])
@pytest.mark.parametrize("name", sorted(CR_KINDS))
def test_a_record_ended_by_cr_alone_before_a_record_left_out_of_the_parse(tmp_path, name, chunk_bytes):
    """The record left out (undecodable, quoted line break, multi-line) is a row of empty fields in the
    parser's text, not an empty line: an empty line's LF right after the CR made one line end of the two
    and the extract stopped (`csv parse: N rows for M records`)."""
    from tests.extractors.test_malformed import _written, check

    kind = CR_KINDS[name]
    path, layout = _written(tmp_path, name, kind)
    r, df = run(path, layout, tmp_path, chunk_bytes=chunk_bytes)
    check(r, df, kind, path)
