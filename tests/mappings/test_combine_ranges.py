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


@pytest.mark.parametrize("range_persons", [37, 10**9])
def test_rows_held_at_extract_hold_their_person_in_every_range(staged, tmp_path, range_persons):
    """Rows held at extract (not staged, named in the extract's quarantine by record_key) hold their person in
    every table whatever the range, and are counted once as quarantined at extract; a held code-master row
    (no person) is counted too, and the ranges still give what the whole tables give."""
    from ikou.mappings.combine import HELD_AT_EXTRACT

    files = staged["files"]
    jusho = pl.read_parquet(files["jusho"])
    persons = jusho.group_by("KOJIN_KEY").len().filter(pl.col("len") >= 2).sort("KOJIN_KEY")["KOJIN_KEY"]
    persons = [persons[0], persons[len(persons) // 2], persons[-1]]   # the first, a middle and the last range
    held_rows = {"jusho": jusho.filter(pl.col("KOJIN_KEY").is_in(persons)).group_by("KOJIN_KEY").first(),
                 "m_code": pl.read_parquet(files["m_code"]).tail(1)}
    kept, quarantine = dict(files), []
    for a, rows in held_rows.items():
        kept[a] = tmp_path / f"{a}.parquet"
        pl.read_parquet(files[a]).filter(~pl.col(ROW_ID).is_in(rows[ROW_ID].implode())).write_parquet(kept[a])
        key = (pl.format("KOJIN_KEY={},SEQ={}", "KOJIN_KEY", "SEQ") if a == "jusho"
               else pl.format("CODE_KBN={},CODE={}", "CODE_KBN", "CODE"))
        quarantine.append(rows.select(pl.col(ROW_ID).alias("row_id"), key.alias("record_key"),
                                      stage=pl.lit("extract"), severity=pl.lit("error"), table=pl.lit(a),
                                      rule=pl.lit("extract.control_char")))
    quarantine = pl.concat(quarantine)
    whole = combine(SPEC, {a: pl.read_parquet(f) for a, f in kept.items()}, **KW, held_at_extract=quarantine)
    out = tmp_path / "combined.parquet"
    r = combine_staged(SPEC, kept, out, **KW, range_persons=range_persons, held_at_extract=quarantine)
    assert_same(whole, pl.read_parquet(out), r)
    for a, f in files.items():   # every row of every table once, the held ones included
        t = r.ledger[a]
        assert t["extracted"] == pl.read_parquet(f).height == t["used"] + t["quarantined"] + t["not_migrated"] \
            + t["reference"], a
    assert (r.ledger["jusho"]["quarantined_at_extract"], r.ledger["m_code"]["quarantined_at_extract"]) == (3, 1)
    assert pl.read_parquet(out).filter(pl.col("kojin.KOJIN_KEY").is_in(persons)).height == 0
    together = r.quarantine.filter(pl.col("rule") == HELD_AT_EXTRACT)
    assert sorted(together["value"].unique()) == sorted(persons)
    assert set(together["source"]) >= {"C_KOJIN", "C_JUSHO_RIREKI", "C_SHIMEI_RIREKI"}


def test_a_held_row_naming_no_person_stops_the_combine(staged, tmp_path):
    from ikou.mappings.combine import HeldRowUntied

    row = pl.read_parquet(staged["files"]["shimei"]).head(1)
    quarantine = row.select(pl.col(ROW_ID).alias("row_id"), pl.lit(None, pl.String).alias("record_key"),
                            stage=pl.lit("extract"), severity=pl.lit("error"), table=pl.lit("shimei"))
    with pytest.raises(HeldRowUntied, match=r"C_SHIMEI_RIREKI: 1"):
        combine_staged(SPEC, staged["files"], tmp_path / "c.parquet", **KW, range_persons=37,
                       held_at_extract=quarantine)
