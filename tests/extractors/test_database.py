"""Vendor tables read live: ADBC (PostgreSQL) and SQLAlchemy give the same staging, all text."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.extractors import load_layout
from ikou.extractors.database import extract_table
from ikou import REPO_ROOT
from ikou.errors import LayoutError, message_ja
from ikou.sample.legacy_db import install_vendor_table

SAMPLE = REPO_ROOT / "data" / "sample" / "vendor_b"
LAYOUTS = REPO_ROOT / "specs" / "vendors" / "vendor_b" / "layouts"


def test_adbc_and_sqlalchemy_read_the_same_postgres_table_identically(postgres_url, tmp_path):
    install_vendor_table(SAMPLE / "B_ZEI_KAZEI.csv", postgres_url, "B_ZEI_KAZEI", schema="legacy_extract_test")
    layout = load_layout(LAYOUTS / "b_zei_kazei.yaml")
    out = {}
    for method in ("adbc", "dbapi"):
        r = extract_table(postgres_url, "B_ZEI_KAZEI", layout, out_path=tmp_path / f"{method}.parquet",
                          source_name="b", source_ordinal=2, run_id="r", schema="legacy_extract_test", method=method)
        out[method] = pl.read_parquet(r.staging)
        assert r.extra["reader"] == ("adbc" if method == "adbc" else "sqlalchemy")
    expected = pl.read_csv(SAMPLE / "B_ZEI_KAZEI.csv", infer_schema=False)
    assert out["adbc"].equals(out["dbapi"])
    assert out["adbc"].height == expected.height
    assert all(t == pl.String for n, t in out["adbc"].schema.items() if not n.startswith("_"))
    assert out["adbc"]["KOJIN_ID"].str.starts_with("0").any()          # leading zeros kept


def test_auto_uses_adbc_for_postgres_and_sqlalchemy_for_mariadb(postgres_url, mariadb_url, tmp_path):
    layout = load_layout(LAYOUTS / "b_zei_kojo.yaml")
    readers = {}
    for name, url, schema in (("pg", postgres_url, "legacy_extract_test"), ("maria", mariadb_url, None)):
        install_vendor_table(SAMPLE / "B_ZEI_KOJO.csv", url, "B_ZEI_KOJO", schema=schema)
        r = extract_table(url, "B_ZEI_KOJO", layout, out_path=tmp_path / f"{name}.parquet", source_name="b",
                          source_ordinal=1, run_id="r", schema=schema)
        readers[name] = (r.extra["reader"], pl.read_parquet(r.staging))
    assert readers["pg"][0] == "adbc" and readers["maria"][0] == "sqlalchemy"
    assert readers["pg"][1].drop("_source").equals(readers["maria"][1].drop("_source"))   # _source names the schema


def test_a_table_without_the_layout_columns_is_a_layout_error(postgres_url, tmp_path):
    install_vendor_table(SAMPLE / "B_ZEI_KOJO.csv", postgres_url, "B_ZEI_KOJO", schema="legacy_extract_test")
    with pytest.raises(LayoutError, match="lacks layout columns") as e:
        extract_table(postgres_url, "B_ZEI_KOJO", load_layout(LAYOUTS / "b_zei_kazei.yaml"),
                      out_path=tmp_path / "x.parquet", source_name="b", source_ordinal=1, run_id="r",
                      schema="legacy_extract_test")
    assert message_ja(e.value).startswith("b: 表 legacy_extract_test.B_ZEI_KOJO にレイアウトの列 ["), message_ja(e.value)


@pytest.mark.parametrize("kind", ["duckdb", "mariadb"])
def test_a_control_character_in_a_vendor_table_is_held_with_its_row_and_column(kind, tmp_path, request):
    """ESC in a name or a C1 control in an address is never loaded silently from a database either."""
    url = f"duckdb:///{tmp_path / 'legacy.duckdb'}" if kind == "duckdb" else request.getfixturevalue("mariadb_url")
    csv = tmp_path / "B_ZEI_KOJO.csv"
    rows = pl.read_csv(SAMPLE / "B_ZEI_KOJO.csv", infer_schema=False).head(5)
    rows = rows.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("12\x1b34"))
                             .otherwise(pl.col("KOJO_GAKU")).alias("KOJO_GAKU"))
    rows.write_csv(csv)
    install_vendor_table(csv, url, "VC_CTRL_TEST")
    layout = load_layout(LAYOUTS / "b_zei_kojo.yaml")
    r = extract_table(url, "VC_CTRL_TEST", layout, out_path=tmp_path / "s.parquet", source_name="b",
                      source_ordinal=1, run_id="r", dantai_code="999997", target_table="kojo")
    assert (r.rows_read, r.rows_ok) == (5, 4)
    (held,) = r.quarantine.to_dicts()
    assert (held["rule"], held["column"], held["value"], held["severity"]) == (
        "extract.control_char", "KOJO_GAKU", "12\x1b34", "error")
    staged = pl.read_parquet(r.staging)
    assert staged.height == 4 and held["source_line"] not in staged["_source_line"].to_list()
