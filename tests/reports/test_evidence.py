"""The evidence pack (`ikou evidence`): it covers every file it holds, and `ikou evidence verify` names
any changed byte, of a spec in the pack or of a row in the target (DuckDB and the real PostgreSQL)."""
from __future__ import annotations

import json
import secrets
import shutil
import zipfile
from pathlib import Path

import duckdb
import polars as pl
import pytest
import sqlalchemy as sa

from ikou.flows.cli import main
from ikou.flows.migrate import migration_flow
from ikou.reports.evidence import build_pack, read_pack, verify_pack
from tests.flows.conftest import vendor_a_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")

SPEC_KINDS = {"config", "mapping", "layout", "code_table", "gaiji_table", "schema", "rules"}


def _run(tmp: Path, target_url: str, schema: str | None = None) -> Path:
    cfg = write_config(tmp, source=vendor_a_source(), target_url=target_url)
    if schema:
        cfg.write_text(cfg.read_text(encoding="utf-8").replace(f"  url: {target_url}\n",
                                                               f"  url: {target_url}\n  schema: {schema}\n"),
                       encoding="utf-8")
    s = migration_flow(config_path=str(cfg))
    return tmp / "runs" / s["dantai"] / s["run_id"]


@pytest.fixture(scope="module")
def duckdb_pack(tmp_path_factory, vendor_a_run):
    run_dir, target = vendor_a_run
    return run_dir, build_pack(run_dir, tmp_path_factory.mktemp("evidence") / "pack.zip"), target


def _tampered(pack: Path, name: str, out: Path) -> Path:
    """A copy of `pack` with one byte of `name` changed."""
    with zipfile.ZipFile(pack) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == name:
                data = bytes([data[0] ^ 0x01]) + data[1:]
            dst.writestr(info, data)
    return out


def _verify(capsys, *args: str) -> tuple[int, str]:
    rc = main(["evidence", "verify", *args])
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_the_manifest_lists_every_file_of_the_pack_and_every_spec_the_run_read(duckdb_pack):
    run_dir, pack, _ = duckdb_pack
    manifest, files = read_pack(pack)
    with zipfile.ZipFile(pack) as z:
        assert sorted(set(z.namelist()) - {"manifest.json"}) == sorted(manifest["files"]) == sorted(files)
    for name, data in files.items():
        assert manifest["files"][name]["bytes"] == len(data)
    specs = json.loads(files["specs/manifest.json"])
    assert {f["kind"] for f in specs["files"]} == SPEC_KINDS
    assert {f"specs/{f['path']}" for f in specs["files"]} == {n for n in files if n.startswith("specs/")} - {
        "specs/manifest.json"}
    assert {"summary.json", "report.html", "report.xlsx", "quarantine.csv", "inputs.json", "target.json", "environment.json",
            "moji/ledger/ledger.csv", "diff/vendor_a_jumin/summary.json"} <= set(files)
    env = json.loads(files["environment.json"])
    assert env["ikou_version"] and len(env["git_commit"] or "") == 40 and env["dependencies"]["polars"]
    inputs = json.loads(files["inputs.json"])
    assert inputs["vendor_a_jumin"]["sha256"] == json.loads(files["summary.json"])["sources"]["vendor_a_jumin"]["sha256"]
    assert len(inputs["vendor_a_jumin"]["sha256"]) == 64
    target = json.loads(files["target.json"])
    summary = json.loads(files["summary.json"])
    assert target["run"]["run_id"] == summary["run_id"]
    assert {t: c["rows"] for t, c in target["tables"].items()} == {
        t: c["loaded"] for t, c in summary["tables"].items()}


def test_an_untouched_pack_verifies_against_its_target(duckdb_pack, capsys):
    rc, out = _verify(capsys, str(duckdb_pack[1]))
    assert rc == 0, out
    assert "target checked" in out


