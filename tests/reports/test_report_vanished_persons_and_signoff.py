"""The page and the workbook of the persons that vanished since the previous rehearsal (summary.json `persons`), and
of a sign-off made after the run (signoff.json): a few vanished persons are a first-screen warning, more than the
fall limit a blocker even when as many new ones keep the counts level (a renumbered 宛名番号); a previous run with
no keys is said so, never 0; a key column flagged sensitive is never listed; who signed, when (JST), the role and
the override show on the first screen of a report rendered after the sign-off."""
from __future__ import annotations

import hashlib
import json
import re
import shutil

import openpyxl

from ikou import REPO_ROOT
from ikou.reports.reconcile import vanished_blocks, vanished_line, vanished_over, vanished_warning
from ikou.reports.report import render_run_report
from ikou.reports.summary import person_columns
from ikou.reports.workbook import write_workbook
from ikou.schema import load_schema
from tests.reports.test_html_reports import RUN, _quarantine

DANTAI = "999741"
PREVIOUS = "20261123T100000Z-R1-cd34"


def _persons(vanished: int, new: int, previous_count: int = 1000, **more) -> dict:
    listed = [f"atena_no={n:010d}" for n in range(1, min(vanished, 100) + 1)]
    return {"columns": ["atena_no"], "file": "persons.parquet", "count": previous_count - vanished + new,
            "held_without_key": 0, "previous_run": PREVIOUS, "previous_rehearsal": "R1", "compared": True,
            "previous_count": previous_count, "vanished": vanished, "new": new,
            "vanished_rate": vanished / previous_count, "vanished_listed": listed,
            "vanished_file": "vanished.csv" if vanished else None, **more}


def _run(persons: dict, blockers=()) -> dict:
    return {**RUN, "dantai": DANTAI, "persons": persons, "sign_off_blockers": list(blockers)}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_the_person_key_is_the_schemas_own_and_never_a_sensitive_column(tmp_path):
    juki = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")
    zei = load_schema(REPO_ROOT / "specs" / "gyomu" / "kojin_juminzei" / "schema.yaml")
    assert person_columns(juki, "juki_kojin_rireki") == ["atena_no"]   # the key of 現在の個人 (derive latest)
    assert {t: person_columns(zei, t) for t in zei.tables} == {t: ["atena_no"] for t in zei.tables}
    shutil.copytree(REPO_ROOT / "specs" / "gyomu" / "juki", tmp_path / "juki")
    f = tmp_path / "juki" / "schema.yaml"
    text = f.read_text(encoding="utf-8")
    assert text.count("ja: 宛名番号,     type: text, required: true, max_length: 15}") == 1
    f.write_text(text.replace("max_length: 15}", "max_length: 15, sensitive: true}", 1), encoding="utf-8")
    assert person_columns(load_schema(f), "juki_kojin_rireki") == []


def test_a_few_vanished_persons_warn_and_a_renumbering_that_keeps_the_counts_blocks():
    few = _persons(2, 1)
    assert not vanished_over(few) and "2 人が、今回の投入にも保留にもいません" in vanished_warning(few)
    # every 宛名番号 renumbered: the same count, no fall, everyone replaced
    renumbered = _persons(1000, 1000)
    assert vanished_over(renumbered)
    line = vanished_line(renumbered)
    assert "1,000 人 (100%)" in line and "新しい人 1,000 人" in line and "vanished.csv" in line
    assert "renumbered" in line and vanished_blocks([line]) and vanished_warning(renumbered, [line]) is None
    assert not vanished_over(_persons(10, 0))             # 1.0 %: within the limit
    assert vanished_over(_persons(11, 0))                 # 1.1 %
    assert not vanished_over(_persons(11, 0), max_rate=0.05)   # the run's own thresholds.signoff_max_fall_rate
    assert not vanished_over({**renumbered, "compared": False})


def test_the_first_screen_warns_of_a_few_and_lists_them_all_below(tmp_path):
    html = render_run_report(_run(_persons(2, 1)), _quarantine(), tmp_path / "r.html").read_text(encoding="utf-8")
    top = _text(html[:html.index("テーブル別の件数")])
    assert "警告: 前回リハーサルから消えた人 2 人" in top and "0000000001、0000000002" in top
    assert "前回から消えた人" in top and "新しい人" in top   # the cards
    below = _text(html[html.index('id="persons"'):])
    assert "1,000 人のうち、今回の投入にも保留にもいない人: 2 人（警告）" in below and "新しい人: 1 人" in below


