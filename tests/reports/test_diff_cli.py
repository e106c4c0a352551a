"""`ikou diff LEFT RIGHT --key … --out DIR` finds exactly the planted differences."""
from __future__ import annotations

import json
import sqlite3

import polars as pl
import pytest

from ikou.flows.cli import main

CONTRACT = ("left_rows", "right_rows", "matched", "only_left", "only_right", "changed_rows",
            "changed_cells")


def _run(tmp_path, left, right, *extra):
    out = tmp_path / "out"
    rc = main(["diff", str(left), str(right), "--key", "atena_no", "--out", str(out), *extra])
    return rc, out


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_cli_finds_exactly_the_planted_differences(tmp_path, pair_csv, pair_parquet, fmt,
                                                  expected):
    left, right = pair_csv if fmt == "csv" else pair_parquet
    rc, out = _run(tmp_path, left, right)
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {k: summary[k] for k in CONTRACT} == expected
    assert (out / "report.html").is_file()
    cells = pl.read_parquet(out / "differences.parquet")
    assert sorted(zip(cells["atena_no"], cells["column"])) == [
        ("00002", "shimei"), ("00004", "jusho"), ("00005", "jusho"), ("00006", "kojin_no")]


def test_leading_zero_keys_are_different_keys(tmp_path, pair_csv):
    rc, out = _run(tmp_path, *pair_csv)
    assert pl.read_csv(out / "only_left.csv", infer_schema=False)["atena_no"].to_list() == ["00123"]
    assert pl.read_csv(out / "only_right.csv", infer_schema=False)["atena_no"].to_list() == ["123"]


def test_whitespace_change_is_a_difference_and_empty_equals_null(tmp_path, pair_csv):
    rc, out = _run(tmp_path, *pair_csv)
    cells = pl.read_csv(out / "differences.csv", infer_schema=False)
    row = cells.filter(pl.col("atena_no") == "00004").row(0, named=True)
    assert (row["left"], row["right"]) == ("架空市本町1-4", "架空市本町1-4 ")
    assert cells.filter(pl.col("atena_no") == "00003").is_empty()   # '' vs null, null vs null
    gone = cells.filter(pl.col("atena_no") == "00005").row(0, named=True)
    assert gone["right"] is None


def test_duplicate_keys_are_reported_and_fail_the_cli(tmp_path, pair_csv, capsys):
    left, right = pair_csv
    text = left.read_text(encoding="utf-8")
    left.write_text(text + "00002,鈴木花子二,スズキ,架空市,,1\n", encoding="utf-8")
    rc, out = _run(tmp_path, left, right)
    assert rc != 0
    err = capsys.readouterr().err
    assert "duplicate keys" in err and "left 1 key(s) (2 rows)" in err
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["duplicates"]["left"] == {"keys": 1, "rows": 2}
    assert summary["duplicates"]["right"] == {"keys": 0, "rows": 0}
    dup = pl.read_csv(out / "duplicates_left.csv", infer_schema=False)
    assert dup["atena_no"].to_list() == ["00002", "00002"]
    # the duplicated key is out of the join, never collapsed into one of its rows
    assert summary["only_right"] == 2 and summary["matched"] == 5


