"""個人住民税 (a second 業務, three target tables) migrated by configuration alone, with control totals."""
from __future__ import annotations

import json

import polars as pl
import pytest
import yaml

from ikou.flows.migrate import migration_flow
from ikou.loaders import read_table
from ikou import REPO_ROOT
from tests.flows.conftest import SAMPLE

pytestmark = pytest.mark.usefixtures("prefect_harness")

TAX_TABLES = ("kojin_juminzei_gimusha", "kojin_juminzei_kazei", "kojin_juminzei_kojo")
TABLE_OF_FILE = {"GIMUSHA": "kojin_juminzei_gimusha", "KAZEI": "kojin_juminzei_kazei", "KOJO": "kojin_juminzei_kojo"}
EXPECTED = {   # planted fault → (stage, rule)
    "duplicate_key": ("validate", "key.unique"),
    "not_integer": ("map", "type.integer"),
    "negative_amount": ("validate", "amount.non_negative"),
    "unknown_code": ("map", "code_table.unknown"),
    "overlong_field": ("extract", "extract.overlong"),
}


def _config(tmp_path, sources: list[dict], gyomu: list[str]) -> str:
    demo = yaml.safe_load((SAMPLE / "demo_vendor_a_all.yaml").read_text(encoding="utf-8"))
    demo.update(gyomu=gyomu, sources=sources, runs_dir=str(tmp_path / "runs"), inbox=[str(SAMPLE), str(tmp_path)],
                target={"url": f"duckdb:///{tmp_path / 't.duckdb'}"})
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(demo, allow_unicode=True), encoding="utf-8")
    return str(path)


def _absolute(sources: list[dict]) -> list[dict]:
    out = []
    for s in sources:
        s = dict(s)
        for k in ("path", "gaiji_table", "gaiji_font", "mapping"):
            if k in s:
                s[k] = str((SAMPLE / s[k]).resolve())
        out.append(s)
    return out


def _planted(vendor: str) -> pl.DataFrame:
    return pl.read_csv(SAMPLE / "faults_kojin_juminzei.csv", infer_schema=False).filter(pl.col("vendor") == vendor)


def _assert_planted_faults_surface(q: pl.DataFrame, vendor: str, by: str) -> None:
    """by="line" for files (physical line); by="key" for tables (their row order is the key's)."""
    planted = _planted(vendor)
    assert planted.height >= 3
    for f in planted.iter_rows(named=True):
        stage, rule = EXPECTED[f["fault"]]
        table = next(t for k, t in TABLE_OF_FILE.items() if f["source"].endswith(f"_{k}.csv"))
        where = (pl.col("source_line") == int(f["line"])) if by == "line" else (
            pl.col("record_key").str.contains(f"atena_no={f['atena_no']}")
            & pl.col("record_key").str.contains(f"kazei_nendo={f['kazei_nendo']}"))
        hits = q.filter((pl.col("table") == table) & where
                        & (pl.col("stage") == stage) & (pl.col("rule") == rule) & (pl.col("severity") == "error"))
        assert hits.height >= 1, f"{vendor}: planted {f['fault']} at {f['source']}:{f['line']} not quarantined as {rule}"


def _assert_control_totals_match_the_target(summary: dict, target_url: str) -> None:
    totals = summary["control_totals"]
    assert set(totals) == {"kojin_juminzei_kazei", "kojin_juminzei_kojo"}
    for table, cols in totals.items():
        loaded = read_table(target_url, "dantai_999997", table)
        for col, t in cols.items():
            assert t["loaded"] == loaded[col].sum(), f"{table}.{col}"
            assert t["extracted"] - t["loaded"] == t["held"] and t["difference"] == 0, f"{table}.{col}"
    kazei = read_table(target_url, "dantai_999997", "kojin_juminzei_kazei")
    # the generated amounts are consistent: 年税額 = 所得割額 + 均等割額 on every loaded row
    assert (kazei["nengaku"] == kazei["shotokuwari_gaku"] + kazei["kintowari_gaku"]).all()


