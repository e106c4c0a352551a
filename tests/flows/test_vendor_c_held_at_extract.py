"""Vendor C: a row of a vendor table held at extract (a control character in the current address) holds its
person in every table, as the combine holds a person whose rows cannot be combined: the person is not loaded
with the address missing, and the combine's ledger counts the held row (extracted = the table's real rows).

The staged step (mappings.map_source) and the one pass (ikou.onepass) get the extract's quarantine and give
the same records; a held row that cannot be tied to a person (its key unreadable) stops the run."""
from __future__ import annotations

import json

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from ikou import REPO_ROOT
from ikou.config import load_config
from ikou.extractors import extract
from ikou.flows import pipeline as P
from ikou.mappings import map_source
from ikou.mappings.combine import HELD_AT_EXTRACT, HeldRowUntied
from ikou.onepass import one_pass
from ikou.sample.legacy_db import install_vendor_c
from tests.flows.conftest import SAMPLE, write_config

MAPPING = REPO_ROOT / "specs" / "vendors" / "vendor_c" / "mappings" / "juki" / "jumin.yaml"
FAULTS = pl.read_csv(SAMPLE / "faults_vendor_c.csv", infer_schema=False)
JUSHO = pl.read_csv(SAMPLE / "vendor_c" / "C_JUSHO_RIREKI.csv", infer_schema=False)
# two persons with a history of addresses and no planted fault: their current address gets a BEL
PERSONS = (JUSHO.filter(~pl.col("KOJIN_KEY").is_in(FAULTS["kojin_key"].implode())).group_by("KOJIN_KEY").len()
           .filter(pl.col("len") >= 2).sort("KOJIN_KEY")["KOJIN_KEY"].head(2).to_list())
# a third person whose 登録年月日 (C_KOJIN.TOROKU_YMD, `not_migrated`) holds a BEL: listed, not held
NOT_MIGRATED = (JUSHO.filter(~pl.col("KOJIN_KEY").is_in(FAULTS["kojin_key"].to_list() + PERSONS))
                .sort("KOJIN_KEY")["KOJIN_KEY"][0])


