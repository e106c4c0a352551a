"""apply_mapping (mappings/engine.py): good rows, quarantine rows, counts, isolation, per-value ops."""
from __future__ import annotations

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.errors import ConfigError
from ikou.quarantine import QUARANTINE_SCHEMA
from ikou.mappings.engine import apply_mapping
from ikou.schema import load_schema
from ikou.mappings.spec import MappingSpec

SCHEMA_PATH = REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml"
SCHEMA = load_schema(SCHEMA_PATH)
DANTAI = "999997"
RUN = "20260101T000000Z-R1-test"


def spec(columns: list[dict]) -> MappingSpec:
    return MappingSpec.model_validate(
        {"spec_version": 1, "target": "juki_kojin_rireki", "schema": str(SCHEMA_PATH), "columns": columns},
        context={"path": SCHEMA_PATH},
    )


def staged(data: dict[str, list], source: str = "jumin.csv", first_line: int = 2) -> pl.DataFrame:
    n = len(next(iter(data.values())))
    return pl.DataFrame(
        {"_row_id": list(range(1000, 1000 + n)), "_source": [source] * n,
         "_source_line": list(range(first_line, first_line + n)), **data},
        schema={"_row_id": pl.Int64, "_source": pl.String, "_source_line": pl.Int64,
                **{k: pl.String for k in data}},
    )


BASE = [
    {"target": "dantai_code", "op": "text", "from": "DANTAI_CD"},
    {"target": "atena_no", "op": "text", "from": "ATENA_NO"},
    {"target": "rireki_no", "op": "integer", "from": "RIREKI_NO"},
    {"target": "zokugara_code", "op": "code_table", "from": "ZOKUGARA", "table": "standard:zokugara"},
    {"target": "seinengappi", "op": "wareki_date", "from": "SEINENGAPPI", "format": "era2_yymmdd",
     "fumei_flag": "seinengappi_fumei_flag", "fumei_hyoki": "seinengappi_fumei_hyoki"},
]


def base_rows() -> dict[str, list]:
    return {
        "DANTAI_CD":   [DANTAI, DANTAI, DANTAI, DANTAI, DANTAI],
        "ATENA_NO":    ["A1", "A2", "A3", "A4", "A5"],
        "RIREKI_NO":   ["1", "x", "1", "2", "1"],
        "ZOKUGARA":    ["02", "02", "ZZ", "11", "02"],
        "SEINENGAPPI": ["03450302", "03450302", "03450302", "04030229", "03450000"],
    }


def test_good_rows_are_typed_in_schema_order_with_lineage():
    res = apply_mapping(staged(base_rows()), spec(BASE), SCHEMA, run_id=RUN, dantai_code=DANTAI)
    declared = [c.name for c in SCHEMA.tables["juki_kojin_rireki"].columns]
    assert res.frame.columns == ["_row_id", "_source", "_source_line", *declared]
    assert res.frame.schema["rireki_no"] == pl.Int64
    a5 = res.frame.filter(pl.col("atena_no") == "A5").row(0, named=True)
    assert (a5["seinengappi"], a5["seinengappi_fumei_flag"], a5["seinengappi_fumei_hyoki"]) == \
        ("1970-00-00", "1", "月日不詳")
    assert a5["kojin_no"] is None  # not mapped: declared column present, null


def test_rows_with_errors_leave_frame_and_are_quarantined_with_line_and_key():
    res = apply_mapping(staged(base_rows()), spec(BASE), SCHEMA, run_id=RUN, dantai_code=DANTAI)
    assert sorted(res.frame["atena_no"].to_list()) == ["A1", "A4", "A5"]
    q = res.quarantine
    assert q.schema == pl.Schema(QUARANTINE_SCHEMA)
    errors = q.filter(pl.col("severity") == "error").sort("source_line")
    assert errors.select("source", "source_line", "column", "rule", "value", "record_key").rows() == [
        ("jumin.csv", 3, "rireki_no", "type.integer", "x", "atena_no=A2,rireki_no=x"),   # as read
        ("jumin.csv", 4, "zokugara_code", "code_table.unknown", "ZZ", "atena_no=A3,rireki_no=1"),
    ]
    assert set(q["stage"]) == {"map"} and set(q["run_id"]) == {RUN} and set(q["dantai_code"]) == {DANTAI}
    assert set(q["table"]) == {"juki_kojin_rireki"}
    assert q["message_ja"].null_count() == 0 and q["message_en"].null_count() == 0


