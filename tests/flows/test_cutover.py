"""本番切替 (cut-over) and the parallel run after it (並行稼働), on DuckDB and the real PostgreSQL: `ikou cutover`
declares the run the target holds, recorded in the target; a run after it extracts, validates and compares with
the live target but loads nothing (summary.json mode parallel_run, the rows users changed kept); rollback and every
load (the loaders' own load_run too) are refused; a wrong --run-id, a target holding no finished run and a
withdrawal of nothing are refused in one line; a withdrawal is recorded and the target takes loads again."""
from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from ikou.flows.cli import main
from ikou.flows.run_cli import execute
from ikou.loaders import (LoadPart, RunRecord, TargetCutOver, cutover, cutover_events, declare_cutover, finish_run,
                          held_runs, load_run, read_table, rollback, withdraw_cutover)
from ikou.loaders.targets import RUNNING, CutoverRefused
from ikou.reports.signoff import ParallelRunNotSignable, sign_off
from ikou.schema import load_schema
from tests.conftest import drop_target_schemas, random_tag
from tests.flows.conftest import SAMPLE, vendor_a_source, write_config

TABLE = "juki_kojin_rireki"


@pytest.fixture
def target(any_target):
    """(url, schema, 団体コード) of this test's own target: `tests.conftest.any_target` (DuckDB or PostgreSQL)."""
    return any_target


