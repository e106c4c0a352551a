"""What a PM reads to sign off a rehearsal: report.html names the sign-off blockers at the top (and why a
failed run failed), a table that loaded none of its records blocks, the trend compares like with like (same
target, rates when the input size differs, no verdict for a failed run), report.html and report.xlsx agree
on an added diff, and the pages speak Japanese (labels beside physical names, one word 保留)."""
from __future__ import annotations

import csv
import io
import json
import re

import openpyxl
import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.flows.cli import build_parser, main
from ikou.quarantine import conform
from ikou.reports.diff import compare
from ikou.reports.reconcile import trend
from ikou.reports.report import render_run_report, write_diff_outputs
from ikou.reports.summary import _blockers, previous_run
from ikou.reports.workbook import write_workbook
from ikou.summary import RunError
from tests.reports.test_html_reports import PREVIOUS, RUN, SENSITIVE, _quarantine


def _html(tmp_path, summary, **kw) -> str:
    return render_run_report(summary, kw.pop("quarantine", _quarantine()), tmp_path / "r.html", **kw).read_text(
        encoding="utf-8")


def _sheet(path, name) -> list[tuple]:
    return list(openpyxl.load_workbook(path, read_only=True)[name].iter_rows(min_row=3, values_only=True))


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- #2: the blockers at the top of report.html ---------------------------------------------------------

def test_report_html_lists_the_sign_off_blockers_before_the_counts(tmp_path):
    blockers = ["1 文字 未同定 (同定台帳で判断が必要)",
                "vendor_a_zei_kojo: 並行稼働比較が投入件数と合いません (旧と一致 0 件 / 投入 4 件) / the parallel-run diff "
                "does not account for every loaded row"]
    html = _html(tmp_path, {**RUN, "sign_off_blockers": blockers})
    top = html.index('<h2 id="blockers">承認の妨げ</h2>')
    assert top < html.index("テーブル別の件数")
    for b in blockers:
        assert f"<li>{b}</li>" in html
    assert "2 件" in _text(html[top:html.index("テーブル別の件数")])


def test_report_html_says_none_when_nothing_blocks_the_sign_off(tmp_path):
    html = _html(tmp_path, {**RUN, "sign_off_blockers": []})
    assert re.search(r'<h2 id="blockers">承認の妨げ</h2>\s*<p class="ok">なし</p>', html)


# --- #3 and #12: a failed run ------------------------------------------------------------------------------

FAILED = {**RUN, "status": "failed",
          "tables": {"juki_kojin_rireki": {"extracted": 0, "mapped": 0, "quarantined": 0, "loaded": 0, "warnings": 0}},
          "error": {"kind": "SourceMissingError", "stage": "extract",
                    "message": "vendor_a_jumin: source file is empty: EMPTY.csv",
                    "message_ja": "ソースファイルがないか空です (エクスポートの失敗)"}}


def test_a_failed_runs_report_says_at_the_top_at_which_stage_and_why_it_failed(tmp_path):
    failed = {**FAILED, "sign_off_blockers": _blockers({}, RunError(**FAILED["error"]), {})}
    html = _html(tmp_path, failed, previous_summary=PREVIOUS)
    head = _text(html[:html.index("テーブル別の件数")])
    assert "失敗の理由 （段階: 抽出）" in head or "失敗の理由（段階: 抽出）" in head
    assert "ソースファイルがないか空です" in head and "source file is empty: EMPTY.csv" in head
    assert "SourceMissingError" not in html   # the reason in words, never the class


def test_a_failed_runs_trend_is_marked_not_comparable_and_claims_no_improvement(tmp_path):
    rows = trend(FAILED, PREVIOUS)
    assert [r["verdict"] for r in rows] == ["比較不可"] and PREVIOUS["run_id"] in rows[0]["item"]
    html = _html(tmp_path, FAILED, previous_summary=PREVIOUS)
    assert 'class="ok">改善' not in html and "改善 <b" not in html and "比較不可" in html
    book = write_workbook(FAILED, tmp_path / "r.xlsx", run_dir=tmp_path, previous=PREVIOUS)
    assert [r[4] for r in _sheet(book, "前回比較")] == ["比較不可"]


def test_a_failed_runs_blocker_is_japanese_and_english_and_names_no_class():
    (line,) = _blockers({}, RunError(kind="SourceMissingError", stage="extract", message="x"), {})
    assert "実行が失敗しました" in line and "段階: 抽出" in line and "the run failed at stage extract" in line
    assert "SourceMissingError" not in line
    from ikou.reports.signoff import _rederived_blockers   # the sign-off's own reading of the record agrees

    assert line in _rederived_blockers(REPO_ROOT / "nowhere", {"error": FAILED["error"]})


