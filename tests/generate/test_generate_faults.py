"""Every planted fault is really at the line faults.csv names, and nowhere else."""
from __future__ import annotations

import csv
import io

import numpy as np
import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.checkdigit import atena_check_digits, kojin_no_check_digits
from ikou.sample.generate import FAULT_KINDS, generate

MJ_CSV = REPO_ROOT.parent / "shared" / "mj" / "mji.from-mojidata-1.8.1.csv"


def _row(sample, vendor: str, line: int) -> dict:
    frame = sample.a if vendor == "vendor_a" else sample.b
    rows = frame.filter(pl.col("line") == line).to_dicts()
    assert len(rows) == 1, (vendor, line)
    return rows[0]


def _gaiji_codes(sample, vendor: str) -> set[str]:
    with (sample.root / vendor / "gaiji.csv").open(encoding="utf-8", newline="") as f:
        return {chr(int(r["code"][2:], 16)) for r in csv.DictReader(f)}


def _kojin_ok(values: pl.Series) -> np.ndarray:
    n = values.cast(pl.Int64).to_numpy()
    return kojin_no_check_digits(n // 10) == n % 10


def test_faults_csv_lists_every_kind_in_both_vendors_where_the_format_allows(sample):
    f = sample.faults
    assert f.columns == ["vendor", "source", "line", "atena_no", "rireki_no", "column", "fault", "description"]
    assert set(f.filter(pl.col("vendor") == "vendor_a")["fault"]) == set(FAULT_KINDS)
    assert set(f.filter(pl.col("vendor") == "vendor_b")["fault"]) == set(FAULT_KINDS) - {
        "undecodable_bytes", "wrong_field_count"}
    assert set(f["source"]) == {"vendor_a/JUMIN.csv", "vendor_b/B_JUMIN.csv"}


def test_undecodable_line_really_fails_cp932_and_only_that_line(sample):
    (fault,) = sample.faults_of("vendor_a", "undecodable_bytes")
    line = sample.line_a(int(fault["line"]))
    with pytest.raises(UnicodeDecodeError):
        line.decode("cp932")
    assert b"\x85\x40" in line
    assert line.startswith(f"999997,{fault['atena_no']},{fault['rireki_no']},".encode())
    failing = []
    for n, raw in enumerate(sample.lines_a, start=1):
        try:
            raw.decode("cp932")
        except UnicodeDecodeError:
            failing.append(n)
    assert failing == [int(fault["line"])]


def test_wrong_field_count_line_has_one_field_too_many(sample):
    (fault,) = sample.faults_of("vendor_a", "wrong_field_count")
    fields = next(csv.reader(io.StringIO(sample.line_a(int(fault["line"])).decode("cp932"))))
    assert len(fields) == len(sample.cols_a) + 1
    assert fields[1] == fault["atena_no"]


def test_every_listed_row_carries_its_key(sample):
    for f in sample.faults.filter(~pl.col("fault").is_in(["undecodable_bytes", "wrong_field_count"])).to_dicts():
        row = _row(sample, f["vendor"], int(f["line"]))
        key = (row["ATENA_NO"], row["RIREKI_NO"]) if f["vendor"] == "vendor_a" else (row["KOJIN_ID"], row["SEQ"])
        assert key == (f["atena_no"], f["rireki_no"]), f


@pytest.mark.parametrize("vendor,col,bad", [("vendor_a", "SEINENGAPPI", r"^\d{4}13\d\d$"),
                                            ("vendor_b", "BIRTH", r"^[MTSHR]\d\d13\d\d$")])
def test_impossible_date_has_month_13_only_where_planted(sample, vendor, col, bad):
    frame = sample.a if vendor == "vendor_a" else sample.b
    lines = set(frame.filter(pl.col(col).str.contains(bad))["line"])
    assert lines == {int(f["line"]) for f in sample.faults_of(vendor, "impossible_date")}
    assert len(lines) == 1


def test_calendar_date_kept_is_heisei_5_february_29(sample):
    (fa,) = sample.faults_of("vendor_a", "calendar_date_kept")
    (fb,) = sample.faults_of("vendor_b", "calendar_date_kept")
    assert _row(sample, "vendor_a", int(fa["line"]))["SEINENGAPPI"] == "04050229"
    assert _row(sample, "vendor_b", int(fb["line"]))["BIRTH"] == "H050229"


def test_unknown_code_is_not_in_the_zokugara_tables(sample):
    (fa,) = sample.faults_of("vendor_a", "unknown_code")
    (fb,) = sample.faults_of("vendor_b", "unknown_code")
    assert _row(sample, "vendor_a", int(fa["line"]))["ZOKUGARA"] not in sample.code_set(
        sample.standard_codes / "zokugara.csv", "code")
    assert _row(sample, "vendor_b", int(fb["line"]))["ZOKU"] not in sample.code_set(
        sample.vendor_b_codes / "zokugara.csv", "source_code")


@pytest.mark.parametrize("vendor,key", [("vendor_a", ["ATENA_NO", "RIREKI_NO"]), ("vendor_b", ["KOJIN_ID", "SEQ"])])
def test_duplicate_key_is_the_only_repeated_key(sample, vendor, key):
    frame = sample.a if vendor == "vendor_a" else sample.b
    dup = frame.filter(pl.struct(key).is_duplicated())
    (fault,) = sample.faults_of(vendor, "duplicate_key")
    assert sorted(dup["line"]) == [int(fault["line"]) - 1, int(fault["line"])]


@pytest.mark.parametrize("vendor,col", [("vendor_a", "SHIMEI"), ("vendor_b", "NAME_KANJI")])
def test_unknown_gaiji_is_the_only_pua_character_missing_from_the_gaiji_table(sample, vendor, col):
    frame = sample.a if vendor == "vendor_a" else sample.b
    known = _gaiji_codes(sample, vendor)
    used = frame.select("line", c=pl.col(col).str.extract_all(r"[\ue000-\uf8ff]")).explode("c").drop_nulls()
    unknown = used.filter(~pl.col("c").is_in(sorted(known)))
    (fault,) = sample.faults_of(vendor, "unknown_gaiji")
    assert set(unknown["line"]) == {int(fault["line"])}
    # ~2% of persons carry a registered 外字 (the ten MJ glyphs; vendor A also has two more)
    persons = frame.select(pl.col(col).str.contains(r"[\ue000-\ue009\uf100-\uf109]").alias("g"),
                           pl.col("ATENA_NO" if vendor == "vendor_a" else "KOJIN_ID").alias("id")).unique("id")
    assert 0.005 < persons["g"].mean() < 0.06


@pytest.mark.parametrize("vendor,setai,atena,rireki,zoku,jotai,head,resident", [
    ("vendor_a", "SETAI_NO", "ATENA_NO", "RIREKI_NO", "ZOKUGARA", "JUMIN_JOTAI", "02", "1"),
    ("vendor_b", "SETAI_ID", "KOJIN_ID", "SEQ", "ZOKU", "STATUS", "1", "A"),
])
def test_each_household_has_one_setainushi_except_the_planted_one(sample, vendor, setai, atena, rireki, zoku,
                                                                   jotai, head, resident):
    frame = sample.a if vendor == "vendor_a" else sample.b
    current = (frame.sort(pl.col(rireki).cast(pl.Int64)).group_by(atena).last()
               .filter(pl.col(jotai) == resident))
    heads = current.group_by(setai).agg(n=(pl.col(zoku) == head).sum(), line=pl.col("line").max())
    assert heads["n"].max() == 1
    (fault,) = sample.faults_of(vendor, "no_setainushi")
    planted = frame.filter(pl.col("line") == int(fault["line"]))[setai].item()
    assert set(heads.filter(pl.col("n") == 0)[setai]) == {planted}


def test_kojin_no_check_digit_follows_the_ordinance():
    assert kojin_no_check_digits(np.array([98320567321]))[0] == 4


@pytest.mark.parametrize("vendor,col", [("vendor_a", "KOJIN_NO"), ("vendor_b", "MYNUMBER")])
def test_kojin_no_check_digits_are_valid_except_the_planted_one(sample, vendor, col):
    frame = sample.a if vendor == "vendor_a" else sample.b
    bad = frame.filter(~pl.Series(_kojin_ok(frame[col])))
    (fault,) = sample.faults_of(vendor, "bad_kojin_no")
    assert set(bad["line"]) == {int(fault["line"])}


def test_atena_and_setai_numbers_mostly_carry_the_modulus_11_digit(sample):
    for col in ("ATENA_NO", "SETAI_NO"):
        n = sample.a.unique(col)[col].cast(pl.Int64).to_numpy()
        ok = atena_check_digits(n // 10) == n % 10
        assert 0.85 < ok.mean() < 1.0, col  # legacy numbers without it exist


@pytest.mark.parametrize("vendor,col", [("vendor_a", "SHIMEI"), ("vendor_b", "NAME_KANJI")])
def test_missing_required_is_the_only_empty_name(sample, vendor, col):
    frame = sample.a if vendor == "vendor_a" else sample.b
    empty = frame.filter(pl.col(col).is_null() | (pl.col(col) == ""))
    (fault,) = sample.faults_of(vendor, "missing_required")
    assert set(empty["line"]) == {int(fault["line"])}


@pytest.mark.skipif(not MJ_CSV.exists(), reason="MJ文字情報一覧表 CSV not available (../shared/mj)")
@pytest.mark.parametrize("vendor", ["vendor_a", "vendor_b"])
def test_gaiji_tables_name_real_mj_glyphs_that_cp932_cannot_encode(sample, vendor):
    mj = pl.read_csv(MJ_CSV, infer_schema=False).select(
        mj="MJ文字図形名", ucs="実装したUCS", ivs="実装したMoji_JohoコレクションIVS")
    table = pl.read_csv(sample.root / vendor / "gaiji.csv", infer_schema=False).join(mj, on="mj", how="left")
    assert table["ucs"].null_count() + table["ivs"].null_count() < 2 * table.height  # every name found
    assert table.filter(pl.col("ucs").is_null() & pl.col("ivs").is_null()).height == 0
    for ucs, ivs in table.select("ucs", "ivs").iter_rows():  # ~12 rows
        glyph = ("".join(chr(int(p, 16)) for p in ivs.split("_")) if ivs else chr(int(ucs[2:], 16)))
        with pytest.raises(UnicodeEncodeError):
            glyph.encode("cp932")
    assert table["code"].str.contains(r"^U\+[0-9A-F]{4,5}$").all()
    assert table["code"].is_unique().all()


@pytest.mark.slow
def test_a_bigger_population_keeps_its_shape(tmp_path):
    counts = generate(tmp_path, 30_000)
    assert counts["persons"] == 30_000
    assert 2.2 < counts["persons"] / counts["households"] < 2.8
    raw = (tmp_path / "vendor_a" / "JUMIN.csv").read_bytes()
    assert raw.count(b"\r\n") == counts["rows_vendor_a"]
    b = pl.read_csv(tmp_path / "vendor_b" / "B_JUMIN.csv", infer_schema=False)
    assert b.height == counts["rows_vendor_b"] == counts["rows_vendor_a"]
    assert b["KOJIN_ID"].n_unique() == 30_000
    assert b["SETAI_ID"].n_unique() == counts["households"]
    assert b.group_by("KOJIN_ID").len()["len"].is_between(1, 5).all()  # 1–4 rows, +1 for the duplicate
    assert pl.read_csv(tmp_path / "faults.csv")["fault"].n_unique() == len(FAULT_KINDS)
