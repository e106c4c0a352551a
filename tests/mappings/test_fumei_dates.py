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


# every 不詳 form, as vendor A writes it (年号コード 2 digits + YYMMDD, 00 for an unknown part)
EVERY_FORM = [   # SEINENGAPPI → (seinengappi, 不詳フラグ, 不詳表記)
    ("03450302", ("1970-03-02", "0", None)),
    ("03000302", ("0000-03-02", "1", "昭和年不詳")),   # 昭和, year unknown: era kept
    ("00000302", ("0000-03-02", "1", "年不詳")),
    ("03450002", ("1970-00-02", "1", "月不詳")),
    ("03450300", ("1970-03-00", "1", "日不詳")),
    ("03000002", ("0000-00-02", "1", "昭和年月不詳")),
    ("03000300", ("0000-03-00", "1", "昭和年日不詳")),
    ("03450000", ("1970-00-00", "1", "月日不詳")),
    ("03000000", ("0000-00-00", "1", "昭和年月日不詳")),
    ("04030229", ("1991-02-29", "0", None)),   # 平成3年2月29日: not in the calendar, kept as recorded
]


def test_every_fumei_form_of_a_birth_date_is_migrated_with_its_flag_and_notation_through_vendor_a(tmp_path):
    spec = load_mapping(REPO_ROOT / "specs" / "vendors" / "vendor_a" / "mappings" / "juki" / "jumin.yaml")
    schema = load_schema(spec.schema_)
    r = extract_csv(SAMPLE / "vendor_a" / "JUMIN.csv", load_layout(spec.layout), out_path=tmp_path / "s.parquet",
                    source_name="a", source_ordinal=1, target_table=spec.target, run_id="r", dantai_code="999997")
    staged = pl.read_parquet(r.staging).head(len(EVERY_FORM)).with_columns(
        pl.Series("SEINENGAPPI", [v for v, _ in EVERY_FORM]))
    mapped = apply_mapping(staged, spec, schema, run_id="r", dantai_code="999997")
    errors = mapped.quarantine.filter(pl.col("severity") == "error")
    assert errors.filter(pl.col("column") == "seinengappi").height == 0, errors
    assert mapped.frame.height == len(EVERY_FORM)
    got = mapped.frame.select("seinengappi", "seinengappi_fumei_flag", "seinengappi_fumei_hyoki").rows()
    assert got == [want for _, want in EVERY_FORM]
    warned = mapped.quarantine.filter(pl.col("rule") == "wareki.not_in_calendar")
    assert warned["row_id"].to_list() == [mapped.frame["_row_id"][-1]]
    found = validators.validate(mapped.frame, table=spec.target, schema=schema,
                                rules=validators.load_rules(rules_path(schema)), run_id="r", dantai_code="999997")
    assert found.quarantine.filter((pl.col("rule") == "schema.date") & (pl.col("column") == "seinengappi")).height == 0
    # the flag is what makes each 00 legal: unflagged, every 不詳 form is held and the known dates are not
    unflagged = mapped.frame.with_columns(pl.lit("0").alias("seinengappi_fumei_flag"))
    held = validators.validate(unflagged, table=spec.target, schema=schema,
                               rules=validators.load_rules(rules_path(schema)), run_id="r", dantai_code="999997")
    bad = held.quarantine.filter((pl.col("rule") == "schema.date") & (pl.col("column") == "seinengappi"))
    assert sorted(bad["row_id"].to_list()) == mapped.frame["_row_id"][1:-1].to_list()