# --- #4: a table that loaded none of its records ---------------------------------------------------------

@pytest.mark.usefixtures("prefect_harness")
def test_a_table_that_held_every_extracted_record_blocks_the_sign_off(tmp_path, capsys):
    """Every 性別 unknown, the threshold at 100 %: the run succeeds with nothing loaded, which a PM must not
    sign as if it were a rehearsal (an empty export is a blocker; so is this)."""
    from ikou.flows.migrate import migration_flow
    from tests.flows.conftest import vendor_a_source, write_config

    src = (REPO_ROOT / "data" / "sample" / "vendor_a" / "JUMIN.csv").read_bytes().decode("cp932", "surrogateescape")
    rows = [r for r in csv.reader(io.StringIO(src)) if len(r) > 9][:30]
    for r in rows:
        r[8] = "5"   # 性別: no such code
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    held = tmp_path / "ALLHELD.csv"
    held.write_bytes(out.getvalue().encode("cp932", "surrogateescape"))
    cfg = write_config(tmp_path, source=vendor_a_source(path=held), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("max_quarantine_rate: 0.05", "max_quarantine_rate: 1.0"),
                   encoding="utf-8")
    s = migration_flow(config_path=str(cfg))
    t = s["tables"]["juki_kojin_rireki"]
    assert s["status"] == "succeeded" and t["extracted"] == 30 and t["loaded"] == 0
    (line,) = [b for b in s["sign_off_blockers"] if b.startswith("juki_kojin_rireki:") and "すべて保留" in b]
    assert "nothing was loaded" in line
    run_dir = tmp_path / "runs" / s["dantai"] / s["run_id"]
    assert line in (run_dir / "report.html").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["signoff", str(run_dir), "--by", "山田PM", "--role", "PM", "--no-target"]) == 2
    assert "承認できません" in capsys.readouterr().err and not (run_dir / "signoff.json").exists()


def test_a_table_with_loaded_records_or_a_run_failed_before_its_load_has_no_nothing_loaded_blocker():
    ok = {"juki_kojin_rireki": {"extracted": 30, "loaded": 1}, "juki_kojin": {"derived": True, "loaded": 0}}
    assert not [b for b in _blockers({}, None, {}, all_held={}) if "すべて保留" in b]
    from ikou.reports.summary import all_held

    assert all_held(ok) == {} and all_held({"t": {"extracted": 30, "loaded": 0}}) == {"t": 30}
    failed = _blockers({}, RunError(kind="ThresholdError", stage="validate", message="x"), {}, all_held={"t": 30})
    assert not [b for b in failed if "すべて保留" in b]   # the failure is the one line that matters
    # a run the drop guard stopped at load: its counts are whole, and 'all held' is why it had nothing to load
    failed = _blockers({}, RunError(kind="EmptyExportError", stage="load", message="x"), {}, all_held={"t": 30})
    assert [b for b in failed if "すべて保留" in b]
    assert all_held({"t": {"extracted": 30, "quarantined": 29, "loaded": 0}}, by_held=True) == {}


# --- #7: the previous rehearsal is of the same target ------------------------------------------------------

def _summary(d, run_id, url, schema="dantai_999792"):
    (d / run_id).mkdir(parents=True)
    (d / run_id / "summary.json").write_text(json.dumps(
        {"run_id": run_id, "dantai": "999792", "status": "succeeded", "gyomu": ["juki"],
         "target": {"url": url, "schema": schema}}), encoding="utf-8")


def test_the_previous_rehearsal_is_one_loaded_into_the_same_database(tmp_path):
    pg, duck = "postgresql://db.example:5432/mig", "duckdb:////srv/ikou/t792.duckdb"
    _summary(tmp_path, "20990101T000000Z-R1-0001", duck)
    _summary(tmp_path, "20990102T000000Z-R1-0002", pg)   # same schema name, another database
    now = "20990103T000000Z-R2-0003"
    assert previous_run(tmp_path, now, gyomu=["juki"], schema="dantai_999792", url=duck)["run_id"] \
        == "20990101T000000Z-R1-0001"
    # the URL as the run was given it (a password in it) is compared as summary.json shows it
    assert previous_run(tmp_path, now, gyomu=["juki"], schema="dantai_999792",
                        url="postgresql://ikou:S3cret@db.example:5432/mig")["run_id"] == "20990102T000000Z-R1-0002"


