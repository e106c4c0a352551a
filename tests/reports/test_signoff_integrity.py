"""`ikou signoff` does not take the run folder at its word: a pack's sign-offs are never dropped, the run
folder must be the pack's run with the very summary.json it sealed, the blockers are re-derived from
the run's own files, and only a succeeded run, named by a signer and a role, is signed off."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ikou.flows.cli import main
from ikou.reports.evidence import build_pack, generate_key, read_pack, verify_pack, write_zip
from ikou.reports.signoff import RunNotSignable, SignOffMismatch, SignOffRefused, SignOffUsage, sign_off


def _edit_summary(run_dir: Path, **changes) -> None:
    f = run_dir / "summary.json"
    s = json.loads(f.read_text(encoding="utf-8"))
    s.update(changes)
    f.write_text(json.dumps(s, ensure_ascii=False, indent=2), encoding="utf-8")


def _handmade(run_dir: Path, *, run_id: str = "R-x", dantai: str = "999997", status: str = "succeeded",
              blockers: list[str] = (), **extra) -> Path:
    """A run folder holding only summary.json (what a sign-off reads), for the cases no real run gives."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.json").write_text(json.dumps(
        {"run_id": run_id, "dantai": dantai, "status": status, "sign_off_blockers": list(blockers), **extra},
        ensure_ascii=False), encoding="utf-8")
    return run_dir


def _signoffs(pack: Path) -> list[dict]:
    return json.loads(read_pack(pack)[1]["signoff.json"])["signoffs"]


def _cli(capsys, run_dir: Path, *args: str) -> tuple[int, str]:
    rc = main(["signoff", str(run_dir), *args])
    return rc, capsys.readouterr().err


# ---------------------------------------------------------------- 1: the pack's sign-offs are the record

def test_a_signoff_cannot_drop_the_signoffs_sealed_in_a_signed_pack(run, tmp_path):
    key, pub = generate_key(tmp_path / "keys" / "pm")
    pack = build_pack(run, run / "evidence.zip", sign_key=key)
    sign_off(run, by="監査A", role="監査", override="A", sign_key=key)
    (run / "signoff.json").unlink()   # the reviewer's reproduction: the run folder forgets A
    with pytest.raises(SignOffMismatch, match="lacks 1 of the sign-off"):
        sign_off(run, by="PM B", role="PM", override="B", sign_key=key)
    assert [s["by"] for s in _signoffs(pack)] == ["監査A"]
    assert verify_pack(pack, check_target=False, public_key=pub).ok
    # a run folder holding another list of the same length is refused too
    (run / "signoff.json").write_text(json.dumps({"signoffs": [{"by": "誰か", "role": "PM"}]}), encoding="utf-8")
    with pytest.raises(SignOffMismatch):
        sign_off(run, by="PM B", role="PM", override="B", sign_key=key)
    assert [s["by"] for s in _signoffs(pack)] == ["監査A"]


def test_a_signoff_appends_to_the_packs_signoffs_and_the_run_folder_keeps_its_own(run, tmp_path):
    pack = build_pack(run, run / "evidence.zip")
    sign_off(run, by="監査A", role="監査", override="A")
    other = tmp_path / "other.zip"   # a sign-off into another pack: in the run folder, not in this pack
    build_pack(run, other)
    sign_off(run, by="監査X", role="監査", override="X", pack=other)
    sign_off(run, by="PM B", role="PM", override="B")
    assert [s["by"] for s in _signoffs(pack)] == ["監査A", "PM B"]
    assert [s["by"] for s in _signoffs(other)] == ["監査A", "監査X"]
    kept = json.loads((run / "signoff.json").read_text(encoding="utf-8"))["signoffs"]
    assert [s["by"] for s in kept] == ["監査A", "監査X", "PM B"]
    assert verify_pack(pack, check_target=False).ok and verify_pack(other, check_target=False).ok


# ---------------------------------------------------------------- 2: the run folder must match the pack

def test_a_summary_edited_after_the_pack_is_refused(run, capsys):
    pack = build_pack(run, run / "evidence.zip")
    before = pack.read_bytes()
    _edit_summary(run, sign_off_blockers=[])
    for extra in ([], ["--override", "x"]):
        rc, err = _cli(capsys, run, "--by", "山田PM", "--role", "PM", *extra)
        assert rc == 2 and "summary.json is not the one sealed in" in err, err
        assert "承認できません" in err and len(err.strip().splitlines()) == 1
    assert pack.read_bytes() == before and not (run / "signoff.json").exists()


