"""The persons a run saw are never recorded or listed by a key column the run's mappings make sensitive: a mapping
mistake `atena_no ← KOJIN_NO` put every 個人番号 in clear into summary.json's vanished list, vanished.csv and
persons.parquet (kept by purge), though quarantine.csv and the report masked them."""
from __future__ import annotations

from types import SimpleNamespace

import polars as pl

from ikou import REPO_ROOT, quarantine as q
from ikou.config import load_config
from ikou.flows import pipeline as P
from ikou.privacy import sensitive_columns
from ikou.reports.summary import persons_seen
from tests.flows.conftest import vendor_a_source, write_config

VENDOR_A = REPO_ROOT / "specs" / "vendors" / "vendor_a"


def _plans(tmp_path, atena_from: str):
    mapping = (VENDOR_A / "mappings" / "juki" / "jumin.yaml").read_text(encoding="utf-8")
    mapping = mapping.replace("schema: ../../../../gyomu/juki/schema.yaml",
                              f"schema: {REPO_ROOT / 'specs' / 'gyomu' / 'juki' / 'schema.yaml'}")
    mapping = mapping.replace("layout: ../../layouts/jumin.yaml", f"layout: {VENDOR_A / 'layouts' / 'jumin.yaml'}")
    mapping = mapping.replace("../../code_tables/", f"{VENDOR_A / 'code_tables'}/")
    mapping = mapping.replace("{target: atena_no,         op: text,          from: ATENA_NO}",
                              f"{{target: atena_no,         op: text,          from: {atena_from}}}")
    (tmp_path / "m.yaml").write_text(mapping, encoding="utf-8")
    source = vendor_a_source().replace(str(VENDOR_A / "mappings" / "juki" / "jumin.yaml"), str(tmp_path / "m.yaml"))
    return P.plan(load_config(write_config(tmp_path, source=source, target_url=f"duckdb:///{tmp_path / 't.duckdb'}")))


def _run(tmp_path, name, plans, keys):
    d = tmp_path / name
    (d / "validate").mkdir(parents=True)
    cols = [c.name for c in plans[0].schema.tables["juki_kojin_rireki"].columns]
    pl.DataFrame({c: keys if c == "atena_no" else ["1"] * len(keys) for c in cols},
                 schema={c: pl.String for c in cols}).write_parquet(d / "validate" / "juki_kojin_rireki.parquet")
    return d


def test_a_key_fed_by_a_sensitive_source_column_is_neither_kept_nor_listed(tmp_path):
    plans = _plans(tmp_path, "KOJIN_NO")   # the mistake: every 宛名番号 is a 個人番号
    assert "atena_no" in sensitive_columns(plans)
    prev = _run(tmp_path, "r1", plans, ["123456789018", "234567890123"])
    cur = _run(tmp_path, "r2", plans, ["123456789018"])
    assert persons_seen(SimpleNamespace(run_dir=prev), plans, [], q.empty(), None) is None
    assert persons_seen(SimpleNamespace(run_dir=cur), plans, [], q.empty(), (prev, {"run_id": "r1"})) is None
    for d in (prev, cur):
        assert not (d / "persons.parquet").exists() and not (d / "vanished.csv").exists()


def test_the_same_keys_from_the_right_column_are_kept_and_compared(tmp_path):
    plans = _plans(tmp_path, "ATENA_NO")
    prev = _run(tmp_path, "r1", plans, ["0000000019", "0000000027"])
    cur = _run(tmp_path, "r2", plans, ["0000000019"])
    persons_seen(SimpleNamespace(run_dir=prev), plans, [], q.empty(), None)
    out = persons_seen(SimpleNamespace(run_dir=cur), plans, [], q.empty(), (prev, {"run_id": "r1"}))
    assert out.vanished_listed == ["atena_no=0000000027"]


def test_persons_that_cannot_be_recorded_are_a_blocker_not_a_silent_gap(tmp_path, monkeypatch, capsys, prefect_harness):
    """The vanished-persons blocker cannot be judged when the keys cannot be written: a renumbered export must not
    pass for lack of it (here persons.parquet is a folder someone left there)."""
    import json
    import threading
    import time
    from pathlib import Path

    from ikou.flows.run_cli import execute

    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    marker = tmp_path / "paused"
    monkeypatch.setenv("IKOU_PAUSE_AT", "report")   # the stages done, the record not yet written
    monkeypatch.setenv("IKOU_PAUSE_MARKER", str(marker))
    monkeypatch.setenv("IKOU_PAUSE_SECONDS", "4")

    def block():
        deadline = time.monotonic() + 600
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        (run_dir,) = [d for d in (tmp_path / "runs" / "999997").iterdir() if d.is_dir() and d.name[0].isdigit()]
        (run_dir / "persons.parquet").mkdir()

    t = threading.Thread(target=block)
    t.start()
    execute(cfg, quiet=True)
    t.join()
    out = capsys.readouterr().out.splitlines()
    s = json.loads((Path(out[-1]) / "summary.json").read_text(encoding="utf-8"))
    assert s["status"] == "succeeded" and s.get("persons") is None
    assert any("前回リハーサルとの人の比較ができませんでした" in b for b in s["sign_off_blockers"]), s["sign_off_blockers"]