def test_a_trend_against_another_target_says_so(tmp_path):
    prev = {**PREVIOUS, "target": {"url": "postgresql://db.example:5432/mig", "schema": "dantai_999997"}}
    cur = {**RUN, "target": {"url": "duckdb:////srv/ikou/t.duckdb", "schema": "dantai_999997"}}
    (note, *_) = trend(cur, prev)
    assert note["verdict"] == "注意" and "移行先" in note["item"] and "postgresql://db.example:5432/mig" in note["item"]
    assert all(r["verdict"] != "注意" for r in trend({**cur, "target": prev["target"]}, prev))


# --- #19: judged by rates ----------------------------------------------------------------------------------

def _run_counts(extracted, mapped, held, loaded, warnings, rule_warnings):
    return {**RUN, "tables": {"juki_kojin_rireki": {"extracted": extracted, "mapped": mapped, "quarantined": held,
                                                    "loaded": loaded, "warnings": warnings}},
            "quarantine_reasons": [{"table": "juki_kojin_rireki", "stage": "validate", "rule": "checkdigit.atena_no",
                                    "severity": "warning", "rows_failed": rule_warnings, "findings": rule_warnings}]}


def test_a_smaller_input_is_judged_by_rates_not_counts():
    prev = _run_counts(2500, 2480, 30, 2470, 100, 100)
    cur = _run_counts(2000, 1984, 24, 1976, 80, 80)   # the same rates from a smaller export
    rows = {r["item"].split(" ")[-1] if "ルール" not in r["item"] else "rule": r for r in trend(cur, prev)}
    for m in ("変換", "投入", "保留", "警告", "rule"):
        assert rows[m]["verdict"] == "変化なし", (m, rows[m])
        assert "率で判定" in rows[m]["note"]
    worse = trend(_run_counts(2000, 1900, 100, 1900, 80, 80), prev)
    assert {r["item"].split(" ")[-1]: r["verdict"] for r in worse}["投入"] == "悪化"


@pytest.mark.parametrize(("before", "after", "note", "beyond", "verdict"), [
    # 4 more held, 4 fewer warnings: the fall is the held rows' doing; a fall with nothing more held is real
    ((2500, 2480, 40, 2460, 198, 198), (2500, 2476, 44, 2456, 194, 194), "増えています",
     (2500, 2480, 40, 2460, 150, 150), "改善"),
    # the rehearsal after a bad one: 30 fewer held, 20 more warnings as those records are validated again;
    # a rise beyond what came back is a regression
    ((2500, 2480, 40, 2460, 150, 150), (2500, 2490, 10, 2490, 170, 170), "減っています",
     (2500, 2490, 10, 2490, 400, 400), "悪化"),
])
def test_warnings_that_moved_with_the_held_records_are_not_judged(before, after, note, beyond, verdict):
    prev = _run_counts(*before)
    rows = {r["item"]: r for r in trend(_run_counts(*after), prev)}
    warn = rows["juki_kojin_rireki（住民記録 個人履歴） 警告"]
    rule = rows["検証 ルール checkdigit.atena_no 違反件数"]
    assert warn["verdict"] == rule["verdict"] == "判定せず" and note in rule["note"]
    real = {r["item"]: r for r in trend(_run_counts(*beyond), prev)}
    assert real["検証 ルール checkdigit.atena_no 違反件数"]["verdict"] == verdict


# --- #9: run-report --diff, the same answer in both -----------------------------------------------------------