def test_a_row_failing_two_columns_is_quarantined_once_per_column():
    rows = base_rows()
    rows["RIREKI_NO"][1] = "x"
    rows["ZOKUGARA"][1] = "ZZ"
    res = apply_mapping(staged(rows), spec(BASE), SCHEMA, run_id=RUN, dantai_code=DANTAI)
    a2 = res.quarantine.filter(pl.col("row_id") == 1001)
    assert sorted(a2["column"].to_list()) == ["rireki_no", "zokugara_code"]
    assert res.rows_out == 3


def test_warning_keeps_the_row_and_is_listed():
    res = apply_mapping(staged(base_rows()), spec(BASE), SCHEMA, run_id=RUN, dantai_code=DANTAI)
    warn = res.quarantine.filter(pl.col("severity") == "warning")
    assert warn.select("column", "rule", "value", "source_line").rows() == [
        ("seinengappi", "wareki.not_in_calendar", "04030229", 5)]
    assert "A4" in res.frame["atena_no"].to_list()
    assert res.frame.filter(pl.col("atena_no") == "A4")["seinengappi"].to_list() == ["1991-02-29"]


def test_row_of_another_dantai_is_quarantined_as_isolation_mismatch():
    rows = base_rows()
    rows["DANTAI_CD"][0] = "131016"
    res = apply_mapping(staged(rows), spec(BASE), SCHEMA, run_id=RUN, dantai_code=DANTAI)
    iso = res.quarantine.filter(pl.col("rule") == "isolation.dantai_mismatch")
    assert iso.select("column", "value", "severity", "source_line").rows() == [("dantai_code", "131016", "error", 2)]
    assert "A1" not in res.frame["atena_no"].to_list()
    assert set(res.frame["dantai_code"]) == {DANTAI}


def test_rows_in_equals_rows_out_plus_distinct_error_rows():
    rows = base_rows()
    rows["RIREKI_NO"][2] = "bad"          # A3 fails twice (rireki_no and zokugara_code)
    rows["DANTAI_CD"][4] = "131016"       # A5 fails isolation
    df = staged(rows)
    res = apply_mapping(df, spec(BASE), SCHEMA, run_id=RUN, dantai_code=DANTAI)
    err_rows = res.quarantine.filter(pl.col("severity") == "error")["row_id"].n_unique()
    assert res.rows_in == df.height == 5
    assert res.rows_out == res.frame.height == 2
    assert res.rows_in == res.rows_out + err_rows
    assert res.quarantine.filter(pl.col("severity") == "error").height == 4


def test_mapping_naming_a_column_not_in_the_schema_is_an_error():
    """load_mapping refuses it (tests/mappings/test_spec_checks.py); a spec built in code too."""
    cols = BASE + [{"target": "shoe_size", "op": "text", "from": "ATENA_NO"}]
    with pytest.raises(ConfigError, match=r"columns\.5\.target: column 'shoe_size' is not in the target table"):
        apply_mapping(staged(base_rows()), spec(cols), SCHEMA, run_id=RUN, dantai_code=DANTAI)


def test_fumei_target_not_in_the_schema_is_an_error():
    cols = [{"target": "seinengappi", "op": "wareki_date", "from": "SEINENGAPPI", "fumei_flag": "no_such_flag"}]
    with pytest.raises(ConfigError, match=r"columns\.0\.fumei_flag: column 'no_such_flag'"):
        apply_mapping(staged(base_rows()), spec(cols), SCHEMA, run_id=RUN, dantai_code=DANTAI)


def test_unknown_op_is_an_error_naming_the_op():
    cols = BASE + [{"target": "shimei", "op": "romaji_guess", "from": "ATENA_NO"}]
    with pytest.raises(ConfigError, match=r"columns\.5\.op: unknown op 'romaji_guess'"):
        apply_mapping(staged(base_rows()), spec(cols), SCHEMA, run_id=RUN, dantai_code=DANTAI)


# --- per-value evaluation gives the same answer as row-wise evaluation ----------------------------

TWO_FROM_ONE = [
    {"target": "dantai_code", "op": "constant", "value": DANTAI},
    {"target": "atena_no", "op": "text", "from": "ATENA_NO"},
    {"target": "rireki_no", "op": "integer", "from": "RIREKI_NO"},
    # two target columns from the same source column, both per-value ops
    {"target": "ido_date", "op": "wareki_date", "from": "YMD", "format": "era2_yymmdd"},
    {"target": "todokede_date", "op": "wareki_date", "from": "YMD", "format": "era2_yymmdd"},
    {"target": "seibetsu_code", "op": "code_table", "from": "SEIBETSU", "table": "standard:seibetsu"},
    {"target": "jumin_jotai_code", "op": "code_table", "from": "SEIBETSU", "table": "standard:jumin_jotai"},
    {"target": "shimei_kana", "op": "kana_fullwidth", "from": "KANA"},
]


