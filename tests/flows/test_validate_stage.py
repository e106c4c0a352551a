"""The validate stage streams its sources: same findings and good rows as validating the frame whole."""
from __future__ import annotations

import polars as pl

from ikou import REPO_ROOT
from ikou import quarantine as q
from ikou.context import RunContext
from ikou.schema import load_schema
from tests.validators.conftest import DANTAI, faulty_rows, frame
from ikou.validators import load_rules, rules_path, validate, validate_table

TABLE = "juki_kojin_rireki"


def test_stage_in_batches_writes_the_good_rows_validating_the_union_whole_would(tmp_path):
    schema = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")
    df = frame(faulty_rows()).with_columns(_moji_unresolved=pl.int_range(pl.len()) == 9)
    first, second = df.head(20), df.tail(-20).drop("_moji_unresolved")   # sources differ in columns
    inputs = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    first.write_parquet(inputs[0])
    second.write_parquet(inputs[1])
    ctx = RunContext(dantai_code=DANTAI, run_id="R1-batches", runs_dir=tmp_path / "runs")

    r = validate_table(schema, TABLE, ctx, inputs, batch_rows=4)
    out, quarantine, rows = r.output, r.quarantine, r.rows_in

    union = pl.concat([first, second], how="diagonal_relaxed")
    whole = validate(union, table=TABLE, schema=schema, rules=load_rules(rules_path(schema)), run_id=ctx.run_id,
                     dantai_code=DANTAI)
    rule_counts = pl.DataFrame(r.metrics["rules"]).drop("table").cast(dict(whole.rule_counts.schema))
    assert rows == union.height
    assert pl.read_parquet(out).equals(whole.good)
    assert quarantine.equals(q.conform(whole.quarantine))
    assert rule_counts.equals(whole.rule_counts)
    assert 0 < whole.good.height < union.height and set(quarantine["severity"]) == {"error", "warning"}
