"""Vendor C: a normalized legacy database (8 tables) read live from MariaDB and PostgreSQL, combined by
the mapping's declared steps into the standard 個人履歴, with new 宛名番号/世帯番号 and a crosswalk.

Ground truth is data/sample/faults_vendor_c.csv: every planted fault is held with its reason, every
row of every source table is accounted for exactly once, and the numbers survive a second rehearsal."""
from __future__ import annotations

import json

import polars as pl
import pytest
import sqlalchemy as sa

from ikou import REPO_ROOT
from ikou.checkdigit import atena_no_valid
from ikou.flows.migrate import migration_flow
from ikou.loaders import read_table
from ikou.sample.legacy_db import install_vendor_c
from tests.flows.conftest import SAMPLE, write_config
from tests.reports.html_tables import section_tables
from tests.conftest import random_tag

pytestmark = pytest.mark.usefixtures("prefect_harness")
MAPPING = REPO_ROOT / "specs" / "vendors" / "vendor_c" / "mappings" / "juki" / "jumin.yaml"
FAULTS = pl.read_csv(SAMPLE / "faults_vendor_c.csv", infer_schema=False)
# fault → (stage table, rule, severity): held at combine on the vendor table, or later on the record
HELD_AT_COMBINE = {
    "orphan_name": "join.unmatched", "orphan_address": "join.unmatched", "orphan_foreign": "join.unmatched",
    "overlap": "history.overlap", "gap": "history.gap", "two_current": "history.two_current",
    "unknown_master_code": "lookup.unknown",
}
HELD_ON_RECORD = {   # rule prefix on the person's records (error) or listed (warning)
    "chain_too_long": ("error", "code_chain.too_long"), "unknown_code": ("error", "code_chain.unknown"),
    "impossible_date": ("error", "wareki.month"), "calendar_date_kept": ("warning", "wareki.not_in_calendar"),
    "unknown_gaiji": ("warning", "moji.unresolved"), "no_setainushi": ("error", "setai."),
    "bad_kojin_no": ("error", "checkdigit.kojin_no"), "missing_required": ("error", "schema.required"),
}


def vendor_c_source(url: str, schema: str) -> str:
    return f"""  - name: vendor_c_juki
    kind: database
    url: {url}
    schema: {schema}
    gaiji_table: {SAMPLE / 'vendor_a' / 'gaiji.csv'}
    mapping: {MAPPING}
"""


@pytest.fixture
def legacy_schema(request):
    """Vendor C's tables in a schema of this test's own (the servers are shared), dropped afterwards."""
    url = request.getfixturevalue(request.param)
    schema = f"vc_{random_tag()}"
    install_vendor_c(SAMPLE / "vendor_c", url, schema=schema)
    yield url, schema
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE" if engine.dialect.name == "postgresql"
                             else f"DROP DATABASE {schema}"))
    engine.dispose()


def _run(tmp_path, url, schema, rehearsal="R1"):
    cfg = write_config(tmp_path, source=vendor_c_source(url, schema), rehearsal=rehearsal,
                       target_url=f"duckdb:///{tmp_path / 'target.duckdb'}")
    summary = migration_flow(str(cfg))
    assert summary["status"] == "succeeded", summary.get("error")
    return summary, tmp_path / "runs" / "999997" / summary["run_id"]


def _crosswalk(tmp_path, name="atena_no") -> dict[str, str]:
    xw = pl.read_csv(tmp_path / "runs" / "999997" / "crosswalk" / f"{name}.csv", infer_schema=False)
    return dict(zip(xw[f"legacy_{name}"], xw[name]))


