"""The map stage in batches (mappings.map_source): the same rows and findings as one whole frame."""
from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from ikou.mappings import map_source
from ikou.context import RunContext
from ikou.mappings.engine import apply_mapping
from tests.mappings.test_engine import BASE as ENGINE_BASE
from tests.mappings.test_engine import DANTAI, RUN, SCHEMA, spec, staged

# the engine tests' mapping, plus a second date from the same column (shared parse, own outputs)
BASE = [*ENGINE_BASE,
        {"target": "ido_date", "op": "wareki_date", "from": "SEINENGAPPI", "format": "era2_yymmdd"}]

# Repeated and distinct values, a null, and bad rows spread over several batches.
ROWS = {
    "DANTAI_CD":   [DANTAI] * 6 + ["999999"],
    "ATENA_NO":    ["A1", "A2", "A3", "A4", "A5", "A6", "A7"],
    "RIREKI_NO":   ["1", "x", "1", "2", None, "3", "1"],
    "ZOKUGARA":    ["02", "02", "ZZ", "11", "02", None, "02"],
    "SEINENGAPPI": ["03450302", "03450302", "04030229", "03450000", "99999999", None, "03450302"],
}


def run_map(tmp_path, frame: pl.DataFrame, batch_rows: int):
    tmp_path.mkdir(parents=True, exist_ok=True)
    staging = tmp_path / "staging.parquet"
    frame.write_parquet(staging)
    ctx = RunContext(dantai_code=DANTAI, run_id=RUN, runs_dir=tmp_path / "runs")
    r = map_source(spec(BASE), SCHEMA, ctx, staging, source_name="jumin", batch_rows=batch_rows)
    return r.output, r.quarantine, r.rows_out


def test_batches_give_the_same_rows_and_quarantine_as_the_whole_frame(tmp_path):
    frame = staged(ROWS)
    whole = apply_mapping(frame, spec(BASE), SCHEMA, run_id=RUN, dantai_code=DANTAI)
    assert whole.quarantine.height and whole.frame.height   # the case has both good and bad rows
    for batch_rows in (2, 3, 7, 100):
        out, quarantine, rows_out = run_map(tmp_path / str(batch_rows), frame, batch_rows)
        assert_frame_equal(pl.read_parquet(out), whole.frame)
        assert_frame_equal(quarantine, whole.quarantine)
        assert rows_out == whole.frame.height


def test_empty_staging_gives_an_empty_file_with_the_schema_columns(tmp_path):
    frame = staged(ROWS).clear()
    out, quarantine, rows_out = run_map(tmp_path, frame, 2)
    mapped = pl.read_parquet(out)
    declared = [c.name for c in SCHEMA.tables["juki_kojin_rireki"].columns]
    assert mapped.columns == ["_row_id", "_source", "_source_line", *declared]
    assert mapped.height == 0 and quarantine.height == 0 and rows_out == 0
