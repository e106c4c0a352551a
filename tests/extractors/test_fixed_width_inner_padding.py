"""Two neighbouring field widths off by the same amount keep the record length: every record read, no error, and
every 氏名 ends in its padding and the first bytes of the フリガナ (`鈴木　一郎　　ｽｽ`). A run of pad blanks inside a
value read is listed (`extract.inner_padding`, a warning naming the field), the record staged."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import yaml

from ikou.extractors import load_layout
from ikou.extractors.fixed_width import extract_fixed
from tests.extractors.conftest import run

PEOPLE = [("0000000019", "鈴木　一郎", "ｽｽﾞｷ ｲﾁﾛｳ", "東京都千代田区", "   12"),
          ("0000000027", "高橋　花子", "ﾀｶﾊｼ ﾊﾅｺ", "東京都　千代田区", "  345"),
          ("0000000035", "佐藤　次郎", "ｻﾄｳ ｼﾞﾛｳ", "東京都千代田区", "    6")]


def _layout(tmp: Path, shimei: int, kana: int, name: str) -> Path:
    cols = [("ATENA_NO", "宛名番号", 10), ("SHIMEI", "氏名", shimei), ("SHIMEI_KANA", "氏名フリガナ", kana),
            ("JUSHO", "住所", 20), ("BANGO", "番号", 5)]
    spec = {"spec_version": 1, "name": name, "format": "fixed", "encoding": "cp932", "key": ["ATENA_NO"],
            "columns": [{"name": n, "ja": ja, "width": w} for n, ja, w in cols]}
    p = tmp / f"{name}.yaml"
    p.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return p


def _file(tmp: Path, people=PEOPLE) -> Path:
    """氏名 padded to 14 bytes with full-width blanks, フリガナ to 10 with half-width ones (what the vendor wrote)."""
    def pad(v: str, width: int, blank: str) -> bytes:
        b = v.encode("cp932")
        return b + blank.encode("cp932") * ((width - len(b)) // len(blank.encode("cp932")))
    lines = [a.encode() + pad(s, 14, "\u3000") + pad(k, 10, " ") + pad(j, 20, "\u3000") + n.encode()
             for a, s, k, j, n in people]
    path = tmp / "JUMIN.dat"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    return path


def test_widths_off_by_the_same_amount_list_every_name_with_the_next_fields_bytes(tmp_path):
    r, df = run(_file(tmp_path), _layout(tmp_path, 16, 8, "off_by_two"), tmp_path)
    assert df["SHIMEI"].to_list()[0] == "鈴木　一郎　　ｽｽ"   # what loaded silently before
    q = r.quarantine
    assert q.select("source", "source_line", "record_key", "column", "rule", "severity").rows() == [
        ("JUMIN.dat", n, f"ATENA_NO={a}", "SHIMEI", "extract.inner_padding", "warning")
        for n, (a, *_) in enumerate(PEOPLE, 1)]
    first = q.row(0, named=True)
    assert first["message_ja"].startswith("氏名 の途中 (6 文字目から) に空白が 2 文字続いています")
    assert "レイアウトの幅" in first["message_ja"]
    assert first["message_en"].startswith("SHIMEI holds 2 blanks in a row inside its value (from character 6)")
    assert "(record starts at file offset 0)" in first["message_en"]
    assert "鈴木" not in first["message_ja"] + first["message_en"]   # the value only in `value` (masked downstream)
    assert r.rows_read == 3 == r.rows_ok == df.height                 # a warning: every record staged


def test_the_right_layout_lists_nothing_but_a_double_blank_inside_a_value(tmp_path):
    """Right widths: the padding is trimmed, a single blank between 氏 and 名 and a right-aligned number's
    leading blanks are no finding; an address written with two full-width blanks inside is (a warning, staged:
    legitimate data may hold them)."""
    people = PEOPLE + [("0000000043", "田中　三郎", "ﾀﾅｶ ｻﾌﾞﾛｳ", "千代田区　　一番町", "    7")]
    r, df = run(_file(tmp_path, people), _layout(tmp_path, 14, 10, "right"), tmp_path)
    assert df["SHIMEI"].to_list() == [p[1] for p in people] and df["BANGO"].to_list() == [p[4] for p in people]
    q = r.quarantine
    assert q.select("source_line", "column", "rule", "severity").rows() == [
        (4, "JUSHO", "extract.inner_padding", "warning")]
    assert q["value"].to_list() == ["千代田区　　一番町"]
    assert df.height == 4


def test_a_column_no_mapping_reads_is_not_checked(tmp_path):
    """A FILLER or a column not migrated: its blanks matter to nobody."""
    layout = load_layout(_layout(tmp_path, 16, 8, "off_by_two"))
    r = extract_fixed(_file(tmp_path), layout, out_path=tmp_path / "o.parquet", source_name="src", source_ordinal=1,
                      target_table="t", run_id="r1", dantai_code="999741", unread_columns={"SHIMEI"})
    assert r.quarantine.is_empty()