@pytest.mark.parametrize("legacy_schema", ["mariadb_url", "postgres_url"], indirect=True)
def test_every_vendor_c_fault_is_held_with_its_reason_and_every_source_row_is_accounted_for(tmp_path, legacy_schema):
    url, schema = legacy_schema
    summary, run_dir = _run(tmp_path, url, schema)
    quarantine = pl.read_parquet(run_dir / "quarantine.parquet")
    mapped = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    # the 8 tables were read in one snapshot of the legacy database, and the record says so
    assert "consistent snapshot" in mapped["sources"]["vendor_c_juki"]["snapshot"], mapped["sources"]
    xw = _crosswalk(tmp_path)
    for f in FAULTS.iter_rows(named=True):
        key, fault = f["kojin_key"], f["fault"]
        if fault in HELD_AT_COMBINE:
            rows = quarantine.filter((pl.col("source") == f["source"]) & (pl.col("record_key") == f"KOJIN_KEY={key}"))
            assert HELD_AT_COMBINE[fault] in rows["rule"].to_list(), (fault, rows)
            assert key not in xw, f"{fault}: a held person gets no number"
        elif fault in HELD_ON_RECORD:
            severity, rule = HELD_ON_RECORD[fault]
            rows = quarantine.filter(pl.col("record_key").str.starts_with(f"atena_no={xw[key]},")
                                     & pl.col("rule").str.starts_with(rule))
            assert rows.height and set(rows["severity"]) == {severity}, (fault, rows)
    loaded = read_table(f"duckdb:///{tmp_path / 'target.duckdb'}", "dantai_999997", "juki_kojin_rireki")
    chained = FAULTS.filter(pl.col("fault") == "chained_zokugara")["kojin_key"][0]
    row = loaded.filter(pl.col("atena_no") == xw[chained]).row(0, named=True)
    assert (row["zokugara_code"], row["zokugara_code_2"], row["zokugara_code_3"]) == ("20", "12", None)
    # every row of every vendor table: used, quarantined, not migrated (declared) or reference, once
    combined = summary["combined"]["vendor_c_juki"]
    extracted = summary["sources"]["vendor_c_juki"]["rows"]
    assert sum(t["extracted"] for t in combined["tables"].values()) == extracted
    for alias, t in combined["tables"].items():
        assert t["extracted"] == t["used"] + t["quarantined"] + t["not_migrated"] + t["reference"], alias
        held = quarantine.filter((pl.col("source") == t["table"]) & (pl.col("stage") == "map")
                                 & (pl.col("table") == t["table"]))
        assert held["row_id"].n_unique() + t.get("quarantined_at_extract", 0) == t["quarantined"], alias
    assert combined["tables"]["gaikoku"]["not_migrated"] == combined["tables"]["gaikoku"]["not_migrated_reasons"][
        "移行日 (2026-10-31) より前に終了した在留情報 (移行対象外)"] > 0
    assert combined["tables"]["m_code"]["reference"] == combined["tables"]["m_code"]["extracted"]
    assert {j["table"]: j["unmatched_table_rows"] for j in combined["joins"]} == {"C_KOJIN": 0, "C_GAIKOKUJIN": 1}
    # report.html shows the same ledger and joins
    shown = section_tables((run_dir / "report.html").read_text(encoding="utf-8"), "combined-vendor_c_juki")
    assert [r[:6] for r in shown["テーブル別の行の内訳"][1:]] == [
        [t["table"], *(f"{t[k]:,}" for k in ("extracted", "used", "quarantined", "not_migrated", "reference"))]
        for t in combined["tables"].values()]
    assert {r[0]: r[2] for r in shown["結合で相手のなかった行"][1:]} == {"C_KOJIN": "0", "C_GAIKOKUJIN": "1"}
    # the records: every combined record loaded or held, and every new number carries its check digit
    counts = summary["tables"]["juki_kojin_rireki"]
    assert counts["extracted"] == counts["loaded"] + counts["quarantined"] == combined["history"]["records"] - 2
    assert loaded.select(atena_no_valid(pl.col("atena_no")).all(), atena_no_valid(pl.col("setai_no")).all()).row(0) \
        == (True, True)
    assert sorted(quarantine.filter(pl.col("stage") == "map")["table"].unique().to_list()) == sorted(
        {"C_SHIMEI_RIREKI", "C_JUSHO_RIREKI", "C_SETAI_KOSEI", "C_GAIKOKUJIN", "C_IDO", "C_KOJIN",
         "juki_kojin_rireki"})


