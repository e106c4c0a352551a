"""The two vendor renderings follow their layouts, codes, date and kana conventions."""
from __future__ import annotations

import csv
import hashlib
import io

import polars as pl
import pytest

from ikou.flows.cli import main as ikou_main
from ikou import REPO_ROOT
from ikou.sample.generate import generate


def _digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path):
    generate(tmp_path / "one", 500, seed=7)
    generate(tmp_path / "two", 500, seed=7)
    generate(tmp_path / "other", 500, seed=8)
    one, two, other = (_digests(tmp_path / d) for d in ("one", "two", "other"))
    from ikou.sample.vendor_c import TABLES

    assert set(one) == {"faults.csv", "vendor_a/JUMIN.csv", "vendor_a/gaiji.csv",
                        "vendor_b/B_JUMIN.csv", "vendor_b/gaiji.csv", "faults_vendor_c.csv",
                        *(f"vendor_c/{t}.csv" for t in TABLES)}
    assert one["vendor_c/C_JUSHO_RIREKI.csv"] != other["vendor_c/C_JUSHO_RIREKI.csv"]
    assert one == two
    assert one["vendor_a/JUMIN.csv"] != other["vendor_a/JUMIN.csv"]


def test_vendor_a_is_crlf_cp932_without_header_and_layout_wide(sample):
    assert b"\n" not in sample.raw_a.replace(b"\r\n", b"")
    assert not sample.line_a(1).startswith(b"DANTAI_CD")
    undecodable = {int(f["line"]) for f in sample.faults_of("vendor_a", "undecodable_bytes")}
    counts = {}
    for n, line in enumerate(sample.lines_a, start=1):
        if n in undecodable:
            continue
        fields = next(csv.reader(io.StringIO(line.decode("cp932"))))
        counts.setdefault(len(fields), []).append(n)
    extra = {int(f["line"]) for f in sample.faults_of("vendor_a", "wrong_field_count")}
    assert set(counts) == {len(sample.cols_a), len(sample.cols_a) + 1}
    assert set(counts[len(sample.cols_a) + 1]) == extra
    assert sample.a.height + len(sample.bad_lines) == len(sample.lines_a)


