"""A household whose 世帯主 was held before validation is told why, whichever stage held it.

- Held at 文字同定 (U+200B in the name: `moji.invalid_char`): the record is mapped whole, so 文字同定 keeps it
  without its names (moji/<source>.held.parquet, as the map stage keeps map/<source>.held.parquet) and the
  household rule sees the 世帯主 it was: `setai.setainushi_held … held by moji.invalid_char (…)`.
- Held at map for a 続柄 in no code table: the 続柄 is what would make it the head, so nothing says it is; the
  household is told its 世帯主 *may* be that held record (`setai.setainushi_maybe_held … (続柄 unknown)`).
- Held at extract (no field read, no household known): the households left without a 世帯主 are told it may
  be among the held records whose household is unknown, not that the legacy data has none.
- A household that really has none, with nothing held that could be its 世帯主: the rule's own message.

The staged steps (map_source → identify_source) and the one pass (ikou.onepass) keep the same held records.
"""
from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ikou import REPO_ROOT
from ikou import quarantine as q
from ikou.context import RunContext
from ikou.mappings import map_source
from ikou.mappings.spec import load_mapping
from ikou.mappings.step import held_rows_path
from ikou.moji import identify_source
from ikou.onepass import one_pass
from ikou.staging import ROW_ID, SOURCE_LINE
from ikou.validators import validate_table
from tests.validators.conftest import vendor_b_households

DANTAI = "999750"
TABLE = "juki_kojin_rireki"
MAPPING_B = load_mapping(REPO_ROOT / "specs" / "vendors" / "vendor_b" / "mappings" / "juki" / "jumin.yaml")


@pytest.fixture(scope="module")
def vendor_b(tmp_path_factory):
    """Vendor B's table for 120 generated persons, four households of three current residents or more whose
    世帯主 has one 履歴 changed: M's 世帯主 has U+200B in its name, Z's a 続柄 in no code table, E's is held
    at extract (not staged; the extract's quarantine names its key), T's 続柄 is made 子 (really no 世帯主)."""
    b, heads = vendor_b_households(tmp_path_factory.mktemp("b"), 120, dantai=DANTAI, first_line=2)
    m, z, e, t = (heads.row(i, named=True) for i in range(4))
    b = b.with_columns(
        NAME_KANJI=pl.when(pl.col(ROW_ID) == m[ROW_ID]).then(pl.col("NAME_KANJI").str.slice(0, 1) + "\u200b"
                                                            + pl.col("NAME_KANJI").str.slice(1))
        .otherwise("NAME_KANJI"),
        ZOKU=pl.when(pl.col(ROW_ID) == z[ROW_ID]).then(pl.lit("77"))
        .when(pl.col(ROW_ID) == t[ROW_ID]).then(pl.lit("4")).otherwise("ZOKU"))
    staged = b.filter(pl.col(ROW_ID) != e[ROW_ID])
    at_extract = q.conform(pl.DataFrame({   # what flows.pipeline.held_at_extract hands the validation: the key,
        "row_id": [e[ROW_ID]], "record_key": [f"atena_no={e['KOJIN_ID']},rireki_no=1"], "stage": ["extract"],
        "severity": ["error"], "rule": ["extract.control_char"], "source": ["B_JUMIN"],   # why and where
        "source_line": [e[SOURCE_LINE]]}))
    return staged, at_extract, m, z, e, t


def _run(tmp_path, schema, vendor_b, *, fused: bool, with_extract: bool = True):
    staged, at_extract, *_ = vendor_b
    ctx = RunContext(dantai_code=DANTAI, run_id="fused" if fused else "staged", runs_dir=tmp_path / "runs")
    src = ctx.stage_dir("extract") / "vendor_b_jumin.parquet"
    staged.write_parquet(src)
    if fused:
        mp, mo = one_pass(MAPPING_B, schema, ctx, src, source_name="vendor_b_jumin", batch_rows=50)
    else:
        mp = map_source(MAPPING_B, schema, ctx, src, source_name="vendor_b_jumin", batch_rows=50)
        mo = identify_source(schema, TABLE, ctx, mp.output, source_name="vendor_b_jumin", batch_rows=50)
    held_before = [mp.quarantine, mo.quarantine] + ([at_extract] if with_extract else [])
    v = validate_table(schema, TABLE, ctx, [mo.output], held_before=held_before,
                       row_local=[mo.outputs["row_local"]] if fused else None, batch_rows=50)
    return ctx, mp, mo, v


def _households(v) -> dict[str, pl.DataFrame]:
    hh = v.quarantine.filter(pl.col("rule").str.starts_with("setai."))
    return {k: g for (k,), g in hh.group_by("value")}


@pytest.fixture(scope="module")
def both(tmp_path_factory, schema, vendor_b):
    tmp = tmp_path_factory.mktemp("runs")
    return {fused: _run(tmp, schema, vendor_b, fused=fused) for fused in (False, True)}


