"""The one pass (map → 文字同定 → row-local checks per batch, ikou.onepass) records exactly what the staged
steps record: mapped and identified rows, quarantine, counts, 同定台帳, validated rows.

Both paths run on the same extracts: vendor A's files (住民記録 and 個人住民税, planted faults) and vendor
C's normalized tables (combine, new 宛名番号), two sources feeding one target table, in batches small
enough to split every file, with a 外字 decided in the ledger beforehand.
"""
from __future__ import annotations

import shutil

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ikou import REPO_ROOT
from ikou.config import load_config
from ikou.extractors import extract
from ikou.flows import pipeline as P
from ikou.context import RunContext
from ikou.mappings import map_source
from ikou.mappings.step import held_rows_path
from ikou.moji import identify_source
from ikou.moji.ledger import Ledger
from ikou.onepass import one_pass
from ikou.sample.legacy_db import install_vendor_c
from ikou.validators import validate_table

SAMPLE = REPO_ROOT / "data" / "sample"
STAGED, FUSED = "20990101T000000Z-R1-0001", "20990101T000000Z-R1-0002"
SPECS = REPO_ROOT / "specs" / "vendors"
BATCH = 97


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("onepass")
    legacy = tmp / "vendor_c.duckdb"
    vendor_c = tmp / "vendor_c"   # the sample, with U+200B in a name: a record 文字同定 holds (moji.invalid_char)
    shutil.copytree(SAMPLE / "vendor_c", vendor_c)
    names = (vendor_c / "C_SHIMEI_RIREKI.csv").read_text(encoding="utf-8").split("\n")
    names[1] = names[1].replace("　", "\u200b　", 1)
    (vendor_c / "C_SHIMEI_RIREKI.csv").write_text("\n".join(names), encoding="utf-8")
    install_vendor_c(vendor_c, f"duckdb:///{legacy}")
    a = SAMPLE / "vendor_a"
    cfg = tmp / "run.yaml"
    cfg.write_text(f"""spec_version: 1
dantai: {{code: "999997", name: 架空市}}
gyomu: [juki, kojin_juminzei]
rehearsal: R1
sources:
  - {{name: vendor_a_jumin, kind: file, path: {a / 'JUMIN.csv'}, encoding: cp932, gaiji_table: {a / 'gaiji.csv'},
     mapping: {SPECS / 'vendor_a/mappings/juki/jumin.yaml'}}}
  - {{name: vendor_c_juki, kind: database, url: "duckdb:///{legacy}", gaiji_table: {a / 'gaiji.csv'},
     mapping: {SPECS / 'vendor_c/mappings/juki/jumin.yaml'}}}
  - {{name: vendor_a_zei_gimusha, kind: file, path: {a / 'ZEI_GIMUSHA.csv'}, encoding: cp932,
     mapping: {SPECS / 'vendor_a/mappings/kojin_juminzei/gimusha.yaml'}}}
  - {{name: vendor_a_zei_kazei, kind: file, path: {a / 'ZEI_KAZEI.csv'}, encoding: cp932,
     gaiji_table: {a / 'gaiji.csv'}, mapping: {SPECS / 'vendor_a/mappings/kojin_juminzei/kazei.yaml'}}}
target: {{url: "duckdb:///{tmp / 'target.duckdb'}"}}
runs_dir: {tmp / 'runs'}
inbox: [{SAMPLE}, {tmp}]
""", encoding="utf-8")
    return load_config(cfg)


def _run(cfg, run_id: str, *, fused: bool, extracted: dict | None = None):
    """Every step up to validation, staged (today's steps) or fused; returns what the run records."""
    ctx = P.make_context(cfg, run_id)
    plans = P.plan(cfg)
    extracted = extracted if extracted is not None else {
        p.source.name: extract(p.source, ctx, ordinal=p.ordinal, target_table=p.target,
                               layout_path=p.mapping.layout, tables=p.mapping.tables) for p in plans}
    results = []
    for p in plans:
        name = p.source.name
        ex = extracted[name]
        if fused:
            results += one_pass(p.mapping, p.schema, ctx, ex.output, source_name=name,
                                gaiji_table=p.source.gaiji_table, keep_stages=True, batch_rows=BATCH,
                                held_at_extract=ex.quarantine)
        else:
            mp = map_source(p.mapping, p.schema, ctx, ex.output, source_name=name, batch_rows=BATCH,
                            held_at_extract=ex.quarantine)
            mo = identify_source(p.schema, p.target, ctx, mp.output, source_name=name,
                                 gaiji_table=p.source.gaiji_table, batch_rows=BATCH)
            results += [mp, mo]
    by = {(r.stage, r.name): r for r in results}
    validated = {}
    for target, schema, feeding in P.tables_in_order(cfg, plans):
        identified = [by[("moji", p.source.name)] for p in feeding]
        row_local = [r.outputs["row_local"] for r in identified] if fused else None
        # the records held before validation, as the flow hands them on (flows.migrate.validate_and_load)
        held_before = [by[(s, p.source.name)].quarantine for p in feeding for s in ("map", "moji")] + [
            P.held_at_extract(p, extracted[p.source.name].quarantine) for p in feeding]
        v = validate_table(schema, target, ctx, [r.output for r in identified], others=dict(validated),
                           row_local=row_local, batch_rows=BATCH, held_before=held_before)
        validated[target] = v.output
        results.append(v)
    ledger = Ledger.load(ctx.dantai_dir / "moji_ledger").entries
    return extracted, results, validated, ledger


