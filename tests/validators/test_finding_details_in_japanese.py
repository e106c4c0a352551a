"""A finding's Japanese message (report.html 内容, the workbook) says its detail in Japanese: 「3 桁、規定は 7 桁」,
not `length 3 ≠ 7`; the English half keeps its wording, the rule id and columns stay as they were."""
from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest

from ikou.errors import ConservationError, message_ja
from ikou.validators.engine import check_conservation, validate
from ikou.validators.spec import RuleSet
from tests.validators.conftest import atena, frame, person

DANTAI = "999750"
TABLE = "juki_kojin_rireki"
ENGLISH = re.compile(r"\b(length|rows?|spellings?|run date|passed|quarantined)\b")


def _rules() -> RuleSet:
    return RuleSet.model_validate({"spec_version": 1, "gyomu": "juki", "schema_rules": False, "tables": {TABLE: [
        {"id": "t.length", "kind": "length", "params": {"columns": ["yubin_no"], "length": 7}},
        {"id": "t.max_length", "kind": "max_length", "params": {"columns": ["banchi"], "length": 3}},
        {"id": "t.unique", "kind": "unique_key", "params": {"columns": ["juminhyo_code"]}},
        {"id": "t.same", "kind": "same_after_normalising",
         "params": {"columns": ["setai_no"], "normalise": ["width", "leading_zeros"]}},
        {"id": "t.future", "kind": "date_range", "params": {"columns": ["seinengappi"], "max": "run_date"}},
    ]}})


@pytest.fixture(scope="module")
def found(schema):
    s = atena("30000")
    rows = [person(1, dantai_code=DANTAI, yubin_no="100", banchi="1番1号", setai="30000"),
            person(2, dantai_code=DANTAI, juminhyo_code="00000000001", setai_no="0" + s),
            person(3, dantai_code=DANTAI, seinengappi="2030-01-01", setai="40000")]
    res = validate(frame(rows), table=TABLE, schema=schema, rules=_rules(), run_id="R1-test", dantai_code=DANTAI,
                   run_date=dt.date(2026, 11, 30))
    return {r["rule"]: r for r in res.quarantine.iter_rows(named=True)}


@pytest.mark.parametrize("rule, ja, en", [
    ("t.length", "3 桁、規定は 7 桁", "length 3 ≠ 7"),
    ("t.max_length", "4 桁、上限は 3 桁", "length 4 > 3"),
    ("t.unique", "同じキーの行が 2 行", "(2 rows)"),
    ("t.same", "2 通りの表記", "2 spellings of"),
    ("t.future", "2026-11-30 (実行日)", "2026-11-30 (run date)"),
])
def test_a_findings_detail_is_japanese_in_the_japanese_half(found, rule, ja, en):
    f = found[rule]
    assert ja in f["message_ja"] and en in f["message_en"], f
    assert not ENGLISH.search(f["message_ja"]), f["message_ja"]


def test_the_columns_the_findings_name_are_unchanged(found):
    assert {r: f["column"] for r, f in found.items()} == {
        "t.length": "yubin_no", "t.max_length": "banchi", "t.unique": "juminhyo_code", "t.same": "setai_no",
        "t.future": "seinengappi"}
    assert "実行日" in found["t.future"]["message_ja"]


def test_counts_that_do_not_balance_say_the_counts_in_japanese_too():
    with pytest.raises(ConservationError, match=r"10 rows in ≠ 7 passed \+ 2 quarantined") as e:
        check_conservation(10, 7, 2, TABLE, "load")
    ja = message_ja(e.value)
    assert "件数が一致しません" in ja and TABLE in ja and "投入" in ja, ja
    assert "入力 10 件" in ja and "通過 7 件" in ja and "保留 2 件" in ja and "+1" in ja, ja
    assert not ENGLISH.search(ja), ja
