"""A symbolic link under a 団体's runs folder never leads one 団体's run, cache, crosswalk, purge, report,
pack or sign-off into another 団体's tree: `runs_dir/<code>` must resolve to exactly
`runs_dir.resolve()/<code>`, and the run folder, `_cache`, `crosswalk` and `moji_ledger` under it must be
real folders. Refusals are one line, exit 2, and nothing is written before them (probe D1, D2, D4, D5)."""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pytest

from ikou.context import RunContext
from ikou.errors import IsolationError
from ikou.flows.cli import main
from ikou.flows.run_cli import execute
from ikou.retention import purge
from tests.flows.conftest import vendor_a_source, write_config

OWN, OTHER = "999997", "999741"
RUN_ID = "20260101T000000Z-R1-abcd"


def _run(dantai_dir: Path, run_id: str, dantai: str) -> Path:
    """An ended run with personal-data Parquet in its staging and quarantine."""
    run = dantai_dir / run_id
    (run / "extract").mkdir(parents=True)
    pl.DataFrame({"shimei": ["架空 太郎"]}).write_parquet(run / "extract" / "src.parquet")
    pl.DataFrame({"value": ["123456789018"]}).write_parquet(run / "quarantine.parquet")
    (run / "summary.json").write_text(json.dumps({"status": "succeeded", "dantai": dantai, "run_id": run_id}),
                                      encoding="utf-8")
    return run


def _snapshot(root: Path) -> dict[Path, bytes | None]:
    return {p: (p.read_bytes() if p.is_file() else None) for p in root.rglob("*")}


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("ikou") and "失敗" in lines[0] and " — failed" in lines[0], err
    return lines[0]


# ---------------------------------------------------------------- purge (D1)

