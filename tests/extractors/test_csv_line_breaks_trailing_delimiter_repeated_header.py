"""CSV layouts: line breaks only in the columns marked `line_breaks: true`, a delimiter ending every line
(`trailing_delimiter: true`), a column name that is empty, and the header line repeated mid-file."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from ikou.errors import ConfigError, LayoutError
from ikou.extractors import load_layout
from ikou.extractors.csv_file import extract_csv
from ikou.extractors.layout import Layout
from tests.extractors.conftest import run

CHUNKS = [32 << 20, 40]   # whole file, and chunks cut inside records


def layout_file(tmp: Path, *, names=("ATENA_NO", "SHIMEI", "BIKO"), line_breaks=(), encoding="utf-8",
                **top) -> Path:
    spec = {"spec_version": 1, "name": "t.layout", "format": "csv", "encoding": encoding,
            "columns": [{"name": n, "ja": f"{n}項目", **({"line_breaks": True} if n in line_breaks else {})}
                        for n in names], **top}
    path = tmp / f"layout_{len(list(tmp.glob('layout_*')))}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def held(r) -> list[tuple]:
    return r.quarantine.filter(pl.col("severity") == "error").select("source_line", "column", "rule").rows()


# ------------------------------------------------------------------------------- line breaks, column by column
@pytest.mark.parametrize("chunk_bytes", CHUNKS)
def test_a_quoted_line_break_is_kept_only_in_a_column_marked_line_breaks_and_held_elsewhere(tmp_path, chunk_bytes):
    """quoted_newlines: true lets a record run over lines; the break is kept in 備考 (marked) and holds the
    record anywhere else (a 氏名 with CR LF is corrupt data), with a message saying how to allow it."""
    rows = ['0000000001,"山田\r\n花子","一行目"', '0000000002,"鈴木　一","一行目\r\n二行目\n三行目"',
            '0000000003,"佐\n藤","x"', '0000000004,"高橋\r誠","x"', '0000000005,"伊藤","x"']
    path = tmp_path / "nl.csv"
    path.write_bytes("".join(x + "\r\n" for x in rows).encode("utf-8"))
    lay = layout_file(tmp_path, quoted_newlines=True, line_breaks=["BIKO"])
    r, df = run(path, lay, tmp_path, chunk_bytes=chunk_bytes)
    assert df.select("ATENA_NO", "BIKO").rows() == [("0000000002", "一行目\r\n二行目\n三行目"),
                                                    ("0000000005", "x")]
    assert held(r) == [(1, "SHIMEI", "extract.control_char"), (6, "SHIMEI", "extract.control_char"),
                       (8, "SHIMEI", "extract.control_char")]
    assert r.rows_read == 5
    assert all("line_breaks: true" in m for m in r.quarantine["message_en"].to_list())
    assert all("line_breaks: true" in m for m in r.quarantine["message_ja"].to_list())
    assert "CR (U+000D)" in r.quarantine["message_en"][0] and "LF (U+000A)" in r.quarantine["message_en"][1]


@pytest.mark.parametrize("chunk_bytes", CHUNKS)
def test_nel_and_unicode_line_separators_are_kept_only_in_a_column_marked_line_breaks(tmp_path, chunk_bytes):
    """NEL, U+2028 and U+2029 are line breaks too: with quoted_newlines they are kept in a marked column only."""
    rows = ["0000000001,山田\u2028花子,x", "0000000002,a,b\x85c", '0000000003,"鈴木","一\u2029二"',
            "0000000004,佐藤,x"]
    path = tmp_path / "u.csv"
    path.write_bytes("".join(x + "\n" for x in rows).encode("utf-8"))
    lay = layout_file(tmp_path, quoted_newlines=True, line_breaks=["BIKO"])
    r, df = run(path, lay, tmp_path, chunk_bytes=chunk_bytes)
    assert df["BIKO"].to_list() == ["b\x85c", "一\u2029二", "x"]
    assert held(r) == [(1, "SHIMEI", "extract.control_char")]
    assert "LS (U+2028)" in r.quarantine["message_en"][0] and "line_breaks: true" in r.quarantine["message_en"][0]


def test_line_breaks_on_a_csv_column_needs_quoted_newlines_and_never_on_a_key(tmp_path):
    base = {"spec_version": 1, "name": "c", "format": "csv", "key": ["A"],
            "columns": [{"name": "A", "ja": "a"}, {"name": "B", "ja": "b", "line_breaks": True}]}
    with pytest.raises(ValueError, match="quoted_newlines"):
        Layout.model_validate(base)
    assert Layout.model_validate({**base, "quoted_newlines": True}).columns[1].line_breaks
    with pytest.raises(ValueError, match="key column never holds a line break"):
        Layout.model_validate({**base, "quoted_newlines": True,
                               "columns": [{"name": "A", "ja": "a", "line_breaks": True}, {"name": "B", "ja": "b"}]})
    # the key the mapping names (not the layout's): refused at extract, naming the column
    path = tmp_path / "k.csv"
    path.write_bytes(b"1,x,y\n")
    lay = load_layout(layout_file(tmp_path, quoted_newlines=True, line_breaks=["BIKO"]))
    with pytest.raises(LayoutError, match=r"\['BIKO'\].*line_breaks") as e:
        extract_csv(path, lay, out_path=tmp_path / "o.parquet", source_name="s", source_ordinal=1, target_table="t",
                    run_id="r", dantai_code="999717", key_columns=["ATENA_NO", "BIKO"])
    assert "キー項目" in e.value.ja


# ------------------------------------------------------------------------------- an empty column name
def test_an_empty_column_name_is_refused_when_the_layout_loads(tmp_path):
    """A trailing delimiter described as a column named "" passed the plan and crashed the extract
    (ColumnNotFoundError): it is refused at load, naming the file, the column and the option to use."""
    path = layout_file(tmp_path, names=("A", "B", ""), header=True)
    with pytest.raises(ConfigError, match=r"columns\.2\.name.*must not be empty.*trailing_delimiter"):
        load_layout(path)
    with pytest.raises(ConfigError, match="must not be empty"):
        load_layout(layout_file(tmp_path, names=("A", "  ")))


# ------------------------------------------------------------------------------- trailing_delimiter
@pytest.mark.parametrize("chunk_bytes", CHUNKS)
def test_a_trailing_delimiter_on_every_line_is_dropped_and_a_line_breaking_the_rule_is_held(tmp_path, chunk_bytes):
    """`trailing_delimiter: true`: the empty field after the last delimiter is dropped (header included); a
    line with a value there, or without that delimiter, is held as extract.field_count naming its line."""
    lines = ["ATENA_NO,SHIMEI,BIKO,", "0000000001,山田,x,", '0000000002,"鈴木","a,b",',
             "0000000003,佐藤,x,EXTRA", "0000000004,高橋,x", "0000000005,伊藤,,", "0000000006,a,b,c,",
             '0000000007,"二\r\n行",x,']
    path = tmp_path / "trail.csv"
    path.write_bytes("".join(x + "\r\n" for x in lines).encode("utf-8"))
    lay = layout_file(tmp_path, header=True, trailing_delimiter=True, quoted_newlines=True, line_breaks=["SHIMEI"])
    r, df = run(path, lay, tmp_path, chunk_bytes=chunk_bytes)
    assert df.columns[3:] == ["ATENA_NO", "SHIMEI", "BIKO"]
    assert df.select("_source_line", "ATENA_NO", "SHIMEI", "BIKO").rows() == [
        (2, "0000000001", "山田", "x"), (3, "0000000002", "鈴木", "a,b"), (6, "0000000005", "伊藤", None),
        (8, "0000000007", "二\r\n行", "x")]
    assert held(r) == [(4, None, "extract.field_count"), (5, None, "extract.field_count"),
                       (7, None, "extract.field_count")]
    assert r.rows_read == 7
    q = r.quarantine
    assert q["value"][0] == "EXTRA" and "trailing_delimiter: true" in q["message_en"][0]
    assert "trailing_delimiter: true" in q["message_en"][1] and "trailing_delimiter: true" in q["message_ja"][1]


def test_a_trailing_delimiter_layout_refuses_a_file_whose_header_or_lines_lack_it(tmp_path):
    path = tmp_path / "h.csv"
    path.write_bytes(b"ATENA_NO,SHIMEI,BIKO\r\n1,a,b,\r\n")
    with pytest.raises(LayoutError, match="does not end with a delimiter.*trailing_delimiter: true") as e:
        run(path, layout_file(tmp_path, header=True, trailing_delimiter=True), tmp_path)
    assert "trailing_delimiter: true" in e.value.ja
    # without a header: a file none of whose lines ends with one is refused as such, not as a field count
    path.write_bytes(b"1,a,b\r\n2,a,b\r\n3,a,b\r\n")
    with pytest.raises(LayoutError, match="none of the first 3 records .* ends with a delimiter") as e:
        run(path, layout_file(tmp_path, trailing_delimiter=True), tmp_path)
    assert "trailing_delimiter: true" in e.value.ja


def test_trailing_delimiter_applies_to_csv_layouts_only():
    with pytest.raises(ValueError, match="trailing_delimiter applies to csv"):
        Layout.model_validate({"spec_version": 1, "name": "f", "format": "fixed", "trailing_delimiter": True,
                               "columns": [{"name": "A", "ja": "a", "width": 2}]})


def test_a_value_in_the_trailing_field_that_does_not_decode_names_no_internal_column(tmp_path):
    """The field after the trailing delimiter is read as an internal column: a finding on it names none."""
    path = tmp_path / "d.csv"
    path.write_bytes(b"0000000001,a,b,\r\n0000000002,a,b,\x81\r\n")
    r, df = run(path, layout_file(tmp_path, trailing_delimiter=True, encoding="cp932"), tmp_path)
    assert df["ATENA_NO"].to_list() == ["0000000001"]
    assert held(r) == [(2, None, "extract.decode")]


# ------------------------------------------------------------------------------- the header repeated
@pytest.mark.parametrize("chunk_bytes", CHUNKS)
def test_a_header_line_repeated_mid_file_is_held_once_as_repeated_header(tmp_path, chunk_bytes):
    """Two exports concatenated (`cat a.csv b.csv`): the second header is one finding saying so, with no
    record_key (it names no person), and still a record held (read = staged + held)."""
    lines = ["団体コード,宛名番号,氏名", "999717,0000000001,山田", "999717,0000000002,鈴木",
             "団体コード,宛名番号,氏名", "999717,0000000003,佐藤", '"団体コード", 宛名番号 ,"氏名"']
    path = tmp_path / "cat.csv"
    path.write_bytes("".join(x + "\r\n" for x in lines).encode("cp932"))
    lay = layout_file(tmp_path, names=("団体コード", "宛名番号", "氏名"), header=True, encoding="cp932",
                      key=["宛名番号"])
    r, df = run(path, lay, tmp_path, chunk_bytes=chunk_bytes)
    assert df["宛名番号"].to_list() == ["0000000001", "0000000002", "0000000003"]
    q = r.quarantine
    assert q.select("source_line", "column", "rule", "record_key").rows() == [
        (4, None, "extract.repeated_header", None), (6, None, "extract.repeated_header", None)]
    assert "見出し行がファイルの途中にあります" in q["message_ja"][0] and "concatenated" in q["message_en"][0]
    assert r.rows_read == 5 == df.height + q["row_id"].n_unique()
    # without `header: true` a line of the names is a record like any other (the layout says nothing of them)
    path.write_bytes("".join(x + "\r\n" for x in lines[1:]).encode("cp932"))
    lay = layout_file(tmp_path, names=("団体コード", "宛名番号", "氏名"), encoding="cp932")
    r, df = run(path, lay, tmp_path, chunk_bytes=chunk_bytes, out="nohead.parquet")
    assert df.height == 5 and r.quarantine.height == 0


def test_a_repeated_header_is_no_record_held_without_its_key(tmp_path):
    """It names no person: not a `held_without_key` sign-off blocker, and no household is told its 世帯主 may be
    among the held records for it (flows.pipeline.held_at_extract), unlike a record whose key could not be read."""
    from ikou import quarantine as q
    from ikou.config import load_config
    from ikou.flows import pipeline as P
    from ikou.reports.summary import table_counts
    from ikou.stage import StageResult
    from tests.flows.conftest import vendor_a_source, write_config

    cfg = load_config(write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}"))
    p, = P.plan(cfg)
    finding = {"run_id": "r", "dantai_code": "999997", "stage": "extract", "table": p.target, "source": "JUMIN.csv",
               "source_line": 4, "row_id": 4, "severity": "error", "rule": "extract.repeated_header"}
    for rule, untied in (("extract.repeated_header", 0), ("extract.field_count", 1)):
        quarantine = q.conform(pl.DataFrame([{**finding, "rule": rule}]))
        ex = StageResult(stage="extract", name=p.source.name, rows_in=5, rows_out=4, quarantine=quarantine)
        assert table_counts([p], [ex], quarantine)[p.target].held_without_key == untied, rule
        assert P.held_at_extract(p, quarantine).height == untied, rule
