"""`ikou run-report RUN_DIR` gives the run's own report back (its masking, every diff, its previous
rehearsal), refuses a `--previous` it must not compare with, and the CSVs a person opens in Excel never
hold a live formula (the Parquet record keeps the legacy value exactly)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from ikou.flows.cli import main

# legacy values that Excel would run as formulas (OWASP's examples), planted in R2's source file
FORMULAS = ["=1+1", "@SUM(1+9)*cmd|' /C calc'!A0", "-2+3+cmd|'/C calc'!A0"]
PLANTED_LINES = (10, 20, 30)    # 1-based lines of JUMIN.csv whose 異動事由 gets a formula
IDO_JIYU = 13                   # field index of IDO_JIYU in vendor A's layout (an unknown code is held)


def _planted_jumin(tmp: Path) -> Path:
    from tests.flows.conftest import SAMPLE

    data = (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes()
    eol = b"\r\n" if b"\r\n" in data else b"\n"
    lines = data.split(eol)
    for n, value in zip(PLANTED_LINES, FORMULAS):
        fields = lines[n - 1].split(b",")
        fields[IDO_JIYU] = value.encode("cp932")
        lines[n - 1] = b",".join(fields)
    out = tmp / "JUMIN.csv"
    out.write_bytes(eol.join(lines))
    return out


@pytest.fixture(scope="module")
def rehearsals(tmp_path_factory, prefect_harness) -> tuple[Path, Path]:
    """R1 (the sample) then R2 (the sample with formulas planted) of one 団体, into one runs folder."""
    from ikou.flows.migrate import migration_flow
    from tests.flows.conftest import vendor_a_source, write_config

    tmp = tmp_path_factory.mktemp("rehearsals")
    url = f"duckdb:///{tmp / 't.duckdb'}"
    dirs = []
    for rehearsal, path in (("R1", None), ("R2", _planted_jumin(tmp))):
        s = migration_flow(config_path=str(write_config(tmp, source=vendor_a_source(path), target_url=url,
                                                        rehearsal=rehearsal)))
        assert s["status"] == "succeeded"
        dirs.append(tmp / "runs" / s["dantai"] / s["run_id"])
    return dirs[0], dirs[1]


def _html(path: Path) -> str:
    """report.html without its generation time (the one thing a re-render may change)."""
    return re.sub(r"作成: [^<／]*", "", path.read_text(encoding="utf-8"))


def _cells(path: Path) -> dict[str, list[tuple]]:
    wb = openpyxl.load_workbook(path, read_only=True)
    return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def _names(run_dir: Path) -> set[str]:
    """Every name of the source file, and the readable part of the one held for undecodable bytes."""
    staged = pl.read_parquet(run_dir / "extract" / "vendor_a_jumin.parquet")["SHIMEI"].drop_nulls().to_list()
    q = pl.read_parquet(run_dir / "quarantine.parquet")
    held = [v.split("\\")[0] for v in q.filter(pl.col("column") == "SHIMEI")["value"].drop_nulls()]
    return {v for v in [*staged, *held] if len(v) >= 2}


def test_run_report_of_a_run_equals_the_runs_own_report(rehearsals, tmp_path):
    r1, r2 = rehearsals
    q = pl.read_parquet(r2 / "quarantine.parquet")
    fault = q.filter((pl.col("column") == "SHIMEI") & (pl.col("rule") == "extract.decode"))["value"].to_list()
    assert fault, "the sample's cp932 decode fault in SHIMEI is the planted name"
    assert main(["run-report", str(r2), "--out", str(tmp_path / "rr" / "r2.html")]) == 0
    html = _html(tmp_path / "rr" / "r2.html")
    assert html == _html(r2 / "report.html")
    assert _cells(tmp_path / "rr" / "r2.xlsx") == _cells(r2 / "report.xlsx")
    # what that equality means: the name masked, the diff shown, the trend against R1
    name = fault[0].split("　")[0]
    assert name not in html and "＊＊" in html and f"{name[0]}＊＊" not in html
    assert not [c for rows in _cells(tmp_path / "rr" / "r2.xlsx").values() for r in rows for c in r
                if c is not None and name in str(c)]
    assert '<h2 id="diff">並行稼働 比較' in html and "vendor_a_jumin" in html
    r1_id = json.loads((r1 / "summary.json").read_text(encoding="utf-8"))["run_id"]
    assert f"前回: R1 {r1_id}" in html and "前回リハーサルの結果がない" not in html


def test_run_report_masks_every_column_the_run_masked(rehearsals, tmp_path):
    _, r2 = rehearsals
    assert main(["run-report", str(r2), "--out", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    leaked = [n for n in _names(r2) if n in html]
    assert not leaked, f"{len(leaked)} names shown unmasked"


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


def _fake_run(root: Path, run_id: str, **changes) -> Path:
    """A run folder holding only its summary.json (what --previous reads)."""
    d = root / run_id
    d.mkdir(parents=True)
    s = {"dantai": "999997", "run_id": run_id, "rehearsal": "R0", "status": "succeeded", "gyomu": ["juki"],
         "tables": {}, **changes}
    (d / "summary.json").write_text(json.dumps(s, ensure_ascii=False), encoding="utf-8")
    return d


def test_run_report_refuses_a_previous_run_of_another_dantai(rehearsals, tmp_path, capsys):
    _, r2 = rehearsals
    other = _fake_run(tmp_path / "runs" / "999628", "20200101T000000Z-R1-aaaa", dantai="999628")
    assert main(["run-report", str(r2), "--out", str(tmp_path / "r.html"), "--previous", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "団体 999628, not of 999997" in err
    assert "前回のリハーサルとして比較できない" in err and "failed:" in err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_run_report_refuses_a_previous_run_that_did_not_succeed(rehearsals, tmp_path, capsys, status):
    _, r2 = rehearsals
    bad = _fake_run(tmp_path / "runs" / "999997", "20200101T000000Z-R1-bbbb", status=status)
    assert main(["run-report", str(r2), "--out", str(tmp_path / "r.html"), "--previous", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"is {status} and loaded nothing" in err
    assert not (tmp_path / "r.html").exists()


def test_run_report_finds_the_previous_rehearsal_as_the_run_does_skipping_a_failed_one(tmp_path):
    from tests.reports.test_html_reports import RUN, PREVIOUS

    runs = tmp_path / "runs" / "999997"
    _fake_run(runs, PREVIOUS["run_id"], **{k: v for k, v in PREVIOUS.items() if k != "run_id"})
    _fake_run(runs, "20261115T000000Z-R1b-ffff", rehearsal="R1b", status="failed")
    cur = _fake_run(runs, RUN["run_id"], **{k: v for k, v in RUN.items() if k != "run_id"})
    assert main(["run-report", str(cur), "--out", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert f"前回: R1 {PREVIOUS['run_id']}" in html and "R1b" not in html


# ------------------------------------------------------------------ CSV formula injection

def _neutralised(v: str) -> str:
    return "'" + v


def test_quarantine_csv_neutralises_formulas_and_the_parquet_keeps_them_exact(rehearsals):
    _, r2 = rehearsals
    exact = pl.read_parquet(r2 / "quarantine.parquet")["value"].to_list()
    assert all(f in exact for f in FORMULAS)
    shown = pl.read_csv(r2 / "quarantine.csv", infer_schema=False)["value"].to_list()
    assert all(_neutralised(f) in shown and f not in shown for f in FORMULAS)
    # no text cell of the CSV starts a formula
    csv = pl.read_csv(r2 / "quarantine.csv", infer_schema=False)
    assert not [v for c in csv.columns for v in csv[c].drop_nulls() if v[:1] in "=+-@\t\r"]


def test_the_evidence_packs_quarantine_csv_neutralises_formulas(rehearsals, tmp_path):
    from ikou.reports.evidence import _masked_quarantine

    _, r2 = rehearsals
    sens = set(json.loads((r2 / "specs" / "manifest.json").read_text(encoding="utf-8"))["sensitive_columns"])
    packed = pl.read_csv(_masked_quarantine(r2, sens), infer_schema=False)["value"].to_list()
    assert all(_neutralised(f) in packed and f not in packed for f in FORMULAS)
    # a purged run (only quarantine.csv left) written raw by an older ikou: neutralised in the pack too
    old = tmp_path / "old"
    old.mkdir()
    pl.DataFrame({"column": ["IDO_JIYU"] * 3, "value": FORMULAS}).write_csv(old / "quarantine.csv")
    packed = pl.read_csv(_masked_quarantine(old, sens), infer_schema=False)["value"].to_list()
    assert packed == [_neutralised(f) for f in FORMULAS]


def test_run_report_refuses_a_previous_run_that_started_later(rehearsals, tmp_path, capsys):
    r1, r2 = rehearsals
    assert main(["run-report", str(r1), "--out", str(tmp_path / "r.html"), "--previous", str(r2)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "started after" in err
    assert not (tmp_path / "r.html").exists()
    assert main(["run-report", str(r2), "--out", str(tmp_path / "r2.html"), "--previous", str(r1)]) == 0
