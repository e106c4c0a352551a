"""`ikou run-report` on a run `ikou purge` purged: its quarantine.parquet is gone, and an empty one would
write 「隔離・警告された行はありません。」 over the report of a run that held rows. It refuses in one line and
the report written by the run stays as it was (report.html and report.xlsx, which `ikou evidence` packs)."""
from __future__ import annotations

import datetime as dt
import json
import shutil

from ikou.flows.cli import main
from ikou.retention import purge


def test_run_report_of_a_purged_run_that_held_rows_keeps_the_report(vendor_a_run, tmp_path, capsys):
    d = tmp_path / "runs" / "999997"
    run = d / "20260101T000000Z-R1-aaaa"   # an older run, as purge finds them
    shutil.copytree(vendor_a_run[0], run)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["tables"]["juki_kojin_rireki"]["quarantined"] and summary["tables"]["juki_kojin_rireki"]["warnings"]
    kept = {n: (run / n).read_bytes() for n in ("report.html", "report.xlsx")}
    assert purge(d, dt.date.today())["runs"] == [run.name]
    assert not (run / "quarantine.parquet").exists() and (run / "purged.json").is_file()

    for extra in ([], ["--out", str(tmp_path / "elsewhere" / "report.html")]):
        assert main(["run-report", str(run), *extra]) == 2
        err = capsys.readouterr().err
        assert "削除済み" in err and "purged on" in err and "kept as written" in err, err
        assert len(err.strip().splitlines()) == 1
    assert {n: (run / n).read_bytes() for n in kept} == kept
    assert not (tmp_path / "elsewhere").exists()