def test_purge_skips_a_run_folder_that_is_a_link_into_another_dantais_runs(tmp_path, capsys):
    runs = tmp_path / "runs"
    theirs = _run(runs / OTHER, "20261201T000000Z-R1-ffff", OTHER)   # the other 団体's newest run
    (runs / OWN).mkdir()
    os.symlink(theirs, runs / OWN / RUN_ID)                         # named as an old run of this 団体
    before = _snapshot(runs / OTHER)
    assert main(["purge", "--dantai", OWN, "--before", dt.date.today().isoformat(), "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "purged: 0 run(s), 0 file(s)" in out and f"skipped: {RUN_ID}: a symbolic link" in out
    assert _snapshot(runs / OTHER) == before and not (theirs / "purged.json").exists()


def test_purge_does_not_follow_an_extract_cache_linked_to_another_dantais(tmp_path, capsys):
    runs = tmp_path / "runs"
    entry = runs / OTHER / "_cache" / "extract" / "k1"
    entry.mkdir(parents=True)
    pl.DataFrame({"shimei": ["架空 太郎"]}).write_parquet(entry / "staging.parquet")
    os.utime(entry, (0, 0))   # not used for ages: an old entry of this 団体's would go
    _run(runs / OWN, RUN_ID, OWN)
    os.symlink(runs / OTHER / "_cache", runs / OWN / "_cache")
    assert main(["purge", "--dantai", OWN, "--before", dt.date.today().isoformat(), "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "0 cache entr(ies)" in out and "extract cache skipped: _cache is a symbolic link" in out
    assert (entry / "staging.parquet").is_file()


def test_purge_does_not_follow_a_cache_entry_that_is_a_link(tmp_path):
    runs = tmp_path / "runs"
    entry = runs / OTHER / "_cache" / "extract" / "k1"
    entry.mkdir(parents=True)
    pl.DataFrame({"shimei": ["架空 太郎"]}).write_parquet(entry / "staging.parquet")
    (runs / OWN / "_cache" / "extract").mkdir(parents=True)
    os.symlink(entry, runs / OWN / "_cache" / "extract" / "k1")
    os.utime(runs / OWN / "_cache" / "extract" / "k1", (0, 0), follow_symlinks=False)
    os.utime(entry, (0, 0))
    r = purge(runs / OWN, dt.date.today())
    assert r["cache_entries"] == 0 and (entry / "staging.parquet").is_file()


def test_purge_refuses_a_dantai_folder_that_is_a_link_to_another_dantais(tmp_path, capsys):
    runs, linked = tmp_path / "runs", tmp_path / "linked"
    _run(runs / OTHER, RUN_ID, OTHER)
    linked.mkdir()
    os.symlink(runs / OTHER, linked / OWN)
    before = _snapshot(runs / OTHER)
    assert main(["purge", "--dantai", OWN, "--before", dt.date.today().isoformat(), "--runs-dir", str(linked)]) == 2
    assert "resolves to" in _one_line(capsys.readouterr().err)
    assert _snapshot(runs / OTHER) == before


def test_purge_refuses_the_config_of_another_dantai_as_rollback_does(tmp_path, capsys):
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    victim = _run(tmp_path / "runs" / OWN, RUN_ID, OWN)   # the config's own 団体 is 999997
    before = _snapshot(victim)
    assert main(["purge", "--dantai", OTHER, "--before", dt.date.today().isoformat(), "--config", str(cfg)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"config of 団体 {OWN}, not {OTHER}" in line
    assert _snapshot(victim) == before


def test_purge_never_unlinks_through_a_link_inside_a_run(tmp_path):
    runs = tmp_path / "runs"
    theirs = _run(runs / OTHER, "20261201T000000Z-R1-ffff", OTHER)
    mine = _run(runs / OWN, RUN_ID, OWN)
    os.symlink(theirs / "extract", mine / "linked_stage")
    purge(runs / OWN, dt.date.today())
    assert (theirs / "extract" / "src.parquet").is_file() and not (mine / "extract").exists()


# ---------------------------------------------------------------- the run's folders (D2, D4, D5)

@pytest.mark.parametrize("name", [RUN_ID, "_cache", "crosswalk", "moji_ledger"])
def test_a_run_context_refuses_a_folder_under_the_dantai_that_is_a_link(tmp_path, name):
    runs = tmp_path / "runs"
    (runs / OTHER / name).mkdir(parents=True)
    (runs / OWN).mkdir()
    os.symlink(runs / OTHER / name, runs / OWN / name)
    with pytest.raises(IsolationError, match="symbolic link"):
        RunContext(dantai_code=OWN, run_id=RUN_ID, runs_dir=runs)


def test_a_run_context_refuses_a_dantai_folder_that_resolves_into_another_dantais(tmp_path):
    (tmp_path / "runs" / OTHER).mkdir(parents=True)
    (tmp_path / "runs_s").mkdir()
    os.symlink(tmp_path / "runs" / OTHER, tmp_path / "runs_s" / OWN)
    with pytest.raises(IsolationError, match="resolves to"):
        RunContext(dantai_code=OWN, run_id=RUN_ID, runs_dir=tmp_path / "runs_s")


def test_a_crosswalk_file_linked_to_another_dantais_crosswalk_is_refused(tmp_path):
    runs = tmp_path / "runs"
    (runs / OTHER / "crosswalk").mkdir(parents=True)
    (runs / OTHER / "crosswalk" / "atena_no.csv").write_text("legacy_atena_no,atena_no\n", encoding="utf-8")
    (runs / OWN / "crosswalk").mkdir(parents=True)
    os.symlink(runs / OTHER / "crosswalk" / "atena_no.csv", runs / OWN / "crosswalk" / "atena_no.csv")
    with pytest.raises(IsolationError, match="crosswalk"):
        RunContext(dantai_code=OWN, run_id=RUN_ID, runs_dir=runs)


def test_run_with_a_run_id_whose_folder_links_into_another_dantais_run_writes_nothing(tmp_path, capsys):
    """The probe's D2: `ikou run --run-id` of a folder that is a link to another 団体's run overwrote it."""
    victim = _run(tmp_path / "runs" / OTHER, RUN_ID, OTHER)
    (tmp_path / "runs" / OWN).mkdir()
    os.symlink(victim, tmp_path / "runs" / OWN / RUN_ID)
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    before = _snapshot(tmp_path)
    assert execute(cfg, run_id=RUN_ID, quiet=True) == 2
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert "symbolic link" in line and "no summary.json written" in line and captured.out == ""
    assert _snapshot(tmp_path) == before


def test_run_with_a_runs_dir_whose_dantai_folder_links_into_another_dantais_writes_nothing(tmp_path, capsys):
    """The probe's D4: runs_s/999997 → runs/999741 wrote the whole run (extract, cache) there."""
    (tmp_path / "runs" / OTHER).mkdir(parents=True)
    (tmp_path / "runs_s").mkdir()
    os.symlink(tmp_path / "runs" / OTHER, tmp_path / "runs_s" / OWN)
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(f"runs_dir: {tmp_path / 'runs'}",
                                                           f"runs_dir: {tmp_path / 'runs_s'}"), encoding="utf-8")
    before = _snapshot(tmp_path)
    assert execute(cfg, quiet=True) == 2
    line = _one_line(capsys.readouterr().err)
    assert "runs_dir" in line and "no summary.json written" in line
    assert _snapshot(tmp_path) == before


def test_run_with_a_crosswalk_folder_linked_to_another_dantais_writes_nothing(tmp_path, capsys):
    """The probe's D5: a linked crosswalk gave this 団体 the other's 宛名番号 (and would extend its file)."""
    (tmp_path / "runs" / OTHER / "crosswalk").mkdir(parents=True)
    (tmp_path / "runs" / OWN).mkdir()
    os.symlink(tmp_path / "runs" / OTHER / "crosswalk", tmp_path / "runs" / OWN / "crosswalk")
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    before = _snapshot(tmp_path)
    assert execute(cfg, quiet=True) == 2
    assert "crosswalk" in _one_line(capsys.readouterr().err)
    assert _snapshot(tmp_path) == before


def test_the_extract_cache_refuses_an_entry_that_is_a_link(tmp_path):
    from ikou.config import load_config
    from ikou.extractors.cache import cache_key, cached_extract
    from ikou.mappings.spec import load_mapping

    cfg = load_config(write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}"))
    s = cfg.sources[0]
    layout = load_mapping(s.mapping).layout
    from ikou.staging import sha256_file

    key = cache_key(file_sha256=sha256_file(s.path), file_name=s.path.name, layout_path=layout,
                    encoding=s.encoding, ordinal=1, source_name=s.name, target_table="juki_kojin_rireki")
    theirs = tmp_path / "runs" / OTHER / "_cache" / "extract" / key
    theirs.mkdir(parents=True)
    (tmp_path / "runs" / OWN / "_cache" / "extract").mkdir(parents=True)
    os.symlink(theirs, tmp_path / "runs" / OWN / "_cache" / "extract" / key)
    ctx = RunContext(dantai_code=OWN, run_id=RUN_ID, runs_dir=tmp_path / "runs")
    with pytest.raises(IsolationError, match="cache entry"):
        cached_extract(s, ctx, ordinal=1, target_table="juki_kojin_rireki", layout_path=layout)


# ---------------------------------------------------------------- run-report, evidence, signoff (D2)

def _linked_run(tmp_path: Path) -> Path:
    victim = _run(tmp_path / "runs" / OTHER, RUN_ID, OTHER)
    (tmp_path / "runs" / OWN).mkdir()
    os.symlink(victim, tmp_path / "runs" / OWN / RUN_ID)
    return tmp_path / "runs" / OWN / RUN_ID


def _foreign_summary(tmp_path: Path) -> Path:
    """A run folder of this 団体 whose summary.json says it is another 団体's run."""
    return _run(tmp_path / "runs" / OWN, RUN_ID, OTHER)


@pytest.mark.parametrize("make", [_linked_run, _foreign_summary])
@pytest.mark.parametrize("command", [["run-report", "{run}"], ["evidence", "{run}", "--no-target"],
                                     ["signoff", "{run}", "--by", "x", "--role", "PM", "--no-target"]])
def test_report_pack_and_signoff_refuse_a_run_folder_of_another_dantai(tmp_path, capsys, make, command):
    run = make(tmp_path)
    before = _snapshot(tmp_path / "runs")
    argv = [a.format(run=run) for a in command]
    if argv[0] == "evidence":
        argv = argv[:2]
    assert main(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert "symbolic link" in line or "names 団体" in line
    assert _snapshot(tmp_path / "runs") == before


def test_a_run_folder_of_its_own_dantai_passes_the_folder_check(tmp_path):
    from ikou.context import check_run_folder

    run = _run(tmp_path / "runs" / OWN, RUN_ID, OWN)
    assert check_run_folder(run) == run.resolve()