def test_a_head_held_at_moji_is_kept_as_mapped_without_its_name_the_same_by_both_paths(both, vendor_b):
    _, _, m, *_ = vendor_b
    kept = {}
    for fused, (ctx, _, mo, _) in both.items():
        assert mo.quarantine.filter(pl.col("rule") == "moji.invalid_char")["record_key"].to_list() == [
            f"atena_no={m['KOJIN_ID']},rireki_no=1"]
        kept[fused] = pl.read_parquet(held_rows_path(ctx, "vendor_b_jumin", "moji"))
    assert_frame_equal(kept[False], kept[True])
    assert kept[True].select("atena_no", "setai_no", "zokugara_code", "jumin_jotai_code").rows() == [
        (m["KOJIN_ID"], m["SETAI_ID"], "02", "1")]
    assert not {"shimei", "shimei_kana", "kojin_no", "juminhyo_code"} & set(kept[True].columns)


def test_members_of_a_household_whose_head_is_held_at_moji_are_told_so(both, vendor_b):
    _, _, m, *_ = vendor_b
    for fused, (*_, v) in both.items():
        got = _households(v)[m["SETAI_ID"]]
        assert set(got["rule"]) == {"setai.setainushi_held"}, fused
        assert (f"setai_no={m['SETAI_ID']}; setainushi atena_no={m['KOJIN_ID']} rireki_no=1 held by "
                f"moji.invalid_char (B_JUMIN source_line {m[SOURCE_LINE]})") in got["message_en"][0]


def test_a_head_whose_zokugara_could_not_be_mapped_may_be_the_head(both, vendor_b):
    _, _, _, z, *_ = vendor_b
    for fused, (*_, v) in both.items():
        got = _households(v)[z["SETAI_ID"]]
        assert set(got["rule"]) == {"setai.setainushi_maybe_held"}, fused
        assert (f"setai_no={z['SETAI_ID']} setainushi=0; setainushi maybe atena_no={z['KOJIN_ID']} rireki_no=1 "
                f"(続柄 unknown) held by code_table.unknown (B_JUMIN source_line {z[SOURCE_LINE]})") \
            in got["message_en"][0]
        assert got["message_ja"][0].startswith("検証した記録に世帯主がいませんが、保留された記録")
        assert "世帯主が一人ではありません" not in "".join(got["message_ja"])


def test_a_household_whose_head_was_held_at_extract_may_have_it_among_the_held_records(both, vendor_b):
    _, _, _, _, e, t = vendor_b
    for fused, (*_, v) in both.items():
        by = _households(v)
        for household in (e["SETAI_ID"], t["SETAI_ID"]):   # nothing tells which: both may have it held
            got = by[household]
            assert set(got["rule"]) == {"setai.setainushi_maybe_held"}, (fused, household)
            assert (f"setai_no={household} setainushi=0; setainushi maybe among 1 held record(s) of unknown "
                    f"household, first atena_no={e['KOJIN_ID']} rireki_no=1 held by extract.control_char (B_JUMIN "
                    f"source_line {e[SOURCE_LINE]})") in got["message_en"][0]
    # the staged steps and the one pass find the same
    assert_frame_equal(both[False][3].quarantine.drop("run_id").sort("row_id", "rule", "column"),
                       both[True][3].quarantine.drop("run_id").sort("row_id", "rule", "column"))


def test_a_household_with_really_no_head_keeps_the_plain_message(tmp_path, schema, vendor_b):
    """Without the record held at extract, nothing held could be T's 世帯主: the legacy data has none."""
    _, _, m, z, e, t = vendor_b
    *_, v = _run(tmp_path, schema, vendor_b, fused=True, with_extract=False)
    by = _households(v)
    assert set(by[t["SETAI_ID"]]["rule"]) == {"setai.one_setainushi"}
    assert "setainushi=0" in by[t["SETAI_ID"]]["message_en"][0]
    assert set(by[z["SETAI_ID"]]["rule"]) == {"setai.setainushi_maybe_held"}   # its own held record: still may
    assert set(by[m["SETAI_ID"]]["rule"]) == {"setai.setainushi_held"}
    # E's 世帯主 is simply missing then (not staged, nothing said of it): no 世帯主 as far as anyone knows
    assert set(by[e["SETAI_ID"]]["rule"]) == {"setai.one_setainushi"}


def test_the_report_heading_of_the_maybe_held_outcome_is_its_declared_message():
    from ikou.reports.report import rule_message
    from ikou.validators.spec import load_rules

    rules = load_rules(REPO_ROOT / "specs" / "gyomu" / "juki" / "rules.yaml")
    outcome = next(o for r in rules.tables[TABLE] for o in r.outcomes() if o.id == "setai.setainushi_maybe_held")
    assert rule_message("setai.setainushi_maybe_held", [TABLE], ["juki"]) == outcome.ja
