"""A line of nothing but blanks (`   ` left at the end of an export; TABs, full-width spaces) is no record, as an
empty line is none: listed as `extract.blank_line` (a warning, without a key, so counted among the lines skipped),
never held as a record whose key cannot be read (which read as if a person were half loaded)."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.extractors.keys import NO_PERSON
from tests.extractors.conftest import run, write_layout


def _skipped(r) -> pl.DataFrame:
    return r.quarantine.filter(pl.col("rule") == "extract.blank_line").select(
        "source_line", "severity", "record_key", "message_en")


@pytest.mark.parametrize("chunk_bytes", [7, 32 << 20])
@pytest.mark.parametrize("quoted", [False, True])
def test_csv_lines_of_blanks_are_skipped_and_counted_like_empty_lines(tmp_path, chunk_bytes, quoted):
    """ASCII spaces, a TAB, full-width spaces (CP932 81 40), an empty line: four lines skipped, each listed; the
    records around them staged; nothing held, so no record held without its key. With a quoted field in the
    file (the record finder's other path) the same."""
    q = '"' if quoted else ""
    text = (f"0000000019,{q}鈴木　一郎{q},1\r\n   \r\n0000000027,b,2\r\n \t\u3000\u3000\r\n\r\n"
            "0000000035,c,3\r\n   ")
    path = tmp_path / "in.csv"
    path.write_bytes(text.encode("cp932"))
    r, df = run(path, write_layout(tmp_path), tmp_path, chunk_bytes=chunk_bytes)
    assert df["ATENA_NO"].to_list() == ["0000000019", "0000000027", "0000000035"]
    assert df["SHIMEI"].to_list()[0] == "鈴木　一郎"
    skipped = _skipped(r)
    assert skipped["source_line"].to_list() == [2, 4, 5, 7]
    assert set(skipped["severity"]) == {"warning"} and skipped["record_key"].null_count() == 4
    assert [m.split(" (")[0] for m in skipped["message_en"]] == ["a line of blanks only", "a line of blanks only",
                                                                 "an empty line", "a line of blanks only"]
    assert r.quarantine.filter(pl.col("severity") == "error").is_empty()
    assert r.rows_read == 3 == r.rows_ok
    assert set(r.quarantine["rule"]) <= set(NO_PERSON)


def test_a_blank_line_in_a_utf8_file_is_skipped(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes("0000000019,a,1\n\u3000 \n0000000027,b,2\n".encode("utf-8"))
    r, df = run(path, write_layout(tmp_path, encoding="utf-8"), tmp_path)
    assert df.height == 2 and _skipped(r)["source_line"].to_list() == [2]


def test_what_only_looks_blank_is_still_a_record(tmp_path):
    """A full-width space's bytes split across two characters (CP932 81 81 40: ＝@) are no blanks; a field of blanks
    between delimiters is a record (a wrong field count), and with a TAB delimiter a line of TABs is a record of
    empty fields, not blanks."""
    path = tmp_path / "in.csv"
    path.write_bytes(b"0000000019,a,1\r\n\x81\x81\x40\r\n , ,\r\n")
    r, df = run(path, write_layout(tmp_path), tmp_path)
    assert _skipped(r).is_empty()
    assert dict(zip(r.quarantine["source_line"], r.quarantine["rule"])) == {2: "extract.field_count"}
    assert df.height == 2   # ' , ,' has three fields: staged, its blanks are values
    tsv = tmp_path / "tsv.yaml"
    tsv.write_text(write_layout(tmp_path).read_text(encoding="utf-8") + "delimiter: \"\\t\"\n", encoding="utf-8")
    path.write_bytes(b"0000000019\ta\t1\r\n\t\t\r\n")
    r, df = run(path, tsv, tmp_path, out="tsv.parquet")
    assert _skipped(r).is_empty() and df.height == 2


def test_a_single_column_file_keeps_a_blank_value(tmp_path):
    """With one field a line is a value: as an empty line, a line of blanks stays a record there."""
    layout = write_layout(tmp_path, names=["ATENA_NO"])
    path = tmp_path / "in.csv"
    path.write_bytes(b"0000000019\r\n   \r\n")
    r, df = run(path, layout, tmp_path)
    assert _skipped(r).is_empty() and df.height == 2


@pytest.mark.parametrize("line", [" " * 20, " " * 3, "\u3000" * 10, " \u3000" * 5 + " " * 5])
def test_a_fixed_width_line_of_pad_blanks_is_not_a_record(tmp_path, line):
    """A line of the layout's pad blanks only, of the record's length or not: skipped and listed as the empty
    line is, not staged as a record of empty fields nor held for its length without a key."""
    layout = write_layout(tmp_path, fmt="fixed", widths=[10, 6, 4])
    path = tmp_path / "in.dat"
    path.write_bytes(("0000000019鈴木  0001\r\n" + line + "\r\n0000000027ab    0002\r\n").encode("cp932"))
    r, df = run(path, layout, tmp_path)
    assert df["ATENA_NO"].to_list() == ["0000000019", "0000000027"]
    skipped = _skipped(r)
    assert skipped["source_line"].to_list() == [2] and skipped["record_key"].null_count() == 1
    assert skipped["message_en"][0].startswith("a line of blanks only")
    assert r.quarantine.filter(pl.col("severity") == "error").is_empty()
    assert r.rows_read == 2 == r.rows_ok


def test_quarantine_csv_says_a_blank_line_is_no_record_not_a_loaded_warning():
    import polars as pl

    from ikou.reports.summary import NOT_A_RECORD, outcome_first

    q = pl.DataFrame({"severity": ["warning", "warning", "error"], "rule": ["extract.blank_line", "kana.x", "key.unique"]})
    assert outcome_first(q)["outcome"].to_list() == [NOT_A_RECORD, "警告 (投入済み) / warning: loaded",
                                                     "保留 (移行されていません) / held: not migrated"]
