"""The evidence pack (`ikou evidence`): it covers every file it holds, and `ikou evidence verify` names
any changed byte, of a spec in the pack or of a row in the target (DuckDB and the real PostgreSQL)."""
from __future__ import annotations

import json
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
from tests.conftest import random_tag

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
    # the pack's quarantine.csv opens in Japanese Excel (a BOM) and says first what became of each record
    assert files["quarantine.csv"].startswith("\ufeffoutcome,severity,".encode("utf-8"))


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
    schema = f"dantai_999997_e{random_tag(6)}"
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


# ---------------------------------------------------------------- signed packs (Ed25519)

def _signed(run_dir: Path, tmp_path: Path):
    from ikou.reports.evidence import generate_key

    key, pub = generate_key(tmp_path / "keys" / "pm")
    return key, pub, build_pack(run_dir, tmp_path / "signed.zip", sign_key=key)


def _resealed(pack: Path, out: Path, *, change: bool, sign_key=None, keep_signature: bool = False) -> Path:
    """What someone without the key can do: change summary.json, write a fresh manifest (its checksums
    all right), and keep the old signature or sign with a key of their own."""
    from ikou.reports.evidence import SIGNATURE, write_zip

    manifest, files = read_pack(pack)
    if change:
        files["summary.json"] = files["summary.json"].replace(b'"succeeded"', b'"succeeded" ', 1)
    write_zip(out, files, run_id=manifest["run_id"], dantai=manifest["dantai"], sign_key=sign_key)
    if keep_signature:
        with zipfile.ZipFile(pack) as z, zipfile.ZipFile(out, "a") as dst:
            dst.writestr(SIGNATURE, z.read(SIGNATURE))
    return out


def test_a_signed_pack_verifies_by_the_trusted_key_and_names_the_signer(duckdb_pack, tmp_path, capsys):
    from ikou.reports.evidence import key_id, load_public_key

    run_dir, _, _ = duckdb_pack
    key, pub, pack = _signed(run_dir, tmp_path)
    assert key.stat().st_mode & 0o777 == 0o600           # the private key is its owner's only
    rc, out = _verify(capsys, str(pack), "--public-key", str(pub))
    assert rc == 0, out
    assert f"signed by {key_id(load_public_key(pub))} (the trusted key)" in out
    # without a trusted key the signature is still checked, and the output says whose it is
    rc, out = _verify(capsys, str(pack))
    assert rc == 0 and "not checked against a trusted key" in out


def test_a_pack_changed_after_signing_fails_even_with_a_fresh_manifest(duckdb_pack, tmp_path, capsys):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    run_dir, _, _ = duckdb_pack
    _, pub, pack = _signed(run_dir, tmp_path)
    # the old signature over a new manifest: refused, with or without the trusted key
    forged = _resealed(pack, tmp_path / "forged.zip", change=True, keep_signature=True)
    for extra in ([], ["--public-key", str(pub)]):
        rc, out = _verify(capsys, str(forged), *extra)
        assert rc == 2 and "manifest.sig: the signature does not match manifest.json" in out, out
    # signed again by another key: it verifies by itself, never against the trusted key
    other = _resealed(pack, tmp_path / "other.zip", change=True, sign_key=Ed25519PrivateKey.generate())
    assert _verify(capsys, str(other))[0] == 0
    rc, out = _verify(capsys, str(other), "--public-key", str(pub))
    assert rc == 2 and "signed by another key" in out, out
    # the signature left out: an unsigned pack is refused where a trusted key is given
    bare = _resealed(pack, tmp_path / "bare.zip", change=True)
    rc, out = _verify(capsys, str(bare), "--public-key", str(pub))
    assert rc == 2 and "the pack is not signed" in out, out


def test_a_sign_off_into_a_signed_pack_needs_the_key_and_keeps_the_pack_signed(duckdb_pack, tmp_path, monkeypatch):
    from ikou.reports.evidence import EvidenceError
    from ikou.reports.signoff import sign_off

    run_dir, _, _ = duckdb_pack
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)   # the sign-off writes into the run folder: a copy of the shared run
    key, pub, pack = _signed(run, tmp_path)
    monkeypatch.delenv("IKOU_EVIDENCE_KEY", raising=False)
    with pytest.raises(EvidenceError, match="is signed: give --sign-key"):
        sign_off(run, by="山田PM", role="PM", override="テスト", pack=pack)
    assert "signoff.json" not in read_pack(pack)[1]
    monkeypatch.setenv("IKOU_EVIDENCE_KEY", str(key))   # the key from the environment, as in a scheduled run
    sign_off(run, by="山田PM", role="PM", override="テスト", pack=pack)
    assert "signoff.json" in read_pack(pack)[1]
    v = verify_pack(pack, check_target=False, public_key=pub)
    assert v.ok and "(the trusted key)" in v.signed, v.problems


def test_keygen_never_overwrites_a_key_and_a_bad_key_is_a_clear_error(tmp_path, capsys):
    key = tmp_path / "k"
    assert main(["evidence", "keygen", str(key)]) == 0
    first = key.read_bytes()
    assert main(["evidence", "keygen", str(key)]) == 2
    assert key.read_bytes() == first and "never overwritten" in capsys.readouterr().err
    (tmp_path / "bad.pem").write_text("not a key", encoding="utf-8")
    assert main(["evidence", str(tmp_path), "--sign-key", str(tmp_path / "bad.pem")]) == 2
    assert "not a readable signing key" in capsys.readouterr().err