@pytest.mark.parametrize("name", ["specs/specs/vendors/vendor_a/mappings/juki/jumin.yaml",
                                  "specs/specs/gyomu/juki/code_tables/seibetsu.csv", "summary.json"])
def test_one_changed_byte_in_the_pack_fails_verify_naming_the_file(duckdb_pack, tmp_path, capsys, name):
    bad = _tampered(duckdb_pack[1], name, tmp_path / "bad.zip")
    rc, out = _verify(capsys, str(bad))
    assert rc == 2 and f"NG {name}: SHA-256 differs" in out, out


def test_one_changed_byte_of_a_loaded_row_fails_verify_naming_the_table(duckdb_pack, tmp_path, capsys):
    _, pack, target = duckdb_pack
    copy = tmp_path / "copy.duckdb"
    shutil.copy(target, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("UPDATE dantai_999997.juki_setai SET setai_no = setai_no || 'x' "
                    "WHERE setai_no = (SELECT min(setai_no) FROM dantai_999997.juki_setai)")
    rc, out = _verify(capsys, str(pack), "--target-url", f"duckdb:///{copy}")
    assert rc == 2 and "target dantai_999997.juki_setai: rows changed since the run" in out, out
    assert "juki_kojin:" not in out   # the untouched tables verify


def test_a_target_holding_another_run_is_named_and_refuses_a_new_pack(duckdb_pack, tmp_path):
    from ikou.reports.evidence import EvidenceError

    run_dir, pack, target = duckdb_pack
    copy = tmp_path / "copy.duckdb"
    shutil.copy(target, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("UPDATE dantai_999997.ikou_run SET run_id = 'a-later-run'")
    v = verify_pack(pack, target_url=f"duckdb:///{copy}")
    assert not v.ok and "holds run a-later-run" in v.problems[0]
    with pytest.raises(EvidenceError, match="holds run a-later-run"):
        build_pack(run_dir, tmp_path / "p.zip", target_url=f"duckdb:///{copy}")


def test_the_pack_holds_no_personal_number_and_no_name(duckdb_pack):
    run_dir, pack, _ = duckdb_pack
    staged = pl.read_parquet(run_dir / "extract" / "vendor_a_jumin.parquet")
    numbers = {v.strip() for v in staged["KOJIN_NO"].drop_nulls() if len(v.strip()) >= 12}
    names = {v for v in staged["SHIMEI"].drop_nulls() if len(v) >= 2}
    assert numbers and names
    _, files = read_pack(pack)
    for name, data in files.items():
        text = data.decode("utf-8", errors="replace")
        assert not [n for n in numbers if n in text], name
        assert not [n for n in names if n in text], name


@pytest.mark.postgres
def test_with_postgresql_a_changed_row_fails_verify_naming_the_table(tmp_path, postgres_url, capsys):
    schema = f"dantai_999997_e{secrets.token_hex(3)}"
    try:
        run_dir = _run(tmp_path, postgres_url, schema)
        pack = build_pack(run_dir, tmp_path / "pack.zip")
        target = json.loads(read_pack(pack)[1]["target.json"])
        assert target["tables"]["juki_kojin_rireki"]["rows"] == 2114 and "postgres" in target["url"]
        rc, out = _verify(capsys, str(pack))
        assert rc == 0 and "target checked" in out, out
        engine = sa.create_engine(postgres_url)
        with engine.begin() as conn:   # one byte of one row, behind ikou's back
            conn.exec_driver_sql(f'UPDATE "{schema}".juki_kojin SET banchi = banchi || \'1\' '
                                 f'WHERE atena_no = (SELECT min(atena_no) FROM "{schema}".juki_kojin)')
        engine.dispose()
        rc, out = _verify(capsys, str(pack))
        assert rc == 2 and f"target {schema}.juki_kojin: rows changed since the run" in out, out
    finally:
        engine = sa.create_engine(postgres_url)
        with engine.begin() as conn:
            for s in (schema, schema + "__prev", schema + "__next"):
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
        engine.dispose()
