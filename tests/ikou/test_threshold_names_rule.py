"""A quarantine-threshold failure names the rules that hold most rows (rule id and column, both languages),
so a PM sees which mapping line is wrong without opening the report; never a value."""
from __future__ import annotations

import json

import polars as pl
import pytest

from ikou import quarantine as q
from ikou.errors import ThresholdError, message_ja, one_line
from ikou.validators.engine import check_tables

TABLE = "juki_kojin_rireki"


def _held(rule: str, column: str | None, row_ids: range, value: str) -> pl.DataFrame:
    return pl.DataFrame({"table": TABLE, "stage": "map", "rule": rule, "column": column, "severity": "error",
                         "row_id": list(row_ids), "value": value})


def test_the_failure_line_names_the_dominant_rules_in_both_languages_without_values():
    held = q.concat([_held("wareki.format", "ido_date", range(0, 40), "H05.03.01"),
                     _held("wareki.format", "todokede_date", range(0, 30), "H05.03.02"),
                     _held("code_table.unknown", "seibetsu_code", range(40, 45), "X"),
                     _held("type.integer", "rireki_no", range(45, 46), "一")])
    with pytest.raises(ThresholdError) as info:
        check_tables({TABLE: {"extracted": 50, "quarantined": 46}}, 0.05, loaded=False, quarantine=held)
    en, ja = one_line(info.value), message_ja(info.value)
    assert ("46 of 50 rows quarantined (92.00%) exceeds the threshold 5.00%: a mapping mistake must stop the "
            "rehearsal; most held by: wareki.format on ido_date (40 rows), wareki.format on todokede_date (30 rows), "
            "code_table.unknown on seibetsu_code (5 rows)") in en
    assert ja.startswith(ThresholdError.ja)
    assert "主な保留理由: wareki.format (ido_date) 40行、wareki.format (todokede_date) 30行" in ja
    assert not any(v in en + ja for v in ("H05.03.01", "H05.03.02", "一")), "values never in the line"


def test_a_table_under_the_threshold_passes():
    held = _held("wareki.format", "ido_date", range(0, 5), "H05")
    check_tables({TABLE: {"extracted": 100, "quarantined": 5}}, 0.05, loaded=False, quarantine=q.concat([held]))


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_of_another_dantais_rows_fails_naming_the_isolation_rule(tmp_path):
    """The newcomer's repro (dataM4b): every row names another 団体, and the line says so."""
    from ikou.flows.migrate import migration_flow
    from tests.flows.conftest import vendor_a_source, write_config

    target = tmp_path / "t.duckdb"
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{target}")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('"999997"', '"999733"'), encoding="utf-8")
    with pytest.raises(ThresholdError, match=r"most held by: isolation\.dantai_mismatch on dantai_code \(\d+ rows\)"):
        migration_flow(config_path=str(cfg))
    (run_dir,) = [d for d in (tmp_path / "runs" / "999733").iterdir() if (d / "summary.json").is_file()]
    error = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["error"]
    assert "主な保留理由: isolation.dantai_mismatch (dantai_code)" in error["message_ja"]
    assert not target.exists()