def test_vendor_b_has_layout_header_and_same_rows_as_vendor_a(sample):
    header = (sample.root / "vendor_b" / "B_JUMIN.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == sample.cols_b
    assert sample.b.height == len(sample.lines_a)
    assert (sample.b["DANTAI"] == "999997").all()


def test_codes_are_in_the_code_tables_except_the_planted_unknown_code(sample):
    std = sample.standard_codes
    vb = sample.vendor_b_codes
    unknown_a = {int(f["line"]) for f in sample.faults_of("vendor_a", "unknown_code")}
    unknown_b = {int(f["line"]) for f in sample.faults_of("vendor_b", "unknown_code")}
    a = sample.a
    assert set(a.filter(~pl.col("ZOKUGARA").is_in(sample.code_set(std / "zokugara.csv", "code")))["line"]) == unknown_a
    assert set(a["IDO_JIYU"]) <= sample.code_set(std / "ido_jiyu.csv", "code")
    assert set(a["JUMIN_JOTAI"]) <= sample.code_set(std / "jumin_jotai.csv", "code")
    assert set(a["JUMIN_SHUBETSU"]) == sample.code_set(std / "jumin_shubetsu.csv", "code")
    assert set(a["SEIBETSU"]) <= {"1", "2", "9"}
    b = sample.b
    assert set(b.filter(~pl.col("ZOKU").is_in(sample.code_set(vb / "zokugara.csv", "source_code")))["line"]) == unknown_b
    assert set(b["JIYU"]) <= sample.code_set(vb / "ido_jiyu.csv", "source_code")
    assert set(b["STATUS"]) <= sample.code_set(vb / "jumin_jotai.csv", "source_code")
    assert set(b["SEX"]) <= sample.code_set(vb / "seibetsu.csv", "source_code")
    assert set(b["SHUBETSU"]) <= {"J", "G"}
    assert {"03", "01", "41", "21", "23"} <= set(a["IDO_JIYU"])


def test_dates_use_each_vendors_era_encoding_with_unknown_parts(sample):
    a, b = sample.a, sample.b
    for col in ("SEINENGAPPI", "IDO_YMD", "TODOKEDE_YMD"):
        assert a[col].str.contains(r"^0[1-5]\d{6}$").all(), col
    for col in ("BIRTH", "IDO_DATE", "TODOKE_DATE"):
        assert b[col].str.contains(r"^[MTSHR]\d{6}$").all(), col
    births = set(a["SEINENGAPPI"])
    assert {"01450730", "02010730"} <= births  # 明治45年7月30日 = 大正元年7月30日
    assert any(d.endswith("0000") for d in births) and any(d[6:] == "00" and d[4:6] != "00" for d in births)
    assert {d[:2] for d in births} >= {"01", "02", "03", "04", "05"}
    # same person, same date in both vendors: 年号コード 03 ↔ S …
    joined = a.join(b, left_on="line", right_on="line").select("SEINENGAPPI", "BIRTH")
    letters = joined["SEINENGAPPI"].str.slice(0, 2).replace_strict(
        {"01": "M", "02": "T", "03": "S", "04": "H", "05": "R"})
    assert (letters + joined["SEINENGAPPI"].str.slice(2) == joined["BIRTH"]).all()


def test_history_rows_are_numbered_from_one_and_dated_in_order(sample):
    a = sample.a.unique(["ATENA_NO", "RIREKI_NO"], keep="first", maintain_order=True)
    per = a.group_by("ATENA_NO").agg(
        n=pl.len(), top=pl.col("RIREKI_NO").cast(pl.Int64).max(),
        first=pl.col("IDO_JIYU").first(),
        ordered=(pl.col("IDO_YMD") >= pl.col("IDO_YMD").shift(1)).fill_null(True).all(),
    )
    assert (per["n"] == per["top"]).all()
    assert per["n"].is_between(1, 4).all()
    assert set(per["first"]) <= {"01", "03"}
    assert per["ordered"].all()  # 年号コード+YYMMDD sorts chronologically
    ended = a.filter(pl.col("IDO_JIYU").is_in(["21", "23"]))
    assert set(zip(ended["IDO_JIYU"], ended["JUMIN_JOTAI"])) == {("21", "2"), ("23", "3")}


def test_furigana_is_half_width_in_a_and_full_width_in_b(sample):
    assert sample.a["SHIMEI_KANA"].str.contains(r"^[\uff66-\uff9f ]+$").all()
    assert sample.a["SHIMEI_KANA"].str.contains("ﾞ").any()
    assert sample.b["NAME_KANA"].str.contains(r"^[\u30a1-\u30fc]+　[\u30a1-\u30fc]+$").all()


def test_identifiers_keep_their_width_and_leading_zeros(sample):
    a = sample.a
    for col, width in (("ATENA_NO", 10), ("SETAI_NO", 10), ("JUMINHYO_CD", 11), ("KOJIN_NO", 12),
                       ("MACHIAZA_CD", 7), ("YUBIN_NO", 7)):
        assert a[col].str.contains(rf"^\d{{{width}}}$").all(), col
    assert a["ATENA_NO"].str.starts_with("0").any()
    firsts = a.filter(pl.col("RIREKI_NO") == "1")["ATENA_NO"]
    duplicates = len(sample.faults_of("vendor_a", "duplicate_key"))
    assert firsts.n_unique() == firsts.len() - duplicates  # one 宛名番号 per person
    assert a["JUSHO"].str.starts_with("架空市").all()
    assert a["BANCHI"].str.contains(r"^\d+(番地\d+|番\d+号)$").all()
    assert a["KATAGAKI"].str.contains("号室").any()


def test_variant_glyphs_survive_in_vendor_b_and_become_gaiji_in_vendor_a(sample):
    names_b = "".join(sample.b["NAME_KANJI"].drop_nulls())
    for glyph in ("髙", "﨑", "齋", "齊", "\ufa10", "邉\U000e0119", "\U00020bb7"):
        assert glyph in names_b, repr(glyph)
    names_a = "".join(sample.a["SHIMEI"])
    assert "邉\U000e0119" not in names_a and "\U00020bb7" not in names_a
    assert "\ue00a" in names_a and "\ue00b" in names_a


def test_cli_generates_without_faults(tmp_path):
    assert ikou_main(["generate", "--persons", "300", "--out", str(tmp_path), "--no-faults"]) == 0
    faults = (tmp_path / "faults.csv").read_text(encoding="utf-8").splitlines()
    assert faults == ["vendor,source,line,atena_no,rireki_no,column,fault,description"]
    (tmp_path / "vendor_a" / "JUMIN.csv").read_bytes().decode("cp932")  # no undecodable line
    assert ",77," not in (tmp_path / "vendor_a" / "JUMIN.csv").read_bytes().decode("cp932")


def test_too_small_a_population_is_refused(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path, 10)


def test_committed_sample_is_what_the_generator_writes(tmp_path):
    committed = REPO_ROOT / "data" / "sample"
    if not (committed / "vendor_a" / "JUMIN.csv").exists():
        pytest.fail("data/sample is missing: run `ikou generate --persons 1000 --out data/sample`")
    generate(tmp_path, 1000)
    fresh = _digests(tmp_path)
    assert {name: _digests(committed).get(name) for name in fresh} == fresh


def test_dantai_option_writes_that_code_in_every_record_and_nothing_else_changes(tmp_path):
    assert ikou_main(["generate", "--persons", "150", "--out", str(tmp_path / "other"), "--dantai", "999903",
                      "--gyomu", "juki,kojin_juminzei"]) == 0
    generate(tmp_path / "sample", 150, gyomu=("juki", "kojin_juminzei"))
    for name in ("vendor_a/JUMIN.csv", "vendor_a/ZEI_GIMUSHA.csv", "vendor_a/ZEI_KAZEI.csv", "vendor_a/ZEI_KOJO.csv"):
        other = (tmp_path / "other" / name).read_bytes().split(b"\r\n")[:-1]   # planted bytes cp932 refuses
        sample = (tmp_path / "sample" / name).read_bytes().split(b"\r\n")[:-1]
        assert {line[:7] for line in other} == {b"999903,"} and {line[:7] for line in sample} == {b"999997,"}
        assert [line[6:] for line in other] == [line[6:] for line in sample]
    b = pl.read_csv(tmp_path / "other" / "vendor_b" / "B_JUMIN.csv", infer_schema=False)
    assert b["DANTAI"].unique().to_list() == ["999903"]
    # vendor C: the person master carries the code; every other table and column is the same
    from ikou.sample.vendor_c import TABLES

    for t in TABLES:
        other = pl.read_csv(tmp_path / "other" / "vendor_c" / f"{t}.csv", infer_schema=False)
        sample = pl.read_csv(tmp_path / "sample" / "vendor_c" / f"{t}.csv", infer_schema=False)
        if "DANTAI_CD" in sample.columns:
            assert other["DANTAI_CD"].unique().to_list() == ["999903"], t
            assert sample["DANTAI_CD"].unique().to_list() == ["999997"], t
            other, sample = other.drop("DANTAI_CD"), sample.drop("DANTAI_CD")
        assert other.equals(sample), t
    assert "DANTAI_CD" in pl.read_csv(tmp_path / "other" / "vendor_c" / "C_KOJIN.csv", n_rows=1).columns
    with pytest.raises(ValueError, match="check digit"):
        generate(tmp_path / "bad", 150, dantai="999901")
