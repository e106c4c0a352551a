"""Vendor C (a multi-table source): a 世帯主 held before validation, and where its findings point.

- 文字同定's findings on a combined record name the vendor table its column was read from, that row and the
  vendor's person key (mappings.combine.trace), as map's and validation's do: U+200B in a name is found in
  C_SHIMEI_RIREKI, not in C_KOJIN's row without a name column, and carries `KOJIN_KEY=`.
- That 世帯主 (held at 文字同定) is known to its household as the 世帯主 it was: `setai.setainushi_held`.
- A 世帯主 the combine holds (two current addresses) never becomes a record: nothing of it is mapped, so its
  household is told its 世帯主 may be among the held records (`setai.setainushi_maybe_held`, naming the
  combine's own finding), not that the legacy data has none.
"""
from __future__ import annotations

import json

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.context import RunContext
from ikou.extractors import table_ordinal
from ikou.mappings import map_source
from ikou.mappings.spec import load_mapping
from ikou.moji import identify_source
from ikou.onepass import one_pass
from ikou.sample.generate import generate
from ikou.schema import load_schema
from ikou.staging import ROW_ID, SOURCE, SOURCE_LINE, row_id_base
from ikou.validators import validate_table

DANTAI = "999768"
SPEC = load_mapping(REPO_ROOT / "specs" / "vendors" / "vendor_c" / "mappings" / "juki" / "jumin.yaml")
SCHEMA = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")
TABLE = "juki_kojin_rireki"


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """Generated vendor C tables (100 persons, no planted faults) with two 世帯主 of households of three
    current members or more changed: `combined` gets a second current C_JUSHO_RIREKI row, `moji` U+200B in
    its current C_SHIMEI_RIREKI name."""
    root = tmp_path_factory.mktemp("c")
    generate(root, 100, faults=False, dantai=DANTAI)
    t = {s.table: pl.read_csv(root / "vendor_c" / f"{s.table}.csv", infer_schema=False) for s in SPEC.tables.values()}
    kosei = t["C_SETAI_KOSEI"]
    current = kosei.filter(pl.col("YUKO_SHURYO").is_null())
    big = current.group_by("SETAI_KEY").len().filter(pl.col("len") >= 3)["SETAI_KEY"]
    heads = current.filter((pl.col("ZOKUGARA") == "世帯主") & pl.col("SETAI_KEY").is_in(big.implode())
                           & (pl.col("KOJIN_KEY").is_in(t["C_SHIMEI_RIREKI"].filter(pl.len().over("KOJIN_KEY") == 1)
                                                        ["KOJIN_KEY"].implode()))).sort("KOJIN_KEY")
    combined, moji = heads.row(0, named=True), heads.row(1, named=True)
    jusho = t["C_JUSHO_RIREKI"]
    extra = jusho.filter(pl.col("KOJIN_KEY") == combined["KOJIN_KEY"]).tail(1).with_columns(SEQ=pl.lit("9"))
    t["C_JUSHO_RIREKI"] = pl.concat([jusho, extra])
    t["C_SHIMEI_RIREKI"] = t["C_SHIMEI_RIREKI"].with_columns(
        SHIMEI=pl.when(pl.col("KOJIN_KEY") == moji["KOJIN_KEY"])
        .then(pl.col("SHIMEI").str.slice(0, 1) + "\u200b" + pl.col("SHIMEI").str.slice(1)).otherwise("SHIMEI"))
    members = {h["KOJIN_KEY"]: set(current.filter((pl.col("SETAI_KEY") == h["SETAI_KEY"])
                                                  & (pl.col("KOJIN_KEY") != h["KOJIN_KEY"]))["KOJIN_KEY"])
               for h in (combined, moji)}
    return t, combined["KOJIN_KEY"], moji["KOJIN_KEY"], members


def _line(tables, table: str, key: str) -> int:
    return tables[table].with_row_index("line", offset=1).filter(pl.col("KOJIN_KEY") == key)["line"][0]


