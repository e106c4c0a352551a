"""A run's report, workbook and sign-off take only the run's own data: `ikou diff --out` cannot write into a
run folder, a folder someone wrote under RUN_DIR/diff/ is not one of the run's diffs, `run-report --diff` /
`--quarantine` of another 団体 (or through a link) is refused, and the cells a `--diff` adds to report.xlsx are
masked with the run's own columns, the 個人番号 names and the shape guard, whatever the diff was written with."""
from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest

from ikou.flows.cli import main
from tests.reports.test_html_reports import RUN

OWN, OTHER = "999741", "999750"
RUN_ID = "20261130T143119Z-R1-cc9b"
KOJIN, RIGHT_KOJIN, JUMINHYO = "739518462038", "482603175926", "86420975318"
SHI, TOKKI = "鬮瀬", "特記事項ひみつ"   # TOKKI: sensitive only by the run's own record (specs/manifest.json)
HEADER = "atena_no,SHI,kojin_no,seinengappi,TOKKI,BIKO\n"


def _run(root: Path, dantai: str = OWN, run_id: str = RUN_ID, **changes) -> Path:
    d = root / "runs" / dantai / run_id
    (d / "specs").mkdir(parents=True)
    s = {**RUN, "dantai": dantai, "run_id": run_id, **changes}
    (d / "summary.json").write_text(json.dumps(s, ensure_ascii=False), encoding="utf-8")
    (d / "specs" / "manifest.json").write_text(json.dumps({"sensitive_columns": ["SHI", "TOKKI", "shimei"]}),
                                               encoding="utf-8")
    return d


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    left, right = tmp_path / "l.csv", tmp_path / "r.csv"
    left.write_text(HEADER + f"9100000011,{SHI},{KOJIN},{JUMINHYO},{TOKKI},メモ1\n", encoding="utf-8")
    right.write_text(HEADER + f"9100000011,髙瀬,{RIGHT_KOJIN},1970-01-01,特記事項なし,メモ2\n", encoding="utf-8")
    return left, right


def _diff(tmp_path: Path, out: Path, *extra: str) -> int:
    return main(["diff", *map(str, _pair(tmp_path)), "--key", "atena_no", "--out", str(out), *extra])


def _sheet(book: Path, name: str) -> list[tuple]:
    import openpyxl

    return [tuple(r) for r in openpyxl.load_workbook(book, read_only=True)[name].iter_rows(values_only=True)]


# ---------------------------------------------------------------- the cells a --diff adds are masked

@pytest.mark.parametrize("reveal", [True, False])
def test_run_report_masks_the_cells_of_a_diff_it_is_given_with_the_runs_columns(tmp_path, reveal):
    run = _run(tmp_path)
    assert _diff(tmp_path, tmp_path / "adhoc", *(["--reveal"] if reveal else [])) == 0
    assert main(["run-report", str(run), "--diff", str(tmp_path / "adhoc" / "summary.json")]) == 0
    rows = _sheet(run / "report.xlsx", "説明できない差異")
    text = repr(rows)
    for planted in (KOJIN, RIGHT_KOJIN, JUMINHYO, SHI, TOKKI):
        assert planted not in text, planted
    assert "9100000011" in text and "メモ1" in text   # the key stays traceable; what is not personal is shown


# ---------------------------------------------------------------- another 団体's --diff / --quarantine

def test_run_report_refuses_a_diff_in_another_dantais_run_folder(tmp_path, capsys):
    run, other = _run(tmp_path), _run(tmp_path, OTHER, "20261130T142707Z-R1-ffd3")
    from ikou.reports.diff import compare
    from ikou.reports.report import write_diff_outputs

    write_diff_outputs(compare(*_pair(tmp_path), key=["atena_no"]), other / "diff" / "jumin")
    out = tmp_path / "out" / "r.html"
    assert main(["run-report", str(run), "--out", str(out), "--diff",
                 str(other / "diff" / "jumin" / "summary.json")]) == 2
    assert OTHER in capsys.readouterr().err and not out.exists()


