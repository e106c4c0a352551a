"""The flow's parallel-run diff reads the legacy extract and the loaded target without holding
either in memory (the extract in place, a DuckDB target in place, a PostgreSQL target streamed to
Parquet), and finds exactly what a diff of the two tables materialised as frames finds."""
from __future__ import annotations

import json

import polars as pl
import pytest

from ikou.flows.migrate import migration_flow
from ikou import REPO_ROOT
from ikou.loaders import read_table
from ikou.schema import load_schema
from ikou.mappings.spec import load_mapping
from ikou.reports.diff import EXPLAINED_SAMPLE, compare, summarize
from tests.flows.conftest import vendor_a_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")

COMPARED = ("left_rows", "right_rows", "matched", "only_left", "only_right", "changed_rows",
            "changed_cells", "explained", "explained_cells", "unexplained_cells",
            "unexplained_rows", "duplicates", "control_totals")


def _diff_of_frames(run_dir, target_url: str, schema: str = "dantai_999997") -> dict:
    """The diff of the run as the flow computed it before: both sides as frames in memory."""
    spec = load_mapping(REPO_ROOT / "specs" / "vendors" / "vendor_a" / "mappings" / "juki" / "jumin.yaml")
    renamed = {}
    for c in spec.columns:   # the first source column feeding each target column, as the flow does
        if c.from_ and c.from_ not in renamed and c.target not in renamed.values():
            renamed[c.from_] = c.target
    left = pl.read_parquet(run_dir / "extract" / "vendor_a_jumin.parquet").select(
        [pl.col(s).alias(t) for s, t in renamed.items()])
    right = read_table(target_url, schema, spec.target)
    right = right.select(pl.all().cast(pl.String))
    key = load_schema(spec.schema_).tables[spec.target].primary_key
    out = run_dir / "diff" / "vendor_a_jumin"
    return summarize(compare(left, right, key=key, rules=out / "expected_rules.yaml"))


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_flow_diff_without_the_tables_in_memory_finds_what_the_frames_diff_finds(
        tmp_path, target, request, run_dir_of):
    url, schema = ((f"duckdb:///{tmp_path / 't.duckdb'}", None) if target == "duckdb"
                   else request.getfixturevalue("pg_target"))
    summary = migration_flow(config_path=str(write_config(tmp_path, source=vendor_a_source(),
                                                           target_url=url, target_schema=schema)))
    run_dir = run_dir_of(tmp_path, summary)
    out = run_dir / "diff" / "vendor_a_jumin"
    got = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    want = json.loads(json.dumps(_diff_of_frames(run_dir, url, schema or "dantai_999997"), ensure_ascii=False, default=str))
    assert {k: got[k] for k in COMPARED} == {k: want[k] for k in COMPARED}
    assert got["changed_rows"] > 1_000 and got["explained_cells"] > 1_000   # kana, 和暦 …
    # stored: every unexplained cell, and of the explained ones a sample per rule and column
    cells = pl.read_parquet(out / "differences.parquet")
    unexplained = cells.filter(pl.col("kind") == "unexplained")
    assert unexplained.height == sum(got["unexplained_cells"].values())
    assert unexplained["rule"].null_count() == unexplained.height
    sampled = dict(cells.filter(pl.col("kind") == "sample").group_by("rule", "column").len()
                   .select(pl.concat_str("rule", "column", separator="/"), "len").iter_rows())
    assert sampled == {f"{rule}/{col}": min(n, EXPLAINED_SAMPLE)
                       for rule, e in got["explained"].items() for col, n in e["by_column"].items() if n}
    assert cells.height < sum(got["changed_cells"].values())
    snapshot = run_dir / "diff" / "juki_kojin_rireki.target.parquet"
    if target == "duckdb":   # read where it lies: no copy
        assert not snapshot.exists()
    else:                    # streamed to Parquet as text, the same text Polars gives the table
        copied = pl.read_parquet(snapshot)
        assert set(copied.schema.values()) == {pl.String}
        loaded = read_table(url, schema, "juki_kojin_rireki").select(
            pl.all().cast(pl.String))
        assert copied.sort(pl.all()).equals(loaded.sort(pl.all()))