def per_value_rows(repeat: bool) -> dict[str, list]:
    ymd = ["04020101", None, "04020101", "bad", None, "04030229", "04020101", "bad"]
    sei = ["1", "1", None, "2", "9", None, "1", "2"]
    kana = ["ﾔﾏﾀﾞ", None, "ﾔﾏﾀﾞ", "", "ｶﾞ", "ﾔﾏﾀﾞ", None, "ｶﾞ"]
    if not repeat:  # every value distinct (and no nulls): row-wise answers to compare against
        ymd = ["04020101", "04020102", "04020103", "bad1", "04020104", "04030229", "04020105", "bad2"]
        sei = ["1", "2", "0", "3", "9", "8", "7", "4"]
        kana = [f"ﾔﾏﾀﾞ{i}" for i in range(8)]
    return {"ATENA_NO": [f"A{i}" for i in range(8)], "RIREKI_NO": ["1", "2", "1", "x", "1", "x", "1", "3"],
            "YMD": ymd, "SEIBETSU": sei, "KANA": kana}


def test_repeated_values_and_nulls_map_like_each_row_alone():
    rows = per_value_rows(repeat=True)
    df = staged(rows)
    res = apply_mapping(df, spec(TWO_FROM_ONE), SCHEMA, run_id=RUN, dantai_code=DANTAI)
    # each row mapped on its own, one-row frames: no sharing of distinct values possible
    singles = [apply_mapping(df.slice(i, 1), spec(TWO_FROM_ONE), SCHEMA, run_id=RUN, dantai_code=DANTAI)
               for i in range(df.height)]
    assert res.frame.equals(pl.concat([s.frame for s in singles]))
    key = ["row_id", "column", "rule"]
    assert res.quarantine.sort(key).equals(pl.concat([s.quarantine for s in singles]).sort(key))
    assert res.frame["_row_id"].to_list() == sorted(res.frame["_row_id"].to_list())  # input order kept


def test_two_targets_from_one_source_each_get_their_own_result_and_errors():
    df = staged(per_value_rows(repeat=True))
    res = apply_mapping(df, spec(TWO_FROM_ONE), SCHEMA, run_id=RUN, dantai_code=DANTAI)
    assert res.frame["ido_date"].to_list() == res.frame["todokede_date"].to_list()
    q = res.quarantine
    # 'bad' dates: an error on each of the two targets, for both rows that carry it
    bad = q.filter(pl.col("rule") == "wareki.format")
    assert sorted(zip(bad["column"], bad["source_line"])) == [
        ("ido_date", 5), ("ido_date", 9), ("todokede_date", 5), ("todokede_date", 9)]
    # '9' is その他消除者 in 住民状態 but no 性別 code: only the seibetsu target fails on it
    unknown = q.filter(pl.col("rule") == "code_table.unknown").select("column", "value", "source_line").rows()
    assert unknown == [("seibetsu_code", "9", 6)]
    good = res.frame.sort("_row_id")
    assert good["seibetsu_code"].to_list() == good["jumin_jotai_code"].to_list()
    assert good.filter(pl.col("atena_no") == "A0")["shimei_kana"].to_list() == ["ヤマダ"]
    assert good.filter(pl.col("atena_no") == "A2")["shimei_kana"].to_list() == ["ヤマダ"]
    assert good.filter(pl.col("atena_no") == "A1")["shimei_kana"].to_list() == [None]
    assert res.rows_in == res.rows_out + q.filter(pl.col("severity") == "error")["row_id"].n_unique()


def test_distinct_values_give_same_per_row_results_as_repeated_values():
    rep = apply_mapping(staged(per_value_rows(repeat=True)), spec(TWO_FROM_ONE), SCHEMA,
                        run_id=RUN, dantai_code=DANTAI)
    uniq = apply_mapping(staged(per_value_rows(repeat=False)), spec(TWO_FROM_ONE), SCHEMA,
                         run_id=RUN, dantai_code=DANTAI)
    # rireki_no errors are identical in both (same RIREKI_NO column); the lines line up with the input
    for res in (rep, uniq):
        ints = res.quarantine.filter(pl.col("rule") == "type.integer")
        assert sorted(ints["source_line"].to_list()) == [5, 7]
        assert ints["value"].to_list() == ["x", "x"]
    assert uniq.quarantine.filter(pl.col("rule") == "wareki.format").height == 4