NEW_PERSON = {   # a person registered between the rehearsals, in every records table of vendor C
    "C_KOJIN": {"KOJIN_KEY": "10009999", "DANTAI_CD": "999997", "JUKI_CD": "12345098765", "KOJIN_NO": "123456789018",
                "SEIBETSU": "F", "SHUBETSU": "N", "BIRTH_YMD": "19900505", "TOROKU_YMD": "20261001"},
    "C_SHIMEI_RIREKI": {"KOJIN_KEY": "10009999", "SEQ": "1", "SHIMEI": "新田　花子", "SHIMEI_KANA": "ニッタ　ハナコ",
                        "YUKO_KAISHI": "20261001", "YUKO_SHURYO": None},
    "C_JUSHO_RIREKI": {"KOJIN_KEY": "10009999", "SEQ": "1", "MACHI_CD": "0001001", "JUSHO": "架空市本町一丁目",
                       "BANCHI": "1番1号", "KATAGAKI": None, "YUBIN_NO": "9990001", "YUKO_KAISHI": "20261001",
                       "YUKO_SHURYO": None},
    "C_SETAI_KOSEI": {"KOJIN_KEY": "10009999", "SETAI_KEY": "59999999", "ZOKUGARA": "世帯主",
                      "YUKO_KAISHI": "20261001", "YUKO_SHURYO": None},
    "C_IDO": {"KOJIN_KEY": "10009999", "IDO_CD_1": "J01", "IDO_YMD_1": "20261001", "TODOKE_YMD_1": "20261005"},
}


@pytest.mark.parametrize("legacy_schema", ["postgres_url"], indirect=True)
def test_a_second_rehearsal_keeps_every_number_and_a_new_person_gets_a_fresh_one(tmp_path, legacy_schema):
    url, schema = legacy_schema
    r1, _ = _run(tmp_path, url, schema, "R1")
    atena_r1, setai_r1 = _crosswalk(tmp_path), _crosswalk(tmp_path, "setai_no")
    target = f"duckdb:///{tmp_path / 'target.duckdb'}"
    loaded_r1 = read_table(target, "dantai_999997", "juki_kojin_rireki").select("atena_no", "rireki_no", "shimei")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table, row in NEW_PERSON.items():
            conn.execute(sa.table(table, *(sa.column(c) for c in row), schema=schema).insert().values(**row))
    engine.dispose()
    r2, _ = _run(tmp_path, url, schema, "R2")
    atena_r2, setai_r2 = _crosswalk(tmp_path), _crosswalk(tmp_path, "setai_no")
    assert {k: atena_r2[k] for k in atena_r1} == atena_r1 and {k: setai_r2[k] for k in setai_r1} == setai_r1
    assert set(atena_r2) - set(atena_r1) == {"10009999"} and set(setai_r2) - set(setai_r1) == {"59999999"}
    fresh = atena_r2["10009999"]
    assert fresh not in atena_r1.values() and fresh > max(atena_r1.values())
    assert r2["combined"]["vendor_c_juki"]["crosswalks"]["atena_no"] == {
        "crosswalk": "atena_no.csv", "kept": len(atena_r1), "issued": 1, "held_total": len(atena_r1) + 1}
    run_dir = tmp_path / "runs" / "999997" / r2["run_id"]
    shown = section_tables((run_dir / "report.html").read_text(encoding="utf-8"), "combined-vendor_c_juki")
    assert shown["番号の対応表（旧番号 → 新番号）"][1] == [
        "atena_no", "atena_no.csv", f"{len(atena_r1):,}", "1", f"{len(atena_r1) + 1:,}"]
    loaded_r2 = read_table(target, "dantai_999997", "juki_kojin_rireki").select("atena_no", "rireki_no", "shimei")
    assert loaded_r2.join(loaded_r1, on=["atena_no", "rireki_no"], how="anti")["atena_no"].to_list() == [fresh]
    assert loaded_r1.join(loaded_r2, on=["atena_no", "rireki_no", "shimei"], how="anti").height == 0