def test_another_or_a_missing_pack_does_not_get_around_the_runs_own_pack(run, capsys, tmp_path):
    build_pack(run, run / "evidence.zip")
    _edit_summary(run, sign_off_blockers=[])
    rc, err = _cli(capsys, run, "--by", "山田PM", "--role", "PM", "--pack", str(tmp_path / "nope.zip"))
    assert rc == 2 and "not found" in err and len(err.strip().splitlines()) == 1, err
    other = tmp_path / "other"
    shutil.copytree(run, other)
    (other / "evidence.zip").unlink()
    elsewhere = build_pack(other, tmp_path / "elsewhere.zip")   # a pack sealed after the edit
    rc, err = _cli(capsys, run, "--by", "山田PM", "--role", "PM", "--no-target", "--pack", str(elsewhere))
    assert rc == 2 and "summary.json is not the one sealed in" in err and "run" in err, err
    assert not (run / "signoff.json").exists()


@pytest.mark.parametrize(("run_id", "dantai", "named"), [("R-y", "999628", "run_id R-x"),
                                                         ("R-x", "999636", "dantai 999628")])
def test_a_pack_of_another_run_or_dantai_is_refused(tmp_path, monkeypatch, run_id, dantai, named):
    monkeypatch.delenv("IKOU_EVIDENCE_KEY", raising=False)
    sealed = _handmade(tmp_path / "999628", dantai="999628")
    pack = tmp_path / "999628.zip"
    write_zip(pack, {"summary.json": (sealed / "summary.json").read_bytes()}, run_id="R-x", dantai="999628")
    other = _handmade(tmp_path / "other", run_id=run_id, dantai=dantai)
    with pytest.raises(SignOffMismatch, match=f"is the pack of {named}"):
        sign_off(other, by="山田PM", role="PM", override="x", pack=pack)
    assert "signoff.json" not in read_pack(pack)[1] and not (other / "signoff.json").exists()


def test_blockers_deleted_from_the_summary_are_found_in_the_runs_files(run):
    _edit_summary(run, sign_off_blockers=[])   # no pack: only the run's own files can tell
    with pytest.raises(SignOffMismatch, match="does not match the run's files: 1 sign-off blocker.*未同定"):
        sign_off(run, by="山田PM", role="PM")
    for f in run.rglob("*.parquet"):   # as `ikou purge` leaves it: the unresolved list in summary.json tells
        f.unlink()
    with pytest.raises(SignOffMismatch, match="未同定"):
        sign_off(run, by="山田PM", role="PM")
    assert not (run / "signoff.json").exists()


def test_unexplained_cells_and_an_unbalanced_control_total_are_rederived(tmp_path):
    r = _handmade(tmp_path / "r", diff={"src": {"unexplained_cells": {"shimei": 0}}})
    (r / "diff" / "src").mkdir(parents=True)
    (r / "diff" / "src" / "summary.json").write_text(json.dumps({"unexplained_cells": {"shimei": 3}}))
    with pytest.raises(SignOffMismatch, match="src: 説明できない差異 3 セル"):
        sign_off(r, by="山田PM", role="PM", override="x")
    # listed as the diff's file says: an ordinary blocker, lifted by an override
    _edit_summary(r, sign_off_blockers=["src: 説明できない差異 3 セル (並行稼働比較)"])
    with pytest.raises(SignOffRefused, match="1 sign-off blocker") as exc:
        sign_off(r, by="山田PM", role="PM")
    assert not isinstance(exc.value, SignOffMismatch)
    assert sign_off(r, by="山田PM", role="PM", override="差異は説明済み", no_target=True)["override"] == "差異は説明済み"

    t = _handmade(tmp_path / "t", control_totals={"kazei": {"nengaku": {
        "extracted": 1000, "loaded": 700, "held": 0, "difference": 0, "unreadable": 0, "records_held_at_extract": 0}}})
    with pytest.raises(SignOffMismatch, match="kazei.nengaku: 管理合計が合いません"):
        sign_off(t, by="山田PM", role="PM", override="x")


