"""One 団体's rehearsals around a rollback: a run the target no longer holds is not signed off (as
`ikou evidence` refuses to pack it), an unreachable target is signed only with --no-target (recorded);
the next run's trend compares with a run of its own target schema and says the target held another run
before it, and its 同定台帳 decision changes count from the last succeeded run, not a failed one."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ikou.flows.cli import main
from tests.flows.conftest import vendor_a_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _run(tmp: Path, url: str, rehearsal: str, *, schema: str | None = None, fail: bool = False) -> dict:
    from ikou.flows.migrate import migration_flow

    cfg = write_config(tmp, source=vendor_a_source(), target_url=url, rehearsal=rehearsal, target_schema=schema)
    if fail:   # held rows above a zero threshold: fails after 文字同定 (the ledger snapshot is taken)
        cfg.write_text(cfg.read_text(encoding="utf-8").replace("max_quarantine_rate: 0.05", "max_quarantine_rate: 0.0"),
                       encoding="utf-8")
    try:
        s = migration_flow(config_path=str(cfg))
    except Exception:   # noqa: BLE001 - a failed run raises through Prefect; its summary.json is the record
        s = None
    if isinstance(s, dict):
        return s
    return json.loads((sorted((tmp / "runs" / "999997").glob(f"*-{rehearsal}-*"))[-1] / "summary.json")
                      .read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rolled_back(tmp_path_factory):
    """R1, R2, then `ikou rollback --to R1`: the target holds R1 again."""
    tmp = tmp_path_factory.mktemp("rollback")
    url = f"duckdb:///{tmp / 't.duckdb'}"
    r1, r2 = _run(tmp, url, "R1"), _run(tmp, url, "R2")
    assert r1["status"] == r2["status"] == "succeeded"
    assert main(["rollback", "--dantai", "999997", "--to", r1["run_id"], "--target-url", url]) == 0
    return tmp, url, r1, r2


def _signoff(capsys, run_dir: Path, *extra: str) -> tuple[int, str, str]:
    rc = main(["signoff", str(run_dir), "--by", "山田PM", "--role", "PM", "--override", "外字は次回判断", *extra])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_a_run_the_target_no_longer_holds_is_not_signed_off(rolled_back, capsys):
    tmp, url, r1, r2 = rolled_back
    runs = tmp / "runs" / "999997"
    rc, _, err = _signoff(capsys, runs / r2["run_id"])
    assert rc == 2 and "保持していません" in err and f"holds run {r1['run_id']}" in err, err
    assert f"rolled back to the earlier run {r1['run_id']}" in err and "replaced" not in err, err
    assert len(err.strip().splitlines()) == 1 and not (runs / r2["run_id"] / "signoff.json").exists()
    assert main(["evidence", str(runs / r2["run_id"])]) == 2   # the two agree
    capsys.readouterr()

    # the run the target holds: signed, and the sign-off says the target was read
    rc, out, err = _signoff(capsys, runs / r1["run_id"])
    assert rc == 0 and "target holds it" in out, err
    (rec,) = json.loads((runs / r1["run_id"] / "signoff.json").read_text(encoding="utf-8"))["signoffs"]
    assert rec["target"] == {"checked": True, "schema": "dantai_999997", "holds": r1["run_id"]}


def test_a_summary_whose_loaded_counts_are_not_the_targets_record_is_not_signed_off(rolled_back, capsys):
    """One run id, two loads (a run id reused): the target's record of the run must be this summary's."""
    tmp, url, r1, _ = rolled_back
    run_dir = tmp / "runs" / "999997" / r1["run_id"]
    f, d = run_dir / "summary.json", run_dir / "diff" / "vendor_a_jumin" / "summary.json"
    raw = {p: p.read_bytes() for p in (f, d)}
    try:   # the other load's summary, its diff consistent with it (else the diff's own count stops it first)
        for p, path in ((f, ("tables", "juki_kojin_rireki", "loaded")), (d, ("matched",))):
            s = json.loads(raw[p])
            node = s
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] -= 3
            if p == f:
                s["diff"]["vendor_a_jumin"]["matched"] -= 3
            p.write_text(json.dumps(s, ensure_ascii=False, indent=2), encoding="utf-8")
        rc, _, err = _signoff(capsys, run_dir, "--target-url", url)
        assert rc == 2 and "other row counts than this summary records" in err and "juki_kojin_rireki" in err, err
    finally:
        for p, b in raw.items():
            p.write_bytes(b)


def test_an_unreachable_target_is_signed_only_with_no_target_which_is_recorded(rolled_back, capsys):
    tmp, url, r1, r2 = rolled_back
    run = tmp / "runs" / "999997" / r1["run_id"]
    before = (run / "signoff.json").read_bytes() if (run / "signoff.json").exists() else None
    nowhere = "postgresql://postgres:S3cretPW@127.0.0.1:1/test"   # nothing listens on port 1
    rc, _, err = _signoff(capsys, run, "--target-url", nowhere)
    assert rc == 2 and "移行先を確認できません" in err and "--no-target" in err, err
    assert "S3cretPW" not in err and len(err.strip().splitlines()) == 1
    assert ((run / "signoff.json").read_bytes() if (run / "signoff.json").exists() else None) == before
    rc, out, err = _signoff(capsys, run, "--target-url", nowhere, "--no-target")
    assert rc == 0 and "target not checked" in out, err
    rec = json.loads((run / "signoff.json").read_text(encoding="utf-8"))["signoffs"][-1]
    assert rec["target"]["checked"] is False and "--no-target" in rec["target"]["reason"]


def test_the_next_runs_trend_and_decision_changes_after_a_rollback(rolled_back):
    tmp, url, r1, r2 = rolled_back
    runs = tmp / "runs" / "999997"
    other = _run(tmp, url, "Rx", schema="dantai_999997_x")   # another target schema of the 団体: no previous
    assert "前回リハーサルの結果がないため" in (runs / other["run_id"] / "report.html").read_text(encoding="utf-8")
    (unresolved,) = r1["moji"]["unresolved"]
    assert main(["moji", "decide", "--ledger", str(runs / "moji_ledger"), "--char", unresolved["codepoints"],
                 "--mj", "MJ028902", "--by", "審査担当A"]) == 0
    failed = _run(tmp, url, "Rf", fail=True)   # snapshots the ledger with the decision, loads nothing
    assert failed["status"] == "failed" and (runs / failed["run_id"] / "moji" / "ledger").is_dir()
    r3 = _run(tmp, url, "R3")
    assert r3["status"] == "succeeded"
    # the decision is a change since the 団体's last succeeded run (Rx); the failed run's snapshot had it already
    assert [c["codepoints"] for c in r3["moji"]["decision_changes"]] == [unresolved["codepoints"]]
    # the trend compares with R2 (same 業務 and schema; not Rx), and says the target held R1 before R3
    assert r3["target"]["replaced_run"] == r1["run_id"]
    html = (runs / r3["run_id"] / "report.html").read_text(encoding="utf-8")
    assert f"（前回: R2 {r2['run_id']}）" in html
    assert "ロールバック" in html and r1["run_id"] in html
    # `ikou run-report` finds the same previous runs as the runs did
    for run, want in ((r3, f"（前回: R2 {r2['run_id']}）"), (other, "前回リハーサルの結果がないため")):
        out = tmp / "rr" / f"{run['rehearsal']}.html"
        assert main(["run-report", str(runs / run["run_id"]), "--out", str(out)]) == 0
        assert want in out.read_text(encoding="utf-8")


def test_signing_a_run_a_newer_run_replaced_says_replaced_not_rolled_back(rolled_back, capsys):
    tmp, url, r1, r2 = rolled_back
    runs = tmp / "runs" / "999997"
    newer = _run(tmp, url, "R4")   # replaces R1, which the target held after the rollback
    assert newer["status"] == "succeeded"
    capsys.readouterr()
    rc, _, err = _signoff(capsys, runs / r1["run_id"])
    assert rc == 2 and f"replaced by the newer run {newer['run_id']}" in err and "rolled back" not in err, err
