"""`ikou runs list` says how each run ended: failed, succeeded, succeeded with sign-off blockers, compared only (a
parallel run into a cut-over target), signed off; with the blockers, the held records and the mode, read from
each run's summary.json and signoff.json. It lists only flow run states otherwise: an engineer could not tell a
run a PM can sign from one that failed. A summary that cannot be read is said so, never counted as 0."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ikou.flows.cli import main

A, B = "999750", "999768"


def _summary(run_id: str, dantai: str, *, status="succeeded", blockers=(), held=0, mode=None) -> dict:
    s = {"dantai": dantai, "run_id": run_id, "rehearsal": "R1", "gyomu": ["juki"], "status": status,
         "started_at": f"2026-11-{run_id[6:8]}T00:00:00+00:00", "finished_at": f"2026-11-{run_id[6:8]}T00:01:00+00:00",
         "tables": {"juki_kojin_rireki": {"extracted": 10, "quarantined": held, "loaded": 10 - held, "validated": 10 - held},
                    "juki_kojin": {"derived": True, "from": "juki_kojin_rireki", "loaded": 5}},
         "sign_off_blockers": list(blockers)}
    if mode:
        s["mode"] = mode
    return s


RUNS = {   # run id → (団体, summary.json (a dict, bytes as written, or None), sign-offs)
    "20261101T000000Z-R1-000a": (A, _summary("20261101T000000Z-R1-000a", A), None),
    "20261102T000000Z-R1-000b": (A, _summary("20261102T000000Z-R1-000b", A, blockers=["外字 2 字が未解決"], held=3),
                                 None),
    "20261103T000000Z-R1-000c": (A, _summary("20261103T000000Z-R1-000c", A, status="failed", held=1), None),
    "20261104T000000Z-R1-000d": (A, _summary("20261104T000000Z-R1-000d", A, mode="parallel_run", blockers=["差異"]),
                                 None),
    "20261105T000000Z-R1-000e": (A, _summary("20261105T000000Z-R1-000e", A, held=2),
                                 [{"by": "PM", "role": "PM", "override": None}]),
    "20261106T000000Z-R1-000f": (B, b'{"dantai": "999768", "status": "succ', None),
    "20261107T000000Z-R1-0010": (B, None, None),
}


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    for run_id, (code, summary, signoffs) in RUNS.items():
        d = tmp_path / "runs" / code / run_id
        d.mkdir(parents=True)
        if summary is not None:
            (d / "summary.json").write_bytes(summary if isinstance(summary, bytes)
                                             else json.dumps(summary, ensure_ascii=False).encode("utf-8"))
        if signoffs is not None:
            (d / "signoff.json").write_text(json.dumps({"signoffs": signoffs}), encoding="utf-8")
    (tmp_path / "runs" / A / "_cache").mkdir()   # not a run folder
    return tmp_path / "runs"


@pytest.fixture
def no_server(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("IKOU_DEBUG", raising=False)


def test_each_run_says_its_status_blockers_held_records_and_mode(runs_dir, no_server, capsys):
    assert main(["runs", "list", "--runs-dir", str(runs_dir), "--json"]) == 0
    rows = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(rows) == sorted(RUNS, reverse=True)   # newest first
    got = {k: (r["status"], r["sign_off_blockers"], r["held"], r["mode"], r["signed_off"]) for k, r in rows.items()}
    assert got == {
        "20261101T000000Z-R1-000a": ("succeeded", 0, 0, "load", False),
        "20261102T000000Z-R1-000b": ("blocked", 1, 3, "load", False),
        "20261103T000000Z-R1-000c": ("failed", 0, 1, "load", False),
        "20261104T000000Z-R1-000d": ("succeeded", 1, 0, "parallel_run", False),
        "20261105T000000Z-R1-000e": ("signed_off", 0, 2, "load", True),
        "20261106T000000Z-R1-000f": ("unreadable", None, None, None, None),
        "20261107T000000Z-R1-0010": ("no_summary", None, None, None, None),
    }
    assert "JSONDecodeError" in rows["20261106T000000Z-R1-000f"]["summary_error"]


def test_the_table_labels_each_status_in_japanese_and_english(runs_dir, no_server, capsys):
    assert main(["runs", "list", "--runs-dir", str(runs_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines[0]
    for label in ("状態 / status", "承認の妨げ / blockers", "保留 / held", "方式 / mode"):
        assert label in head, head
    by = {ln.split()[0]: ln for ln in lines[1:] if ln.startswith("2026")}
    assert "成功 / succeeded" in by["20261101T000000Z-R1-000a"] and "投入 / load" in by["20261101T000000Z-R1-000a"]
    assert "成功（承認の妨げあり） / succeeded, sign-off blocked" in by["20261102T000000Z-R1-000b"]
    assert "失敗 / failed" in by["20261103T000000Z-R1-000c"]
    assert "比較のみ" in by["20261104T000000Z-R1-000d"] and "並行稼働 / parallel run" in by["20261104T000000Z-R1-000d"]
    assert "承認済み / signed off" in by["20261105T000000Z-R1-000e"]
    assert "要約を読めません / summary unreadable" in by["20261106T000000Z-R1-000f"]
    assert "—" in by["20261106T000000Z-R1-000f"] and " 0 " not in by["20261106T000000Z-R1-000f"]
    # the counts line up under their headings, full-width characters counted as two columns
    col = head.index("保留 / held") + sum(1 for c in head[:head.index("保留 / held")] if ord(c) > 0x2E80)
    row = by["20261102T000000Z-R1-000b"]
    at = [i for i, c in enumerate(row) if c == "3"]
    assert any(i + sum(1 for c in row[:i] if ord(c) > 0x2E80) == col for i in at), (head, row)
    # the unreadable summary: which run, where and why, on a line of its own
    said = [ln for ln in lines if ln.startswith("ikou:")]
    assert len(said) == 1 and "20261106T000000Z-R1-000f" in said[0] and "記録を読めません" in said[0], said
    assert "summary.json: JSONDecodeError" in said[0] and str(runs_dir / B) in said[0], said


def test_dantai_limits_the_list_to_that_dantai(runs_dir, no_server, capsys):
    assert main(["runs", "list", "--runs-dir", str(runs_dir), "--dantai", B, "--json"]) == 0
    assert {r["dantai"] for r in json.loads(capsys.readouterr().out)} == {B}


def test_a_run_folder_that_is_a_link_is_not_followed(runs_dir, tmp_path, no_server, capsys):
    other = tmp_path / "elsewhere" / "20261108T000000Z-R1-0011"
    other.mkdir(parents=True)
    (other / "summary.json").write_text(json.dumps(_summary(other.name, B)), encoding="utf-8")
    os.symlink(other, runs_dir / B / other.name)
    assert main(["runs", "list", "--runs-dir", str(runs_dir), "--json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if r["run_id"] == other.name)
    assert row["status"] == "unreadable" and "symbolic link" in row["summary_error"]


def test_a_missing_runs_folder_is_named(tmp_path, no_server, capsys):
    assert main(["runs", "list", "--runs-dir", str(tmp_path / "nosuch")]) == 2
    err = capsys.readouterr().err
    assert "nosuch" in err and "フォルダがありません" in err and "Prefect" not in err, err


def test_a_summary_that_is_a_link_is_not_followed(runs_dir, tmp_path, no_server, capsys):
    """A real run folder whose summary.json links into another 団体's folder: not read, said so."""
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(_summary("20261109T000000Z-R1-0012", B)), encoding="utf-8")
    d = runs_dir / A / "20261109T000000Z-R1-0012"
    d.mkdir()
    os.symlink(elsewhere, d / "summary.json")
    assert main(["runs", "list", "--runs-dir", str(runs_dir), "--json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if r["run_id"] == d.name)
    assert row["status"] == "unreadable" and "symbolic link" in row["summary_error"], row
