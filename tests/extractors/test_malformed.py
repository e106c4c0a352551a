"""Malformed legacy files, kind by kind: every record is staged unchanged or quarantined, and counts are records.

Each kind builds its file from Python values with `Build`, which knows what it wrote: every
record's first line, its byte offset, and whether it must be staged (with exactly which values)
or held (by which rule, on which column). One generic check then asserts, for every kind and for
two chunk sizes (one whole read, and 97-byte blocks so that records, quoted line breaks and CR LF
pairs fall on chunk boundaries):

- `rows_read` is the number of records built (blank lines, the header and an end-of-file mark are
  not records);
- the staged rows are the staged records, in order, with their first line and their values exactly;
- staged + distinct record ids held by an error = records; every held record has exactly its
  expected rule among its rows, with the file, its line and its byte offset in the message;
- warnings are exactly the ones expected; no message holds the record's text (only `value` does).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
import pytest

from ikou.errors import LayoutError, message_ja
from tests.extractors.conftest import COLS, run, write_layout

BIG, SMALL = 32 << 20, 97
ROW_BASE = 1 << 40
NAMES = ["佐藤　太郎", "髙橋　花子", "渡辺　一郎", "山﨑　誠", "鈴木　一"]


@dataclass
class Rec:
    line: int
    offset: int
    values: tuple | None = None    # staged with these values
    rule: str | None = None        # or held by this error rule
    column: str | None = None      # … on this column (None: the whole record)
    warn: str | None = None        # a warning expected on this (staged) record


@dataclass
class Build:
    """A file under construction, record by record, in one encoding."""
    encoding: str = "cp932"
    eol: str = "\r\n"
    buf: bytearray = field(default_factory=bytearray)
    line: int = 1
    recs: list[Rec] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)   # (line, warning rule) of what is not a record
    cr_ends_lines: bool = True   # CSV: a lone CR ends a line; fixed width here: only LF does (a lone CR inside a record)

    def _field(self, v: str | None, quote_all: bool) -> bytes:
        if v is None:
            return b""
        if quote_all or any(c in v for c in ',"\r\n'):
            v = '"' + v.replace('"', '""') + '"'
        return v.encode(self.encoding)

    def _put(self, raw: bytes, eol: str | None) -> tuple[int, int]:
        at, line = len(self.buf), self.line
        data = raw + (self.eol if eol is None else eol).encode("ascii")
        self.buf += data
        self.line += data.count(b"\n") + (data.count(b"\r") - data.count(b"\r\n") if self.cr_ends_lines else 0)
        return line, at

    def row(self, *values: str | None, eol: str | None = None, quote_all: bool = False, warn: str | None = None):
        """A good record, written from its values (quoted where CSV needs it); staged as they are."""
        line, at = self._put(b",".join(self._field(v, quote_all) for v in values), eol)
        self.recs.append(Rec(line, at, values=tuple(values), warn=warn))
        return self

    def rows(self, n: int, start: int = 1, **kw):
        for i in range(start, start + n):
            self.row(f"{i:010d}", NAMES[i % len(NAMES)], str(i * 100), **kw)
        return self

    def bad(self, raw: bytes | str, rule: str, column: str | None = None, eol: str | None = None):
        """A record written byte for byte, expected to be held by `rule`."""
        raw = raw.encode(self.encoding) if isinstance(raw, str) else raw
        line, at = self._put(raw, eol)
        self.recs.append(Rec(line, at, rule=rule, column=column))
        return self

    def staged_raw(self, raw: bytes, values: tuple, warn: str | None = None, eol: str | None = None):
        """A record written byte for byte, expected to be staged as `values`."""
        line, at = self._put(raw, eol)
        self.recs.append(Rec(line, at, values=values, warn=warn))
        return self

    def blank(self, eol: str | None = None, raw: bytes = b""):
        """An empty line, or one of blanks only (`raw`): not a record."""
        line, _ = self._put(raw, eol)
        self.notes.append((line, "extract.blank_line"))
        return self

    def header(self, text: str = ",".join(COLS)):
        self._put(text.encode(self.encoding), None)
        return self

    def raw_bytes(self, data: bytes, note: str | None = None):
        """Bytes that are not a record (a BOM, an end-of-file mark)."""
        if note:
            self.notes.append((self.line, note))
        self.buf += data
        return self


@dataclass
class Kind:
    build: Build
    layout: dict = field(default_factory=dict)    # write_layout options
    error: str | None = None                      # a LayoutError (run-level) expected, matching this
    error_ja: tuple[str, ...] = ()                # … whose Japanese half names the file and holds these words


def _r(i: int, name: str | None = None, amount: str | None = None) -> tuple:
    return (f"{i:010d}", NAMES[i % len(NAMES)] if name is None else name, str(i * 100) if amount is None else amount)


def kinds() -> dict[str, Kind]:
    k: dict[str, Kind] = {}
    B = Build

    # ------------------------------------------------------------ line ends
    k["crlf"] = Kind(B().rows(5))
    k["lf_only"] = Kind(B(eol="\n").rows(5))
    k["cr_only_2129_records"] = Kind(B(eol="\r").rows(2129))
    b = B()
    for i, eol in enumerate(["\r\n", "\n", "\r", "\r", "\n", "\r\n", "\r", "\r\n"], 1):
        b.row(*_r(i), eol=eol)
    k["mixed_crlf_lf_cr"] = Kind(b)
    k["no_final_newline"] = Kind(B().rows(3).row(*_r(4), eol=""))
    k["blank_lines"] = Kind(B().rows(2).blank().rows(2, 3).blank(eol="\n").blank().rows(1, 5))
    k["trailing_blank_lines"] = Kind(B().rows(3).blank().blank().blank(eol="\n"))
    k["eof_marker_0x1a"] = Kind(B().rows(3).raw_bytes(b"\x1a", "extract.eof_marker"))
    # the mark right after the last record, no line break between: the record is whole, the mark is not data
    k["eof_marker_right_after_the_last_record"] = Kind(B().rows(3).row(*_r(4), eol="")
                                                       .raw_bytes(b"\x1a", "extract.eof_marker"))
    k["eof_marker_right_after_a_quoted_last_record"] = Kind(B().rows(2).row(*_r(3), eol="", quote_all=True)
                                                            .raw_bytes(b"\x1a\x1a", "extract.eof_marker"),
                                                            {"quoted_newlines": True})
    k["whitespace_only_line"] = Kind(B().rows(2).blank(raw=b"   ").rows(1, 3))   # not a record, as an empty line
    k["blanks_only_line_tab_and_full_width"] = Kind(B().rows(2).blank(raw=" \t\u3000".encode("cp932")).rows(1, 3))
    b = B().rows(1)
    b.bad(b"0000000002,x", "extract.field_count", eol="\r")      # a lone CR ends a record, inside a field too
    b.bad(b"y,200", "extract.field_count")
    k["cr_inside_unquoted_field_ends_the_record"] = Kind(b.rows(1, 3))
    k["very_long_line"] = Kind(B().rows(1).row("0000000002", "長" * 150_000, "200").rows(1, 3))

    # ------------------------------------------------------------ quoting
    b = B().rows(2).row("0000000003", "ハイツ架空\r\n101号室", "300").rows(2, 4)
    k["quoted_crlf_quoted_newlines_on"] = Kind(b, {"quoted_newlines": True})
    b = B().rows(2).bad('0000000003,"ハイツ架空\r\n101号室",300', "extract.quoted_newline").rows(2, 4)
    k["quoted_crlf_quoted_newlines_off"] = Kind(b)
    b = B().rows(1).row("0000000002", "一行目\n二行目\r三行目\r\n四行目", "200").row("0000000003", "\r\n", "300")
    k["quoted_lf_cr_crlf_on"] = Kind(b.rows(2, 4), {"quoted_newlines": True})
    b = B().rows(1).row("0000000002", "1\r\n2\r\n3\r\n4\r\n5\r\n6\r\n7", "200", quote_all=True).rows(1, 3)
    k["quoted_newline_many_lines_all_quoted_on"] = Kind(b, {"quoted_newlines": True})
    b = B().rows(3).bad('0000000004,"佐藤,400', "extract.unclosed_quote").rows(4, 5)
    k["unclosed_quote_mid_file_off"] = Kind(b)
    k["unclosed_quote_mid_file_on"] = Kind(B().rows(3).bad('0000000004,"佐藤,400', "extract.unclosed_quote")
                                           .rows(4, 5), {"quoted_newlines": True})
    b = B().rows(2).bad('0000000003,"佐藤,300', "extract.unclosed_quote")
    b.row("0000000004", "渡辺", "400", quote_all=True).row("0000000005", "a,b", "500").rows(2, 6)
    k["unclosed_quote_then_quoted_fields_on"] = Kind(b, {"quoted_newlines": True})
    b = B().rows(2).bad('0000000003,"佐藤,300', "extract.unclosed_quote")
    b.row("0000000004", "渡辺", "400", quote_all=True).row("0000000005", "a,b", "500").rows(2, 6)
    k["unclosed_quote_then_quoted_fields_off"] = Kind(b)
    # the quote opened on line 3 would close at the end of line 4, making a record of 2 fields: not believed
    b = B().rows(2).bad('0000000003,"佐藤,300', "extract.unclosed_quote")
    b.staged_raw(b'0000000004,x,400"', ("0000000004", "x", '400"'), warn="extract.stray_quote")
    k["unclosed_quote_closing_into_a_wrong_field_count_on"] = Kind(b.rows(1, 5), {"quoted_newlines": True})
    # … or would close before a character that is not the delimiter: the scanner's case
    b = B().rows(2).bad('0000000003,"佐藤,300', "extract.unclosed_quote")
    b.staged_raw(b'5"00000004,x,400', ('5"00000004', "x", "400"), warn="extract.stray_quote")
    k["unclosed_quote_then_stray_quote_on"] = Kind(b.rows(1, 5), {"quoted_newlines": True})
    k["unclosed_quote_at_eof_off"] = Kind(B().rows(3).bad('0000000004,"佐藤,400', "extract.unclosed_quote"))
    k["unclosed_quote_at_eof_on"] = Kind(B().rows(3).bad('0000000004,"佐藤,400', "extract.unclosed_quote"),
                                         {"quoted_newlines": True})
    k["unclosed_quote_at_eof_without_newline"] = Kind(B().rows(3).bad('0000000004,"佐藤,4', "extract.truncated",
                                                                      eol=""), {"quoted_newlines": True})
    k["delimiter_inside_quotes"] = Kind(B().rows(1).row("0000000002", "佐藤,太郎", "200").rows(1, 3))
    k["doubled_quotes"] = Kind(B().rows(1).row("0000000002", 'He said "hi"', '""').row("0000000003", '"', "3"))
    k["all_fields_quoted"] = Kind(B().rows(4, quote_all=True))
    k["empty_and_quoted_empty_fields"] = Kind(B().rows(1).staged_raw(b'0000000002,,""', ("0000000002", None, None)))
    k["quote_in_unquoted_field"] = Kind(B().rows(1).staged_raw('0000000002,５"二,200'.encode("cp932"),
                                                               ("0000000002", '５"二', "200"),
                                                               warn="extract.stray_quote").rows(1, 3))
    k["text_after_closing_quote"] = Kind(B().rows(1).bad('0000000002,"佐藤"太郎,200', "extract.bad_quote").rows(1, 3))
    b = B().rows(1).staged_raw(b'0000000002,ab"c,200', ("0000000002", 'ab"c', "200"), warn="extract.stray_quote")
    b.row("0000000003", "二行\r\nの名前", "300").rows(1, 4)
    k["stray_quote_then_quoted_newline_on"] = Kind(b, {"quoted_newlines": True})

    # ------------------------------------------------------------ field counts
    k["too_few_fields"] = Kind(B().rows(2).bad("0000000003,佐藤", "extract.field_count").rows(1, 4))
    k["too_many_fields"] = Kind(B().rows(2).bad("0000000003,佐藤,300,余分", "extract.field_count").rows(1, 4))
    k["truncated_last_line"] = Kind(B().rows(2).bad("0000000003,佐", "extract.truncated", eol=""))

    # ------------------------------------------------------------ bytes and characters
    k["nul_byte"] = Kind(B().rows(1).bad(b"0000000002,a\x00b,200", "extract.nul_byte", "SHIMEI").rows(1, 3))
    k["byte_0x80"] = Kind(B().rows(1).bad(b"0000000002,\x80abc,200", "extract.undefined_byte", "SHIMEI").rows(1, 3))
    k["byte_0xa0"] = Kind(B().rows(1).bad(b"0000000002,ab\xa0c,200", "extract.undefined_byte", "SHIMEI").rows(1, 3))
    b = B().rows(1)
    for i, x in enumerate([b"\xfd", b"\xfe", b"\xff"], 2):
        b.bad(b"%010d,%s,%d" % (i, "佐藤".encode("cp932") + x, i), "extract.undefined_byte", "SHIMEI")
    k["bytes_0xfd_0xfe_0xff"] = Kind(b.rows(1, 5))
    k["esc_in_name"] = Kind(B().rows(1).bad(b"0000000002,\x1b$B%3\x1b(B,200", "extract.control_char", "SHIMEI")
                            .rows(1, 3))
    k["tab_in_field"] = Kind(B().rows(1).bad("0000000002,佐藤\t太郎,200", "extract.control_char", "SHIMEI").rows(1, 3))
    k["del_0x7f"] = Kind(B().rows(1).bad(b"0000000002,abc,2\x7f", "extract.control_char", "KINGAKU").rows(1, 3))
    b = B().rows(1).bad('0000000002,"二行\r\nの名前'.encode("cp932") + b'\xa0",200', "extract.undefined_byte", "SHIMEI")
    k["undefined_byte_in_a_multi_line_record_on"] = Kind(b.rows(1, 3), {"quoted_newlines": True})
    b = B(encoding="utf-8").rows(1).bad("0000000002,佐藤\u0085,200", "extract.control_char", "SHIMEI")
    b.bad("0000000003,\u009b1m,300", "extract.control_char", "SHIMEI").rows(1, 4)
    k["c1_controls_in_utf8"] = Kind(b, {"encoding": "utf-8"})
    b = B(encoding="utf-8").rows(1).row("0000000002", "\uf8f0\uf8f3外字", "200").row("0000000003", "ｶﾅ\u00a0", "3")
    k["u_f8f0_is_private_use_in_utf8"] = Kind(b, {"encoding": "utf-8"})
    k["control_chars_in_two_columns_one_record"] = Kind(
        B().rows(1).bad(b"\x1b000000002,a\tb,200", "extract.control_char", "ATENA_NO").rows(1, 3))
    k["invalid_cp932_pair_0x85_0x40"] = Kind(B().rows(1).bad(b"0000000002,\x85\x40,200", "extract.decode", "SHIMEI")
                                             .rows(1, 3))
    b = B().rows(2).bad("0000000003,佐藤".encode("cp932") + b"\x82", "extract.truncated", "SHIMEI", eol="")
    k["truncated_multibyte_at_eof"] = Kind(b)
    k["gaiji_pua_bytes_valid"] = Kind(B().rows(1).row("0000000002", "外\ue000字\ue757", "200").rows(1, 3))
    k["half_width_kana"] = Kind(B().rows(1).row("0000000002", "ｻﾄｳ ﾀﾛｳ", "200").row("0000000003", "ｶﾞｷﾞｸﾞ", "3"))
    sjis = b"\x81\x60\x81\x5f\x81\x7c\x81\x91\x81\xca"
    b = B().rows(1).staged_raw(b"0000000002," + sjis + b",200", ("0000000002", "～＼－￠￢", "200"))
    k["cp932_reading_of_bytes_shift_jis_2004_reads_otherwise"] = Kind(b)
    b = B(encoding="shift_jis_2004").staged_raw(b"0000000001," + sjis + b",100", ("0000000001", "〜\\−¢¬", "100"))
    b.row("0000000002", "森鷗外𩸽", "200")
    k["shift_jis_2004_reading_of_the_same_bytes"] = Kind(b, {"encoding": "shift_jis_2004"})
    b = B(encoding="utf-8").raw_bytes(b"\xef\xbb\xbf").rows(3)
    k["utf8_bom"] = Kind(b, {"encoding": "utf-8"})
    k["utf8_bom_with_header"] = Kind(B(encoding="utf-8").raw_bytes(b"\xef\xbb\xbf").header().rows(2),
                                     {"encoding": "utf-8", "header": True})
    k["utf8_bom_on_a_cp932_source"] = Kind(B().raw_bytes(b"\xef\xbb\xbf").rows(2), error="UTF-8 byte order mark",
                                           error_ja=("UTF-8 の BOM", "cp932", "エンコーディング指定 (encoding) を確認"))

    # ------------------------------------------------------------ header and empty
    k["header_and_records"] = Kind(B().header().rows(3), {"header": True})
    k["header_quoted"] = Kind(B().header('"ATENA_NO","SHIMEI","KINGAKU"').rows(2), {"header": True})
    k["header_only_zero_records"] = Kind(B().header(), {"header": True})
    k["header_mismatch"] = Kind(B().header("ATENA,NAME,AMOUNT").rows(2), {"header": True}, error="is not the header of layout",
                                error_ja=("の1行目がレイアウト", "見出し行と一致しません", "見出し行とレイアウト"))
    k["empty_file"] = Kind(B(), error="is empty", error_ja=("が空です (0 バイト)", "エクスポート (出力) をやり直して"))
    k["only_blank_lines"] = Kind(B().blank().blank())
    k["overlong_field"] = Kind(B().rows(1).bad("0000000002,長い名前です,200", "extract.overlong", "SHIMEI").rows(1, 3),
                               {"max_bytes": {"SHIMEI": 10}})
    return k


KINDS = kinds()


def _written(tmp_path, name: str, kind: Kind):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(bytes(kind.build.buf))
    opts = {"encoding": kind.build.encoding, **kind.layout}
    return path, write_layout(tmp_path, **opts)


def check(r, df, kind: Kind, path) -> None:
    recs = kind.build.recs
    q = r.quarantine
    errors = q.filter(pl.col("severity") == "error")
    # counts are records
    assert r.rows_read == len(recs)
    assert df.height + errors["row_id"].n_unique() == len(recs)
    # staged: exactly the records expected, with their first line and their values
    want = [(x.line, *x.values) for x in recs if x.values is not None]
    assert df.select("_source_line", *COLS).rows() == want
    assert df["_row_id"].to_list() == [ROW_BASE + x[0] for x in want]
    assert (df["_source"] == path.name).all()
    # held: each record by its rule, with file, line, column and byte offset
    held = {x.line: x for x in recs if x.rule}
    assert sorted(set(errors["source_line"].to_list())) == sorted(held)
    assert (q["source"] == path.name).all() and (q["row_id"] == q["source_line"] + ROW_BASE).all()
    for line, x in held.items():
        rows = errors.filter(pl.col("source_line") == line)
        assert x.rule in rows["rule"].to_list(), (line, rows["rule"].to_list())
        row = rows.filter(pl.col("rule") == x.rule).row(0, named=True)
        assert row["column"] == x.column
        assert f"ファイル先頭から {x.offset} バイト目" in row["message_ja"]
        assert f"file offset {x.offset}" in row["message_en"]
        if x.column is None:   # a whole record held: the record is in `value`
            assert row["value"] is not None
    # warnings: exactly those expected
    warned = sorted(q.filter(pl.col("severity") == "warning").select("source_line", "rule").rows())
    assert warned == sorted([(x.line, x.warn) for x in recs if x.warn] + kind.build.notes)
    # the record's text is in `value` only, never in a message
    for row in q.iter_rows(named=True):
        v = row["value"]
        if v and len(v) >= 4:
            assert v not in row["message_ja"] and v not in row["message_en"]
        for x in recs:
            for text in (x.values or ()):
                if text and not text.isdigit() and len(text) >= 2:
                    assert text not in row["message_ja"] and text not in row["message_en"]


@pytest.mark.parametrize("chunk_bytes", [BIG, SMALL], ids=["whole", "97-byte-chunks"])
@pytest.mark.parametrize("name", sorted(KINDS))
def test_malformed_kind(tmp_path, name, chunk_bytes):
    kind = KINDS[name]
    path, layout = _written(tmp_path, name, kind)
    if kind.error:
        with pytest.raises(LayoutError, match=kind.error) as e:
            run(path, layout, tmp_path, chunk_bytes=chunk_bytes)
        ja = message_ja(e.value)   # the Japanese half of the failure line: which source, which file, what to fix
        assert ja.startswith("src: ") and path.name in ja and all(w in ja for w in kind.error_ja), ja
        return
    r, df = run(path, layout, tmp_path, chunk_bytes=chunk_bytes)
    check(r, df, kind, path)


def test_there_are_at_least_forty_kinds():
    assert len(KINDS) + len(FIXED_KINDS) >= 40


# ------------------------------------------------------------------ fixed width
WIDTHS = [10, 12, 8]


@dataclass
class FBuild(Build):
    """Fixed-width records: each value padded to its width in bytes; staged without its trailing pad blanks.
    With `eol=""` the records follow each other (`record_terminator: none`): a line is a record."""
    cr_ends_lines: bool = False

    def _put(self, raw: bytes, eol: str | None) -> tuple[int, int]:
        if self.eol:
            return super()._put(raw, eol)
        at, line = len(self.buf), self.line
        self.buf += raw
        self.line += 1
        return line, at

    def fw(self, atena: str, name: str, amount: int, eol: str | None = None):
        n = name.encode(self.encoding)
        raw = atena.encode() + n + b" " * (WIDTHS[1] - len(n)) + str(amount).rjust(WIDTHS[2], "0").encode()
        line, at = self._put(raw, eol)
        self.recs.append(Rec(line, at, values=tuple(raw[a:b].decode(self.encoding).rstrip(" \u3000") for a, b in
                                                    ((0, 10), (10, 22), (22, 30)))))
        return self

    def fws(self, n: int, start: int = 1):
        for i in range(start, start + n):
            self.fw(f"{i:010d}", NAMES[i % len(NAMES)], i)
        return self


def fixed_kinds() -> dict[str, FBuild]:
    k: dict[str, FBuild] = {}
    F = FBuild
    k["fw_good"] = F().fws(4)
    k["fw_short_record"] = F().fws(2).bad(b"000000000312345", "extract.record_length").fws(1, 4)
    k["fw_long_record"] = F().fws(1).bad(b"0" * 31, "extract.record_length").fws(1, 3)
    k["fw_control_char_esc"] = F().fws(1).bad(b"0000000002\x1b$B%3\x1b(B    00000002", "extract.control_char",
                                              "SHIMEI").fws(1, 3)
    k["fw_tab"] = F().fws(1).bad(b"0000000002ab\tc        00000002", "extract.control_char", "SHIMEI").fws(1, 3)
    # a lone CR inside a record of a CR LF file is a byte of the record (a line ends at a lone CR only after a
    # whole record, or in a file without LF: test_unreadable_keys_and_line_ends)
    k["fw_lone_cr_inside_record"] = F().fws(1).bad(b"0000000002ab\rc        00000002", "extract.control_char",
                                                   "SHIMEI").fws(1, 3)
    k["fw_nul_padding"] = F().fws(1).bad(b"0000000002" + b"\x00" * 12 + b"00000002", "extract.nul_byte",
                                         "SHIMEI").fws(1, 3)
    k["fw_byte_0xfd"] = F().fws(1).bad(b"0000000002\xfd           00000002", "extract.undefined_byte",
                                       "SHIMEI").fws(1, 3)
    cut = b"0000000002" + b"A" + "山田花子あ".encode("cp932") + b"\x82" + b"00000002"
    k["fw_split_multibyte"] = F().fws(1).bad(cut, "extract.split_character", "SHIMEI").fws(1, 3)
    k["fw_invalid_pair"] = F().fws(1).bad(b"0000000002\x85\x40          00000002", "extract.decode",
                                          "SHIMEI").fws(1, 3)
    k["fw_lf_only_and_blank_line"] = F(eol="\n").fws(2).blank().fws(1, 3)
    k["fw_line_of_pad_blanks"] = F().fws(2).blank(raw=b" " * 30).blank(raw="\u3000 ".encode("cp932") * 2).fws(1, 3)
    k["fw_eof_marker"] = F().fws(2).raw_bytes(b"\x1a", "extract.eof_marker")
    k["fw_eof_marker_right_after_the_last_record"] = F().fws(2).fw("0000000003", "佐藤", 3, eol="").raw_bytes(
        b"\x1a", "extract.eof_marker")
    k["fw_back_to_back_eof_marker_of_a_whole_record_length"] = F(eol="").fws(2).raw_bytes(b"\x1a" * 30,
                                                                                          "extract.eof_marker")
    b = F(eol="").fws(2).bad(b"0000000003ab", "extract.truncated")
    b.buf += b"\x1a\x1a"                             # … in the slot of the short record 3, not a record of its own
    b.notes.append((3, "extract.eof_marker"))
    k["fw_back_to_back_eof_marker_after_a_short_record"] = b
    k["fw_gaiji_and_half_width_kana"] = F().fw("0000000001", "外\ue000字", 1).fw("0000000002", "ｻﾄｳ ﾀﾛｳ", 2)
    # back-to-back records (no terminator): a line break inside one is data of that record, held, and
    # the records after it keep their values
    b = F(eol="").fws(2).bad(b"0000000003ab\r\ncd      00000003", "extract.control_char", "SHIMEI")
    b.bad(b"0000000004" + b"\n" * 12 + b"00000004", "extract.control_char", "SHIMEI")
    k["fw_back_to_back_record_holding_cr_lf"] = b.fws(3, 5)
    return k


FIXED_KINDS = fixed_kinds()


@pytest.mark.parametrize("chunk_bytes", [BIG, SMALL], ids=["whole", "97-byte-chunks"])
@pytest.mark.parametrize("name", sorted(FIXED_KINDS))
def test_malformed_fixed_width_kind(tmp_path, name, chunk_bytes):
    build = FIXED_KINDS[name]
    path = tmp_path / f"{name}.dat"
    path.write_bytes(bytes(build.buf))
    layout = write_layout(tmp_path, fmt="fixed", widths=WIDTHS, record_terminator="none" if build.eol == "" else "line")
    r, df = run(path, layout, tmp_path, chunk_bytes=chunk_bytes)
    check(r, df, Kind(build), path)


def test_the_builder_knows_its_lines_and_offsets():
    b = Build(eol="\r").rows(2).row("0000000003", "a\r\nb", "3").rows(1, 4)
    assert [(x.line, x.offset) for x in b.recs] == [(1, 0), (2, 26), (3, 52), (5, 72)]
