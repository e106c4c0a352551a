"""Layout `record_types`: header / data / trailer records (レコード区分) in fixed-width and csv files."""
from __future__ import annotations

import polars as pl
import pytest
import yaml
from pydantic import ValidationError

from ikou.errors import LayoutError
from ikou.extractors.layout import Layout
from tests.extractors.conftest import rules_by_line, run

WIDTHS = {"REC_KBN": 1, "ATENA_NO": 10, "SHIMEI": 12, "KINGAKU": 8}
TYPES = {"column": "REC_KBN", "data": ["2"], "header": ["1"], "trailer": ["9"],
         "trailer_count": {"column": "ATENA_NO"}}


def _layout(tmp, fmt: str, types: dict | None = TYPES, **extra) -> str:
    cols = [{"name": n, "ja": n, **({"width": w} if fmt == "fixed" else {})} for n, w in WIDTHS.items()]
    spec = {"spec_version": 1, "name": "test.rt", "format": fmt, "encoding": "cp932", "key": ["ATENA_NO"],
            "columns": cols, **extra}
    if types is not None:
        spec["record_types"] = types
    path = tmp / f"rt_{fmt}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def _fixed(kbn: str, atena: str, name: str = "山田", amount: int = 1) -> bytes:
    n = name.encode("cp932")
    return kbn.encode() + atena.encode() + n + b" " * (12 - len(n)) + str(amount).rjust(8, "0").encode()


# a header whose kanji title is cut by the ATENA_NO / SHIMEI boundary (a lead byte at offset 10): read as a
# data record, it would be held as extract.split_character
HEADER = (b"1" + b"20261" + "住民記録です".encode("cp932")).ljust(31, b" ")


def _trailer(n: int) -> bytes:
    return (b"9" + b"%010d" % n).ljust(31, b" ")


def _csv(kbn: str, atena: str, name: str = "山田", amount: int = 1) -> bytes:
    return f"{kbn},{atena},{name},{amount}".encode("cp932")


CSV_HEADER = "1,20261130,住民記録\tベンダー".encode("cp932")   # 3 fields, a TAB: another layout


def _write(tmp, records: list[bytes], name: str = "f.dat") -> str:
    path = tmp / name
    path.write_bytes(b"\r\n".join(records) + b"\r\n")
    return path


def test_fixed_width_header_and_trailer_are_counted_not_staged_nor_checked(tmp_path):
    path = _write(tmp_path, [HEADER, _fixed("2", "0000000001"), _fixed("2", "0000000002"), _trailer(2)])
    r, df = run(path, _layout(tmp_path, "fixed"), tmp_path)
    assert r.quarantine.height == 0
    assert df["ATENA_NO"].to_list() == ["0000000001", "0000000002"] and df["_source_line"].to_list() == [2, 3]
    assert r.rows_read == 2 == r.rows_ok
    assert r.extra["record_types"] == {"header": 1, "data": 2, "trailer": 1, "undeclared": 0}


def test_csv_header_and_trailer_with_other_field_counts_are_counted_not_staged_nor_checked(tmp_path):
    path = _write(tmp_path, [CSV_HEADER, _csv("2", "0000000001"), _csv("2", "0000000002"), b"9,0000000002"],
                  "f.csv")
    r, df = run(path, _layout(tmp_path, "csv"), tmp_path)
    assert r.quarantine.height == 0
    assert df["ATENA_NO"].to_list() == ["0000000001", "0000000002"] and df["_source_line"].to_list() == [2, 3]
    assert r.rows_read == 2 == r.rows_ok
    assert r.extra["record_types"] == {"header": 1, "data": 2, "trailer": 1, "undeclared": 0}


@pytest.mark.parametrize("fmt", ["fixed", "csv"])
def test_a_record_of_an_undeclared_type_is_held_without_a_key_and_counted_as_read(tmp_path, fmt):
    rec = _fixed if fmt == "fixed" else _csv
    head = HEADER if fmt == "fixed" else CSV_HEADER
    path = _write(tmp_path, [head, rec("2", "0000000001"), rec("3", "0000000002"), rec("2", "0000000003"),
                             _trailer(2) if fmt == "fixed" else b"9,2"])
    r, df = run(path, _layout(tmp_path, fmt), tmp_path)
    assert df["ATENA_NO"].to_list() == ["0000000001", "0000000003"]
    assert rules_by_line(r) == {3: "extract.record_type"}
    f = r.quarantine.row(0, named=True)
    assert (f["column"], f["value"], f["record_key"], f["severity"]) == ("REC_KBN", "3", None, "error")
    assert "'3'" in f["message_ja"] and "'3'" in f["message_en"] and "ファイル先頭から" in f["message_ja"]
    assert r.rows_read == 3 == r.rows_ok + r.quarantine["row_id"].n_unique()   # extracted = loaded + held
    assert r.extra["record_types"] == {"header": 1, "data": 2, "trailer": 1, "undeclared": 1}


