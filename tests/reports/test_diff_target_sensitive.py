"""`ikou diff` of a target table masks the columns its run recorded as sensitive (`ikou_run.sensitive`), without
--schema, even when its 業務's schema lives outside the repository: a user's own 国民健康保険 with an 8-digit
被保険者番号 marked `sensitive: true`. Against DuckDB (団体 999814) and the real PostgreSQL (団体 999792)."""
from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.flows.cli import main
from ikou.loaders import LoadPart, RunRecord, held_runs, load_run
from ikou.loaders.targets import sensitive_of
from ikou.schema import load_schema
from tests.reports.test_diff_cli import _all_output_bytes as output_bytes

TABLE = "kokuho_hihokensha"
# 被保険者番号: planted on each side, in a changed cell, a 旧のみ row and a 新のみ row; no name-shaped column name
IN_TARGET = {"000000001": "48213957", "000000003": "60417385"}
IN_LEGACY = {"000000001": "59302846", "000000002": "71528496"}
PLANTED = [*IN_TARGET.values(), *IN_LEGACY.values()]


def own_schema(tmp_path):
    """A shipped 業務 schema copied out of the repository as a 業務 of the user's own (kokuho), with a
    sensitive column no shipped schema has."""
    folder = tmp_path / "kokuho"
    shutil.copytree(REPO_ROOT / "specs" / "gyomu" / "kojin_juminzei", folder)
    text = (folder / "schema.yaml").read_text(encoding="utf-8")
    text = text.replace("gyomu: kojin_juminzei", "gyomu: kokuho").replace("kojin_juminzei_gimusha:", f"{TABLE}:")
    line = "      - {name: choshu_hoho_code, ja: 徴収方法,   type: text, required: true, code_table: choshu_hoho}\n"
    assert line in text
    text = text.replace(line, line + "      - {name: hihokensha_no, ja: 被保険者番号, type: text, length: 8, "
                                     "sensitive: true}\n")
    (folder / "schema.yaml").write_text(text, encoding="utf-8")
    (folder / "rules.yaml").write_text((folder / "rules.yaml").read_text(encoding="utf-8")
                                       .replace("gyomu: kojin_juminzei", "gyomu: kokuho"), encoding="utf-8")
    return load_schema(folder / "schema.yaml")


def rows(values: dict[str, str], code: str) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame({"dantai_code": [code] * n, "atena_no": list(values), "kazei_nendo": [2025] * n,
                         "kazei_kubun_code": ["1"] * n, "choshu_hoho_code": ["1"] * n,
                         "hihokensha_no": list(values.values())})


@pytest.fixture
def target(any_target):
    return any_target


def loaded(tmp_path, target) -> tuple[str, str]:
    """The target loaded by ikou with the user's own 業務, and a legacy CSV export of it: (legacy, table)."""
    url, db_schema, code = target
    load_run([LoadPart(own_schema(tmp_path), {TABLE: rows(IN_TARGET, code)})], url, db_schema,
             run=RunRecord("r-kokuho", "R1", code, ("kokuho",)))
    legacy = tmp_path / "legacy.csv"
    rows(IN_LEGACY, code).write_csv(legacy)
    return str(legacy), f"{url}#{db_schema}.{TABLE}"


def diff(tmp_path, left, right, *extra) -> tuple[int, object]:
    out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
    return main(["diff", left, right, "--key", "atena_no,kazei_nendo", "--out", str(out), *extra]), out




def test_the_run_record_lists_each_loaded_tables_sensitive_columns(tmp_path, target):
    loaded(tmp_path, target)
    assert held_runs(target[0], target[1])["current"]["sensitive"] == {TABLE: ["hihokensha_no"]}


def test_the_run_record_lists_the_columns_a_mapping_made_sensitive_too(tmp_path, target):
    """A column filled from 氏名 or 個人番号 by a mapping mistake is sensitive for the run (privacy.sensitive_columns,
    given to the load): recorded with the schema's, so a later `ikou diff` of the target masks it as well."""
    url, db_schema, code = target
    load_run([LoadPart(own_schema(tmp_path), {TABLE: rows(IN_TARGET, code)},
                       sensitive=frozenset({"choshu_hoho_code", "no_such_column"}))], url, db_schema,
             run=RunRecord("r-kokuho", "R1", code, ("kokuho",)))
    assert held_runs(url, db_schema)["current"]["sensitive"] == {TABLE: ["choshu_hoho_code", "hihokensha_no"]}


