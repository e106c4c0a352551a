"""A file in another encoding than its layout declares: the bytes of the records that do not decode are tried in
the likely alternatives, and the one they all read in is named (the finding's message, `likely_encoding`).

A Shift_JIS-2004 export declared cp932 decodes most records, some of them as other valid characters (䉤田 →
寘田): the few that do not decode are the only trace, and their message must say what the file is."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
import yaml

from ikou.errors import LayoutError, message_ja
from ikou.extractors import load_layout
from ikou.extractors.csv_file import extract_csv
from ikou.extractors.fixed_width import extract_fixed
from ikou.extractors.checks import likely_encoding
from ikou.extractors.text import Column, render
from tests.conftest import random_tag

DANTAI = "999831"
COLS = ["ATENA_NO", "SHIMEI", "KINGAKU"]
# 䉤 (ED8D), 䝤 (FA48), 䟽 (FA5E) in Shift_JIS-2004 are 寘, ⅸ, 鍈 in CP932; 鷗 (EFE3) and 𩸽 (FC6B) do not decode
SILENT, LOUD = ["䉤田　一郎", "䝤本　二郎", "北山䟽"], ["森　鷗外", "𩸽　三郎"]


def _layout(tmp: Path, encoding: str, *, fmt: str = "csv", widths: list[int] | None = None,
            trailing: bool = False) -> Path:
    cols = [{"name": n, "ja": n, **({"width": widths[i]} if widths else {})} for i, n in enumerate(COLS)]
    spec = {"spec_version": 1, "name": "f9enc.layout", "format": fmt, "encoding": encoding, "columns": cols}
    if trailing:
        spec["trailing_delimiter"] = True
    path = tmp / f"layout_{random_tag()}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def _extract(path: Path, layout_path: Path, tmp: Path):
    layout = load_layout(layout_path)
    fn = extract_fixed if layout.format == "fixed" else extract_csv
    r = fn(path, layout, out_path=tmp / f"out_{random_tag()}.parquet", source_name="src", source_ordinal=1,
           target_table="t", run_id="r1", dantai_code=DANTAI)
    return r, pl.read_parquet(r.staging)


def _names(n: int = 40) -> list[str]:
    plain = ["佐藤　太郎", "渡辺　一郎", "山田　花子"]
    names = [plain[i % 3] for i in range(n)]
    for i, s in enumerate(SILENT + LOUD):
        names[3 + 5 * i] = s
    return names


def _file(tmp: Path, codec: str, names: list[str] | None = None) -> Path:
    names = names or _names()
    path = tmp / f"JUMIN_{random_tag()}.csv"
    path.write_bytes("".join(f"{i:010d},{s},{i * 100}\r\n" for i, s in enumerate(names, 1)).encode(codec))
    return path


def _decode_findings(r) -> pl.DataFrame:
    return r.quarantine.filter(pl.col("rule") == "extract.decode")


def test_a_shift_jis_2004_file_declared_cp932_is_named_and_reads_right_as_named(tmp_path):
    path = _file(tmp_path, "shift_jis_2004")
    r, df = _extract(path, _layout(tmp_path, "cp932"), tmp_path)
    assert r.extra["likely_encoding"] == "shift_jis_2004"
    bad = _decode_findings(r)
    assert bad.height == len(LOUD)
    assert bad["message_ja"].str.contains("Shift_JIS-2004 として読めます: layout の encoding を確認", literal=True).all()
    assert bad["message_en"].str.contains("reads as Shift_JIS-2004", literal=True).all()
    assert bad["message_en"].str.contains("encoding: shift_jis_2004", literal=True).all()
    # what the hint is about: these decoded as other, valid characters and are staged
    assert {"寘田　一郎", "ⅸ本　二郎"} <= set(df["SHIMEI"].to_list())
    # the one-line fix the message names: the layout's encoding as named reads every record right
    r, df = _extract(path, _layout(tmp_path, r.extra["likely_encoding"]), tmp_path)
    assert r.quarantine.height == 0 and "likely_encoding" not in r.extra
    assert set(SILENT + LOUD) <= set(df["SHIMEI"].to_list())


@pytest.mark.parametrize("written,declared,likely,name", [
    ("euc_jp", "cp932", "euc_jp", "EUC-JP"),
    ("utf-8", "cp932", "utf-8", "UTF-8"),
    ("cp932", "utf-8", "cp932", "CP932 (Windows-31J)"),
    ("utf-8", "euc_jp", "utf-8", "UTF-8"),
    ("euc_jis_2004", "euc_jp", "euc_jis_2004", "EUC-JIS-2004"),
])
def test_the_encoding_every_undecodable_record_reads_in_is_named(tmp_path, written, declared, likely, name):
    names = [n for n in _names() if n not in SILENT + LOUD] if written in ("euc_jp", "cp932", "euc_jis_2004") else _names()
    names[7] = "髙橋　花子" if written == "cp932" else names[7]
    if written == "euc_jis_2004":   # JIS X 0213 rows 14, 15, 47: no EUC variant has other characters there
        names[:2] = ["𠮟田　俱子", "剝山　吞"]
    path = _file(tmp_path, written, names)
    r, _ = _extract(path, _layout(tmp_path, declared), tmp_path)
    assert r.extra.get("likely_encoding") == likely
    bad = _decode_findings(r)
    assert bad.height > 0 and bad["message_ja"].str.contains(f"{name} として読めます", literal=True).all()
    r, df = _extract(path, _layout(tmp_path, r.extra["likely_encoding"]), tmp_path)   # as named: read right
    assert r.quarantine.height == 0 and df["SHIMEI"].to_list() == names


def test_damaged_bytes_of_a_cp932_file_name_no_encoding(tmp_path):
    # 0x85 0x40 (the sample's planted damage): Shift_JIS-2004 reads it, as €, which no name holds; 0x85 0x20: nothing
    path = tmp_path / "f.csv"
    path.write_bytes("0000000001,佐藤　太郎,1\r\n".encode("cp932") + b"0000000002,\x85\x40,2\r\n"
                     + "0000000003,髙橋　花子,3\r\n".encode("cp932"))
    r, _ = _extract(path, _layout(tmp_path, "cp932"), tmp_path)
    bad = _decode_findings(r)
    assert bad.height == 1 and "likely_encoding" not in r.extra
    assert "として読めます" not in bad["message_ja"].item()
    assert likely_encoding([b"0000000002,\x85\x20x,2"], "cp932") is None
    assert likely_encoding([b"0000000002,\x85\x40,2"], "cp932") is None
    assert likely_encoding(["0000000002,森　鷗外,2".encode("shift_jis_2004")], "cp932") == "shift_jis_2004"
    assert likely_encoding([], "cp932") is None


def test_bytes_eucjp_ms_reads_otherwise_name_no_euc_jis_2004():
    # 0xF5A1 (a user-defined 外字 of eucJP-ms), 0xF9ED (IBM kanji there): JIS X 0213 has other kanji at those bytes
    for damage in (b"\xf5\xa1", "䉤".encode("euc_jis_2004"), "𩸽".encode("euc_jis_2004")):
        assert likely_encoding(["0000000001,佐藤　".encode("euc_jp") + damage + b",1"], "euc_jp") is None
    assert likely_encoding(["0000000001,𠮟田　俱子,1".encode("euc_jis_2004")], "euc_jp") == "euc_jis_2004"


def test_fixed_width_fields_are_tried_too(tmp_path):
    path = tmp_path / "f.dat"
    rows = [(f"{i:010d}", n, f"{i:05d}") for i, n in enumerate(_names(), 1)]
    path.write_bytes(b"".join(a.encode() + n.encode("shift_jis_2004").ljust(10, b" ") + k.encode() + b"\r\n"
                              for a, n, k in rows))
    r, _ = _extract(path, _layout(tmp_path, "cp932", fmt="fixed", widths=[10, 10, 5]), tmp_path)
    assert r.extra["likely_encoding"] == "shift_jis_2004"
    assert _decode_findings(r)["message_ja"].str.contains("Shift_JIS-2004 として読めます", literal=True).all()


def test_a_binary_column_of_a_table_names_the_encoding_its_bad_values_read_in():
    values = [s.encode("shift_jis_2004") for s in ["佐藤　太郎", *SILENT, *LOUD]]
    got = render(pa.array(values, pa.binary()), Column(name="SHIMEI", ja="氏名", encoding="cp932",
                                                         time_zone="Asia/Tokyo"),
                 source_name="src", table="T", run_id="r1")
    assert got.likely_encoding == "shift_jis_2004"
    assert len(got.held) == len(LOUD)
    assert all("Shift_JIS-2004 として読めます" in h["message_ja"] for h in got.held)


def test_an_undeclared_trailing_delimiter_is_suggested_when_the_field_too_many_is_empty(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes("".join(f"{i:010d},佐藤　太郎,{i},\r\n" for i in range(1, 30)).encode("cp932"))
    with pytest.raises(LayoutError) as e:
        _extract(path, _layout(tmp_path, "cp932"), tmp_path)
    assert "set trailing_delimiter: true in the layout" in str(e.value)
    assert "trailing_delimiter: true を指定してください" in message_ja(e.value)
    path.write_bytes("".join(f"{i:010d},佐藤　太郎,{i},x\r\n" for i in range(1, 30)).encode("cp932"))
    with pytest.raises(LayoutError) as e:   # a field too many with a value: no such hint
        _extract(path, _layout(tmp_path, "cp932"), tmp_path)
    assert "trailing_delimiter" not in str(e.value) and "trailing_delimiter" not in message_ja(e.value)