def test_a_blocker_is_said_once_as_a_blocker_and_the_list_is_bounded(tmp_path):
    p = _persons(1000, 1000)
    line = vanished_line(p)
    html = render_run_report(_run(p, [line]), _quarantine(), tmp_path / "r.html").read_text(encoding="utf-8")
    top = _text(html[:html.index("テーブル別の件数")])
    assert 'id="vanished-warning"' not in html and "1,000 人 (100%) が今回の投入にも保留にもいません" in top
    start = html.index('id="persons"')
    below = html[start:html.index("</table>", start) + 200]
    assert "（承認の妨げ）" in _text(below) and below.count("<tr><td") == 100 and "ほか 900 件" in below


def test_a_previous_run_without_keys_is_unknown_not_zero(tmp_path):
    p = {"columns": ["atena_no"], "file": "persons.parquet", "count": 998, "previous_run": PREVIOUS,
         "previous_rehearsal": "R1", "compared": False,
         "not_compared": "the previous run kept no keys of its persons (a run from before they were recorded)"}
    html = render_run_report(_run(p), _quarantine(), tmp_path / "r.html").read_text(encoding="utf-8")
    top = _text(html[:html.index("テーブル別の件数")])
    assert "前回から消えた人は数えていません（0 人ではなく不明）" in top and "vanished persons are unknown, not 0" in top
    out = tmp_path / "r.xlsx"
    write_workbook(_run(p), out, run_dir=tmp_path)
    overview = {r[0]: r[1] for r in openpyxl.load_workbook(out)["概要"].iter_rows(min_row=3, values_only=True)}
    assert overview["前回から消えた人"].startswith("不明")


def test_a_sensitive_key_column_is_counted_never_listed(tmp_path):
    p = _persons(2, 0)
    html = render_run_report(_run(p), _quarantine(), tmp_path / "r.html",
                             sensitive={"atena_no"}).read_text(encoding="utf-8")
    assert "0000000001" not in html and "キーの列が機微項目のため" in html and "消えた人 2 人" in html
    out = tmp_path / "r.xlsx"
    write_workbook(_run(p), out, run_dir=tmp_path, sensitive={"atena_no"})
    assert "消えた人" not in openpyxl.load_workbook(out).sheetnames


def _signed(run_dir, summary: dict, **record) -> None:
    raw = json.dumps(summary, ensure_ascii=False).encode("utf-8")
    (run_dir / "summary.json").write_bytes(raw)
    (run_dir / "signoff.json").write_text(json.dumps({"signoffs": [
        {"run_id": summary["run_id"], "dantai": DANTAI, "rehearsal": "R2", "status": "succeeded", "by": "移行PM 加藤",
         "role": "PM", "at": "2026-11-30T20:51:54+00:00", "summary_sha256": hashlib.sha256(raw).hexdigest(),
         "blockers": ["未同定の文字 1 種類 (1 箇所) (同定台帳で判断が必要)"], "override": "R3 で判断する",
         "target": {"checked": True, "schema": f"dantai_{DANTAI}", "holds": summary["run_id"]}, **record}]}),
        encoding="utf-8")


def test_a_later_signoff_shows_on_the_first_screen_in_jst_with_its_override(tmp_path):
    s = _run(_persons(0, 0))
    _signed(tmp_path, s)
    html = render_run_report(s, _quarantine(), tmp_path / "report.html").read_text(encoding="utf-8")
    top = _text(html[:html.index('id="blockers"')])
    assert "承認済み" in top and "承認者: 移行PM 加藤" in top and "役割: PM" in top
    assert "2026-12-01 05:51:54 JST" in top   # 20:51 UTC is the next morning at the 自治体
    assert "承認の妨げ 1 件を理由を記録して承認（--override）: R3 で判断する" in top and "未同定の文字 1 種類" in top
    assert "summary.json が変更されています" not in top
    write_workbook(s, tmp_path / "report.xlsx", run_dir=tmp_path)
    rows = [r for r in openpyxl.load_workbook(tmp_path / "report.xlsx")["概要"].iter_rows(values_only=True)
            if r[0] == "承認"]
    assert rows and "移行PM 加藤 (PM) 2026-12-01 05:51:54 JST" in rows[0][1] and "R3 で判断する" in rows[0][1]


def test_a_signoff_of_another_summary_or_run_is_flagged_or_left_out(tmp_path):
    s = _run(_persons(0, 0))
    _signed(tmp_path, s)
    (tmp_path / "summary.json").write_text(json.dumps({**s, "sign_off_blockers": []}), encoding="utf-8")   # edited
    top = _text(render_run_report(s, _quarantine(), tmp_path / "report.html").read_text(encoding="utf-8"))
    assert "承認後に summary.json が変更されています" in top
    _signed(tmp_path, s, run_id="20261123T120000Z-R3-ef56")   # another run's record
    html = render_run_report(s, _quarantine(), tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="signoff"' not in html
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert 'id="signoff"' not in render_run_report(s, _quarantine(), other / "r.html").read_text(encoding="utf-8")