def test_a_target_tables_recorded_sensitive_columns_are_masked_without_schema(tmp_path, target):
    legacy, table = loaded(tmp_path, target)
    for left, right in ((legacy, table), (table, legacy)):
        rc, out = diff(tmp_path, left, right)
        assert rc == 0
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert (summary["changed_cells"]["hihokensha_no"], summary["only_left"], summary["only_right"]) == (1, 1, 1)
        for f in ("differences.csv", "differences.parquet", "report.html", "summary.json"):
            assert (out / f).is_file(), f
        data = output_bytes(out)
        for value in PLANTED:
            assert value.encode() not in data, value


def test_sensitive_adds_columns_and_never_unmasks_what_the_target_recorded(tmp_path, target):
    legacy, table = loaded(tmp_path, target)
    rc, out = diff(tmp_path, legacy, table, "--sensitive", "choshu_hoho_code")
    assert rc == 0
    data = output_bytes(out)
    assert not [v for v in PLANTED if v.encode() in data]
    rc, out = diff(tmp_path, legacy, table, "--reveal")   # only --reveal shows them (and the plant does reach)
    assert rc == 0 and all(v.encode() in output_bytes(out) for v in PLANTED)


def test_a_table_with_no_run_record_or_an_earlier_ikous_is_diffed_as_before(tmp_path):
    """A legacy DuckDB table (no ikou_run) and a target whose record has no `sensitive` column (an earlier ikou)
    are compared, not refused: their shipped and name-shaped columns are masked as before."""
    import duckdb

    legacy, table = loaded(tmp_path, (f"duckdb:///{tmp_path / 't.duckdb'}", "dantai_999814", "999814"))
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("ALTER TABLE dantai_999814.ikou_run DROP COLUMN sensitive")
    con.execute("CREATE SCHEMA old; CREATE TABLE old.t AS SELECT * FROM dantai_999814.kokuho_hihokensha")
    con.close()
    assert held_runs(f"duckdb:///{tmp_path / 't.duckdb'}", "dantai_999814")["current"]["sensitive"] is None
    for right in (table, f"duckdb:///{tmp_path / 't.duckdb'}#old.t"):
        rc, out = diff(tmp_path, legacy, right)
        assert rc == 0 and json.loads((out / "summary.json").read_text(encoding="utf-8"))["matched"] == 1


def test_a_derived_table_records_what_it_carries_of_a_sensitive_column(tmp_path):
    """A `latest` table has its source's columns; a `group` table's first/min/max of a sensitive column is its
    value (the schema flags no aggregate)."""
    p = tmp_path / "g.yaml"
    p.write_text("""spec_version: 1
gyomu: gx
ja: 業務gx
tables:
  gx_rireki:
    ja: 履歴
    primary_key: [atena_no, rireki_no]
    columns:
      - {name: atena_no, ja: 宛名番号, type: text, required: true}
      - {name: rireki_no, ja: 履歴番号, type: integer, required: true}
      - {name: setai_no, ja: 世帯番号, type: text}
      - {name: hihokensha_no, ja: 被保険者番号, type: text, sensitive: true}
  gx_now:
    ja: 現在
    primary_key: [atena_no]
    derive: {op: latest, from: gx_rireki, key: [atena_no], order_by: rireki_no}
  gx_setai:
    ja: 世帯
    primary_key: [setai_no]
    derive:
      op: group
      from: gx_now
      key: [setai_no]
      aggregates:
        - {name: nushi_no, ja: 世帯主の番号, agg: first, from: hihokensha_no}
        - {name: su, ja: 人数, agg: count}
""", encoding="utf-8")
    (tmp_path / "rules.yaml").write_text("spec_version: 1\ngyomu: gx\n", encoding="utf-8")
    schema = load_schema(p)
    frames = {t: pl.DataFrame() for t in schema.tables}
    assert sensitive_of([LoadPart(schema, frames)]) == {"gx_rireki": ["hihokensha_no"], "gx_now": ["hihokensha_no"],
                                                        "gx_setai": ["nushi_no"]}
