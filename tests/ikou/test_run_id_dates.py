"""A run id's time stamp is what retention and the order of runs go by: `--run-id` with a date that is no date,
or one in the future, is refused; a run folder already named with an impossible date is skipped by purge with a
warning (it broke every later purge and every run with retention_days)."""
from __future__ import annotations

import datetime as dt

import pytest

from ikou.context import RunIdError, check_run_id
from ikou.errors import message_ja, one_line
from ikou.retention import purge, run_date


@pytest.mark.parametrize("bad", ["20261399T999999Z-RB-abcd", "20260230T120000Z-R1-abcd", "20261130T246000Z-R1-abcd"])
def test_a_run_id_whose_time_stamp_is_no_date_is_refused(bad):
    with pytest.raises(RunIdError) as exc:
        check_run_id(bad)
    assert bad in one_line(exc.value) and bad in message_ja(exc.value)


def test_a_run_id_in_the_future_is_refused_and_one_a_few_minutes_ahead_is_not():
    ahead = dt.datetime.now(dt.timezone.utc)
    with pytest.raises(RunIdError, match="future"):
        check_run_id("20991231T000000Z-RB-0000")
    with pytest.raises(RunIdError):
        check_run_id(f"{ahead + dt.timedelta(minutes=30):%Y%m%dT%H%M%SZ}-R1-abcd")
    near = f"{ahead + dt.timedelta(minutes=2):%Y%m%dT%H%M%SZ}-R1-abcd"   # another machine's clock, a little ahead
    assert check_run_id(near) == near


def test_purge_skips_a_run_folder_whose_date_is_no_date_with_a_warning(tmp_path, caplog):
    d = tmp_path / "runs" / "999792"
    odd, old = d / "20261399T999999Z-RB-abcd", d / "20260101T000000Z-R1-aaaa"
    for run in (odd, old):
        (run / "extract").mkdir(parents=True)
        (run / "extract" / "x.parquet").write_bytes(b"PAR1")
        (run / "summary.json").write_text('{"status": "succeeded"}', encoding="utf-8")
    assert run_date(odd) is None
    report = purge(d, dt.date(2026, 6, 1))
    assert report["runs"] == [old.name] and odd.name in report["skipped"]
    assert (odd / "extract" / "x.parquet").is_file()
    assert any(odd.name in r.getMessage() for r in caplog.records)
