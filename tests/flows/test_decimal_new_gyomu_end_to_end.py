"""A 業務 declared only in YAML with a `type: decimal` amount (円銭 and beyond) migrates on DuckDB and
PostgreSQL: every value kept exactly (0.0001 is not rounded to 0.000), a value that is not a number or
has more digits than NUMERIC(precision, scale) holds is held at validate naming file, row and column, a
duplicate primary key is held although the rules file declares no `unique_key`, the diff reads the
NUMERIC back (PostgreSQL's ADBC extension type), and the amount's control total balances exactly."""
from __future__ import annotations

import json

import polars as pl
import pytest

from ikou.flows.migrate import migration_flow
from ikou.loaders import read_table
from tests.conftest import drop_target_schemas, random_tag

pytestmark = pytest.mark.usefixtures("prefect_harness")

SCHEMA = """spec_version: 1
gyomu: hoken_test
ja: 保険 (試験)
tables:
  hoken_choshu:
    ja: 期別保険料
    primary_key: [atena_no, kibetsu]
    columns:
      - {name: atena_no,    ja: 宛名番号, type: text, required: true}
      - {name: kibetsu,     ja: 期別,     type: text, required: true}
      - {name: chotei_gaku, ja: 調定額,   type: decimal, precision: 12, scale: 4, control_total: true}
"""
RULES = """spec_version: 1
gyomu: hoken_test
tables: {}
"""
LAYOUT = """spec_version: 1
name: v.CHOSHU
format: csv
encoding: utf-8
header: true
columns:
  - {name: ATENA, ja: 宛名番号}
  - {name: KI,    ja: 期別}
  - {name: GAKU,  ja: 調定額}
"""
MAPPING = """spec_version: 1
target: hoken_choshu
schema: schema.yaml
layout: layout.yaml
columns:
  - {target: atena_no,    op: text, from: ATENA}
  - {target: kibetsu,     op: text, from: KI}
  - {target: chotei_gaku, op: text, from: GAKU}
"""
DATA = """ATENA,KI,GAKU
A1,01,0.0001
A2,01,12345.67
A3,01,abc
A4,01,1234567890.12345
A5,01,5
A5,01,7
A6,01,1.23000
"""


@pytest.fixture(params=["duckdb", "postgresql"])
def target(request, tmp_path):
    """(url, schema, 団体コード) of this test's own target (fxc's 団体 codes)."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 't.duckdb'}", "dantai_999750", "999750"
        return
    url = request.getfixturevalue("postgres_url")
    name = f"dantai_999768_d{random_tag()}"
    yield url, name, "999768"
    drop_target_schemas(url, name)


def _config(tmp_path, url: str, schema: str, dantai: str) -> str:
    for name, text in {"schema.yaml": SCHEMA, "rules.yaml": RULES, "layout.yaml": LAYOUT, "mapping.yaml": MAPPING,
                       "CHOSHU.csv": DATA}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"""spec_version: 1
dantai: {{code: "{dantai}", name: 試験町}}
gyomu: [hoken_test]
rehearsal: R1
sources:
  - {{name: choshu, kind: file, path: {tmp_path / 'CHOSHU.csv'}, mapping: {tmp_path / 'mapping.yaml'}}}
target:
  url: {url}
  schema: {schema}
runs_dir: {tmp_path / 'runs'}
inbox: [{tmp_path}]
thresholds: {{max_quarantine_rate: 0.9}}
""", encoding="utf-8")
    return str(cfg)


def test_decimal_amounts_are_kept_exactly_bad_ones_held_and_totals_balance(tmp_path, target):
    url, db_schema, dantai = target
    summary = migration_flow(config_path=_config(tmp_path, url, db_schema, dantai))
    run_dir = tmp_path / "runs" / summary["dantai"] / summary["run_id"]
    on_disk = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["status"] == "succeeded", on_disk.get("error")
    t = on_disk["tables"]["hoken_choshu"]
    assert (t["extracted"], t["loaded"], t["quarantined"]) == (7, 3, 4)

    loaded = read_table(url, db_schema, "hoken_choshu").sort("atena_no")
    assert loaded["chotei_gaku"].dtype == pl.Decimal(12, 4)
    assert loaded["chotei_gaku"].cast(pl.String).to_list() == ["0.0001", "12345.6700", "1.2300"]

    q = pl.read_parquet(run_dir / "quarantine.parquet").filter(pl.col("severity") == "error")
    held = {(r["rule"], r["column"], r["source_line"], r["source"]) for r in q.iter_rows(named=True)}
    assert ("schema.decimal", "chotei_gaku", 4, "CHOSHU.csv") in held          # abc
    assert ("schema.decimal", "chotei_gaku", 5, "CHOSHU.csv") in held          # 10 digits before the point
    dup = {r[2] for r in held if r[0] == "schema.primary_key"}
    assert dup == {6, 7}                                                         # A5 twice, both held

    # 銭 … units of 10^-4: extracted 0.0001 + 12345.67 + 5 + 7 + 1.23 (abc and the 5-decimal value unreadable)
    total = on_disk["control_totals"]["hoken_choshu"]["chotei_gaku"]
    assert total == {"extracted": 123589001, "loaded": 123469001, "held": 120000, "difference": 0,
                     "unreadable": 2, "records_held_at_extract": 0, "scale": 4}
