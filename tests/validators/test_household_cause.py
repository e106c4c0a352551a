"""A household held because its 世帯主 is held names that 世帯主 and why (rule, source, line), under its own
rule `setai.setainushi_held`; `setai.one_setainushi` ("世帯主が一人ではありません") is kept for a household that
really has none or two. The legacy data of the first has a 世帯主: the fix is that one record.

The 世帯主 may be held here (a row rule), or before validation: at map (a 生年月日 of 大正30年), where the
record never reaches validation; the map stage keeps what it could still map of it (its 世帯番号, 続柄 …,
no name) for the household rule (mappings.step.held_rows_path)."""
from __future__ import annotations

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.context import RunContext
from ikou.mappings.spec import load_mapping
from ikou.mappings.step import Mapper, held_rows_path
from ikou.staging import ROW_ID, SOURCE_LINE
from ikou.validators import validate_table
from ikou.validators.kinds import HELD_BY
from tests.validators.conftest import DANTAI, atena, frame, person, vendor_b_households
from tests.validators.test_engine import run

TABLE = "juki_kojin_rireki"
MAPPING_B = REPO_ROOT / "specs" / "vendors" / "vendor_b" / "mappings" / "juki" / "jumin.yaml"


def _setai(q: pl.DataFrame) -> pl.DataFrame:
    return q.filter(pl.col("rule").str.starts_with("setai."))


def test_a_head_whose_older_row_was_held_before_validation_takes_the_household_with_it(schema, rules):
    """Person 4 heads household 20000 on its latest row, but its 履歴 1 was held at map: held_together holds
    the person whole, so the household would be loaded without its 世帯主. It is held, naming the cause."""
    rows = [person(4, setai="20000", zokugara="02", rireki=2), person(11, setai="20000", zokugara="20"),
            person(1, setai="10000", zokugara="02")]
    held_before = pl.DataFrame({"atena_no": [atena("0000004")], "rireki_no": ["1"],
                                HELD_BY: ["wareki.era_range (JUMIN.csv source_line 3)"]})
    res = run(frame(rows), schema, rules, held_before=held_before)
    hh = _setai(res.quarantine)
    assert hh.select("rule", "record_key").rows() == [
        ("setai.setainushi_held", f"atena_no={atena('0000011')},rireki_no=1")]
    # the cause is on 履歴 1 (line 3), not on the current 履歴 2 the household reads: the message says which
    assert (f"setai_no={atena('20000')}; setainushi atena_no={atena('0000004')} rireki_no=2 held with its rireki_no=1 "
            "by wareki.era_range (JUMIN.csv source_line 3)") in hh["message_en"][0]
    assert (f"世帯番号 {atena('20000')}、世帯主 宛名番号 {atena('0000004')} 履歴番号 2 は履歴番号 1 とともに保留 "
            "(理由: wareki.era_range、JUMIN.csv 3 行目)") in hh["message_ja"][0]
    assert res.quarantine.filter(pl.col("rule") == "rireki.held_together")["record_key"].to_list() == [
        f"atena_no={atena('0000004')},rireki_no=2"]
    assert res.good["atena_no"].to_list() == [atena("0000001")]


def test_a_held_record_whose_household_is_unknown_may_be_the_missing_head(schema, rules):
    """Held at extract (its fields unread): nothing says it was the 世帯主, nor that it was not. The household
    without one is told its 世帯主 may be among the held records, not that the legacy data has none."""
    rows = [person(11, setai="20000", zokugara="20"), person(1, setai="10000", zokugara="02")]
    held_before = pl.DataFrame({"atena_no": [atena("0000004")], "rireki_no": ["1"],
                                HELD_BY: ["extract.decode (JUMIN.csv source_line 3)"]})
    hh = _setai(run(frame(rows), schema, rules, held_before=held_before).quarantine)
    assert hh["rule"].to_list() == ["setai.setainushi_maybe_held"]
    assert (f"setai_no={atena('20000')} setainushi=0; setainushi maybe among 1 held record(s) of unknown household, "
            f"first atena_no={atena('0000004')} rireki_no=1 held by extract.decode (JUMIN.csv source_line 3)") \
        in hh["message_en"][0]
    assert "世帯主が一人ではありません" not in hh["message_ja"][0]


def test_a_held_record_known_not_to_be_the_head_leaves_the_plain_message(schema, rules):
    """Held at map with its household and 続柄 known (a member of another household), or known to have moved
    out: it cannot be the missing 世帯主, so the household really has none."""
    rows = [person(11, setai="20000", zokugara="20"), person(1, setai="10000", zokugara="02")]
    held_before = pl.DataFrame({"atena_no": [atena("0000004"), atena("0000005")], "rireki_no": ["1", "1"],
                                "setai_no": [atena("10000"), atena("20000")], "zokugara_code": ["20", "02"],
                                "jumin_jotai_code": ["1", "2"],
                                HELD_BY: ["wareki.era_range (JUMIN.csv source_line 3)",
                                          "wareki.era_range (JUMIN.csv source_line 4)"]})
    hh = _setai(run(frame(rows), schema, rules, held_before=held_before).quarantine)
    assert hh["rule"].to_list() == ["setai.one_setainushi"]
    assert "setainushi=0" in hh["message_en"][0] and "held by" not in hh["message_en"][0]


