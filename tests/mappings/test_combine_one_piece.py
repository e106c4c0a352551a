"""The combine run one range of persons at a time (mappings.combine.combine_staged) reads a table without the
person key whole in every range. When such a table feeds the records, every range but its own would find its
rows unmatched and hold their persons, and each range would count its rows again: the source is combined in
one piece instead, and gives what one `combine` over the whole tables gives.

Vendor C read live from the real PostgreSQL, in a schema of 団体 999814's own, with C_GAIKOKUJIN's person key
kept in a repeated group (KOJIN_KEY_1, read through an `unpivot`, as a vendor keeps the members of a household
in one row): the table has no KOJIN_KEY column, yet its rows join the records by person."""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
import yaml
from polars.testing import assert_frame_equal

from ikou import REPO_ROOT
from ikou.config import load_config
from ikou.extractors import extract, table_ordinal
from ikou.flows import pipeline as P
from ikou.mappings.combine import combine, combine_staged
from ikou.sample.legacy_db import install_vendor_c
from ikou.staging import row_id_base
from tests.conftest import random_tag

DANTAI = "999814"
SAMPLE = REPO_ROOT / "data" / "sample"
MAPPING = REPO_ROOT / "specs" / "vendors" / "vendor_c" / "mappings" / "juki" / "jumin.yaml"


def _mapping_with_keyless_gaikoku(tmp: Path) -> str:
    """Vendor C's mapping (its paths made absolute) reading C_GAIKOKUJIN with the person key as KOJIN_KEY_1,
    unpivoted into KOJIN_KEY before any step, so that the table's rows are joined by person as before."""
    spec = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))
    here = MAPPING.parent
    spec["schema"] = str((here / spec["schema"]).resolve())
    for t in spec["tables"].values():
        t["layout"] = str((here / t["layout"]).resolve())
    for c in spec["columns"]:
        if "table" in c and not c["table"].startswith("standard:"):
            c["table"] = str((here / c["table"]).resolve())
    layout = yaml.safe_load(Path(spec["tables"]["gaikoku"]["layout"]).read_text(encoding="utf-8"))
    layout["key"] = ["KOJIN_KEY_1" if k == "KOJIN_KEY" else k for k in layout["key"]]
    for col in layout["columns"]:
        col["name"] = "KOJIN_KEY_1" if col["name"] == "KOJIN_KEY" else col["name"]
    (tmp / "c_gaikokujin.yaml").write_text(yaml.safe_dump(layout, allow_unicode=True), encoding="utf-8")
    spec["tables"]["gaikoku"]["layout"] = str(tmp / "c_gaikokujin.yaml")
    spec["combine"]["steps"].insert(0, {"unpivot": {"table": "gaikoku", "groups": {"KOJIN_KEY": ["KOJIN_KEY_1"]},
                                                    "number": "KEY_NO", "skip_empty": "KOJIN_KEY"}})
    (tmp / "jumin.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return str(tmp / "jumin.yaml")


@pytest.fixture(scope="module")
def staged(tmp_path_factory, postgres_url):
    """Vendor C's tables installed in PostgreSQL (C_GAIKOKUJIN's KOJIN_KEY renamed KOJIN_KEY_1), extracted by
    the pipeline's extract step: (the mapping, the staged files by alias, the combine's arguments); the schema
    is dropped afterwards."""
    tmp = tmp_path_factory.mktemp("one_piece")
    schema = f"vc{DANTAI}_{random_tag()}"
    engine = sa.create_engine(postgres_url)
    try:
        install_vendor_c(SAMPLE / "vendor_c", postgres_url, schema=schema)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'ALTER TABLE "{schema}"."C_GAIKOKUJIN" RENAME COLUMN "KOJIN_KEY" TO "KOJIN_KEY_1"')
        cfg = tmp / "run.yaml"
        cfg.write_text(yaml.safe_dump({
            "spec_version": 1, "dantai": {"code": DANTAI, "name": "架空市"}, "gyomu": ["juki"], "rehearsal": "R1",
            "sources": [{"name": "vendor_c_juki", "kind": "database", "url": postgres_url, "schema": schema,
                         "gaiji_table": str(SAMPLE / "vendor_a" / "gaiji.csv"),
                         "mapping": _mapping_with_keyless_gaikoku(tmp)}],
            "target": {"url": f"duckdb:///{tmp / 'target.duckdb'}"}, "runs_dir": str(tmp / "runs"),
            "inbox": [str(SAMPLE), str(tmp)], "thresholds": {"max_quarantine_rate": 0.05}}, allow_unicode=True),
            encoding="utf-8")
        config = load_config(cfg)
        ctx = P.make_context(config, "20990101T000000Z-R1-0001")
        p, = P.plan(config)
        ex = extract(p.source, ctx, ordinal=p.ordinal, target_table=p.target, tables=p.mapping.tables,
                     key_columns=P.key_columns(p))
        manifest = json.loads((ex.output / "tables.json").read_text(encoding="utf-8"))
        files = {a: ex.output / t["file"] for a, t in manifest["tables"].items()}
        yield p.mapping, files, dict(source_name="vendor_c_juki", row_id_base=row_id_base(table_ordinal(
            manifest["ordinal"], -1)), run_id=ctx.run_id, dantai_code=DANTAI, held_at_extract=ex.quarantine)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def test_a_table_without_the_person_key_that_feeds_the_records_is_combined_in_one_piece(staged, tmp_path):
    spec, files, kw = staged
    assert "KOJIN_KEY" not in pl.read_parquet_schema(files["gaikoku"])   # read whole by every range
    whole = combine(spec, {a: pl.read_parquet(f) for a, f in files.items()}, **kw)
    assert whole.ledger["gaikoku"]["used"] > 0   # its rows feed the records: the ranges cannot count it alone
    r = combine_staged(spec, files, tmp_path / "combined.parquet", **kw, range_persons=37)
    assert_frame_equal(pl.read_parquet(tmp_path / "combined.parquet"), whole.frame)
    assert_frame_equal(r.quarantine.sort(pl.all()), whole.quarantine.sort(pl.all()))
    assert r.ledger == whole.ledger and r.metrics == whole.metrics
    for alias, t in r.ledger.items():   # every row of every table once
        assert t["extracted"] == pl.read_parquet(files[alias]).height + t["quarantined_at_extract"] == (
            t["used"] + t["quarantined"] + t["not_migrated"] + t["reference"]), alias
    # the foreign residents' rows join their persons' records as through the vendor's own KOJIN_KEY column
    records = pl.read_parquet(tmp_path / "combined.parquet")
    joined = records.filter(pl.col("gaikoku._row_id").is_not_null())
    assert joined.height and (joined["gaikoku.KOJIN_KEY"] == joined["KOJIN_KEY"]).all()
