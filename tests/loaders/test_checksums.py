"""Table checksums computed by the target database (TargetDatabase.checksums): the same rows give the
same MD5 whatever order they were loaded in, one changed byte gives another; DuckDB and PostgreSQL."""
from __future__ import annotations


import polars as pl
import pytest
import sqlalchemy as sa

from ikou.loaders import checksums, load_run
from ikou.loaders.targets import LoadPart, RunRecord
from ikou.schema import load_schema
from tests.conftest import random_tag

SCHEMA = """spec_version: 1
gyomu: ck
ja: 業務
tables:
  ck_t:
    ja: 表
    primary_key: [atena_no]
    columns:
      - {name: atena_no, ja: 宛名番号, type: text, required: true}
      - {name: shimei, ja: 氏名, type: text}
      - {name: n, ja: 数, type: integer}
"""
ROWS = {"atena_no": ["1", "2", "3"], "shimei": ["甲", None, ""], "n": [1, 2, None]}


@pytest.fixture(params=["duckdb", "postgresql"])
def target(request, tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(SCHEMA, encoding="utf-8")
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 't.duckdb'}", "dantai_999997", load_schema(p)
        return
    url = request.getfixturevalue("postgres_url")
    name = f"dantai_999997_c{random_tag(6)}"
    yield url, name, load_schema(p)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for s in (name, name + "__prev", name + "__next"):
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
    engine.dispose()


def _load(url, db_schema, schema, frame: pl.DataFrame, run_id: str) -> dict:
    load_run([LoadPart(schema, {"ck_t": frame})], url, db_schema, run=RunRecord(run_id, "R1", "999997", ("ck",)))
    return checksums(url, db_schema)


def test_the_checksum_follows_the_rows_not_their_order_and_names_the_run(target):
    url, db_schema, schema = target
    first = _load(url, db_schema, schema, pl.DataFrame(ROWS), "run-1")
    assert first["run"]["run_id"] == "run-1" and first["tables"]["ck_t"]["rows"] == 3
    again = _load(url, db_schema, schema, pl.DataFrame(ROWS).reverse(), "run-2")
    assert again["run"]["run_id"] == "run-2" and again["tables"] == first["tables"]


@pytest.mark.parametrize("change", [{"shimei": ["乙", None, ""]},     # one character
                                    {"shimei": ["甲", "", ""]},        # NULL → ''
                                    {"n": [1, 2, 0]}])                 # NULL → 0
def test_one_changed_value_changes_the_checksum(target, change):
    url, db_schema, schema = target
    before = _load(url, db_schema, schema, pl.DataFrame(ROWS), "run-1")["tables"]["ck_t"]
    after = _load(url, db_schema, schema, pl.DataFrame({**ROWS, **change}), "run-2")["tables"]["ck_t"]
    assert after["rows"] == before["rows"] and after["md5"] != before["md5"]


def test_an_empty_target_has_no_run_and_no_tables(target):
    url, db_schema, _ = target
    assert checksums(url, db_schema)["run"] is None and checksums(url, db_schema)["tables"] == {}