# ---------------------------------------------------------------- 3: a succeeded run, a signer and a role

@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_a_run_that_did_not_succeed_is_never_signed_off(tmp_path, capsys, status):
    r = _handmade(tmp_path / "r", status=status, blockers=[f"run {status}"],
                  error={"kind": "Cancelled" if status == "cancelled" else "LayoutError", "message": "x"})
    with pytest.raises(RunNotSignable, match=f"is {status}: only a succeeded run"):
        sign_off(r, by="山田PM", role="PM", override="それでも承認する")
    rc, err = _cli(capsys, r, "--by", "山田PM", "--role", "PM", "--override", "x")
    assert rc == 2 and "成功した実行ではありません" in err and len(err.strip().splitlines()) == 1, err
    assert not (r / "signoff.json").exists()


@pytest.mark.parametrize(("by", "role"), [("", "PM"), ("  ", "PM"), ("山田PM", ""), ("山田PM", " \u3000")])
def test_a_blank_signer_or_role_is_refused(tmp_path, capsys, by, role):
    r = _handmade(tmp_path / "r")
    with pytest.raises(SignOffUsage):
        sign_off(r, by=by, role=role)
    rc, err = _cli(capsys, r, "--by", by, "--role", role)
    assert rc == 2 and "承認者と役割を指定してください" in err and len(err.strip().splitlines()) == 1, err
    assert not (r / "signoff.json").exists()
    rec = sign_off(r, by=" 山田PM ", role=" PM ", no_target=True)
    assert (rec["by"], rec["role"]) == ("山田PM", "PM")


def test_an_empty_source_deleted_from_the_blockers_is_found_in_the_summarys_sources(tmp_path):
    r = _handmade(tmp_path / "r", sources={"vendor_a_jumin": {"origin": "JUMIN.csv", "rows": 0, "quarantined": 0}})
    with pytest.raises(SignOffMismatch, match="vendor_a_jumin: 抽出件数が 0 件"):
        sign_off(r, by="山田PM", role="PM", override="x")


def test_a_diff_that_does_not_find_every_loaded_row_again_blocks_the_signoff(run, tmp_path):
    """The parallel-run diff is a second count: matched must equal the rows loaded, with nothing 新のみ."""
    diffs = sorted(run.glob("diff/*/summary.json"))
    assert diffs and all(json.loads(f.read_text(encoding="utf-8"))["table"] for f in diffs)
    f = next(f for f in diffs if json.loads(f.read_text(encoding="utf-8"))["table"] == "juki_kojin_rireki")
    d = json.loads(f.read_text(encoding="utf-8"))
    d.update(only_right=2, matched=d["matched"] - 2)   # two target rows no legacy row explains
    f.write_text(json.dumps(d, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(SignOffMismatch, match=f"{f.parent.name}: 並行稼働比較が投入件数と合いません .*新のみ 2 件"):
        sign_off(run, by="山田PM", role="PM", override="x")

    # a table two sources fill: each diff's 新のみ is the other source's rows, and their matched add up
    two = {s: {"table": "kazei", "matched": 5, "only_right": 5, "unexplained_cells": {}} for s in ("a", "b")}
    r = _handmade(tmp_path / "r", diff=two, tables={"kazei": {"loaded": 10}})
    assert sign_off(r, by="山田PM", role="PM", no_target=True)["blockers"] == []
    short = {"a": {**two["a"], "matched": 4}, "b": two["b"]}   # a loaded row neither source explains
    r = _handmade(tmp_path / "r2", diff=short, tables={"kazei": {"loaded": 10}})
    with pytest.raises(SignOffMismatch, match=r"a \+ b: 並行稼働比較が投入件数と合いません \(旧と一致 9 件 / 投入 10 件"):
        sign_off(r, by="山田PM", role="PM", override="x")
    one = {"a": {"right": "新 dantai_999997.kazei", "matched": 9, "only_right": 0, "unexplained_cells": {}}}
    r = _handmade(tmp_path / "r1", diff=one, tables={"kazei": {"loaded": 10}})   # a run before `table` was kept
    with pytest.raises(SignOffMismatch, match="a: 並行稼働比較が投入件数と合いません"):
        sign_off(r, by="山田PM", role="PM", override="x")
