"""The combine step run one range of persons at a time (mappings.combine.combine_staged) gives what one
`combine` over the whole tables gives: the same records row for row, the same quarantine, ledger and
metrics, on vendor C's sample with its planted faults (orphans, overlaps, gaps, two current addresses,
a code missing from the master, a 続柄 chain too long)."""
from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ikou import REPO_ROOT
from ikou.mappings.combine import combine, combine_staged
from ikou.mappings.spec import load_mapping
from ikou.staging import ROW_ID, SOURCE, SOURCE_LINE

SPEC = load_mapping(REPO_ROOT / "specs" / "vendors" / "vendor_c" / "mappings" / "juki" / "jumin.yaml")
SAMPLE = REPO_ROOT / "data" / "sample" / "vendor_c"
BASE = 7 << 40
KW = dict(source_name="vendor_c_juki", row_id_base=BASE, run_id="r", dantai_code="999997")


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> dict[str, object]:
    """The sample's tables staged as the extract stages them: text columns + lineage, in table order."""
    d = tmp_path_factory.mktemp("staged")
    files = {}
    for i, (alias, t) in enumerate(SPEC.tables.items(), start=1):
        df = pl.read_csv(SAMPLE / f"{t.table}.csv", infer_schema=False)
        df = df.with_columns((pl.int_range(1, pl.len() + 1, dtype=pl.Int64) + (i << 32)).alias(ROW_ID),
                             pl.lit(f"vendor_c_juki.{alias}").alias(SOURCE),
                             pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias(SOURCE_LINE))
        files[alias] = d / f"{alias}.parquet"
        df.write_parquet(files[alias])
    whole = combine(SPEC, {a: pl.read_parquet(f) for a, f in files.items()}, **KW)
    return {"files": files, "whole": whole}


def _quarantine(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(pl.all())   # the same rows; their order is the concatenation's


def assert_same(whole, frame: pl.DataFrame, r) -> None:
    assert_frame_equal(frame, whole.frame)                       # row for row, column for column, in order
    assert_frame_equal(_quarantine(r.quarantine), _quarantine(whole.quarantine))
    assert r.ledger == whole.ledger
    assert r.metrics == whole.metrics


@pytest.mark.parametrize("range_persons", [37, 250, 10**9])
def test_combining_range_by_range_gives_what_combining_the_whole_tables_gives(staged, tmp_path, range_persons):
    whole, files = staged["whole"], staged["files"]
    assert whole.quarantine.height > 0 and whole.metrics["held_persons"] > 5   # the planted faults are there
    out = tmp_path / "combined.parquet"
    r = combine_staged(SPEC, files, out, **KW, range_persons=range_persons)
    assert r.frame.height == 0   # the records are in `out`, not in memory
    assert_same(whole, pl.read_parquet(out), r)


def test_the_comparison_sees_one_cell_that_differs(staged, tmp_path):
    """The check above is not vacuous: one changed cell, one missing quarantine row or one count fails it."""
    whole, files = staged["whole"], staged["files"]
    out = tmp_path / "combined.parquet"
    r = combine_staged(SPEC, files, out, **KW, range_persons=37)
    frame = pl.read_parquet(out)
    changed = frame.with_columns(pl.when(pl.int_range(pl.len()) == frame.height // 2).then(pl.lit("x"))
                                 .otherwise(pl.col("shimei.SHIMEI")).alias("shimei.SHIMEI"))
    with pytest.raises(AssertionError):
        assert_same(whole, changed, r)
    r.quarantine = r.quarantine.slice(1)
    with pytest.raises(AssertionError):
        assert_same(whole, frame, r)
