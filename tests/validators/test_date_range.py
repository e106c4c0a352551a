"""`date_range`: a date after the run or a "no date" placeholder (9999-12-31 …) no longer loads as a real date."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from ikou.validators.engine import run_date_of, validate
from ikou.validators.spec import Rule
from tests.validators.conftest import DANTAI, frame, person

TABLE = "juki_kojin_rireki"
RUN_DATE = dt.date(2026, 11, 30)


def alone(n: int, **over) -> dict:
    """Person n, the 世帯主 of a household of its own."""
    return person(n, setai=f"{n}0000", **over)


def _run(rows, schema, rules, run_date=RUN_DATE, **kw):
    return validate(frame(rows), table=TABLE, schema=schema, rules=rules, run_id="R1-test", dantai_code=DANTAI,
                    run_date=run_date, **kw)


def _found(res) -> set[tuple[str, str, str, str]]:
    ours = ["date.future_birth", "date.future", "date.placeholder"]
    return set(res.quarantine.filter(pl.col("rule").is_in(ours))
               .select("rule", "column", "value", "severity").iter_rows())


@pytest.mark.parametrize("batch_rows", [None, 1])
def test_future_births_and_placeholder_dates_are_held_future_ido_and_todokede_are_listed(schema, rules, batch_rows):
    rows = [alone(1, seinengappi="2038-01-01", ido_date="2039-01-01", todokede_date="2039-01-01"),  # 令和20年
            alone(2, seinengappi="0001-01-01"),
            alone(3, seinengappi="1000-01-01"),
            alone(4, todokede_date="9999-12-31"),
            alone(5, todokede_date="2031-01-01"),
            alone(6, ido_date="2027-01-01", todokede_date="2027-01-01")]
    res = _run(rows, schema, rules, batch_rows=batch_rows)
    assert _found(res) == {
        ("date.future_birth", "seinengappi", "2038-01-01", "error"),
        ("date.future", "ido_date", "2039-01-01", "warning"),
        ("date.future", "todokede_date", "2039-01-01", "warning"),
        ("date.placeholder", "seinengappi", "0001-01-01", "error"),
        ("date.placeholder", "seinengappi", "1000-01-01", "error"),
        ("date.placeholder", "todokede_date", "9999-12-31", "error"),
        ("date.future", "todokede_date", "9999-12-31", "warning"),
        ("date.future", "todokede_date", "2031-01-01", "warning"),
        ("date.future", "ido_date", "2027-01-01", "warning"),
        ("date.future", "todokede_date", "2027-01-01", "warning"),
    }
    # the births and the placeholders hold their person; a future 異動・届出 (a 予定) is only listed
    assert sorted(res.good["atena_no"].to_list()) == sorted(r["atena_no"] for r in rows[4:])
    msg = res.quarantine.filter(pl.col("rule") == "date.placeholder").row(0, named=True)
    assert "9999-12-31" in msg["message_ja"] and "placeholder" in msg["message_en"]
    born = res.quarantine.filter(pl.col("rule") == "date.future_birth").row(0, named=True)
    assert "2026-11-30 (run date)" in born["message_en"] and "実行日" in born["message_ja"]


def test_dates_up_to_the_run_date_and_from_1868_pass(schema, rules):
    rows = [alone(1, seinengappi="2026-11-30", ido_date="2026-11-30", todokede_date="2026-11-30"),
            alone(2, seinengappi="1868-01-01"),
            alone(3, todokede_date="2200-12-31", ido_date="2026-11-01")]
    found = _found(_run(rows, schema, rules))
    assert found == {("date.future", "todokede_date", "2200-12-31", "warning")}


def test_the_run_date_a_test_gives_is_the_one_compared_with(schema, rules):
    rows = [alone(1, seinengappi="2026-12-01", ido_date="2026-12-02", todokede_date="2026-12-02")]
    assert ("date.future_birth", "seinengappi", "2026-12-01", "error") in _found(_run(rows, schema, rules))
    assert _found(_run(rows, schema, rules, run_date=dt.date(2026, 12, 2))) == set()


def test_a_fumei_date_compares_by_its_known_part(schema, rules):
    rows = [alone(1, seinengappi="2026-11-00", seinengappi_fumei_flag="1"),      # 日不詳 in the run's month
            alone(2, seinengappi="2026-00-00", seinengappi_fumei_flag="1"),      # 月日不詳 in the run's year
            alone(3, seinengappi="0000-00-00", seinengappi_fumei_flag="1"),      # 年月日不詳: nothing to compare
            alone(4, seinengappi="2027-00-00", seinengappi_fumei_flag="1"),      # a year after the run
            alone(5, seinengappi="1867-12-00", seinengappi_fumei_flag="1"),
            alone(6, seinengappi="1868-01-00", seinengappi_fumei_flag="1")]
    assert _found(_run(rows, schema, rules)) == {
        ("date.future_birth", "seinengappi", "2027-00-00", "error"),
        ("date.placeholder", "seinengappi", "1867-12-00", "error")}


def test_empty_and_malformed_dates_are_left_to_the_other_rules(schema, rules):
    rows = [alone(1, todokede_date=None), alone(2, todokede_date=" "), alone(3, todokede_date="9999/12/31")]
    res = _run(rows, schema, rules)
    assert _found(res) == set()
    assert res.quarantine.filter(pl.col("rule") == "schema.date")["value"].to_list() == ["9999/12/31"]


def test_the_run_date_is_the_run_ids_day_in_japan():
    assert run_date_of("20261130T140000Z-R1-ab12") == dt.date(2026, 11, 30)
    assert run_date_of("20261130T150000Z-R1-ab12") == dt.date(2026, 12, 1)   # 00:00 JST
    jst_today = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date()
    assert run_date_of("R1-test") in {jst_today, jst_today + dt.timedelta(days=1)}


@pytest.mark.parametrize(("params", "error"), [
    ({"columns": ["seinengappi"]}, "give min, max or both"),
    ({"columns": ["seinengappi"], "max": "today"}, "not a date YYYY-MM-DD or run_date"),
    ({"columns": ["seinengappi"], "min": "run_date"}, "not a date YYYY-MM-DD"),
    ({"columns": ["seinengappi"], "min": "1868-02-30"}, "not a date YYYY-MM-DD"),
])
def test_date_range_params_are_checked_when_the_rules_load(params, error):
    with pytest.raises(ValueError, match=error):
        Rule(id="date.x", kind="date_range", params=params)


def test_an_unquoted_yaml_date_is_read_as_its_iso_text():
    rule = Rule(id="date.x", kind="date_range", params={"columns": ["seinengappi"], "min": dt.date(1868, 1, 1)})
    assert rule.parsed_params().min == "1868-01-01"


@pytest.mark.parametrize(("run_id", "held"), [("20261130T143000Z-R1-ab12", True),    # 23:30 in Japan, 30 Nov
                                              ("20261130T150000Z-R1-ab12", False)])  # 00:00 in Japan, 1 Dec
def test_the_validate_stage_compares_with_the_day_its_run_id_gives(tmp_path, schema, run_id, held):
    from ikou.context import RunContext
    from ikou.validators import validate_table

    rows = [alone(1, dantai_code="999725", seinengappi="2026-12-01", ido_date="2026-12-01",
                  todokede_date="2026-12-01")]
    frame(rows).write_parquet(tmp_path / "a.parquet")
    ctx = RunContext(dantai_code="999725", run_id=run_id, runs_dir=tmp_path / "runs")
    r = validate_table(schema, TABLE, ctx, [tmp_path / "a.parquet"])
    found = set(r.quarantine.filter(pl.col("rule").str.starts_with("date.")).select("rule", "column").iter_rows())
    assert found == ({("date.future_birth", "seinengappi"), ("date.future", "ido_date"),
                      ("date.future", "todokede_date")} if held else set())
    assert r.rows_out == (0 if held else 1)