def test_missing_key_column_is_a_clear_error(tmp_path, pair_csv, capsys):
    left, right = pair_csv
    rc = main(["diff", str(left), str(right), "--key", "atena_no,rireki_no",
               "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "rireki_no" in err and "not found" in err and "left.csv" in err


def test_composite_key(tmp_path):
    left, right = tmp_path / "l.csv", tmp_path / "r.csv"
    left.write_text("atena_no,rireki_no,jusho\n001,1,A\n001,2,B\n002,1,C\n", encoding="utf-8")
    right.write_text("atena_no,rireki_no,jusho\n001,1,A\n001,2,X\n002,2,C\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["diff", str(left), str(right), "--key", "atena_no,rireki_no",
                 "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert (s["matched"], s["only_left"], s["only_right"], s["changed_rows"]) == (2, 1, 1, 1)
    assert s["changed_cells"] == {"jusho": 1}
    assert s["duplicates"]["left"]["keys"] == 0   # 001 twice, but (001,1) and (001,2) differ


def test_numeric_and_date_columns_compare_by_value(tmp_path):
    left, right = tmp_path / "l.csv", tmp_path / "r.csv"
    left.write_text("k,zeigaku,ido_date,memo\n1,1000,20240401,a\n2,1000,20240401,b\n",
                    encoding="utf-8")
    right.write_text("k,zeigaku,ido_date,memo\n1,1000.0,2024-04-01,a\n2,1,000,2024-04-02,b\n"
                     .replace("1,000", '"1,001"'), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["diff", str(left), str(right), "--key", "k", "--out", str(out),
                 "--numeric", "zeigaku", "--dates", "ido_date"]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["changed_cells"] == {"zeigaku": 1, "ido_date": 1, "memo": 0}
    assert s["control_totals"]["left"]["sums"] == {"zeigaku": 2000.0}
    assert s["control_totals"]["right"]["sums"] == {"zeigaku": 2001.0}
    out2 = tmp_path / "out2"
    assert main(["diff", str(left), str(right), "--key", "k", "--out", str(out2),
                 "--tolerance", "zeigaku=1"]) == 0
    s2 = json.loads((out2 / "summary.json").read_text(encoding="utf-8"))
    assert s2["changed_cells"]["zeigaku"] == 0
    assert s2["changed_cells"]["ido_date"] == 2   # text comparison without --dates


def test_database_source_by_url(tmp_path, pair_csv, expected):
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    df = pl.read_csv(pair_csv[0], infer_schema=False)
    con.execute("CREATE TABLE juki (" + ", ".join(f"{c} TEXT" for c in df.columns) + ")")
    con.executemany(f"INSERT INTO juki VALUES ({', '.join('?' * df.width)})", df.rows())
    con.commit()
    con.close()
    rc, out = _run(tmp_path, f"sqlite:///{db}#juki", pair_csv[1])
    assert rc == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {k: s[k] for k in CONTRACT} == expected


def test_crosswalk_maps_legacy_keys(tmp_path, pair_csv):
    xw = tmp_path / "xw.csv"
    xw.write_text("legacy_atena_no,atena_no\n00123,123\n", encoding="utf-8")
    rc, out = _run(tmp_path, *pair_csv, "--crosswalk", str(xw))
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert rc == 0 and (s["only_left"], s["only_right"], s["matched"]) == (0, 0, 7)
    assert s["crosswalk"] == {"file": "xw.csv", "entries": 1}


def test_unreadable_inputs_exit_non_zero_with_a_message(tmp_path, pair_csv, capsys):
    left, right = pair_csv
    assert main(["diff", str(tmp_path / "nope.csv"), str(right), "--key", "atena_no",
                 "--out", str(tmp_path / "o")]) == 2
    assert "nope.csv: file not found" in capsys.readouterr().err
    bad_rules = tmp_path / "rules.yaml"
    bad_rules.write_text("spec_version: 1\nrules:\n  - {name: x, columns: [a], condition: {type: magic},"
                         " reason: r, owner: o}\n", encoding="utf-8")
    assert main(["diff", str(left), str(right), "--key", "atena_no", "--out",
                 str(tmp_path / "o2"), "--rules", str(bad_rules)]) == 2
    err = capsys.readouterr().err
    assert "rules.yaml" in err and "rules.0.condition" in err


def _all_output_bytes(out) -> bytes:
    """Every byte `ikou diff` wrote, the Parquet files as their decoded text too."""
    data = b""
    for f in sorted(p for p in out.rglob("*") if p.is_file()):
        data += f.read_bytes()
        if f.suffix == ".parquet":
            data += pl.read_parquet(f).write_csv().encode("utf-8")
    return data


def test_legacy_name_columns_are_masked_whatever_the_export_calls_them(tmp_path):
    """A legacy export names its columns as it likes (SHIMEI, NAME_KANA, 氏名): by default `ikou diff` masks
    them as it masks the standard schema's shimei, in report.html, the CSVs and differences.parquet."""
    planted = ["鑿齲　嚔壱", "鑿齲　嚔弐", "ｻｸｳ ﾃｲｲﾁ", "Zzyxq Plantedname", "禰豆子蠧"]
    cols = ["SHIMEI", "NAME_KANA", "Romaji_Name", "氏名"]
    rows_l = [("0001", planted[0], planted[2], planted[3], planted[4]), ("0002", "a", "b", "c", "d"),
              ("0003", planted[1], "x", "y", "z"), ("0003", planted[1], "x", "y", "z")]
    rows_r = [("0001", planted[1], "ｻｸｳ ﾃｲﾆ", "Zzyxq Othername", "禰豆子蠧蠧"), ("0004", planted[0], "e", "f", "g")]
    for name, rows in (("l.csv", rows_l), ("r.csv", rows_r)):
        pl.DataFrame(rows, schema=["ATENA_NO", *cols], orient="row").write_csv(tmp_path / name)
    out = tmp_path / "out"
    rc = main(["diff", str(tmp_path / "l.csv"), str(tmp_path / "r.csv"), "--key", "ATENA_NO", "--out", str(out)])
    assert rc == 2   # the duplicate key 0003: reported, with its rows masked too
    data = _all_output_bytes(out)
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["changed_rows"] == 1
    for value in planted + ["ｻｸｳ ﾃｲﾆ", "Zzyxq Othername"]:
        for form in {value, value.split()[0] if " " in value else value[:3]}:
            assert form.encode("utf-8") not in data, form


def test_an_explicit_sensitive_list_is_matched_in_any_case_and_only_adds_to_the_masked_columns(tmp_path):
    pl.DataFrame({"ATENA_NO": ["1"], "BIKO": ["Plantedsecret"], "SHIMEI": ["Plantedname"]}).write_csv(tmp_path / "l.csv")
    pl.DataFrame({"ATENA_NO": ["1"], "BIKO": ["Othersecret"], "SHIMEI": ["Othername"]}).write_csv(tmp_path / "r.csv")
    out = tmp_path / "out"
    assert main(["diff", str(tmp_path / "l.csv"), str(tmp_path / "r.csv"), "--key", "ATENA_NO", "--out", str(out),
                 "--sensitive", "biko"]) == 0
    data = _all_output_bytes(out)
    assert b"Plantedsecret" not in data and b"Othersecret" not in data
    assert b"Plantedname" not in data and b"Othername" not in data   # a list adds: the names beside it stay masked


@pytest.mark.parametrize("cols", [["MY_NO", "ｼﾒｲ"], ["KOJIN_BANGO", "姓", "名"], ["マイナンバー", "SEI", "MEI"],
                                  ["ﾏｲﾅﾝﾊﾞｰ", "seimei", "NAMAE"]])
def test_other_common_spellings_of_mynumber_and_name_columns_are_masked(tmp_path, cols):
    planted_l = ["123456789018", "Zzqplantone", "Zzqplanttwo", "Zzqplantsix"][:len(cols)]
    planted_r = ["987654321098", "Zzqplantthree", "Zzqplantfour", "Zzqplantfive"][:len(cols)]
    pl.DataFrame({"ATENA_NO": ["1", "2"], **{c: [planted_l[i], "a"] for i, c in enumerate(cols)}}).write_csv(
        tmp_path / "l.csv")
    pl.DataFrame({"ATENA_NO": ["1", "3"], **{c: [planted_r[i], "b"] for i, c in enumerate(cols)}}).write_csv(
        tmp_path / "r.csv")
    out = tmp_path / "out"
    assert main(["diff", str(tmp_path / "l.csv"), str(tmp_path / "r.csv"), "--key", "ATENA_NO", "--out", str(out)]) == 0
    data = _all_output_bytes(out)
    for v in planted_l + planted_r:
        assert v.encode("utf-8") not in data and v[2:].encode("utf-8") not in data, v