def _quarantine(results) -> pl.DataFrame:
    q = pl.concat([r.quarantine for r in results], how="diagonal_relaxed").drop("run_id")
    return q.sort(q.columns, nulls_last=True)


def test_one_pass_records_what_the_staged_steps_record(config):
    led = Ledger.load(config.runs_dir / "999997" / "moji_ledger")
    led.decide("\ue003", "MJ028902", decided_by="test")   # a decided 外字 is rewritten by both paths
    led.save(config.runs_dir / "999997" / "moji_ledger")

    extracted, staged, staged_valid, staged_ledger = _run(config, STAGED, fused=False)
    _, fused, fused_valid, fused_ledger = _run(config, FUSED, fused=True, extracted=extracted)
    held_somewhere = set()

    assert [(r.stage, r.name) for r in staged] == [(r.stage, r.name) for r in fused]
    for s, f in zip(staged, fused):
        assert (s.rows_in, s.rows_out) == (f.rows_in, f.rows_out), (s.stage, s.name)
        if s.stage in ("map", "moji"):   # --keep-stages: map/ and moji/ as the staged steps write them
            assert_frame_equal(pl.read_parquet(s.output), pl.read_parquet(f.output))
            # and the records each held, as far as known, for the validation's household rule
            kept = [held_rows_path(RunContext(dantai_code="999997", run_id=run_id, runs_dir=config.runs_dir),
                                   s.name, s.stage) for run_id in (STAGED, FUSED)]
            assert kept[0].is_file() == kept[1].is_file(), (s.stage, s.name)
            if kept[0].is_file():
                assert_frame_equal(pl.read_parquet(kept[0]), pl.read_parquet(kept[1]))
                held_somewhere.add(s.stage)
        if s.stage == "moji":
            assert s.metrics["counts"] == f.metrics["counts"]
            for side in ("chars", "unresolved"):
                assert_frame_equal(pl.read_parquet(s.outputs[side]), pl.read_parquet(f.outputs[side]))
        if s.stage == "validate":
            assert s.metrics["rules"] == f.metrics["rules"]
    for t in staged_valid:
        assert_frame_equal(pl.read_parquet(staged_valid[t]), pl.read_parquet(fused_valid[t]))
    assert held_somewhere == {"map", "moji"}   # map and 文字同定 both held records (kept the same by both paths)
    q = _quarantine(staged)
    assert q.height and {"map", "validate"} <= set(q["stage"])   # faults were planted: something is held
    assert q.filter(pl.col("rule") == "moji.unresolved").height   # and a 外字 is unresolved
    assert_frame_equal(q, _quarantine(fused))
    assert_frame_equal(staged_ledger, fused_ledger)


def test_one_pass_writes_no_mapped_rows_unless_asked(config, tmp_path):
    ctx = P.make_context(config, "20990101T000000Z-R1-0003")
    p = P.plan(config)[0]
    ex = extract(p.source, ctx, ordinal=p.ordinal, target_table=p.target, layout_path=p.mapping.layout)
    mp, mo = one_pass(p.mapping, p.schema, ctx, ex.output, source_name=p.source.name,
                      gaiji_table=p.source.gaiji_table)
    assert mp.output is None and not (ctx.run_dir / "map" / f"{p.source.name}.parquet").exists()
    assert mo.output.is_file() and mo.outputs["row_local"].is_file()
    assert mp.rows_out == mo.rows_in == pl.scan_parquet(mo.output).select(pl.len()).collect().item()


def test_a_table_fed_by_a_clean_source_and_a_faulty_one_validates(tmp_path):
    """One target table from two files, the first with no row-local finding at all: its empty findings
    frame comes in another column order than the other's, and the union must still line up."""
    lines = (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes().splitlines(keepends=True)
    (tmp_path / "part1.csv").write_bytes(b"".join(lines[:40]))
    (tmp_path / "part2.csv").write_bytes(b"".join(lines[40:80] + lines[:1]))   # + a duplicate key
    a = SAMPLE / "vendor_a"
    cfg = tmp_path / "run.yaml"
    mapping = SPECS / "vendor_a/mappings/juki/jumin.yaml"
    cfg.write_text(f"""spec_version: 1
dantai: {{code: "999997", name: 架空市}}
gyomu: [juki]
rehearsal: R1
sources:
  - {{name: part1, kind: file, path: {tmp_path / 'part1.csv'}, encoding: cp932, gaiji_table: {a / 'gaiji.csv'}, mapping: {mapping}}}
  - {{name: part2, kind: file, path: {tmp_path / 'part2.csv'}, encoding: cp932, gaiji_table: {a / 'gaiji.csv'}, mapping: {mapping}}}
target: {{url: "duckdb:///{tmp_path / 'target.duckdb'}"}}
runs_dir: {tmp_path / 'runs'}
inbox: [{SAMPLE}, {tmp_path}]
""", encoding="utf-8")
    _, results, validated, _ = _run(load_config(cfg), "20990101T000000Z-R1-0004", fused=True)
    by = {(r.stage, r.name): r for r in results}
    found = [pl.read_parquet(by[("moji", n)].outputs["row_local"]).height for n in ("part1", "part2")]
    assert found[0] == 0 and found[1] > 0   # the case: one source clean, the other not
    v = by[("validate", "juki_kojin_rireki")]
    held = v.quarantine.filter(pl.col("severity") == "error")
    assert v.rows_in == 81 and v.rows_out + held["row_id"].n_unique() == v.rows_in
    assert held.filter(pl.col("rule") == "key.unique").height == 2   # line 1 of each file: both held
