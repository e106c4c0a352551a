"""A vendor B 個人住民税 run whose 控除 code table maps two legacy codes to one (HAIGU, HAIGU2 → 04), with a
person's HAIGU2 row held at map beside the HAIGU row that is loaded: the sign-off blocker names the shared code
(table, key column, legacy column, code table), not "the diff does not account for a loaded row"; `ikou
signoff` re-derives the same line from the run's files (refused for the blocker, never as a mismatch)."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from ikou import REPO_ROOT
from ikou.reports.signoff import SignOffRefused, sign_off
from tests.reports.test_diff_mapped_keys import run_vendor_b_tax

DANTAI = "999776"
B_MAPPINGS = REPO_ROOT / "specs" / "vendors" / "vendor_b" / "mappings" / "kojin_juminzei"
B_CODES = REPO_ROOT / "specs" / "vendors" / "vendor_b" / "code_tables" / "kojo_cd.csv"
TAX = REPO_ROOT / "specs" / "gyomu" / "kojin_juminzei" / "schema.yaml"
LAYOUTS = REPO_ROOT / "specs" / "vendors" / "vendor_b" / "layouts"


def _shared_code_kojo(tmp_path: Path, data: Path) -> Path:
    """The 控除 mapping over vendor B's code table plus HAIGU2 → 04, and a HAIGU2 row (amount not an integer:
    held at map) beside a person's HAIGU row. Returns the mapping."""
    table = tmp_path / "kojo_cd_haigu2.csv"
    codes = pl.read_csv(B_CODES, infer_schema=False)
    pl.concat([codes, pl.DataFrame({"source_code": ["HAIGU2"], "code": ["04"], "note": ["配偶者控除 (旧)"]})]
              ).write_csv(table)
    spec = yaml.safe_load((B_MAPPINGS / "kojo.yaml").read_text(encoding="utf-8"))
    spec["schema"], spec["layout"] = str(TAX), str(LAYOUTS / "b_zei_kojo.yaml")
    for c in spec["columns"]:
        if c["op"] == "code_table":
            c["table"] = str(table)
    mapping = tmp_path / "kojo.yaml"
    mapping.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")

    csv = data / "vendor_b" / "B_ZEI_KOJO.csv"
    rows = pl.read_csv(csv, infer_schema=False)
    haigu = rows.filter(pl.col("KOJO_CD") == "HAIGU").head(1)
    assert haigu.height == 1
    pl.concat([rows, haigu.with_columns(pl.lit("HAIGU2").alias("KOJO_CD"), pl.lit("33万").alias("KOJO_GAKU"))]
              ).write_csv(csv)
    return mapping


def test_a_shared_code_beside_a_row_held_at_map_blocks_with_its_own_line_and_signoff_agrees(tmp_path,
                                                                                            prefect_harness):
    from ikou.sample.generate import generate

    generate(tmp_path / "data", 100, faults=False, gyomu=("juki", "kojin_juminzei"), dantai=DANTAI)
    kojo_mapping = _shared_code_kojo(tmp_path, tmp_path / "data")
    s = run_vendor_b_tax(tmp_path, dantai=DANTAI, kojo_mapping=kojo_mapping)
    assert s["status"] == "succeeded"
    kojo = s["diff"]["vendor_b_zei_kojo"]
    loaded = s["tables"]["kojin_juminzei_kojo"]["loaded"]
    mapped = kojo["duplicates"]["left"]["mapped"]
    assert (mapped["keys"], mapped["rows"], mapped["right_rows"]) == (1, 2, 1)
    assert kojo["matched"] + mapped["right_rows"] == loaded and kojo["only_right"] == mapped["right_rows"]
    assert mapped["columns"]["kojo_shubetsu_code"]["codes"] == [{"code": "04", "legacy": ["HAIGU", "HAIGU2"]}]

    [line] = s["sign_off_blockers"]
    assert line.startswith("vendor_b_zei_kojo: 旧の 2 行が変換後に 1 件のキーを共有しています "
                           "(kojin_juminzei_kojo.kojo_shubetsu_code: コード表 kojo_cd_haigu2.csv が KOJO_CD の")
    assert "(HAIGU, HAIGU2 → 04)" in line and "the 1 loaded row(s) under them" in line
    assert "does not account for every loaded row" not in line

    run_dir = tmp_path / "runs" / DANTAI / s["run_id"]
    with pytest.raises(SignOffRefused) as refused:   # the blocker itself, re-derived alike from diff/*/summary.json
        sign_off(run_dir, by="山田PM", role="PM", no_target=True)
    assert type(refused.value) is SignOffRefused and "kojo_cd_haigu2.csv" in str(refused.value)
