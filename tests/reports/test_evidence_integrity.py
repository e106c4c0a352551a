"""An evidence pack means one thing: a member stored twice or named outside the pack is refused (a reader
could see another copy than the manifest checked), its summary is of the manifest's run, and a pack of
a failed run says so when verified (and holds no sign-off)."""
from __future__ import annotations

import json
import shutil
import warnings
import zipfile
from pathlib import Path

import pytest

from ikou.flows.cli import main
from ikou.reports.evidence import BadPack, read_pack, sha256_bytes, verify_pack, write_zip

SUMMARY = {"run_id": "R-x", "dantai": "999997", "status": "succeeded", "sign_off_blockers": []}


def _pack(path: Path, summary: dict = SUMMARY, **extra: bytes) -> Path:
    files = {"summary.json": json.dumps(summary).encode(), **extra}
    write_zip(path, files, run_id="R-x", dantai="999997")
    return path


def _verify(capsys, *args: str) -> tuple[int, str]:
    rc = main(["evidence", "verify", *args])
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_a_member_stored_twice_is_refused(tmp_path, capsys):
    """The reviewer's pack: a changed summary.json first, the original (the manifest's) last."""
    pack = _pack(tmp_path / "pack.zip")
    dup = tmp_path / "dup.zip"
    with zipfile.ZipFile(pack) as src, zipfile.ZipFile(dup, "w") as dst, warnings.catch_warnings():
        warnings.simplefilter("ignore")   # zipfile warns of the duplicate name it is asked to write
        dst.writestr("summary.json", json.dumps({**SUMMARY, "status": "failed"}))
        for info in src.infolist():
            dst.writestr(info, src.read(info))
    with pytest.raises(BadPack, match="'summary.json' is stored more than once"):
        verify_pack(dup, check_target=False)
    with pytest.raises(BadPack, match="stored more than once"):
        read_pack(dup)
    rc, out = _verify(capsys, str(dup), "--no-target")
    assert rc == 2 and "stored more than once" in out and "証跡パックを読めません" in out, out


@pytest.mark.parametrize("name", ["../summary.json", "/etc/summary.json", "diff/../../x.json", "./x.json",
                                  "diff//x.json", "C:/x.json", "diff\\x.json"])
def test_a_member_that_is_not_a_plain_relative_path_is_refused(tmp_path, name):
    """Listed in the manifest with its right checksum, so only its name is wrong."""
    pack = _pack(tmp_path / "pack.zip", **{name: b"{}"})
    with pytest.raises(BadPack, match="not a plain relative path"):
        verify_pack(pack, check_target=False)
    with pytest.raises(BadPack):
        read_pack(pack)


def test_a_summary_of_another_run_than_the_manifest_fails_verify(tmp_path):
    pack = _pack(tmp_path / "pack.zip", {**SUMMARY, "run_id": "R-other"})
    v = verify_pack(pack, check_target=False)
    assert not v.ok and "summary.json: run_id R-other, the manifest says R-x" in v.problems


def test_a_signoff_of_a_failed_run_fails_verify(tmp_path):
    failed = json.dumps({**SUMMARY, "status": "failed"}).encode()
    signoff = {"signoffs": [{"run_id": "R-x", "role": "PM", "summary_sha256": sha256_bytes(failed)}]}
    write_zip(tmp_path / "pack.zip", {"summary.json": failed, "signoff.json": json.dumps(signoff).encode()},
              run_id="R-x", dantai="999997")
    v = verify_pack(tmp_path / "pack.zip", check_target=False)
    assert v.status == "failed"
    assert not v.ok and "signoff.json: 1 sign-off(s) of a run that is failed, not succeeded" in v.problems


def test_the_pack_of_a_failed_run_is_made_verifies_and_says_the_run_failed(vendor_a_run, tmp_path, capsys,
                                                                            monkeypatch):
    monkeypatch.delenv("IKOU_EVIDENCE_KEY", raising=False)
    run = tmp_path / "run"
    shutil.copytree(vendor_a_run[0], run)
    f = run / "summary.json"
    s = json.loads(f.read_text(encoding="utf-8"))
    s.update(status="failed", error={"kind": "LoadError", "stage": "load", "message": "x"},
             sign_off_blockers=["run failed: LoadError"])
    f.write_text(json.dumps(s, ensure_ascii=False), encoding="utf-8")
    assert main(["evidence", str(run)]) == 0   # evidence of a failure is allowed
    capsys.readouterr()
    pack = run / "evidence.zip"
    assert verify_pack(pack).status == "failed"
    for extra in ([], ["--no-target"]):
        rc, out = _verify(capsys, str(pack), *extra)
        assert rc == 0 and "target not checked: run failed" in out, out