def source(url: str) -> str:
    return f"""  - name: vendor_c_juki
    kind: database
    url: {url}
    gaiji_table: {SAMPLE / 'vendor_a' / 'gaiji.csv'}
    mapping: {MAPPING}
"""


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("held_at_extract")
    url = f"duckdb:///{tmp / 'legacy.duckdb'}"
    install_vendor_c(SAMPLE / "vendor_c", url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        keys = ", ".join(f"'{k}'" for k in PERSONS)
        conn.execute(sa.text(f"update C_JUSHO_RIREKI set JUSHO = JUSHO || chr(7) where KOJIN_KEY in ({keys}) "
                             "and YUKO_SHURYO is null"))
        conn.execute(sa.text(f"update C_KOJIN set TOROKU_YMD = TOROKU_YMD || chr(7) where KOJIN_KEY = '{NOT_MIGRATED}'"))
    engine.dispose()
    return tmp, url


@pytest.fixture(scope="module")
def extracted(legacy):
    tmp, url = legacy
    cfg = load_config(write_config(tmp, source=source(url), target_url=f"duckdb:///{tmp / 'target.duckdb'}"))
    ctx = P.make_context(cfg, "20990101T000000Z-R1-0001")
    p, = P.plan(cfg)
    ex = extract(p.source, ctx, **P.extract_kwargs(p))
    return ctx, p, ex


def test_a_bad_value_in_a_column_not_migrated_is_listed_and_holds_nobody(extracted):
    ctx, p, ex = extracted
    listed = ex.quarantine.filter(pl.col("column") == "TOROKU_YMD")
    assert listed.select("table", "rule", "severity").rows() == [("kojin", "extract.control_char", "warning")]
    assert listed["record_key"].to_list() == [f"KOJIN_KEY={NOT_MIGRATED}"]
    mp = map_source(p.mapping, p.schema, ctx, ex.output, source_name="vendor_c_juki", held_at_extract=ex.quarantine)
    combined = pl.read_parquet(mp.outputs["combined"])
    assert combined.filter(pl.col("kojin.KOJIN_KEY") == NOT_MIGRATED).height >= 1


def test_a_row_held_at_extract_holds_its_person_in_every_table_and_is_counted(extracted):
    ctx, p, ex = extracted
    held = ex.quarantine.filter(pl.col("table") == "jusho")
    assert sorted(held["record_key"].str.extract(r"KOJIN_KEY=([^,]*)").unique().to_list()) == PERSONS
    mp = map_source(p.mapping, p.schema, ctx, ex.output, source_name="vendor_c_juki", batch_rows=97,
                    held_at_extract=ex.quarantine)
    ledger = mp.metrics["combine"]["tables"]
    # every row of C_JUSHO_RIREKI once: the two held at extract are counted (as quarantined at extract)
    assert ledger["jusho"]["extracted"] == JUSHO.height
    assert ledger["jusho"]["quarantined_at_extract"] == 2
    assert sum(t["extracted"] for t in ledger.values()) == ex.rows_in
    for alias, t in ledger.items():
        assert t["extracted"] == t["used"] + t["quarantined"] + t["not_migrated"] + t["reference"], alias
    # the person is held in every table with the reason, JA+EN; no record of theirs is combined
    together = mp.quarantine.filter(pl.col("rule") == HELD_AT_EXTRACT)
    assert sorted(together["value"].unique().to_list()) == PERSONS
    assert {"C_KOJIN", "C_SHIMEI_RIREKI", "C_JUSHO_RIREKI", "C_SETAI_KOSEI", "C_IDO"} <= set(together["source"])
    assert together["message_ja"].str.contains("抽出").all() and together["message_en"].str.contains("extract").all()
    assert not set(together["row_id"]) & set(ex.quarantine["row_id"])   # the held row itself: in the extract's
    combined = pl.read_parquet(mp.outputs["combined"])
    assert combined.filter(pl.col("kojin.KOJIN_KEY").is_in(PERSONS)).height == 0
    assert mp.metrics["combine"]["held_persons"] >= 2


def test_the_one_pass_gives_what_the_staged_step_gives(extracted):
    ctx, p, ex = extracted
    staged = map_source(p.mapping, p.schema, ctx, ex.output, source_name="vendor_c_juki", batch_rows=97,
                        held_at_extract=ex.quarantine)
    staged_combined = pl.read_parquet(staged.outputs["combined"])
    mapped, _ = one_pass(p.mapping, p.schema, ctx, ex.output, source_name="vendor_c_juki",
                         gaiji_table=p.source.gaiji_table, batch_rows=97, held_at_extract=ex.quarantine)
    assert_frame_equal(pl.read_parquet(mapped.outputs["combined"]), staged_combined)
    assert mapped.metrics["combine"] == staged.metrics["combine"]
    assert_frame_equal(mapped.quarantine.sort(pl.all()), staged.quarantine.sort(pl.all()))


def test_a_held_row_whose_key_cannot_be_read_stops_the_source(extracted):
    """record_key null: the row cannot be tied to a person, who would be loaded with a hole: the run stops."""
    ctx, p, ex = extracted
    untied = ex.quarantine.with_columns(pl.when(pl.col("table") == "jusho").then(None)
                                        .otherwise(pl.col("record_key")).alias("record_key"))
    with pytest.raises(HeldRowUntied, match="could not be tied to a person") as info:
        map_source(p.mapping, p.schema, ctx, ex.output, source_name="vendor_c_juki", held_at_extract=untied)
    assert "C_JUSHO_RIREKI: 2" in str(info.value) and not any(k in str(info.value) for k in PERSONS)
    assert "個人に結び付けられません" in info.value.ja


@pytest.mark.usefixtures("prefect_harness")
def test_the_run_holds_the_person_and_balances(legacy, tmp_path):
    from ikou.flows.migrate import migration_flow

    folder, url = legacy
    cfg = write_config(tmp_path, source=source(url), target_url=f"duckdb:///{tmp_path / 'target.duckdb'}",
                       inbox=[folder])
    summary = migration_flow(str(cfg))
    assert summary["status"] == "succeeded", summary.get("error")
    run_dir = tmp_path / "runs" / "999997" / summary["run_id"]
    combined = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["combined"]["vendor_c_juki"]
    assert combined["tables"]["jusho"]["extracted"] == JUSHO.height
    assert sum(t["extracted"] for t in combined["tables"].values()) == summary["sources"]["vendor_c_juki"]["rows"]
    quarantine = pl.read_parquet(run_dir / "quarantine.parquet")
    assert quarantine.filter((pl.col("stage") == "extract") & (pl.col("table") == "jusho")).height == 2
    assert sorted(quarantine.filter(pl.col("rule") == HELD_AT_EXTRACT)["value"].unique().to_list()) == PERSONS
    xw = pl.read_csv(tmp_path / "runs" / "999997" / "crosswalk" / "atena_no.csv", infer_schema=False)
    assert not set(PERSONS) & set(xw["legacy_atena_no"])   # a held person gets no number and is not loaded
    assert NOT_MIGRATED in set(xw["legacy_atena_no"])      # a value not migrated holds nobody
    t = summary["tables"]["juki_kojin_rireki"]
    assert t["extracted"] == t["loaded"] + t["quarantined"]