def test_vendor_a_demo_migrates_juki_and_kojin_juminzei_in_one_run(tmp_path):
    demo = yaml.safe_load((SAMPLE / "demo_vendor_a_all.yaml").read_text(encoding="utf-8"))
    cfg = _config(tmp_path, _absolute(demo["sources"]), demo["gyomu"])
    summary = migration_flow(config_path=cfg)
    run_dir = tmp_path / "runs" / summary["dantai"] / summary["run_id"]
    on_disk = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["status"] == "succeeded"
    for name in ("juki_kojin_rireki", *TAX_TABLES):
        t = on_disk["tables"][name]
        assert t["extracted"] == t["loaded"] + t["quarantined"] and t["loaded"] > 1000, name
    expected_rows = {t: pl.read_csv(SAMPLE / "vendor_a" / f"ZEI_{k}.csv", has_header=False, infer_schema=False,
                                    encoding="cp932").height for k, t in TABLE_OF_FILE.items()}
    assert {t: on_disk["tables"][t]["extracted"] for t in TAX_TABLES} == expected_rows
    q = pl.read_parquet(run_dir / "quarantine.parquet")
    _assert_planted_faults_surface(q, "vendor_a", by="line")
    target = f"duckdb:///{tmp_path / 't.duckdb'}"
    _assert_control_totals_match_the_target(on_disk, target)
    held = on_disk["control_totals"]["kojin_juminzei_kojo"]["kojo_gaku"]["held"]
    # extracted is the file's own total, counted apart from the load: 所得割額 summed from the CSV by
    # the layout (a full-width amount included, as a PM reading the file counts it)
    from ikou.extractors.layout import load_layout

    names = load_layout(REPO_ROOT / "specs/vendors/vendor_a/layouts/zei_kazei.yaml").names
    raw = pl.read_csv(SAMPLE / "vendor_a" / "ZEI_KAZEI.csv", has_header=False, infer_schema=False,
                      encoding="cp932", new_columns=names)["SHOTOKUWARI"]
    assert raw.str.contains("[０-９]").any()   # the case: a full-width amount is planted
    file_total = raw.str.normalize("NFKC").str.strip_chars().cast(pl.Int64).sum()
    assert on_disk["control_totals"]["kojin_juminzei_kazei"]["shotokuwari_gaku"]["extracted"] == file_total
    assert on_disk["control_totals"]["kojin_juminzei_kojo"]["kojo_gaku"]["records_held_at_extract"] >= 1
    unknown = _planted("vendor_a").filter(pl.col("fault") == "unknown_code")
    assert held > 0 and unknown.height == 1       # the unknown-code row's 控除額 is held, not lost
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "nengaku（年税額）" in html[html.index('<h2 id="control-totals">'):]   # the control totals, in Japanese
    # across 業務: 納税義務者 whose person is not among the migrated 住民記録 are listed (a warning)
    juki = pl.read_parquet(run_dir / "validate" / "juki_kojin_rireki.parquet")["atena_no"].unique()
    gimusha = pl.read_parquet(run_dir / "validate" / "kojin_juminzei_gimusha.parquet")
    missing = gimusha.filter(~pl.col("atena_no").is_in(juki.implode()))
    ref = [r for r in on_disk["rules"] if r["rule"] == "ref.juki"]
    assert [(r["table"], r["severity"], r["rows_failed"]) for r in ref] == [
        ("kojin_juminzei_gimusha", "warning", missing.height)]
    assert missing.height > 0          # persons whose 住民記録 rows were held (planted faults) pay tax here
    listed = q.filter((pl.col("rule") == "ref.juki") & (pl.col("table") == "kojin_juminzei_gimusha"))
    assert sorted(listed["value"].to_list()) == sorted(missing["atena_no"].to_list())


def test_vendor_b_tax_tables_read_live_from_postgres(tmp_path, postgres_url):
    from ikou.sample.legacy_db import install_vendor_table

    sources = []
    for kind in ("GIMUSHA", "KAZEI", "KOJO"):
        table = f"B_ZEI_{kind}"
        install_vendor_table(SAMPLE / "vendor_b" / f"{table}.csv", postgres_url, table, schema="legacy_vendor_b")
        sources.append({"name": f"vendor_b_zei_{kind.lower()}", "kind": "database", "url": postgres_url,
                        "table": table, "schema": "legacy_vendor_b",
                        "mapping": f"../../specs/vendors/vendor_b/mappings/kojin_juminzei/{kind.lower()}.yaml"})
    summary = migration_flow(config_path=_config(tmp_path, _absolute(sources), ["kojin_juminzei"]))
    assert summary["status"] == "succeeded"
    for name in TAX_TABLES:
        t = summary["tables"][name]
        assert t["extracted"] == t["loaded"] + t["quarantined"]
    run_dir = tmp_path / "runs" / summary["dantai"] / summary["run_id"]
    _assert_planted_faults_surface(pl.read_parquet(run_dir / "quarantine.parquet"), "vendor_b", by="key")
    _assert_control_totals_match_the_target(summary, f"duckdb:///{tmp_path / 't.duckdb'}")
    # 住民記録 is not in this run: the cross-業務 reference is not checked, so it is not listed either
    assert not [r for r in summary["rules"] if r["rule"] == "ref.juki"]