def _stage(ctx: RunContext, tables) -> "Path":   # noqa: F821
    """The tables staged as the extract stages them (row ids by table ordinal, each row's line its position)."""
    staged = ctx.stage_dir("extract") / "vendor_c_juki"
    staged.mkdir()
    manifest = {"source": "vendor_c_juki", "ordinal": 1, "tables": {}}
    for i, (alias, s) in enumerate(SPEC.tables.items()):
        df = tables[s.table].with_row_index("line", offset=1)
        df.select((pl.col("line").cast(pl.Int64) + row_id_base(table_ordinal(1, i))).alias(ROW_ID),
                  pl.lit(s.table).alias(SOURCE), pl.col("line").cast(pl.Int64).alias(SOURCE_LINE),
                  pl.exclude("line")).write_parquet(staged / f"{alias}.parquet")
        manifest["tables"][alias] = {"table": s.table, "file": f"{alias}.parquet", "rows": df.height}
    (staged / "tables.json").write_text(json.dumps(manifest), encoding="utf-8")
    return staged


@pytest.fixture(scope="module", params=["staged", "one_pass"])
def run(request, tmp_path_factory, tables):
    t, *_ = tables
    ctx = RunContext(dantai_code=DANTAI, run_id=request.param, runs_dir=tmp_path_factory.mktemp("runs"))
    staged = _stage(ctx, t)
    if request.param == "one_pass":
        mp, mo = one_pass(SPEC, SCHEMA, ctx, staged, source_name="vendor_c_juki", batch_rows=61)
    else:
        mp = map_source(SPEC, SCHEMA, ctx, staged, source_name="vendor_c_juki", batch_rows=61)
        mo = identify_source(SCHEMA, TABLE, ctx, mp.output, source_name="vendor_c_juki", batch_rows=61)
    v = validate_table(SCHEMA, TABLE, ctx, [mo.output], held_before=[mp.quarantine, mo.quarantine],
                       row_local=[mo.outputs["row_local"]] if request.param == "one_pass" else None)
    return {"map": mp.quarantine, "moji": mo.quarantine, "validate": v.quarantine}


def _members(q: pl.DataFrame, keys: set[str]) -> pl.DataFrame:
    found = q.filter(pl.col("rule").str.starts_with("setai."))
    return found.filter(pl.col("record_key").str.extract(r",KOJIN_KEY=([0-9]+)$").is_in(list(keys)))


def test_a_moji_finding_names_the_vendor_table_row_and_key_its_value_came_from(run, tables):
    t, _, moji, _ = tables
    found = run["moji"].filter(pl.col("rule") == "moji.invalid_char")
    assert found.height >= 1   # one per 履歴 of the person
    assert set(found.select("source", "source_line").rows()) == {
        ("C_SHIMEI_RIREKI", _line(t, "C_SHIMEI_RIREKI", moji))}
    assert found["record_key"].str.contains(rf"^atena_no=[0-9]+,rireki_no=[0-9]+,KOJIN_KEY={moji}$").all()
    assert set(found["column"]) == {"shimei"}


def test_a_head_held_at_moji_is_named_as_the_households_held_head(run, tables):
    t, _, moji, members = tables
    got = _members(run["validate"], members[moji])
    assert got.height and set(got["rule"]) == {"setai.setainushi_held"}
    assert (f" by moji.invalid_char (C_SHIMEI_RIREKI source_line {_line(t, 'C_SHIMEI_RIREKI', moji)})"
            in got["message_en"][0])


def test_a_head_the_combine_held_may_be_among_the_held_records(run, tables):
    t, combined, _, members = tables
    assert run["map"].filter(pl.col("record_key") == f"KOJIN_KEY={combined}")["rule"].is_in(
        ["history.two_current", "combine.person_held"]).all()
    got = _members(run["validate"], members[combined])
    assert got.height and set(got["rule"]) == {"setai.setainushi_maybe_held"}
    line = _line(t, "C_JUSHO_RIREKI", combined)
    assert ("setainushi maybe among 1 held record(s) of unknown household, first held by history.two_current "
            f"(C_JUSHO_RIREKI source_line {line})") in got["message_en"][0]
    assert "KOJIN_KEY" not in got["message_en"][0]   # the vendor's own key stays in record_key
