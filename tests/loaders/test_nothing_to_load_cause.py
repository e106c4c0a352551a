"""A load refused because a table has no rows says why, in Japanese and English: nothing was extracted (look at
the export) or every extracted record was held (look at the quarantine: the rule holding most named). The
target is unchanged either way."""
from __future__ import annotations

import polars as pl
import pytest

from ikou import quarantine as q
from ikou.loaders import EmptyExportError, LoadPart, RunRecord, load_run, read_table
from ikou.loaders.step import guard_counts
from tests.loaders.test_whole_run import DANTAI, frame, schemas  # noqa: F401 - the fixture


def _load(url, schema, schemas, a, b, run_id, counts=None):
    p = [LoadPart(schemas["ga"], {"ga_t": a}), LoadPart(schemas["gb"], {"gb_t": b}, counts=counts or {})]
    return load_run(p, url, schema, run=RunRecord(run_id, "R1", DANTAI, ("ga", "gb")), max_drop_ratio=0.5)


@pytest.fixture
def loaded(tmp_path, schemas):
    url, schema = f"duckdb:///{tmp_path / 't.duckdb'}", f"dantai_{DANTAI}"
    _load(url, schema, schemas, frame(["A1"], 1), frame([f"B{i}" for i in range(1200)], 1), "run-1")
    return url, schema


def test_a_table_whose_every_record_was_held_is_refused_naming_the_counts_and_the_top_rule(loaded, schemas):
    url, schema = loaded
    counts = {"gb_t": {"extracted": 86472, "held": 86472, "rules": [("key.unique", 86472), ("format.digits", 3)]}}
    with pytest.raises(EmptyExportError) as exc:
        _load(url, schema, schemas, frame(["A1"], 2), frame([], 2), "run-2", counts)
    en, ja = str(exc.value), exc.value.ja
    assert "gb_t: all 86,472 extracted record(s) were held (top rule key.unique: 86,472): 0 rows to load" in en
    assert "see the quarantine, not the export" in en and "holds 1,200 rows of it (unchanged)" in en
    assert "gb_t: 86,472 件を抽出し、すべて保留 (主な理由 key.unique 86,472 件) のため投入 0 件です" in ja
    assert "wrote nothing" not in en and "空の出力" not in ja
    assert read_table(url, schema, "gb_t").height == 1200   # unchanged


def test_a_table_that_extracted_nothing_is_refused_as_an_empty_export(loaded, schemas):
    url, schema = loaded
    with pytest.raises(EmptyExportError) as exc:
        _load(url, schema, schemas, frame(["A1"], 2), frame([], 2), "run-2", {"gb_t": {"extracted": 0, "held": 0}})
    assert "gb_t: 0 rows to load: no record was extracted (an export that wrote nothing?)" in str(exc.value)
    assert "抽出件数が 0 件のため投入 0 件です" in exc.value.ja and "すべて保留" not in exc.value.ja


def test_without_the_counts_the_refusal_names_both_causes(loaded, schemas):
    url, schema = loaded
    with pytest.raises(EmptyExportError) as exc:
        _load(url, schema, schemas, frame(["A1"], 2), frame([], 2), "run-2")
    assert "no rows for a table the target holds 1,200 rows of (nothing extracted, or every extracted record held" \
        in str(exc.value)
    assert "抽出 0 件、またはすべて保留" in exc.value.ja


def test_guard_counts_gives_each_tables_extracted_held_and_top_rules_from_the_quarantine():
    quarantine = q.conform(pl.DataFrame({
        "table": ["gb_t"] * 5 + ["ga_t"], "row_id": [1, 1, 2, 3, 4, 9], "severity": ["error"] * 4 + ["warning", "error"],
        "rule": ["key.unique", "format.digits", "key.unique", "key.unique", "checkdigit.atena_no", "x"]}))
    tables = {"gb_t": {"extracted": 3, "quarantined": 3, "loaded": 0}, "ga_t": {"extracted": 1, "quarantined": 1},
              "gb_derived": {"derived": True, "loaded": 0}}
    assert guard_counts(tables, quarantine) == {
        "gb_t": {"extracted": 3, "held": 3, "rules": [("key.unique", 3), ("format.digits", 1)]},
        "ga_t": {"extracted": 1, "held": 1, "rules": [("x", 1)]}}


def test_the_load_step_hands_its_counts_to_the_guard(tmp_path, schemas):
    from ikou.context import RunContext
    from ikou.loaders.step import load

    url, schema = f"duckdb:///{tmp_path / 't.duckdb'}", f"dantai_{DANTAI}"
    load_run([LoadPart(schemas["ga"], {"ga_t": frame(["A1", "A2"], 1)})], url, schema,
             run=RunRecord("run-1", "R1", DANTAI, ("ga",)))
    ctx = RunContext(dantai_code=DANTAI, run_id="20990101T000000Z-R1-nl01", runs_dir=tmp_path / "runs")
    empty = ctx.stage_dir("validate") / "ga_t.parquet"
    frame([], 2).write_parquet(empty)
    counts = guard_counts({"ga_t": {"extracted": 4, "quarantined": 4}},
                          q.conform(pl.DataFrame({"table": ["ga_t"] * 4, "row_id": [1, 2, 3, 4],
                                                  "severity": ["error"] * 4, "rule": ["key.unique"] * 4})))
    with pytest.raises(EmptyExportError) as exc:
        load([(schemas["ga"], {"ga_t": empty})], ctx, url, schema, counts=counts)
    assert "all 4 extracted record(s) were held (top rule key.unique: 4)" in str(exc.value)
    assert read_table(url, schema, "ga_t").height == 2
