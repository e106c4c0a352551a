"""A hand-broken manifest.json in an evidence pack is refused naming manifest.json and the key at fault (JP and
EN), never as "unexpected error TypeError"; `ikou signoff` into a signed pack without a key tells the sign-off
blockers first, and then says in Japanese too that a key is needed (--sign-key), not that a pack cannot be made."""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from ikou.errors import message_ja, one_line
from ikou.flows.cli import main
from ikou.reports.evidence import BadPack, build_pack, generate_key, read_pack, verify_pack, write_zip


def _pack_with_manifest(tmp_path: Path, change) -> Path:
    """A small pack whose manifest.json `change` rewrote (what someone without the key can do)."""
    good = tmp_path / "good.zip"
    summary = json.dumps({"run_id": "R1", "dantai": "999733"}).encode()
    write_zip(good, {"quarantine.csv": b"a,b\n1,2\n", "summary.json": summary}, run_id="R1", dantai="999733")
    out = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                change(manifest)
                data = json.dumps(manifest).encode()
            dst.writestr(info, data)
    return out


@pytest.mark.parametrize("change,key", [
    (lambda m: m["files"].__setitem__("quarantine.csv", "deadbeef"), "files.quarantine.csv"),
    (lambda m: m["files"]["summary.json"].__setitem__("sha256", 1), "files.summary.json"),
    (lambda m: m["files"]["summary.json"].__setitem__("bytes", "2"), "files.summary.json.bytes"),
    (lambda m: m.__setitem__("files", list(m["files"])), "files"),
    (lambda m: m.pop("files"), "files"),
    (lambda m: m.__setitem__("run_id", ["R1"]), "run_id"),
])
def test_a_malformed_manifest_is_refused_naming_manifest_json_and_the_key(tmp_path, capsys, monkeypatch, change, key):
    monkeypatch.delenv("IKOU_DEBUG", raising=False)
    pack = _pack_with_manifest(tmp_path, change)
    with pytest.raises(BadPack) as e:
        verify_pack(pack, check_target=False)
    assert f"manifest.json is malformed: {key} " in one_line(e.value), one_line(e.value)
    assert "manifest.json" in message_ja(e.value) and f"{key} が" in message_ja(e.value), message_ja(e.value)
    assert main(["evidence", "verify", str(pack), "--no-target"]) == 2
    err = capsys.readouterr().err
    assert "unexpected error" not in err and "TypeError" not in err and "予期しない" not in err, err
    assert f"manifest.json の形式が正しくありません: {key} が" in err, err


def test_a_well_formed_pack_still_verifies(tmp_path):
    pack = _pack_with_manifest(tmp_path, lambda m: None)
    v = verify_pack(pack, check_target=False)
    assert v.ok, v.problems
    assert read_pack(pack)[0]["files"]["quarantine.csv"]["bytes"] == 8


def test_a_malformed_spec_manifest_or_target_json_is_a_named_problem(tmp_path):
    write_zip(tmp_path / "p.zip", {"specs/manifest.json": b'{"files": ["x"]}', "target.json": b'["x"]'},
              run_id="R1", dantai="999733")
    v = verify_pack(tmp_path / "p.zip")
    assert "specs/manifest.json: files is not a list of entries with a path and a sha256" in v.problems, v.problems
    assert "target.json: not readable JSON" in v.problems, v.problems


@pytest.fixture
def signed_run(vendor_a_run, tmp_path, monkeypatch):
    """A copy of the shared run with blockers in its summary (a difference left unexplained), and its
    pack signed by a key the sign-off is not given."""
    run_dir, _ = vendor_a_run
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary.get("sign_off_blockers"), "the shared run is expected to have sign-off blockers"
    key, _ = generate_key(tmp_path / "keys" / "pm")
    pack = build_pack(run, tmp_path / "signed.zip", sign_key=key)
    monkeypatch.delenv("IKOU_EVIDENCE_KEY", raising=False)
    return run, pack


def test_signoff_into_a_signed_pack_without_a_key_reports_the_blockers_first(signed_run):
    from ikou.reports.signoff import SignOffRefused, sign_off

    run, pack = signed_run
    with pytest.raises(SignOffRefused, match="sign-off blocker"):
        sign_off(run, by="山田PM", role="PM", pack=pack)


def test_signoff_into_a_signed_pack_without_a_key_says_in_japanese_that_a_key_is_needed(signed_run):
    from ikou.reports.evidence import EvidenceError
    from ikou.reports.signoff import sign_off

    run, pack = signed_run
    with pytest.raises(EvidenceError, match="is signed: give --sign-key") as e:
        sign_off(run, by="山田PM", role="PM", override="テスト", pack=pack)
    ja = message_ja(e.value)
    assert "--sign-key" in ja and "署名鍵" in ja and "証跡パックを作成できません" not in ja, ja
    assert "signoff.json" not in read_pack(pack)[1] and not (run / "signoff.json").exists()