@pytest.mark.parametrize("legacy_schema", ["postgres_url"], indirect=True)
def test_the_diff_through_the_crosswalk_has_no_unexplained_difference_on_clean_data(tmp_path, legacy_schema):
    from ikou.sample.generate import generate

    url, schema = legacy_schema
    generate(tmp_path / "clean", 300, seed=5, faults=False)
    # chained 続柄 (子の妻) is clean data too: legal, migrated as 20, 12, and the diff must explain it
    setai_csv = tmp_path / "clean" / "vendor_c" / "C_SETAI_KOSEI.csv"
    setai = pl.read_csv(setai_csv, infer_schema=False)
    chained = setai.filter(pl.col("ZOKUGARA") == "子")["KOJIN_KEY"].head(3)
    assert chained.len() == 3
    setai.with_columns(ZOKUGARA=pl.when(pl.col("KOJIN_KEY").is_in(chained.implode())).then(pl.lit("子の妻"))
                       .otherwise("ZOKUGARA")).write_csv(setai_csv)
    install_vendor_c(tmp_path / "clean" / "vendor_c", url, schema=schema)
    summary, run_dir = _run(tmp_path, url, schema)
    d = summary["diff"]["vendor_c_juki"]
    assert summary["tables"]["juki_kojin_rireki"]["quarantined"] == 0
    loaded = read_table(f"duckdb:///{tmp_path / 'target.duckdb'}", "dantai_999997", "juki_kojin_rireki")
    xw = _crosswalk(tmp_path)
    wives = loaded.filter(pl.col("atena_no").is_in([xw[k] for k in chained]))
    assert wives.height >= 3 and set(wives.select("zokugara_code", "zokugara_code_2").rows()) == {("20", "12")}
    assert d["only_left"] == d["only_right"] == 0 and d["matched"] == summary["tables"]["juki_kojin_rireki"]["loaded"]
    assert d["crosswalk"]["entries"] == 300
    unexplained = d["unexplained_cells"]
    assert (sum(unexplained.values()) if isinstance(unexplained, dict) else unexplained) == 0, unexplained
    assert d["explained_cells"] > 0   # 和暦/西暦, 世帯番号 through the crosswalk, 続柄 names → codes


def test_generate_for_another_dantai_reaches_vendor_c_and_its_run_holds_nothing_as_another_dantais(tmp_path):
    """`ikou generate --dantai 999903` writes vendor C's tables for 999903 too: installed in a legacy database
    and migrated as 999903, no record is held as another 団体's (isolation.dantai_mismatch)."""
    from ikou.flows.cli import main as ikou_main

    assert ikou_main(["generate", "--persons", "150", "--out", str(tmp_path / "g"), "--dantai", "999903"]) == 0
    legacy = f"duckdb:///{tmp_path / 'legacy.duckdb'}"
    install_vendor_c(tmp_path / "g" / "vendor_c", legacy, schema="vc")
    cfg = write_config(tmp_path, source=vendor_c_source(legacy, "vc"), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('code: "999997"', 'code: "999903"'), encoding="utf-8")
    summary = migration_flow(str(cfg))
    assert summary["status"] == "succeeded", summary.get("error")
    run_dir = tmp_path / "runs" / "999903" / summary["run_id"]
    quarantine = pl.read_parquet(run_dir / "quarantine.parquet")
    assert quarantine.filter(pl.col("rule") == "isolation.dantai_mismatch").height == 0
    loaded = read_table(f"duckdb:///{tmp_path / 't.duckdb'}", "dantai_999903", "juki_kojin_rireki")
    assert loaded.height > 150 and loaded["dantai_code"].unique().to_list() == ["999903"]
