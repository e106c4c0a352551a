"""The generator's 個人住民税 files: the same population, consistent amounts, faults where listed."""
from __future__ import annotations

import hashlib

import polars as pl
import pytest

from ikou.extractors import load_layout
from ikou import REPO_ROOT
from ikou.sample.generate import GYOMU, TAX_FAULTS_FILE, TAX_FILES_A, TAX_FILES_B, generate
from tests.generate.conftest import Sample

VENDORS = REPO_ROOT / "specs" / "vendors"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Sample:
    root = tmp_path_factory.mktemp("gen1000_all")
    generate(root, 1000, gyomu=GYOMU)
    return Sample(root)


def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_juki_files_are_byte_identical_with_or_without_the_tax_files(sample, tmp_path):
    generate(tmp_path, 1000)
    for name in ("vendor_a/JUMIN.csv", "vendor_b/B_JUMIN.csv", "faults.csv"):
        assert _sha(tmp_path / name) == _sha(sample.root / name)
    assert not (tmp_path / TAX_FILES_A["kazei"]).exists()


def test_committed_tax_sample_is_what_the_generator_writes(sample):
    committed = REPO_ROOT / "data" / "sample"
    for name in [*TAX_FILES_A.values(), *TAX_FILES_B.values(), TAX_FAULTS_FILE]:
        assert _sha(committed / name) == _sha(sample.root / name), name


def _read_a(root, kind):
    layout = load_layout(VENDORS / "vendor_a" / "layouts" / f"zei_{kind}.yaml")
    return pl.read_csv(root / TAX_FILES_A[kind], has_header=False, new_columns=layout.names, infer_schema=False,
                       encoding="cp932")


def test_tax_files_follow_the_layouts_and_both_vendors_hold_the_same_rows(sample):
    for kind in TAX_FILES_A:
        a = _read_a(sample.root, kind)
        b = pl.read_csv(sample.root / TAX_FILES_B[kind], infer_schema=False)
        assert b.columns == load_layout(VENDORS / "vendor_b" / "layouts" / f"b_zei_{kind}.yaml").names
        assert a.height == b.height > 500
        assert a["ATENA_NO"].to_list() == b["KOJIN_ID"].to_list()
        assert (sample.root / TAX_FILES_A[kind]).read_bytes().endswith(b"\r\n")


def test_taxpayers_are_residents_of_the_same_population(sample):
    atena = set(sample.b["KOJIN_ID"])
    g = _read_a(sample.root, "gimusha")
    assert set(g["ATENA_NO"]) <= atena
    assert set(g["NENDO"]) == {"2025", "2026"}


def test_amounts_are_consistent_except_where_a_fault_is_planted(sample):
    faults = pl.read_csv(sample.root / "faults_kojin_juminzei.csv", infer_schema=False)
    bad_lines = set(faults.filter(pl.col("source") == TAX_FILES_A["kazei"])["line"].cast(pl.Int64))
    k = _read_a(sample.root, "kazei").with_row_index("line", offset=1).filter(
        ~pl.col("line").cast(pl.Int64).is_in(sorted(bad_lines)))
    n = k.select(pl.col("SHOTOKUWARI", "KINTOWARI", "NENGAKU").cast(pl.Int64))
    assert (n["NENGAKU"] == n["SHOTOKUWARI"] + n["KINTOWARI"]).all()
    assert (n["SHOTOKUWARI"] % 100 == 0).all() and (n["SHOTOKUWARI"] >= 0).all()


def test_each_planted_tax_fault_is_really_in_its_line(sample):
    faults = pl.read_csv(sample.root / "faults_kojin_juminzei.csv", infer_schema=False)
    assert set(faults.filter(pl.col("vendor") == "vendor_a")["fault"]) == {
        "duplicate_key", "not_integer", "negative_amount", "unknown_code", "overlong_field"}
    for f in faults.filter(pl.col("vendor") == "vendor_a").iter_rows(named=True):
        kind = next(k for k, v in TAX_FILES_A.items() if v == f["source"])
        row = _read_a(sample.root, kind).row(int(f["line"]) - 1, named=True)
        assert row["ATENA_NO"] == f["atena_no"] and row["NENDO"] == f["kazei_nendo"]
        value = row[f["column"]]
        check = {"not_integer": lambda v: not v.isascii(), "negative_amount": lambda v: v.startswith("-"),
                 "unknown_code": lambda v: v == "99", "overlong_field": lambda v: len(v) > 10,
                 "duplicate_key": lambda v: True}[f["fault"]]
        assert check(value), f
    dup = faults.filter(pl.col("fault") == "duplicate_key")
    g = _read_a(sample.root, "gimusha")
    assert g.select("ATENA_NO", "NENDO").is_duplicated().sum() == 2 * dup.filter(pl.col("vendor") == "vendor_a").height


def test_no_faults_means_clean_tax_files(tmp_path):
    generate(tmp_path, 300, faults=False, gyomu=GYOMU)
    assert pl.read_csv(tmp_path / "faults_kojin_juminzei.csv").height == 0
    k = _read_a(tmp_path, "kojo")
    assert set(k["KOJO_SHUBETSU"]) <= {f"0{i}" for i in range(1, 9)}
