"""`ikou signoff`: refused while a run has sign-off blockers (vendor A's first run leaves one 外字
unresolved), recorded with the reason when overridden, accepted after the 同定台帳 decision and a
second run; the sign-off goes into the run folder and its evidence pack."""
from __future__ import annotations

import json

import pytest

from ikou.flows.cli import main
from ikou.flows.migrate import migration_flow
from ikou.reports.evidence import read_pack, verify_pack
from tests.flows.conftest import vendor_a_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _signoff(capsys, run_dir, *extra: str) -> tuple[int, str, str]:
    rc = main(["signoff", str(run_dir), "--by", "山田PM", "--role", "PM", *extra])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_signoff_is_refused_with_an_unresolved_gaiji_and_accepted_after_the_decision(tmp_path, capsys):
    target = f"duckdb:///{tmp_path / 't.duckdb'}"
    first = migration_flow(config_path=str(write_config(tmp_path, source=vendor_a_source(), target_url=target)))
    run1 = tmp_path / "runs" / "999997" / first["run_id"]
    assert any("未同定" in b for b in first["sign_off_blockers"])

    rc, out, err = _signoff(capsys, run1)
    assert rc == 2 and "承認できません" in err and "未同定" in err, err
    assert not (run1 / "signoff.json").exists()

    rc, out, err = _signoff(capsys, run1, "--override", "本人 1234 5678 9018 の外字は次回判断")   # a 個人番号
    assert rc == 2 and "個人番号・住民票コード" in err and "9018" not in err + out, err
    assert not (run1 / "signoff.json").exists()

    rc, out, err = _signoff(capsys, run1, "--override", "外字は次回リハーサルで判断する")
    assert rc == 0, err
    (record,) = json.loads((run1 / "signoff.json").read_text(encoding="utf-8"))["signoffs"]
    assert record["override"] == "外字は次回リハーサルで判断する" and any("未同定" in b for b in record["blockers"])

    ledger = tmp_path / "runs" / "999997" / "moji_ledger"
    (unresolved,) = first["moji"]["unresolved"]
    assert main(["moji", "decide", "--ledger", str(ledger), "--char", unresolved["codepoints"], "--mj", "MJ028902",
                 "--by", "審査担当A", "--note", "住民票コード12345678901の人"]) == 2   # refused, nothing recorded
    assert main(["moji", "decide", "--ledger", str(ledger), "--char", unresolved["codepoints"],
                 "--mj", "MJ028902", "--by", "審査担当A"]) == 0
    second = migration_flow(config_path=str(write_config(tmp_path, source=vendor_a_source(), target_url=target,
                                                         rehearsal="R2")))
    run2 = tmp_path / "runs" / "999997" / second["run_id"]
    assert second["sign_off_blockers"] == []
    assert main(["evidence", str(run2)]) == 0
    capsys.readouterr()

    rc, out, err = _signoff(capsys, run2)
    assert rc == 0 and "signed off" in out, err
    (record,) = json.loads((run2 / "signoff.json").read_text(encoding="utf-8"))["signoffs"]
    assert (record["by"], record["role"], record["override"], record["blockers"]) == ("山田PM", "PM", None, [])
    # what is left behind is part of what is signed: the held records per table, said on the terminal too
    held = {t: c["quarantined"] for t, c in second["tables"].items() if not c.get("derived") and c["quarantined"]}
    assert held and record["held"] == held
    assert f"保留 {sum(held.values()):,} 件は移行されていません" in out and "held record(s) not migrated" in out, out
    _, files = read_pack(run2 / "evidence.zip")
    assert json.loads(files["signoff.json"])["signoffs"] == [record]
    assert verify_pack(run2 / "evidence.zip").ok


def test_a_signoff_names_the_summary_it_accepted(tmp_path, capsys):
    """A summary.json changed after the sign-off no longer matches it: the pack does not verify."""

    run = tmp_path / "runs" / "999997" / "R-x"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"run_id": "R-x", "dantai": "999997", "status": "succeeded",
                                                  "sign_off_blockers": []}), encoding="utf-8")
    from ikou.reports.evidence import write_zip

    write_zip(run / "evidence.zip", {"summary.json": (run / "summary.json").read_bytes()}, run_id="R-x",
              dantai="999997")
    rc, _, err = _signoff(capsys, run, "--no-target")   # a hand-made run: no target to read
    assert rc == 0, err
    assert verify_pack(run / "evidence.zip", check_target=False).ok
    manifest, files = read_pack(run / "evidence.zip")
    files["summary.json"] = files["summary.json"].replace(b"succeeded", b"succeeded ")
    write_zip(run / "evidence.zip", files, run_id="R-x", dantai="999997")   # re-sealed, but signed elsewhere
    v = verify_pack(run / "evidence.zip", check_target=False)
    assert not v.ok and "signoff.json: signed by PM for another summary.json" in v.problems
