"""Rehearsals as a PM lives them: a mapping mistake stops the run loudly; 文字同定 decisions made in
one rehearsal hold in the next; the report compares against the previous rehearsal."""
from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

from ikou.flows.migrate import migration_flow
from ikou import REPO_ROOT
from ikou.errors import ThresholdError
from tests.flows.conftest import SAMPLE, vendor_a_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _broken_mapping(tmp_path):
    """The vendor A mapping with a 性別 code table that maps nothing (a planted mapping bug)."""
    empty = tmp_path / "seibetsu_empty.csv"
    empty.write_text("source_code,code,note\n", encoding="utf-8")
    spec = (REPO_ROOT / "specs" / "vendors" / "vendor_a" / "mappings" / "juki" / "jumin.yaml").read_text(encoding="utf-8")
    spec = spec.replace("table: ../../code_tables/seibetsu.csv", f"table: {empty}")
    spec = spec.replace("schema: ../../../../gyomu/juki/schema.yaml",
                        f"schema: {REPO_ROOT / 'specs' / 'gyomu' / 'juki' / 'schema.yaml'}")
    spec = spec.replace("layout: ../../layouts/jumin.yaml",
                        f"layout: {REPO_ROOT / 'specs' / 'vendors' / 'vendor_a' / 'layouts' / 'jumin.yaml'}")
    path = tmp_path / "broken_mapping.yaml"
    path.write_text(spec, encoding="utf-8")
    return path


def test_a_code_table_that_maps_nothing_fails_the_run_before_anything_is_loaded(tmp_path):
    target = tmp_path / "t.duckdb"
    source = vendor_a_source().replace(str(REPO_ROOT / "specs" / "vendors" / "vendor_a" / "mappings" / "juki" / "jumin.yaml"),
                                       str(_broken_mapping(tmp_path)))
    cfg = write_config(tmp_path, source=source, target_url=f"duckdb:///{target}")
    with pytest.raises(ThresholdError, match="juki_kojin_rireki"):
        migration_flow(config_path=str(cfg))
    (run_dir,) = [d for d in (tmp_path / "runs" / "999997").iterdir() if (d / "summary.json").is_file()]
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "failed" and summary["error"]["kind"] == "ThresholdError"
    assert not target.exists(), "the target must not be touched by a failed rehearsal"
    q = pl.read_parquet(run_dir / "quarantine.parquet")
    assert q.filter(pl.col("rule") == "code_table.unknown").height > 2000


def test_a_reviewers_decision_resolves_the_unknown_gaiji_in_the_next_rehearsal(tmp_path):
    from ikou.flows.cli import main

    target = f"duckdb:///{tmp_path / 't.duckdb'}"
    first = migration_flow(config_path=str(write_config(tmp_path, source=vendor_a_source(), target_url=target)))
    # every character of the sample is identified except the planted unknown 外字
    planted = pl.read_csv(SAMPLE / "faults.csv", infer_schema=False).filter(
        (pl.col("vendor") == "vendor_a") & (pl.col("fault") == "unknown_gaiji"))
    assert planted.height == 1
    assert first["moji"]["counts"]["unresolved"] == 1
    (unresolved,) = first["moji"]["unresolved"]
    assert unresolved["column"] == "shimei" and "\ue000" <= unresolved["char"] <= "\uf8ff"
    assert any("未同定" in b for b in first["sign_off_blockers"])

    ledger = tmp_path / "runs" / "999997" / "moji_ledger"
    entries = pl.read_csv(ledger / "ledger.csv", infer_schema=False)
    assert entries.height == 1 and planted["atena_no"][0] in entries["record_keys"][0]
    assert main(["moji", "decide", "--ledger", str(ledger), "--char", unresolved["codepoints"],
                 "--mj", "MJ028902", "--by", "審査担当A", "--note", "外字表の登録漏れ"]) == 0

    second = migration_flow(config_path=str(write_config(tmp_path, source=vendor_a_source(), target_url=target,
                                                         rehearsal="R2")))
    assert second["moji"]["counts"]["unresolved"] == 0 and second["moji"]["counts"]["decided"] == 1
    assert not any("未同定" in b for b in second["sign_off_blockers"])
    changes = second["moji"]["decision_changes"]
    assert [c["change"] for c in changes] == ["added"] and changes[0]["mj_after"] == "MJ028902"
    run_dir = tmp_path / "runs" / "999997" / second["run_id"]
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "MJ028902" in html and "前回" in html
    # the decided row is no longer flagged by the validation rule
    q = pl.read_parquet(run_dir / "quarantine.parquet")
    assert q.filter(pl.col("rule") == "moji.unresolved").height == 0
    # the decision reaches the parallel-run diff: the replaced 外字 is an explained difference
    assert not any("説明できない差異" in b for b in second["sign_off_blockers"]), second["sign_off_blockers"]
    assert sum(second["diff"]["vendor_a_jumin"]["unexplained_cells"].values()) == 0
    shutil.rmtree(tmp_path / "runs")


def test_an_unknown_mj_name_in_a_decision_is_one_line_without_traceback(tmp_path, capsys):
    from ikou.flows.cli import main

    ledger = tmp_path / "moji_ledger"
    assert main(["moji", "decide", "--ledger", str(ledger), "--char", "U+E000", "--mj", "MJ999999",
                 "--by", "審査担当A"]) == 2
    err = capsys.readouterr().err
    assert "MJ999999" in err and "Traceback" not in err and err.startswith("ikou: 失敗")
    assert not (ledger / "decisions.csv").exists()