def _jumin_of(tmp_path: Path, code: str) -> Path:
    """Vendor A's sample export (団体 999997) as this 団体's: its first field, the 団体コード, rewritten byte for byte
    (the file is CP932 with planted faults: never decoded here)."""
    raw = (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes()
    assert raw.startswith(b"999997,")
    out = tmp_path / "JUMIN.csv"
    out.write_bytes(code.encode() + raw[6:].replace(b"\n999997,", b"\n" + code.encode() + b","))
    return out


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _summary(tmp_path: Path, code: str, run_id: str) -> dict:
    return json.loads((tmp_path / "runs" / code / run_id / "summary.json").read_text(encoding="utf-8"))


def _user_changes_a_row(url: str, schema: str) -> tuple[str, str, str]:
    """What a user of the live system does after the cut-over: one row's 番地 changed in place."""
    value = "切替後に利用者が更新"
    if url.startswith("duckdb"):
        import duckdb

        con = duckdb.connect(url.split(":///", 1)[1])
        try:
            atena, rireki = con.execute(f'SELECT atena_no, rireki_no FROM "{schema}".{TABLE} ORDER BY 1, 2 LIMIT 1'
                                        ).fetchone()
            con.execute(f'UPDATE "{schema}".{TABLE} SET banchi = ? WHERE atena_no = ? AND rireki_no = ?',
                        [value, atena, rireki])
            con.execute("CHECKPOINT")
        finally:
            con.close()
    else:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            atena, rireki = conn.exec_driver_sql(
                f'SELECT atena_no, rireki_no FROM "{schema}".{TABLE} ORDER BY 1, 2 LIMIT 1').one()
            conn.exec_driver_sql(f'UPDATE "{schema}".{TABLE} SET banchi = %(v)s WHERE atena_no = %(a)s '
                                 f'AND rireki_no = %(r)s', {"v": value, "a": atena, "r": rireki})
        engine.dispose()
    return str(atena), str(rireki), value


@pytest.mark.usefixtures("prefect_harness")
def test_a_cut_over_target_is_compared_not_loaded_rolled_back_or_replaced_until_withdrawn(tmp_path, target, capsys):
    url, schema, code = target
    cfg = write_config(tmp_path, source=vendor_a_source(_jumin_of(tmp_path, code)), target_url=url,
                       target_schema=schema, dantai=code)
    ours = ["--dantai", code, "--config", str(cfg)]
    assert execute(cfg, quiet=True) == 0, capsys.readouterr().err
    first = held_runs(url, schema)["current"]["run_id"]
    capsys.readouterr()

    # a wrong --run-id is refused in one line, Japanese and English, and nothing is recorded
    assert main(["cutover", *ours, "--run-id", "20261130T000000Z-R1-zzzz"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "本番切替は移行先が現在保持する実行" in line and f"holds run {first}, not 20261130T000000Z-R1-zzzz" in line
    assert main(["cutover", *ours]) == 2   # --run-id is required: the guard against declaring the wrong one
    assert "--run-id" in _one_line(capsys.readouterr().err)
    assert cutover_events(url, schema) == []

    assert main(["cutover", *ours, "--run-id", first, "--note", "本番稼働開始"]) == 0
    said = capsys.readouterr().out
    assert "本番切替を宣言しました" in said and f"cut over to run {first}" in said
    cut = cutover(url, schema)
    assert cut["run_id"] == first and cut["note"] == "本番稼働開始" and cut["at"].endswith("+00:00")
    history = (tmp_path / "runs" / code / "cutover_history.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(h)["action"] for h in history] == ["declared"]

    atena, rireki, value = _user_changes_a_row(url, schema)
    rows_before = read_table(url, schema, TABLE).height

    # the scheduled run after the cut-over: extract → validate → diff against the live target, no load
    assert execute(cfg, quiet=True) == 0, capsys.readouterr().err
    out = capsys.readouterr().out.splitlines()
    second = Path(out[-1]).name
    assert "切替済みのため投入せず比較のみ" in out[-2] and "target cut over: compared, not loaded" in out[-2]
    s = _summary(tmp_path, code, second)
    assert s["status"] == "succeeded" and s["mode"] == "parallel_run"
    assert s["cutover"] == {"run_id": first, "at": cut["at"]}
    assert "load" not in s["stages"] and "not loaded" in s["target"]["not_loaded"]
    t = s["tables"][TABLE]
    assert t["loaded"] == 0 and t["extracted"] == t["validated"] + t["quarantined"] > 0
    assert not any("すべて保留" in b for b in s["sign_off_blockers"])   # loading nothing is the design, no blocker
    assert s["diff"]["vendor_a_jumin"]["changed_rows"] >= 1            # the user's change, seen by the comparison
    assert (tmp_path / "runs" / code / second / "diff" / "vendor_a_jumin").is_dir()
    assert "並行稼働: 切替済みのため投入せず比較のみ" in (tmp_path / "runs" / code / second / "report.html").read_text(
        encoding="utf-8")
    held = held_runs(url, schema)
    assert held["current"]["run_id"] == first and held["current"]["status"] == "succeeded"
    after = read_table(url, schema, TABLE)
    assert after.height == rows_before
    kept = after.filter((pl.col("atena_no") == atena) & (pl.col("rireki_no").cast(pl.String) == rireki))
    assert kept["banchi"].to_list() == [value]
    # a parallel run loaded nothing: it is no migration to accept, even with an override
    with pytest.raises(ParallelRunNotSignable, match="parallel run"):
        sign_off(tmp_path / "runs" / code / second, by="山本", role="PM", override="比較のみ", no_target=True)

    # no rollback of a live target, whatever it would restore
    assert main(["rollback", *ours, "--to", held["previous"]["run_id"] if held["previous"] else first]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "本番切替済み" in line and "is cut over to run" in line
    with pytest.raises(TargetCutOver):
        rollback(url, schema, first)

    # a mistaken declaration is withdrawn, recorded; the next run loads again
    assert main(["cutover", *ours, "--withdraw", "--run-id", "20261130T000000Z-R1-zzzz"]) == 2
    assert "取り消す宣言の実行" in _one_line(capsys.readouterr().err)
    assert main(["cutover", *ours, "--withdraw", "--run-id", first]) == 0
    assert cutover(url, schema) is None
    assert main(["cutover", *ours, "--list"]) == 0
    listed = capsys.readouterr().out
    assert "宣言 / declared: run" in listed and "取消 / withdrawn: run" in listed and "本番切替なし" in listed
    assert execute(cfg, quiet=True) == 0
    third = Path(capsys.readouterr().out.splitlines()[-1]).name
    assert _summary(tmp_path, code, third)["mode"] == "load"
    assert held_runs(url, schema)["current"]["run_id"] == third
    assert [e["action"] for e in cutover_events(url, schema)] == ["declared", "withdrawn"]   # kept through the load

    # privacy: the new messages name runs and schemas, never a resident
    names = set(after["shimei"].drop_nulls().to_list()) | set(after["shimei_kana"].drop_nulls().to_list())
    spoken = said + listed + "\n".join(out) + line
    assert names and not any(n in spoken for n in names)
    assert not re.search(r"\d{12}", spoken.replace(second, "").replace(first, "").replace(third, ""))


SCHEMA = """spec_version: 1
gyomu: ga
ja: 業務ga
tables:
  ga_t:
    ja: 表
    primary_key: [atena_no]
    columns:
      - {name: atena_no, ja: 宛名番号, type: text, required: true}
      - {name: gaku,     ja: 金額,     type: integer}
"""


@pytest.fixture
def schema(tmp_path):
    p = tmp_path / "ga.yaml"
    p.write_text(SCHEMA, encoding="utf-8")
    (tmp_path / "rules.yaml").write_text("spec_version: 1\ngyomu: ga\n", encoding="utf-8")
    return load_schema(p)


def _load(url, db_schema, code, schema, run_id, n=3, status="succeeded"):
    frame = pl.DataFrame({"atena_no": [f"{i:05d}" for i in range(n)], "gaku": [100] * n})
    return load_run([LoadPart(schema, {"ga_t": frame})], url, db_schema,
                    run=RunRecord(run_id, "R1", code, ("ga",), status=status))


def test_the_loaders_refuse_a_load_into_a_cut_over_target_themselves(target, schema):
    """The last guard: a run that began before the declaration (its flow saw no cut-over) cannot load after it."""
    url, db_schema, code = target
    _load(url, db_schema, code, schema, "r1")
    declare_cutover(url, db_schema, "r1")
    with pytest.raises(TargetCutOver) as refused:
        _load(url, db_schema, code, schema, "r2", n=5)
    assert "本番切替済み" in refused.value.ja and "neither loads into it" in str(refused.value)
    assert held_runs(url, db_schema)["current"]["run_id"] == "r1"
    assert read_table(url, db_schema, "ga_t").height == 3
    withdraw_cutover(url, db_schema, "r1", note="誤って宣言")
    assert _load(url, db_schema, code, schema, "r2", n=5) == {"ga_t": 5}
    assert [(e["seq"], e["action"], e["note"]) for e in cutover_events(url, db_schema)] == [
        ("1", "declared", ""), ("2", "withdrawn", "誤って宣言")]
    rollback(url, db_schema, "r1")   # withdrawn: the way back is open again, and the record stays with the target
    assert held_runs(url, db_schema)["current"]["run_id"] == "r1"
    assert [e["action"] for e in cutover_events(url, db_schema)] == ["declared", "withdrawn"]


def test_a_declaration_needs_a_finished_run_the_target_holds_and_a_withdrawal_one_in_force(target, schema):
    url, db_schema, code = target
    with pytest.raises(CutoverRefused, match="holds no run"):
        declare_cutover(url, db_schema, "r1")
    with pytest.raises(CutoverRefused, match="not cut over"):
        withdraw_cutover(url, db_schema, "r1")
    _load(url, db_schema, code, schema, "r1", status=RUNNING)   # its load committed, its end not recorded yet
    with pytest.raises(CutoverRefused, match="only a run that finished successfully"):
        declare_cutover(url, db_schema, "r1")
    finish_run(url, db_schema, "r1", "failed")
    with pytest.raises(CutoverRefused, match="only a run that finished successfully") as refused:
        declare_cutover(url, db_schema, "r1")
    assert "正常に終了していません" in refused.value.ja
    _load(url, db_schema, code, schema, "r2")
    with pytest.raises(CutoverRefused, match="holds run r2, not r1"):
        declare_cutover(url, db_schema, "r1")
    declare_cutover(url, db_schema, "r2")
    with pytest.raises(CutoverRefused, match="already"):
        declare_cutover(url, db_schema, "r2")
    assert [e["action"] for e in cutover_events(url, db_schema)] == ["declared"]   # the refusals wrote nothing


@pytest.mark.usefixtures("prefect_harness")
def test_a_cut_over_declared_while_a_run_validates_turns_it_into_a_parallel_run(tmp_path, target, capsys,
                                                                                 monkeypatch):
    """The declaration comes after the run's own cut-over check and before its load: the loaders refuse the load
    (nothing written) and the run ends as a comparison, exit 0, instead of failing."""
    import threading
    import time

    url, schema, code = target
    cfg = write_config(tmp_path, source=vendor_a_source(_jumin_of(tmp_path, code)), target_url=url,
                       target_schema=schema, dantai=code)
    assert execute(cfg, quiet=True) == 0, capsys.readouterr().err
    first = held_runs(url, schema)["current"]["run_id"]
    capsys.readouterr()
    marker = tmp_path / "paused"
    monkeypatch.setenv("IKOU_PAUSE_AT", "load.juki")   # the run waits here, after its check, before the load
    monkeypatch.setenv("IKOU_PAUSE_MARKER", str(marker))
    monkeypatch.setenv("IKOU_PAUSE_SECONDS", "6")
    declared: list = []

    def declare():
        deadline = time.monotonic() + 600
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        declared.append(declare_cutover(url, schema, first, note="検証中に切替"))

    t = threading.Thread(target=declare)
    t.start()
    code_ = execute(cfg, quiet=True)
    t.join()
    assert declared and marker.exists()
    out, err = capsys.readouterr()
    assert code_ == 0, err
    second = Path(out.splitlines()[-1]).name
    s = _summary(tmp_path, code, second)
    assert s["status"] == "succeeded" and s["mode"] == "parallel_run" and s["cutover"]["run_id"] == first
    assert s["tables"][TABLE]["loaded"] == 0
    assert held_runs(url, schema)["current"]["run_id"] == first   # the target still holds the run cut over to


def test_a_declaration_waits_for_no_run_holding_the_target_on_postgresql(pg_target_cutover, schema):
    """A run holds its target from its load until its end is recorded (its lease): a declaration then is refused
    (TargetBusy), never slipped in between a load and the run's record."""
    from ikou.errors import TargetBusy

    url, db_schema, code = pg_target_cutover
    _load(url, db_schema, code, schema, "r1")
    engine = sa.create_engine(url)
    with engine.connect() as other:
        other.exec_driver_sql("SELECT pg_advisory_lock(hashtext(%(k)s))", {"k": f"ikou:{db_schema}"})
        with pytest.raises(TargetBusy):
            declare_cutover(url, db_schema, "r1")
        other.exec_driver_sql("SELECT pg_advisory_unlock(hashtext(%(k)s))", {"k": f"ikou:{db_schema}"})
    engine.dispose()
    assert cutover(url, db_schema) is None
    declare_cutover(url, db_schema, "r1")
    assert cutover(url, db_schema)["run_id"] == "r1"


@pytest.fixture
def pg_target_cutover(postgres_url):
    name = f"dantai_999822_c{random_tag()}"
    yield postgres_url, name, "999822"
    drop_target_schemas(postgres_url, name)