@pytest.fixture(scope="module")
def vendor_b(tmp_path_factory):
    """A clean generated population as vendor B's table, with four households changed: S's 世帯主 has a
    生年月日 of 大正30年 (held at map), T has no 世帯主 (its head's 続柄 made 子), U two (a child's made 世帯主),
    and a member of V a 続柄 in no code table (held at map too, on another line than S's 世帯主)."""
    b, heads = vendor_b_households(tmp_path_factory.mktemp("b"), 200, dantai=DANTAI, first_line=1)
    s, t, u, v = (heads.row(i, named=True) for i in range(4))
    child = b.filter((pl.col("SETAI_ID") == u["SETAI_ID"]) & (pl.col("ZOKU") != "1"))[ROW_ID][0]
    other = b.filter((pl.col("SETAI_ID") == v["SETAI_ID"]) & (pl.col("ZOKU") != "1"))[ROW_ID][0]
    b = b.with_columns(
        BIRTH=pl.when(pl.col(ROW_ID) == s[ROW_ID]).then(pl.lit("T300230")).otherwise("BIRTH"),
        ZOKU=pl.when(pl.col(ROW_ID) == t[ROW_ID]).then(pl.lit("4"))
        .when(pl.col(ROW_ID) == child).then(pl.lit("1")).when(pl.col(ROW_ID) == other).then(pl.lit("77"))
        .otherwise("ZOKU"))
    return b, s, t, u


def test_members_of_a_household_whose_head_is_held_at_map_are_told_so(tmp_path, schema, vendor_b):
    b, s, t, u = vendor_b
    ctx = RunContext(dantai_code=DANTAI, run_id="r1", runs_dir=tmp_path / "runs")
    staged = ctx.stage_dir("extract") / "vendor_b_jumin.parquet"
    b.write_parquet(staged)
    m = Mapper(load_mapping(MAPPING_B), schema, ctx, staged, source_name="vendor_b_jumin")
    mapped = ctx.stage_dir("moji") / "vendor_b_jumin.parquet"
    pl.concat(list(m.batches())).write_parquet(mapped)   # one batch: both rows held at map map together
    map_q = m.result(output=None).quarantine
    assert map_q.filter(pl.col("record_key").str.contains(s["KOJIN_ID"]))["rule"].to_list() == ["wareki.era_range"]

    # what the map stage kept of the held 世帯主: its household, never a name nor a 個人番号
    kept = pl.read_parquet(held_rows_path(ctx, "vendor_b_jumin")).filter(pl.col("atena_no") == s["KOJIN_ID"])
    assert kept.select("setai_no", "zokugara_code", "jumin_jotai_code").rows() == [(s["SETAI_ID"], "02", "1")]
    assert not {"shimei", "shimei_kana", "kojin_no"} & set(kept.columns)
    assert kept["seinengappi"].to_list() == [None]   # the line that failed on it is left out, and only that one

    v = validate_table(schema, TABLE, ctx, [mapped], held_before=[map_q])
    hh = _setai(v.quarantine)
    by_household = {k: g for (k,), g in hh.group_by("value")}
    members = set(b.filter((pl.col("SETAI_ID") == s["SETAI_ID"]) & (pl.col("KOJIN_ID") != s["KOJIN_ID"]))["KOJIN_ID"])
    got = by_household[s["SETAI_ID"]]
    assert set(got["rule"]) == {"setai.setainushi_held"}
    assert set(got["record_key"].str.extract(r"atena_no=([^,]*)")) <= members and got.height >= 2
    assert (f"setai_no={s['SETAI_ID']}; setainushi atena_no={s['KOJIN_ID']} rireki_no=1 held by wareki.era_range "
            f"(B_JUMIN source_line {s[SOURCE_LINE]})") in got["message_en"][0]
    assert (f"世帯番号 {s['SETAI_ID']}、世帯主 宛名番号 {s['KOJIN_ID']} 履歴番号 1 は保留 (理由: wareki.era_range、"
            f"B_JUMIN {s[SOURCE_LINE]} 行目)") in got["message_ja"][0]
    assert got["message_ja"][0].startswith("世帯主の記録が保留されたため")
    assert "世帯主が一人ではありません" not in "".join(got["message_ja"])
    # a household that really has none, or two: the rule's own message
    assert set(by_household[t["SETAI_ID"]]["rule"]) == {"setai.one_setainushi"}
    assert "setainushi=0" in by_household[t["SETAI_ID"]]["message_en"][0]
    assert set(by_household[u["SETAI_ID"]]["rule"]) == {"setai.one_setainushi"}
    assert "setainushi=2" in by_household[u["SETAI_ID"]]["message_en"][0]
    assert set(by_household) == {s["SETAI_ID"], t["SETAI_ID"], u["SETAI_ID"]}


def test_the_held_head_rule_id_must_not_be_another_rules():
    from pydantic import ValidationError

    from ikou.validators.spec import RuleSet

    outcome = {"id": "key.unique", "ja": "x", "en": "x"}
    with pytest.raises(ValidationError, match="duplicate rule ids"):
        RuleSet.model_validate({"spec_version": 1, "gyomu": "juki", "tables": {TABLE: [
            {"id": "key.unique", "kind": "unique_key", "params": {"columns": ["atena_no", "rireki_no"]}},
            {"id": "setai.one_setainushi", "kind": "setainushi", "params": {"head_held": outcome}}]}})
