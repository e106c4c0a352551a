"""The first screen does not leave 「承認の妨げ なし」 alone beside held records (pm probe, finding 3): one sentence says
how many records (and persons, where known) were held and are not migrated, with the 前回比較 verdict; the campaign
page tells 「成功（承認の妨げあり）」 from 「成功」."""
from __future__ import annotations

import re

from ikou.reports import campaign
from ikou.reports.report import render_run_report
from tests.reports.test_campaign_report import _campaign, _record, _summary
from tests.reports.test_html_reports import PREVIOUS, RUN, _quarantine


def _first_screen(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html[:html.index("テーブル別の件数")]))


def test_next_to_no_blockers_the_page_says_the_held_records_are_not_migrated_and_how_the_trend_went(tmp_path):
    s = {**RUN, "sign_off_blockers": [], "combined": {"vendor_c": {"held_persons": 11}}}
    html = render_run_report(s, _quarantine(), tmp_path / "r.html", previous_summary=PREVIOUS).read_text("utf-8")
    assert re.search(r'<h2 id="blockers">承認の妨げ</h2>\s*<p class="ok">なし</p>', html)
    top = _first_screen(html)
    assert "保留した 12 件（11 人分）の記録は移行されていません" in top
    assert "前回リハーサル（R1 20261101T110000Z-R1-cd34）との比較: 改善 3 項目、悪化 1 項目（文字 未解決）" in top
    assert "12 held record(s) (11 person(s)) are not migrated" in top
    assert html.index('id="first-screen-summary"') < html.index('<h2 id="trend">')


def test_a_run_with_nothing_held_and_no_previous_run_has_no_such_sentence(tmp_path):
    s = {**RUN, "tables": {t: {**v, "quarantined": 0} for t, v in RUN["tables"].items()}}
    html = render_run_report(s, _quarantine(), tmp_path / "r.html").read_text("utf-8")
    assert 'id="first-screen-summary"' not in html


def test_the_campaign_tells_a_success_with_blockers_from_a_clean_success(tmp_path):
    blocked = _record(tmp_path, "999776", _summary("999776", unresolved=2))
    clean = _record(tmp_path, "999784", _summary("999784", unresolved=0, unexplained=0))
    assert campaign.shown_status(blocked) == "成功（承認の妨げあり）" and campaign.shown_status(clean) == "成功"
    folder, rec = _campaign(tmp_path, "20261130T204142Z", [blocked, clean])
    page = (folder / "campaign.html").read_text(encoding="utf-8")
    assert rec["status"] == "complete"
    assert '<b class="ng">完了（全団体成功・承認の妨げのある実行 1 件）</b>' in page
    assert '<td class="ng">成功（承認の妨げあり）</td>' in page and '<td class="ok">成功</td>' in page
