"""Partly unknown dates (不詳) are legal in every date of the register, not only 生年月日 (DOMAIN.md)."""
from __future__ import annotations

import polars as pl

from ikou import validators
from ikou.extractors import load_layout
from ikou.extractors.csv_file import extract_csv
from ikou.validators import rules_path
from ikou import REPO_ROOT
from ikou.mappings.engine import apply_mapping
from ikou.schema import load_schema
from ikou.mappings.spec import load_mapping

SAMPLE = REPO_ROOT / "data" / "sample"


def test_unknown_day_of_ido_date_and_unknown_todokede_date_are_migrated_with_their_fumei_columns(tmp_path):
    spec = load_mapping(REPO_ROOT / "specs" / "vendors" / "vendor_a" / "mappings" / "juki" / "jumin.yaml")
    schema = load_schema(spec.schema_)
    r = extract_csv(SAMPLE / "vendor_a" / "JUMIN.csv", load_layout(spec.layout), out_path=tmp_path / "s.parquet",
                    source_name="a", source_ordinal=1, target_table=spec.target, run_id="r", dantai_code="999997")
    staged = pl.read_parquet(r.staging).head(20).with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("IDO_YMD").str.slice(0, 6) + "00")
        .otherwise(pl.col("IDO_YMD")).alias("IDO_YMD"),
        pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("00000000"))
        .otherwise(pl.col("TODOKEDE_YMD")).alias("TODOKEDE_YMD"))
    mapped = apply_mapping(staged, spec, schema, run_id="r", dantai_code="999997")
    assert mapped.frame.height == 20
    first, second = mapped.frame.row(0, named=True), mapped.frame.row(1, named=True)
    assert first["ido_date"].endswith("-00")
    assert (first["ido_date_fumei_flag"], first["ido_date_fumei_hyoki"]) == ("1", "日不詳")
    assert (second["todokede_date"], second["todokede_date_fumei_flag"], second["todokede_date_fumei_hyoki"]) == \
        ("0000-00-00", "1", "年月日不詳")
    assert mapped.frame["ido_date_fumei_flag"].drop_nulls().to_list().count("0") >= 18   # known dates: flag 0

    found = validators.validate(mapped.frame, table=spec.target, schema=schema,
                                rules=validators.load_rules(rules_path(schema)), run_id="r", dantai_code="999997")
    date_errors = found.quarantine.filter(pl.col("rule") == "schema.date")
    assert date_errors.filter(pl.col("row_id").is_in(mapped.frame["_row_id"].head(2).implode())).height == 0
    # without its flag the same value is an error: the flag is what makes 00 legal
    unflagged = mapped.frame.with_columns(pl.lit("0").alias("ido_date_fumei_flag"))
    held = validators.validate(unflagged, table=spec.target, schema=schema,
                               rules=validators.load_rules(rules_path(schema)), run_id="r", dantai_code="999997")
    bad = held.quarantine.filter((pl.col("rule") == "schema.date") & (pl.col("column") == "ido_date"))
    assert bad["row_id"].to_list() == [mapped.frame["_row_id"][0]]
