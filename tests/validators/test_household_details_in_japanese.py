"""The 世帯主 rule's findings (setai.one_setainushi, setai.setainushi_held, setai.setainushi_maybe_held) say their
detail in Japanese in the Japanese half (quarantine.csv message_ja, report.html 内容): 「世帯番号 …、現在の世帯主 0 人」,
「世帯主 宛名番号 … 履歴番号 … は保留 (理由: <rule>、JUMIN.csv 3 行目)」, not `setai_no=… setainushi=0` or
`atena_no=… rireki_no=… held by …`. The English half keeps its wording; the rule ids, column and value (the 世帯番号)
are unchanged; the detail names keys only (宛名番号, 履歴番号, 世帯番号), never a name or 個人番号."""
from __future__ import annotations

import re

import polars as pl

from ikou.validators.engine import validate
from ikou.validators.kinds import HELD_BY
from tests.validators.conftest import atena, frame, person

DANTAI = "999750"
TABLE = "juki_kojin_rireki"
ENGLISH = re.compile(r"atena_no|rireki_no|setai_no|setainushi|held|maybe|more|source_line|unknown|stage")


def _households(rows: list[dict], schema, rules, held_before: pl.DataFrame | None = None) -> pl.DataFrame:
    rows = [{**r, "dantai_code": DANTAI} for r in rows]
    res = validate(frame(rows), table=TABLE, schema=schema, rules=rules, run_id="R1-test", dantai_code=DANTAI,
                   held_before=held_before)
    hh = res.quarantine.filter(pl.col("rule").str.starts_with("setai."))
    assert hh.height, res.quarantine.select("rule", "message_en")
    assert set(hh["column"]) == {"setai_no"}
    for row in rows:   # keys only: never a name or 個人番号
        for text in hh["message_ja"].to_list() + hh["message_en"].to_list():
            assert row["shimei"] not in text and row["kojin_no"] not in text, text
    for text in hh["message_ja"]:
        assert not ENGLISH.search(text), text
    return hh


def _of(hh: pl.DataFrame, household: str) -> dict:
    return hh.filter(pl.col("value") == atena(household)).row(0, named=True)


def test_a_household_with_no_or_two_heads_says_so_in_japanese(schema, rules):
    hh = _households([person(1, setai="10000", zokugara="02"), person(11, setai="20000", zokugara="20"),
                      person(12, setai="30000", zokugara="02"), person(13, setai="30000", zokugara="02")],
                     schema, rules)
    none, two = _of(hh, "20000"), _of(hh, "30000")
    assert none["rule"] == two["rule"] == "setai.one_setainushi"
    assert none["message_ja"].endswith(f"(世帯番号 {atena('20000')}、現在の世帯主 0 人)"), none["message_ja"]
    assert two["message_ja"].endswith(f"(世帯番号 {atena('30000')}、現在の世帯主 2 人)"), two["message_ja"]
    assert f"setai_no={atena('20000')} setainushi=0" in none["message_en"]
    assert f"setai_no={atena('30000')} setainushi=2" in two["message_en"]


def test_a_household_whose_heads_are_held_names_the_first_head_and_why_in_japanese(schema, rules):
    rows = [person(4, setai="20000", zokugara="02", seinengappi="1970-13-02"),
            person(5, setai="20000", zokugara="02", seinengappi="1970-13-02"), person(11, setai="20000", zokugara="20"),
            person(1, setai="10000", zokugara="02")]
    f = _of(_households(rows, schema, rules), "20000")
    assert f["rule"] == "setai.setainushi_held"
    ja = re.search(rf"\(世帯番号 {atena('20000')}、世帯主 宛名番号 {atena('0000004')} 履歴番号 1 は保留 "
                   r"\(理由: (\S+)、JUMIN\.csv 2 行目\)、ほか 1 人の世帯主も保留\)$", f["message_ja"])
    assert ja, f["message_ja"]
    assert (f"setai_no={atena('20000')}; setainushi atena_no={atena('0000004')} rireki_no=1 held by {ja[1]} "
            "(JUMIN.csv source_line 2) (+1 more)") in f["message_en"]


def test_a_held_record_of_unknown_zokugara_that_may_be_the_head_is_named_in_japanese(schema, rules):
    rows = [person(11, setai="20000", zokugara="20"), person(1, setai="10000", zokugara="02")]
    held_before = pl.DataFrame({"atena_no": [atena("0000004")], "rireki_no": ["1"], "setai_no": [atena("20000")],
                                "zokugara_code": [None], "jumin_jotai_code": ["1"],
                                HELD_BY: ["code_table.zokugara (JUMIN.csv source_line 3)"]},
                               schema_overrides={"zokugara_code": pl.String})
    f = _of(_households(rows, schema, rules, held_before), "20000")
    assert f["rule"] == "setai.setainushi_maybe_held"
    assert f["message_ja"].endswith(
        f"(世帯番号 {atena('20000')}、現在の世帯主 0 人。世帯主の可能性がある保留記録: 宛名番号 {atena('0000004')} 履歴番号 1 "
        "(続柄不明) は保留 (理由: code_table.zokugara、JUMIN.csv 3 行目))"), f["message_ja"]
    assert (f"setai_no={atena('20000')} setainushi=0; setainushi maybe atena_no={atena('0000004')} rireki_no=1 "
            "(続柄 unknown) held by code_table.zokugara (JUMIN.csv source_line 3)") in f["message_en"]


def test_held_records_of_unknown_household_are_named_in_japanese(schema, rules):
    rows = [person(11, setai="20000", zokugara="20"), person(1, setai="10000", zokugara="02")]
    held_before = pl.DataFrame({"atena_no": [atena("0000004")], "rireki_no": ["1"],
                                HELD_BY: ["extract.decode (JUMIN.csv source_line 3)"]})
    f = _of(_households(rows, schema, rules, held_before), "20000")
    assert f["rule"] == "setai.setainushi_maybe_held"
    assert f["message_ja"].endswith(
        f"(世帯番号 {atena('20000')}、現在の世帯主 0 人。世帯が不明な保留記録 1 件の中に世帯主がいる可能性があります "
        f"(最初の記録: 宛名番号 {atena('0000004')} 履歴番号 1 は保留 (理由: extract.decode、JUMIN.csv 3 行目)))"), \
        f["message_ja"]


def test_a_held_record_with_no_readable_key_is_named_by_where_it_was_held_in_japanese(schema, rules):
    rows = [person(11, setai="20000", zokugara="20"), person(1, setai="10000", zokugara="02")]
    held_before = pl.DataFrame({"atena_no": [None], "rireki_no": [None], "record_key": [None],
                                HELD_BY: ["the extract stage (see its quarantine)"]}, schema={
        "atena_no": pl.String, "rireki_no": pl.String, "record_key": pl.String, HELD_BY: pl.String})
    f = _of(_households(rows, schema, rules, held_before), "20000")
    assert f["rule"] == "setai.setainushi_maybe_held"
    assert f["message_ja"].endswith("世帯が不明な保留記録 1 件の中に世帯主がいる可能性があります (最初の記録: 保留 "
                                    "(理由: extract 段階 (その段階の保留一覧を参照))))"), f["message_ja"]
    assert "first held by the extract stage (see its quarantine)" in f["message_en"]
