"""A key column the mapping changes on purpose (vendor B's 控除種別 HAIGU → 04 through its code table) is read
by the run's diff as the op mapped it: the legacy record meets the record the target holds, so a clean vendor B
個人住民税 run reconciles (matched = loaded, nothing on one side only, no sign-off blocker). A code the op does
not know stays as read, in the diff's 旧のみ row and in the quarantine's record_key alike."""
from __future__ import annotations

from types import SimpleNamespace

import polars as pl
import pytest
import yaml

from ikou import REPO_ROOT
from ikou.mappings.engine import apply_mapping
from ikou.mappings.spec import ColumnMap, load_mapping
from ikou.reports.diff import KeyMap, ParquetSource, compare
from ikou.reports.step import key_reading, source_names
from ikou.schema import load_schema

DANTAI = "999776"
TAX = REPO_ROOT / "specs" / "gyomu" / "kojin_juminzei" / "schema.yaml"
B_KOJO = REPO_ROOT / "specs" / "vendors" / "vendor_b" / "mappings" / "kojin_juminzei" / "kojo.yaml"
KEY = ["atena_no", "kazei_nendo", "kojo_shubetsu_code"]


def _legacy_kojo(tmp_path):
    """Vendor B's B_ZEI_KOJO as staged (text): codes by name, one padded, one the code table lacks (99)."""
    staged = tmp_path / "kojo.parquet"
    pl.DataFrame({"_row_id": [1, 2, 3, 4], "_source": ["B_ZEI_KOJO"] * 4, "_source_line": [2, 3, 4, 5],
                  "DANTAI": [DANTAI] * 4, "KOJIN_ID": ["0123456785"] * 4, "NENDO": ["2025", "2025", " 2025", "2025"],
                  "KOJO_CD": ["HAIGU", " SHAHO", "KISO", "99"], "KOJO_GAKU": ["330000", "775000", "430000", "1000"]},
                 schema_overrides={"_row_id": pl.Int64, "_source_line": pl.Int64}).write_parquet(staged)
    target = pl.DataFrame({"dantai_code": [DANTAI] * 3, "atena_no": ["0123456785"] * 3,
                           "kazei_nendo": ["2025"] * 3, "kojo_shubetsu_code": ["04", "01", "06"],
                           "kojo_gaku": ["330000", "775000", "430000"]})
    return staged, target


@pytest.mark.parametrize("path", ["duckdb", "polars"])
def test_a_code_mapped_key_meets_the_record_the_target_holds_under_the_mapped_code(tmp_path, path):
    staged, target = _legacy_kojo(tmp_path)
    mapping, schema = load_mapping(B_KOJO), load_schema(TAX)
    reading = key_reading(mapping, KEY, schema)
    assert isinstance(reading["kojo_shubetsu_code"], KeyMap) and reading["kazei_nendo"] == "integer"
    xw = None
    if path == "polars":   # a crosswalk makes the diff read the legacy side through Polars (key_expr), not DuckDB
        xw = tmp_path / "xw.csv"
        pl.DataFrame({"legacy_atena_no": ["0123456785"], "atena_no": ["0123456785"]}).write_csv(xw)
    r = compare(ParquetSource(staged, source_names(mapping), keys=reading), target, key=KEY, crosswalk=xw)
    try:
        assert (r.matched, r.only_left, r.only_right, r.changed_rows) == (3, 1, 0, 0)
        assert r.only_left_rows.select(KEY).rows() == [("0123456785", "2025", "99")]   # as read, never blank
    finally:
        r.close()
    # what the defect did: the code compared as written never meets the target's code
    as_written = compare(ParquetSource(staged, source_names(mapping), keys={**reading, "kojo_shubetsu_code": "code"}),
                         target, key=KEY)
    try:
        assert (as_written.matched, as_written.only_left, as_written.only_right) == (0, 4, 3)
    finally:
        as_written.close()


