"""A finding on a record vendor C's tables were combined into names the legacy data: the vendor table its
column was read from, that table's row, and the vendor's own person key (KOJIN_KEY) beside the new 宛名番号
— at map and at validation. README: every bad record goes to the quarantine "with the file and line (or
table and key)"; the new numbers and the combined view's row alone lead nowhere in the vendor's database."""
from __future__ import annotations

import json

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.context import RunContext
from ikou.extractors import table_ordinal
from ikou.mappings.spec import load_mapping
from ikou.mappings.step import Mapper
from ikou.schema import load_schema
from ikou.sample.generate import generate
from ikou.staging import ROW_ID, SOURCE, SOURCE_LINE, row_id_base
from ikou.validators import validate_table

DANTAI = "999831"
SPEC = load_mapping(REPO_ROOT / "specs" / "vendors" / "vendor_c" / "mappings" / "juki" / "jumin.yaml")
SCHEMA = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A generated vendor C (150 persons, planted faults), its tables staged as the extract stages them (row
    ids by table ordinal, each row's line its position), mapped and validated by the real steps."""
    root = tmp_path_factory.mktemp("c")
    generate(root, 150, dantai=DANTAI)
    ctx = RunContext(dantai_code=DANTAI, run_id="r1", runs_dir=root / "runs")
    staged = ctx.stage_dir("extract") / "vendor_c_juki"
    staged.mkdir()
    manifest = {"source": "vendor_c_juki", "ordinal": 1, "tables": {}}
    tables = {}
    for i, (alias, t) in enumerate(SPEC.tables.items()):
        df = pl.read_csv(root / "vendor_c" / f"{t.table}.csv", infer_schema=False).with_row_index("line", offset=1)
        tables[t.table] = df
        df.select((pl.col("line").cast(pl.Int64) + row_id_base(table_ordinal(1, i))).alias(ROW_ID),
                  pl.lit(t.table).alias(SOURCE), pl.col("line").cast(pl.Int64).alias(SOURCE_LINE),
                  pl.exclude("line")).write_parquet(staged / f"{alias}.parquet")
        manifest["tables"][alias] = {"table": t.table, "file": f"{alias}.parquet", "rows": df.height}
    (staged / "tables.json").write_text(json.dumps(manifest), encoding="utf-8")
    m = Mapper(SPEC, SCHEMA, ctx, staged, source_name="vendor_c_juki")
    mapped = ctx.stage_dir("moji") / "vendor_c_juki.parquet"
    pl.concat(list(m.batches(batch_rows=61))).write_parquet(mapped)
    map_q = m.result(output=None).quarantine
    v = validate_table(SCHEMA, "juki_kojin_rireki", ctx, [mapped], held_before=[map_q])
    faults = pl.read_csv(root / "faults_vendor_c.csv", infer_schema=False)
    return {"map": map_q, "validate": v.quarantine, "tables": tables, "faults": faults, "mapped": mapped}


def _key(run, fault: str) -> str:
    return run["faults"].filter(pl.col("fault") == fault)["kojin_key"][0]


def _line(run, table: str, key: str) -> int:
    return run["tables"][table].filter(pl.col("KOJIN_KEY") == key)["line"][0]


def _findings(q: pl.DataFrame, key: str) -> pl.DataFrame:
    return q.filter(pl.col("record_key").str.ends_with(f",KOJIN_KEY={key}"))


@pytest.mark.parametrize("fault,rule,table", [
    ("impossible_date", "wareki.month", "C_KOJIN"),            # 生年月日: the person master's BIRTH_YMD
    ("chain_too_long", "code_chain.too_long", "C_SETAI_KOSEI"),   # 続柄: the household membership's ZOKUGARA
])
def test_a_map_finding_names_the_vendor_table_row_and_key_its_value_came_from(run, fault, rule, table):
    key = _key(run, fault)
    found = _findings(run["map"], key).filter(pl.col("rule") == rule)
    assert found.height, (fault, run["map"].filter(pl.col("rule") == rule))   # one per 履歴 of the person
    assert set(found.select("source", "source_line").rows()) == {(table, _line(run, table, key))}
    assert found["record_key"].str.contains(r"^atena_no=[0-9]+,rireki_no=[0-9]+,KOJIN_KEY=").all()   # new key first


def test_a_validation_finding_names_the_vendor_table_row_and_key(run):
    key = _key(run, "bad_kojin_no")
    found = _findings(run["validate"], key).filter(pl.col("rule") == "checkdigit.kojin_no")
    assert found.select("source", "source_line").rows() == [("C_KOJIN", _line(run, "C_KOJIN", key))]
    # a household rule's finding: the membership row (世帯番号 comes from C_SETAI_KOSEI) of each member
    hh = run["validate"].filter(pl.col("rule").str.starts_with("setai."))
    assert hh.height and set(hh["source"]) == {"C_SETAI_KOSEI"}
    for r in hh.iter_rows(named=True):
        member = r["record_key"].split("KOJIN_KEY=")[1]
        assert r["source_line"] == _line(run, "C_SETAI_KOSEI", member)


def test_every_record_the_combine_makes_carries_its_person_masters_row_as_lineage(run):
    """What names a record at any stage (文字同定 too): the first table giving it a row, and that row's line."""
    rec = pl.read_parquet(run["mapped"], columns=[SOURCE, SOURCE_LINE, "atena_no"])
    assert set(rec[SOURCE]) == {"C_KOJIN"}
    assert rec[SOURCE_LINE].min() >= 1 and rec[SOURCE_LINE].max() <= run["tables"]["C_KOJIN"].height
    # one person master row per person: every history row of a person points at it
    assert rec.group_by("atena_no").agg(pl.col(SOURCE_LINE).n_unique())[SOURCE_LINE].max() == 1


def test_findings_not_on_combined_records_are_left_as_they_are(run):
    """The combine's own findings are already the vendor's rows: table, line, KOJIN_KEY= alone."""
    own = run["map"].filter(pl.col("rule").is_in(["join.unmatched", "history.overlap", "lookup.unknown"]))
    assert own.height and own["record_key"].str.starts_with("KOJIN_KEY=").all()
    assert (own["source"] == own["table"]).all()