def test_run_report_with_an_added_diff_gives_the_same_blockers_and_cells_in_html_and_xlsx(tmp_path, pair_csv):
    extra = tmp_path / "kensho"
    d = write_diff_outputs(compare(*pair_csv, key=["atena_no"]), extra, sensitive=SENSITIVE)
    cells = sum(d["unexplained_cells"].values())
    run = tmp_path / "runs" / RUN["dantai"] / RUN["run_id"]
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({**RUN, "sign_off_blockers": []}, ensure_ascii=False),
                                      encoding="utf-8")
    _quarantine().write_parquet(run / "quarantine.parquet")
    out = tmp_path / "o" / "r.html"
    assert main(["run-report", str(run), "--diff", str(extra / "summary.json"), "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    (line,) = re.findall(r"<li>(kensho: 説明できない差異 .*?)</li>", html)
    assert f"{cells} セル" in line
    overview = [r for r in _sheet(out.with_suffix(".xlsx"), "概要") if r[0] == "承認の妨げ"]
    assert [r[1] for r in overview] == [line.replace("&lt;", "<").replace("&gt;", ">")]
    unexplained = _sheet(out.with_suffix(".xlsx"), "説明できない差異")
    assert len(unexplained) == cells and {r[0] for r in unexplained} == {"kensho"}
    assert not [r for r in unexplained if any(n in str(v) for v in r for n in ("234567890128", "鈴木花"))]


# --- #10, #11, #14: what the page and the workbook call things ------------------------------------------

def test_the_input_files_table_names_each_file_with_its_whole_checksum(tmp_path):
    sha = "0123456789abcdef" * 4
    html = _html(tmp_path, {**RUN, "sources": {"vendor_a_jumin": {"origin": "JUMIN.csv", "rows": 2501, "sha256": sha,
                                                                  "quarantined": 1}}})
    section = html[html.index("<h2>入力ファイル</h2>"):]
    assert "<td>JUMIN.csv</td>" in section and sha in section and "<td>—</td>" not in section


def test_the_reports_give_japanese_names_and_call_held_records_horyu(tmp_path):
    s = {**RUN, "gyomu": ["juki", "kojin_juminzei"],
         "stages": {**RUN["stages"], "diff": {"rows": 2488, "seconds": 0.4}},
         "control_totals": {"kojin_juminzei_kazei": {"nengaku": {"extracted": 9100, "loaded": 9000, "held": 100,
                                                                 "difference": 0, "unreadable": 0,
                                                                 "records_held_at_extract": 0}}},
         "quarantine_reasons": [{"table": "juki_kojin_rireki", "stage": "validate", "rule": "checkdigit.kojin_no",
                                 "severity": "error", "rows_failed": 1, "findings": 1}]}
    html = _html(tmp_path, s, sensitive=SENSITIVE)
    text = _text(html)
    assert "juki（住民記録）, kojin_juminzei（個人住民税）" in text
    assert "juki_kojin_rireki（住民記録 個人履歴）" in text and "kojin_no（個人番号）" in text
    assert "並行稼働比較" in html[html.index("<h2>段階別の処理</h2>"):]
    totals = html[html.index('<h2 id="control-totals">'):]
    assert "nengaku（年税額）" in totals and "保留中" in totals and "差額" in totals and "extracted" not in totals
    assert "隔離" not in html and "保留・警告の理由" in html
    book = write_workbook(s, tmp_path / "r.xlsx", run_dir=tmp_path, quarantine=_quarantine(), sensitive=SENSITIVE)
    (reason,) = _sheet(book, "保留理由")
    assert reason[:4] == ("juki_kojin_rireki（住民記録 個人履歴）", "検証", "checkdigit.kojin_no", "エラー (保留)")
    title = openpyxl.load_workbook(book, read_only=True)["文字同定"]["A1"].value
    assert "未解決 1" in title and "MJ文字" in title and not re.search(r"unresolved|passthrough|gaiji|\bmj\b", title)
    wb = openpyxl.load_workbook(book, read_only=True)
    assert not [v for ws in wb.worksheets for r in ws.iter_rows(values_only=True) for v in r
                if isinstance(v, str) and "隔離" in v]


def _findings(rule, tables, messages, columns, severity="error"):
    n = len(tables)
    return conform(pl.DataFrame({
        "stage": ["validate"] * n, "table": tables, "source": ["X.csv"] * n, "source_line": list(range(1, n + 1)),
        "record_key": [f"atena_no=000000{i}" for i in range(n)], "column": columns, "rule": [rule] * n,
        "severity": [severity] * n, "value": ["v"] * n, "message_ja": messages}))


def test_each_rule_heading_gives_the_rules_own_message_not_its_first_findings(tmp_path):
    q = pl.concat([
        _findings("key.unique", ["juki_kojin_rireki", "kojin_juminzei_gimusha"],
                  ["宛名番号・履歴番号が重複しています（重複した全行を保留）",
                   "宛名番号・課税年度が重複しています（重複した全行を保留）"], ["atena_no", "atena_no"]),
        _findings("setai.one_setainushi", ["juki_kojin_rireki"] * 2,
                  ["世帯主が一人ではありません（世帯全体を保留） (setai_no=2340594650 setainushi=0)",
                   "世帯主が一人ではありません（世帯全体を保留） (setai_no=4938614577 setainushi=0)"],
                  ["setai_no", "setai_no"]),
        _findings("setai.setainushi_held", ["juki_kojin_rireki"],
                  ["世帯主の記録が保留されたため、世帯全体を保留します (setai_no=1041584692; setainushi atena_no=1)"],
                  ["setai_no"])])
    html = _html(tmp_path, {**RUN, "gyomu": ["juki", "kojin_juminzei"]}, quarantine=q)
    heads = dict(re.findall(r"<summary>([a-z_.]+)（[^<]*: \d+ 件 — (.*?)</summary>", html))
    assert heads["key.unique"] == "キーが重複しています（重複した全行を保留）"
    assert heads["setai.one_setainushi"] == "世帯主が一人ではありません（世帯全体を保留）"
    assert heads["setai.setainushi_held"].startswith("世帯主の記録が保留されたため")   # a rule's outcome of its own id
    # the rows keep each finding's own words
    assert "(setai_no=4938614577 setainushi=0)" in html and "宛名番号・課税年度が重複" in html


# --- #17: messages ------------------------------------------------------------------------------------------

def test_run_report_of_a_folder_without_a_summary_says_it_is_not_a_run_folder(tmp_path, capsys):
    folder = tmp_path / "runs" / "999792" / "20261130T000000Z-R1-0000"
    folder.mkdir(parents=True)
    for path in (folder, tmp_path / "nowhere"):
        assert main(["run-report", str(path)]) == 2
        err = capsys.readouterr().err
        assert "実行フォルダではありません" in err and "設定・仕様ファイル" not in err and len(err.strip().splitlines()) == 1


def test_evidence_takes_the_debug_its_unexpected_error_line_offers(tmp_path, capsys):
    from ikou.errors import IkouError, UNEXPECTED_JA

    assert "--debug" in UNEXPECTED_JA
    assert build_parser().parse_args(["evidence", str(tmp_path), "--debug"]).debug is True
    assert main(["evidence", str(tmp_path / "nowhere")]) == 2 and "Traceback" not in capsys.readouterr().err
    with pytest.raises(IkouError):   # --debug: the error itself, for its traceback
        main(["evidence", str(tmp_path / "nowhere"), "--debug"])


def test_a_campaign_run_that_left_no_summary_is_blocked_in_japanese_and_english(tmp_path):
    from ikou.reports import campaign

    r = campaign.run_record(deployment="c.999792.juki", dantai="999792", dantai_name="報告市", gyomu=["juki"],
                            rehearsal="R1", run_id="R-999792", run_dir=None, flow_run_id="fr", flow_run_url=None,
                            state="CRASHED", state_message="worker died", summary=None)
    (line,) = r["sign_off_blockers"]
    assert "実行が失敗しました" in line and "the run failed" in line and not line.startswith("run failed")


# --- the run a load replaced had not finished (killed after its COMMIT) ---------------------------------

def test_report_html_says_the_run_the_target_held_had_not_finished_and_what_stays_the_previous_state(tmp_path):
    dropped = {**RUN, "target": {"replaced_run": "20261130T000000Z-R1-aaaa", "replaced_unfinished_run": {
        "run_id": "20261130T010000Z-R2-bbbb", "status": "unfinished", "kept_as_previous": False}}}
    text = _text(_html(tmp_path, dropped))
    assert "投入先が保持していた実行 20261130T010000Z-R2-bbbb は完了していませんでした" in text
    assert "その前の完了した実行 20261130T000000Z-R1-aaaa を前の状態" in text
    kept = {**RUN, "target": {"replaced_run": "20261130T010000Z-R2-bbbb", "replaced_unfinished_run": {
        "run_id": "20261130T010000Z-R2-bbbb", "status": "failed", "kept_as_previous": True}}}
    text = _text(_html(tmp_path, kept))
    assert "投入の確定後に失敗" in text and "完了した実行がその前にないため" in text
    assert "replaced-unfinished" not in _html(tmp_path, {**RUN, "target": {"replaced_run": "x"}})
    book = write_workbook(dropped, tmp_path / "r.xlsx", run_dir=tmp_path)
    rows = dict(openpyxl.load_workbook(book, read_only=True)["概要"].iter_rows(min_row=3, values_only=True))
    assert rows["未完了の実行を置換"].startswith("20261130T010000Z-R2-bbbb (unfinished): 破棄し")
    assert rows["前の状態（戻り先）"] == "20261130T000000Z-R1-aaaa"

