"""Wide rows are read in proportionally fewer rows per batch (ikou.staging.batch_rows), ordinary rows in the
stages' row-count batches as before, and where the batches are cut changes nothing: vendor A's sample with
a 1,000-character 方書 on every second record gives, in width-sized batches, the same mapped and identified
rows, findings, quarantine and validated rows as in one batch, through the one pass and the staged steps."""
from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ikou import REPO_ROOT, staging
from ikou.config import load_config
from ikou.extractors import extract
from ikou.flows import pipeline as P
from ikou.mappings import map_source
from ikou.mappings.step import MAP_BATCH_ROWS, held_rows_path
from ikou.moji import identify_source
from ikou.moji.step import MOJI_BATCH_ROWS
from ikou.onepass import one_pass
from ikou.validators import validate_table
from ikou.validators.step import VALIDATE_BATCH_ROWS
from tests.flows.conftest import vendor_a_source, write_config

SAMPLE = REPO_ROOT / "data" / "sample"
DANTAI = "999717"
KATAGAKI_CHARS = 1000
RUN = "20990101T000000Z-R1-0002"   # both runs: the same run id, runs folders of their own


def _config(tmp, jumin):
    return load_config(write_config(tmp, source=vendor_a_source(path=jumin), dantai=DANTAI,
                                    target_url=f"duckdb:///{tmp / 'target.duckdb'}"))


def _sample(tmp, katagaki_chars: int = 0):
    """Vendor A's sample as 団体 999717's; with `katagaki_chars` more characters of 方書 (the field before the
    last) on every second record, each its own."""
    filler = "グリーンハイツ第三号棟南側通路奥管理人室気付"
    body = (filler * (katagaki_chars // len(filler) + 1))[:katagaki_chars]
    lines = (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes().split(b"\r\n")
    out = []
    for i, line in enumerate(lines):   # building the test's input file: a line at a time is fine here
        line = line.replace(b"999997,", f"{DANTAI},".encode(), 1)
        cut = line.rfind(b",")
        if katagaki_chars and not i % 2 and cut >= 0:
            line = line[:cut] + f"{i}{body}"[:katagaki_chars].encode("cp932") + line[cut:]
        out.append(line)
    path = tmp / "JUMIN.csv"
    path.write_bytes(b"\r\n".join(out))
    return _config(tmp, path)


def _run(cfg, run_id: str, *, fused: bool, batch_rows: int, extracted=None):
    """Extract (unless given), map, 文字同定 and validate the one source, up to `batch_rows` rows a batch."""
    ctx = P.make_context(cfg, run_id)
    p = P.plan(cfg)[0]
    ex = extracted or extract(p.source, ctx, ordinal=p.ordinal, target_table=p.target,
                              layout_path=p.mapping.layout)
    if fused:
        mp, mo = one_pass(p.mapping, p.schema, ctx, ex.output, source_name=p.source.name,
                          gaiji_table=p.source.gaiji_table, keep_stages=True, batch_rows=batch_rows,
                          held_at_extract=ex.quarantine)
    else:
        mp = map_source(p.mapping, p.schema, ctx, ex.output, source_name=p.source.name, batch_rows=batch_rows,
                        held_at_extract=ex.quarantine)
        mo = identify_source(p.schema, p.target, ctx, mp.output, source_name=p.source.name,
                             gaiji_table=p.source.gaiji_table, batch_rows=batch_rows)
    v = validate_table(p.schema, p.target, ctx, [mo.output], batch_rows=batch_rows,
                       row_local=[mo.outputs["row_local"]] if fused else None,
                       held_before=[mp.quarantine, mo.quarantine, P.held_at_extract(p, ex.quarantine)])
    return ex, ctx, [mp, mo, v]


def _sorted(findings: pl.DataFrame) -> pl.DataFrame:
    """Findings (and held records) in one order: a stage lists each batch's after the batch before's, so where
    the batches are cut changes their order (not the rows of staging, which stay in source order)."""
    return findings.sort(findings.columns, nulls_last=True)


def test_ordinary_rows_keep_every_stages_row_count_batches(tmp_path):
    ex, ctx, (mp, mo, v) = _run(_sample(tmp_path), "20990101T000000Z-R1-0001", fused=False,
                                batch_rows=MAP_BATCH_ROWS)
    for path, most in ((ex.output, MAP_BATCH_ROWS), (mp.output, MOJI_BATCH_ROWS), (mo.output, VALIDATE_BATCH_ROWS),
                       (v.output, VALIDATE_BATCH_ROWS)):
        assert staging.batch_rows(path, most) == most, path.name


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    return _sample(tmp_path_factory.mktemp("wide"), KATAGAKI_CHARS)


@pytest.mark.parametrize("fused", [True, False], ids=["one_pass", "staged"])
def test_wide_rows_in_width_sized_batches_give_what_one_batch_gives(wide, fused, monkeypatch):
    cuts = wide.model_copy(update={"runs_dir": wide.runs_dir / f"cuts_{fused}"})
    ex, ctx, cut = _run(cuts, RUN, fused=fused, batch_rows=10**6)
    rows = ex.rows_out
    # one batch by row count; by width, several: the map's (the extract's width) and the stages' after it
    assert staging.batch_rows(ex.output, rows) < rows
    assert staging.batch_rows(cut[1].output, rows) < cut[1].rows_out

    monkeypatch.setattr(staging, "BATCH_ROW_BYTES", float("inf"))   # by row count only: one batch
    whole_cfg = wide.model_copy(update={"runs_dir": wide.runs_dir / f"whole_{fused}"})
    _, whole_ctx, whole = _run(whole_cfg, RUN, fused=fused, batch_rows=10**6, extracted=ex)
    assert staging.batch_rows(ex.output, rows) == rows

    for a, b in zip(cut, whole):
        assert (a.stage, a.rows_in, a.rows_out) == (b.stage, b.rows_in, b.rows_out)
        assert_frame_equal(pl.read_parquet(a.output), pl.read_parquet(b.output))   # rows in the same order
        assert_frame_equal(_sorted(a.quarantine), _sorted(b.quarantine))
        for side in set(a.outputs) & {"chars", "unresolved", "row_local"}:
            assert_frame_equal(_sorted(pl.read_parquet(a.outputs[side])), _sorted(pl.read_parquet(b.outputs[side])))
    assert cut[1].metrics["counts"] == whole[1].metrics["counts"]
    assert cut[2].metrics["rules"] == whole[2].metrics["rules"]
    for stage in ("map", "moji"):
        kept = [held_rows_path(c, "vendor_a_jumin", stage) for c in (ctx, whole_ctx)]
        assert kept[0].is_file() == kept[1].is_file()
        if kept[0].is_file():
            # per batch, grouped by the lines that failed: its order too (read by key: validators.step._held_keys)
            assert_frame_equal(_sorted(pl.read_parquet(kept[0])), _sorted(pl.read_parquet(kept[1])))
    # the wide 方書 reached validation, which holds them as too long
    held = cut[2].quarantine.filter(pl.col("rule") == "schema.max_length")
    assert held["row_id"].n_unique() >= rows // 2 - 10