@pytest.mark.parametrize("fmt", ["fixed", "csv"])
def test_a_trailer_count_that_differs_from_the_data_records_read_stops_the_run(tmp_path, fmt):
    rec = _fixed if fmt == "fixed" else _csv
    path = _write(tmp_path, [rec("2", "0000000001"), rec("2", "0000000002"), rec("2", "x"),   # held, still read
                             _trailer(4) if fmt == "fixed" else b"9,4"], f"EXPORT.{fmt}")
    with pytest.raises(LayoutError) as e:
        run(path, _layout(tmp_path, fmt), tmp_path)
    assert "EXPORT" in str(e.value) and "4 data records" in str(e.value) and "3 were read" in str(e.value)
    assert "EXPORT" in e.value.ja and "4 件" in e.value.ja and "3 件" in e.value.ja


@pytest.mark.parametrize("records, said", [
    ([_fixed("2", "0000000001")], "no trailer record"),
    ([_fixed("2", "0000000001"), _trailer(1), _fixed("2", "0000000002")], "1 data records follow the last trailer"),
    ([_fixed("2", "0000000001"), b"9" + b"ABC".ljust(30)], "holds no count"),
])
def test_a_missing_trailer_data_after_it_or_an_unreadable_count_stops_the_run(tmp_path, records, said):
    with pytest.raises(LayoutError, match=said):
        run(_write(tmp_path, records), _layout(tmp_path, "fixed"), tmp_path)


def test_each_trailer_counts_the_data_records_since_the_one_before(tmp_path):
    path = _write(tmp_path, [HEADER, _fixed("2", "0000000001"), _trailer(1),
                             HEADER, _fixed("2", "0000000002"), _fixed("2", "0000000003"), _trailer(2)])
    r, df = run(path, _layout(tmp_path, "fixed"), tmp_path)
    assert df.height == 3 and r.extra["record_types"] == {"header": 2, "data": 3, "trailer": 2, "undeclared": 0}
    bad = _write(tmp_path, [_fixed("2", "0000000001"), _trailer(1), _fixed("2", "0000000002"), _trailer(2)], "b.dat")
    with pytest.raises(LayoutError, match="counts 2 data records, but 1 were read since the trailer before"):
        run(bad, _layout(tmp_path, "fixed"), tmp_path)


@pytest.mark.parametrize("fmt", ["fixed", "csv"])
def test_header_and_trailer_with_count_zero_is_an_empty_export_not_a_held_record(tmp_path, fmt):
    """Like a csv holding only its header: 0 records read, nothing held (the run's 0-records blocker applies)."""
    records = [HEADER, _trailer(0)] if fmt == "fixed" else [CSV_HEADER, b"9,0000000000"]
    r, df = run(_write(tmp_path, records), _layout(tmp_path, fmt), tmp_path)
    assert df.height == 0 and r.rows_read == 0 and r.quarantine.height == 0
    assert r.extra["record_types"] == {"header": 1, "data": 0, "trailer": 1, "undeclared": 0}


def test_a_real_person_numbered_like_the_trailer_count_is_loaded_and_the_trailer_is_not(tmp_path):
    records = [_fixed("2", f"{i:010d}") for i in range(1, 61)]
    r, df = run(_write(tmp_path, [*records, _trailer(60)]), _layout(tmp_path, "fixed"), tmp_path)
    assert r.quarantine.height == 0 and df.height == 60
    assert df.filter(pl.col("ATENA_NO") == "0000000060")["REC_KBN"].to_list() == ["2"]


@pytest.mark.parametrize("fmt", ["fixed", "csv"])
def test_counts_across_chunks_equal_one_read(tmp_path, fmt):
    rec = _fixed if fmt == "fixed" else _csv
    head = HEADER if fmt == "fixed" else CSV_HEADER
    body = [rec("2" if i % 50 else "7", f"{i:010d}") for i in range(1, 401)]
    path = _write(tmp_path, [head, *body, _trailer(392) if fmt == "fixed" else b"9,392"])
    layout = _layout(tmp_path, fmt)
    a, da = run(path, layout, tmp_path, out="a.parquet")
    b, db = run(path, layout, tmp_path, chunk_bytes=512, out="b.parquet")
    assert a.extra["record_types"] == b.extra["record_types"] == {"header": 1, "data": 392, "trailer": 1,
                                                                  "undeclared": 8}
    assert da.equals(db) and a.quarantine.drop("run_id").equals(b.quarantine.drop("run_id"))


def test_a_type_column_holding_no_declared_value_is_a_layout_error(tmp_path):
    types = {**TYPES, "data": ["D"], "header": ["H"], "trailer": ["T"]}
    path = _write(tmp_path, [_fixed("2", "0000000001"), _fixed("2", "0000000002")])
    with pytest.raises(LayoutError, match="none of the first 2 records holds a declared record type in column REC_KBN"):
        run(path, _layout(tmp_path, "fixed", types), tmp_path)
    # the wrong column may hold names or 個人番号 digits: its values are described, never shown
    names = _write(tmp_path, [_csv("山田太郎", "0000000001"), _csv("7395", "0000000002")], "n.csv")
    with pytest.raises(LayoutError) as info:
        run(names, _layout(tmp_path, "csv", types), tmp_path)
    said = str(info.value) + info.value.ja
    assert "2 distinct values of 4–4 characters" in said and "山田" not in said and "7395" not in said