def test_run_report_refuses_a_diff_whose_summary_names_another_dantais_schema(tmp_path, capsys):
    run = _run(tmp_path)
    assert _diff(tmp_path, tmp_path / "cmp") == 0
    s = json.loads((tmp_path / "cmp" / "summary.json").read_text(encoding="utf-8"))
    s["right"] = f"新 dantai_{OTHER}.juki_kojin_rireki"
    (tmp_path / "cmp" / "summary.json").write_text(json.dumps(s, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out" / "r.html"
    assert main(["run-report", str(run), "--out", str(out), "--diff", str(tmp_path / "cmp" / "summary.json")]) == 2
    assert f"dantai_{OTHER}" in capsys.readouterr().err and not out.exists()


def test_run_report_refuses_a_quarantine_of_another_dantai_or_through_a_link(tmp_path, capsys):
    run, other = _run(tmp_path), _run(tmp_path, OTHER, "20261130T142707Z-R1-ffd3")
    from ikou.quarantine import empty

    empty().write_parquet(other / "quarantine.parquet")
    out = tmp_path / "out" / "r.html"
    assert main(["run-report", str(run), "--out", str(out), "--quarantine", str(other / "quarantine.parquet")]) == 2
    assert OTHER in capsys.readouterr().err and not out.exists()
    os.symlink(other / "quarantine.parquet", tmp_path / "q.parquet")
    assert main(["run-report", str(run), "--out", str(out), "--quarantine", str(tmp_path / "q.parquet")]) == 2
    assert "symbolic link" in capsys.readouterr().err and not out.exists()


def test_run_report_refuses_a_diff_folder_reached_through_a_link(tmp_path, capsys):
    run = _run(tmp_path)
    assert _diff(tmp_path, tmp_path / "real") == 0
    os.symlink(tmp_path / "real", tmp_path / "linked")
    out = tmp_path / "out" / "r.html"
    assert main(["run-report", str(run), "--out", str(out), "--diff", str(tmp_path / "linked" / "summary.json")]) == 2
    assert "symbolic link" in capsys.readouterr().err and not out.exists()


# ---------------------------------------------------------------- ikou diff --out into a run folder

@pytest.mark.parametrize("where", ["own_run_diff", "other_run_diff", "other_run", "other_dantai_folder"])
def test_diff_refuses_an_out_inside_a_run_folder(tmp_path, capsys, where):
    run, other = _run(tmp_path), _run(tmp_path, OTHER, "20261130T142707Z-R1-ffd3")
    out = {"own_run_diff": run / "diff" / "adhoc", "other_run_diff": other / "diff" / "adhoc",
           "other_run": other, "other_dantai_folder": other.parent / "adhoc"}[where]
    before = json.loads((other / "summary.json").read_text(encoding="utf-8"))
    assert _diff(tmp_path, out) == 2
    err = capsys.readouterr().err
    assert "実行フォルダ" in err and "run folder" in err
    assert not (out / "differences.csv").exists() and not (out / "report.html").exists()
    assert json.loads((other / "summary.json").read_text(encoding="utf-8")) == before


def test_diff_outside_any_run_folder_is_written(tmp_path):
    _run(tmp_path)
    assert _diff(tmp_path, tmp_path / "comparisons" / "adhoc") == 0
    assert (tmp_path / "comparisons" / "adhoc" / "report.html").is_file()


# ---------------------------------------------------------------- a folder planted under RUN_DIR/diff/

def _plant(run: Path, tmp_path: Path, name: str = "adhoc") -> None:
    """A diff written into the run folder by hand (as `ikou diff --out` could before it was refused)."""
    from ikou.reports.diff import compare
    from ikou.reports.report import write_diff_outputs

    write_diff_outputs(compare(*_pair(tmp_path), key=["atena_no"]), run / "diff" / name, reveal=True)


def test_run_report_ignores_a_folder_under_diff_that_is_not_one_of_the_runs_diffs(tmp_path):
    run = _run(tmp_path, OTHER, "20261130T142707Z-R1-ffd3")
    _plant(run, tmp_path)
    assert main(["run-report", str(run)]) == 0
    assert "adhoc" not in (run / "report.html").read_text(encoding="utf-8")
    assert "adhoc" not in repr(_sheet(run / "report.xlsx", "説明できない差異"))
    assert "adhoc" not in repr(_sheet(run / "report.xlsx", "比較件数"))


def test_signoff_ignores_a_folder_under_diff_that_is_not_one_of_the_runs_diffs(tmp_path):
    from ikou.reports.signoff import sign_off

    run = tmp_path / "runs" / OTHER / "20261130T142707Z-R1-ffd3"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"run_id": run.name, "dantai": OTHER, "status": "succeeded",
                                                  "sign_off_blockers": [], "sources": {"jumin": {"rows": 1}},
                                                  "diff": {}}), encoding="utf-8")
    _plant(run, tmp_path)
    assert sign_off(run, by="PM2", role="PM", no_target=True)["override"] is None


def test_signoff_still_reads_the_diff_of_one_of_the_runs_sources_left_out_of_summary_json(tmp_path):
    """Removing a diff from summary.json does not hide its unexplained cells: the folder of a source is the run's."""
    from ikou.reports.signoff import SignOffMismatch, sign_off

    run = tmp_path / "runs" / OWN / RUN_ID
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"run_id": RUN_ID, "dantai": OWN, "status": "succeeded",
                                                  "sign_off_blockers": [], "sources": {"jumin": {"rows": 1}},
                                                  "diff": {}}), encoding="utf-8")
    _plant(run, tmp_path, "jumin")
    with pytest.raises(SignOffMismatch, match="jumin"):
        sign_off(run, by="PM", role="PM", no_target=True)


def test_the_evidence_pack_leaves_out_a_folder_under_diff_that_is_not_one_of_the_runs_diffs(tmp_path):
    from ikou.reports.evidence import _run_files

    run = _run(tmp_path, OTHER, "20261130T142707Z-R1-ffd3", diff={"vendor_a_jumin": {}})
    _plant(run, tmp_path)
    _plant(run, tmp_path, "vendor_a_jumin")
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    packed = set(_run_files(run, summary))
    assert "diff/vendor_a_jumin/differences.csv" in packed
    assert not any(n.startswith("diff/adhoc/") for n in packed)
