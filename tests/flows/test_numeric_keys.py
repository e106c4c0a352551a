"""A key column the vendor table holds as a number (its leading zeros gone) is named in run.log and
summary.json (`sources.*.numeric_keys`) unless the mapping reads it through `op: zero_pad`."""
from __future__ import annotations

import logging
from types import SimpleNamespace

from ikou.flows import pipeline as P
from ikou.mappings.spec import MappingSpec
from ikou.schema import load_schema


def _plan(atena_op: dict) -> SimpleNamespace:
    spec = MappingSpec.model_validate({
        "spec_version": 1, "target": "juki_kojin_rireki", "schema": "gyomu:juki",
        "columns": [{"target": "atena_no", "from": "ATENA", **atena_op},
                    {"target": "rireki_no", "op": "integer", "from": "RIREKI"}]})
    return SimpleNamespace(mapping=spec, schema=load_schema(spec.schema_), target="juki_kojin_rireki",
                           source=SimpleNamespace(name="b_jumin"))


def test_a_numeric_key_not_read_through_zero_pad_is_named(caplog):
    plan = _plan({"op": "text"})
    metrics = {"numeric_columns": ["ATENA", "RIREKI", "KINGAKU"]}
    assert P.numeric_keys(plan, metrics) == ["ATENA"]   # rireki_no is an integer: no zeros to lose
    with caplog.at_level(logging.WARNING, logger="ikou"):
        P.warn_numeric_keys(plan, metrics)
    assert "zero_pad" in caplog.text and "ATENA" in caplog.text


def test_a_key_read_through_zero_pad_or_held_as_text_is_not_named(caplog):
    assert P.numeric_keys(_plan({"op": "zero_pad", "width": 10}), {"numeric_columns": ["ATENA"]}) == []
    assert P.numeric_keys(_plan({"op": "text"}), {"numeric_columns": []}) == []
    assert P.numeric_keys(_plan({"op": "text"}), {}) == []   # a file source: no types
    with caplog.at_level(logging.WARNING, logger="ikou"):
        P.warn_numeric_keys(_plan({"op": "zero_pad", "width": 10}), {"numeric_columns": ["ATENA"]})
    assert caplog.text == ""


def test_a_numeric_column_feeding_another_tables_key_is_named_too():
    """世帯番号 in a person's record is the key of 世帯 (juki_setai): a number there lost its zeros just the same."""
    spec = MappingSpec.model_validate({
        "spec_version": 1, "target": "juki_kojin_rireki", "schema": "gyomu:juki",
        "columns": [{"target": "atena_no", "from": "ATENA", "op": "zero_pad", "width": 10},
                    {"target": "rireki_no", "op": "integer", "from": "RIREKI"},
                    {"target": "setai_no", "op": "text", "from": "SETAI"}]})
    plan = SimpleNamespace(mapping=spec, schema=load_schema(spec.schema_), target="juki_kojin_rireki",
                           source=SimpleNamespace(name="b_jumin"))
    assert P.numeric_keys(plan, {"numeric_columns": ["ATENA", "RIREKI", "SETAI"]}) == ["SETAI"]