def test_a_csv_record_held_whole_by_the_record_finder_counts_as_data_for_the_trailer(tmp_path):
    """A data record with a quote left open is held (read, not staged): the trailer counted it, so the count matches."""
    path = _write(tmp_path, [_csv("1", "HDR"), b'2,0000000001,"abc', _csv("2", "0000000002"), _trailer_csv(2)],
                  "q.csv")
    r, df = run(path, _layout(tmp_path, "csv"), tmp_path)
    assert df["ATENA_NO"].to_list() == ["0000000002"] and r.rows_read == 2


def _trailer_csv(n: int) -> bytes:
    return f"9,{n},,".encode("cp932")


@pytest.mark.parametrize("types, said", [
    ({**TYPES, "column": "KBN"}, "columns the layout does not have"),
    ({**TYPES, "trailer_count": {"column": "KENSU"}}, "columns the layout does not have"),
    ({**TYPES, "header": ["2"]}, "names one type only"),
    ({"column": "REC_KBN", "data": ["2"], "trailer_count": {"column": "ATENA_NO"}}, "needs the trailer"),
    ({**TYPES, "data": []}, "at least 1"),
])
def test_record_types_is_checked_when_the_layout_is_read(tmp_path, types, said):
    spec = yaml.safe_load(_layout(tmp_path, "fixed", types).read_text(encoding="utf-8"))
    with pytest.raises(ValidationError, match=said):
        Layout.model_validate(spec)


def test_back_to_back_records_with_header_and_trailer(tmp_path):
    """`record_terminator: none`: header and trailer are records of the same length, told apart by type."""
    path = tmp_path / "nt.dat"
    path.write_bytes(HEADER + _fixed("2", "0000000001") + _fixed("2", "0000000002") + _trailer(2))
    r, df = run(path, _layout(tmp_path, "fixed", record_terminator="none"), tmp_path)
    assert r.quarantine.height == 0 and df["_source_line"].to_list() == [2, 3]
    assert r.extra["record_types"] == {"header": 1, "data": 2, "trailer": 1, "undeclared": 0}


@pytest.mark.parametrize("encoding", ["cp932", "euc_jp"])   # euc_jp: the record-by-record path (not columnar)
def test_csv_types_read_in_any_encoding_and_quoted(tmp_path, encoding):
    lines = ["1,20261130,住民記録", '"2",0000000001,山田,1', "3,0000000002,佐藤,2", '"9","1"']
    path = tmp_path / "e.csv"
    path.write_bytes("\r\n".join(lines).encode(encoding) + b"\r\n")
    r, df = run(path, _layout(tmp_path, "csv"), tmp_path, encoding=encoding)
    assert df["ATENA_NO"].to_list() == ["0000000001"] and rules_by_line(r) == {3: "extract.record_type"}
    assert r.extra["record_types"] == {"header": 1, "data": 1, "trailer": 1, "undeclared": 1}


def test_an_end_of_file_mark_after_the_trailer_is_no_record_of_any_type(tmp_path):
    path = tmp_path / "eof.dat"
    path.write_bytes(b"\r\n".join([HEADER, _fixed("2", "0000000001"), _trailer(1)]) + b"\r\n\x1a")
    r, df = run(path, _layout(tmp_path, "fixed"), tmp_path)
    assert df.height == 1 and rules_by_line(r) == {4: "extract.eof_marker"} and r.rows_read == 1
    assert r.extra["record_types"] == {"header": 1, "data": 1, "trailer": 1, "undeclared": 0}


@pytest.mark.parametrize("width", [2, 3, 9])   # 1 is every other test's; 2 and wider read the type otherwise
def test_a_wider_type_column_is_read_whole_and_without_its_pad(tmp_path, width):
    spec = yaml.safe_load(_layout(tmp_path, "fixed").read_text(encoding="utf-8"))
    spec["columns"][0]["width"] = width
    spec["record_types"] = {**TYPES, "data": ["02", "２"], "header": ["01"], "trailer": ["99"]}
    layout = tmp_path / "wide.yaml"
    layout.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")

    def rec(kbn: str, body: bytes) -> bytes:
        return kbn.encode("cp932").ljust(width, b" ") + body

    path = _write(tmp_path, [rec("01", HEADER[1:]), rec("02", _fixed("", "0000000001")),
                             rec("２", _fixed("", "0000000002")), rec("03", _fixed("", "0000000003")),
                             rec("99", _trailer(2)[1:])])
    r, df = run(path, layout, tmp_path)
    assert df["ATENA_NO"].to_list() == ["0000000001", "0000000002"] and rules_by_line(r) == {4: "extract.record_type"}
    assert r.quarantine["value"].to_list() == ["03"]
    assert r.extra["record_types"] == {"header": 1, "data": 2, "trailer": 1, "undeclared": 1}