def test_every_op_that_changes_a_key_on_purpose_reads_the_key_through_the_op():
    """Not vendor B alone: a vendor code table, a code chain (the first name's code), a 和暦 date and
    half-width kana as key columns are read through their op; a standard code table, an integer and a text
    key keep their readings; new_key is left to the crosswalk (read trimmed)."""
    vendor_table = REPO_ROOT / "specs" / "vendors" / "vendor_b" / "code_tables" / "kojo_cd.csv"
    zokugara = REPO_ROOT / "specs" / "gyomu" / "juki" / "code_tables" / "zokugara.csv"
    lines = [ColumnMap.model_validate(c) for c in [
        {"target": "a", "op": "code_table", "from": "A", "table": str(vendor_table)},
        {"target": "b", "op": "code_chain", "from": "B", "table": str(zokugara), "separator": "の", "chain": ["b2"]},
        {"target": "c", "op": "wareki_date", "from": "C", "format": "letter_yymmdd"},
        {"target": "d", "op": "kana_fullwidth", "from": "D"},
        {"target": "e", "op": "code_table", "from": "E", "table": "standard:zokugara"},
        {"target": "f", "op": "integer", "from": "F"},
        {"target": "g", "op": "text", "from": "G", "strip": True},
        {"target": "h", "op": "text", "from": "H"},
        {"target": "i", "op": "new_key", "from": "I", "numbering": {"digits": 10, "check_digit": "mod11"}},
    ]]
    reading = key_reading(SimpleNamespace(columns=lines), list("abcdefghi"), load_schema(TAX))
    assert {k: v.op for k, v in reading.items() if isinstance(v, KeyMap)} == {
        "a": "code_table", "b": "code_chain", "c": "wareki_date", "d": "kana_fullwidth"}
    assert {k: v for k, v in reading.items() if not isinstance(v, KeyMap)} == {
        "e": "code", "f": "integer", "g": "text", "i": "code"}
    read = {k: v.read for k, v in reading.items() if isinstance(v, KeyMap)}
    s = pl.Series
    assert read["a"](s([" HAIGU", "99 ", "SHAHO"])).to_list() == ["04", "99", "01"]
    assert read["b"](s(["妻", "妻の夫", "謎"])).to_list() == ["12", "12", "謎"]
    assert read["c"](s(["H050229", "R010501", "X990101"])).to_list()[1:] == ["2019-05-01", "X990101"]
    assert read["d"](s(["ｶﾞｸ"])).to_list() == ["ガク"]


def test_a_held_unknown_code_names_its_record_by_the_legacy_value_in_record_key(tmp_path):
    staged, _ = _legacy_kojo(tmp_path)
    res = apply_mapping(pl.read_parquet(staged), load_mapping(B_KOJO), load_schema(TAX), run_id="r",
                        dantai_code=DANTAI)
    held = res.quarantine.filter(pl.col("severity") == "error")
    assert held.select("rule", "value", "record_key").rows() == [
        ("code_table.unknown", "99", "atena_no=0123456785,kazei_nendo=2025,kojo_shubetsu_code=99")]


def run_vendor_b_tax(tmp_path, *, dantai: str = DANTAI, kojo_mapping=None) -> dict:
    """Vendor B's 個人住民税 tables (generated under tmp_path/data) installed in a DuckDB legacy database and
    migrated by the flow (the 控除 line through `kojo_mapping` when given); returns summary.json."""
    from ikou.flows.migrate import migration_flow
    from ikou.sample.legacy_db import install_vendor_table

    legacy = f"duckdb:///{tmp_path / 'legacy_b.duckdb'}"
    sources = []
    for kind in ("gimusha", "kazei", "kojo"):
        table = f"B_ZEI_{kind.upper()}"
        install_vendor_table(tmp_path / "data" / "vendor_b" / f"{table}.csv", legacy, table)
        mapping = kojo_mapping if (kind == "kojo" and kojo_mapping) else B_KOJO.parent / f"{kind}.yaml"
        sources.append({"name": f"vendor_b_zei_{kind}", "kind": "database", "url": legacy, "table": table,
                        "mapping": str(mapping)})
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({
        "spec_version": 1, "dantai": {"code": dantai, "name": "検証町"}, "gyomu": ["kojin_juminzei"],
        "rehearsal": "R1", "sources": sources, "target": {"url": f"duckdb:///{tmp_path / 't.duckdb'}"},
        "runs_dir": str(tmp_path / "runs"), "inbox": [str(tmp_path)],
        "thresholds": {"max_quarantine_rate": 0.05}}, allow_unicode=True), encoding="utf-8")
    return migration_flow(config_path=str(cfg))


def test_a_clean_vendor_b_tax_run_reconciles_every_table_with_no_blocker(tmp_path, prefect_harness):
    from ikou.sample.generate import generate

    generate(tmp_path / "data", 100, faults=False, gyomu=("juki", "kojin_juminzei"), dantai=DANTAI)
    s = run_vendor_b_tax(tmp_path)
    assert s["status"] == "succeeded" and s["sign_off_blockers"] == []
    kojo = s["diff"]["vendor_b_zei_kojo"]
    assert kojo["matched"] == s["tables"]["kojin_juminzei_kojo"]["loaded"] > 0
    for source, d in s["diff"].items():
        assert (d["only_left"], d["only_right"], sum(d["unexplained_cells"].values())) == (0, 0, 0), source
