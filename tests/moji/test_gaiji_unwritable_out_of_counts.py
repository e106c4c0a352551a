"""`moji.gaiji_unwritable` cells are 外字 (or decided characters) already counted under their status: the
stage's per-status counts, which summary.json's `moji.counts` sums, do not count them twice (review #9)."""
from __future__ import annotations

import polars as pl

from ikou import REPO_ROOT
from ikou.context import RunContext
from ikou.moji import identify_source
from ikou.schema import load_schema

NO_CODE_POINT = "MJ003719"   # an MJ glyph with neither 実装したUCS nor IVS


def test_unwritable_gaiji_are_not_counted_twice_in_the_moji_counts(tmp_path, monkeypatch, moji_dir):
    monkeypatch.setenv("IKOU_MOJI_CACHE", str(moji_dir))
    gaiji = tmp_path / "gaiji.csv"
    gaiji.write_text(f"code,mj\nU+E000,{NO_CODE_POINT}\nU+E001,MJ028902\n", encoding="utf-8")
    schema = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")
    n = 3
    df = pl.DataFrame({"_row_id": pl.int_range(1, n + 1, eager=True),
                       "atena_no": [f"{i:015d}" for i in range(n)], "rireki_no": [1] * n,
                       "shimei": ["\ue000田　花子", "\ue001田　一郎", "\ue000\ue000"],
                       "jusho": ["東京都"] * n, "banchi": ["1"] * n, "katagaki": [None] * n})
    mapped = tmp_path / "mapped.parquet"
    df.write_parquet(mapped)
    ctx = RunContext(dantai_code="999750", run_id="20990101T000000Z-T-0752", runs_dir=tmp_path / "runs")
    r = identify_source(schema, "juki_kojin_rireki", ctx, mapped, source_name="vend_a", gaiji_table=gaiji)
    counts = r.metrics["counts"]
    chars = pl.read_parquet(r.outputs["chars"])
    assert "gaiji_unwritable" not in counts
    assert sum(counts.values()) == chars["occurrences"].sum()   # one count per character occurrence
    assert counts["gaiji"] == 4 and r.metrics["gaiji_unwritable"] == 3   # its own key: a part of gaiji
    assert r.quarantine["rule"].unique().to_list() == ["moji.gaiji_unwritable"]   # the warnings stay
    assert r.quarantine["severity"].unique().to_list() == ["warning"] and r.rows_out == n
