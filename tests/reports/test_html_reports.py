"""report.html is one self-contained Japanese file with sensitive values masked."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import polars as pl
import pytest

from ikou.flows.cli import main
from ikou.privacy import FULL_MASK
from ikou.quarantine import conform
from ikou.reports.diff import compare
from ikou.reports.report import render_run_report, write_diff_outputs

SENSITIVE = {"kojin_no", "shimei", "shimei_kana"}


def _assert_self_contained(html: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "@import" not in html and "url(" not in html
    assert "http://" not in html and "https://" not in html


def test_diff_report_is_self_contained_and_masked(tmp_path, pair_csv, kojin_nos):
    out = tmp_path / "out"
    assert main(["diff", str(pair_csv[0]), str(pair_csv[1]), "--key", "atena_no",
                 "--out", str(out)]) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    _assert_self_contained(html)
    assert "<svg" in html and "並行稼働 比較レポート" in html
    for no in kojin_nos:
        assert no not in html and no[-4:] not in html   # no digit of 個人番号, not even the tail
    assert not re.search(r"\d{12}", html)
    assert "鈴木花子" not in html and "鈴木花代" not in html and "＊＊" in html
    assert FULL_MASK in html
    for name in ("differences.csv", "only_left.csv", "only_right.csv"):
        text = (out / name).read_text(encoding="utf-8")
        assert not any(no in text for no in kojin_nos)


def test_reveal_flag_shows_sensitive_values(tmp_path, pair_csv):
    out = tmp_path / "out"
    assert main(["diff", str(pair_csv[0]), str(pair_csv[1]), "--key", "atena_no",
                 "--out", str(out), "--reveal"]) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "567890123456" in html and "鈴木花代" in html and "マスクせずに" in html


RUN = {"dantai": "999997", "dantai_name": "架空市", "run_id": "20261123T110000Z-R2-ab12",
       "rehearsal": "R2", "gyomu": ["juki"], "status": "succeeded",
       "started_at": "2026-11-23T11:00:00Z", "finished_at": "2026-11-23T11:03:00Z",
       "tables": {"juki_kojin_rireki": {"extracted": 2500, "mapped": 2490, "quarantined": 12,
                                        "loaded": 2488, "warnings": 5},
                  "juki_kojin": {"derived": True, "loaded": 990},
                  "juki_setai": {"derived": True, "loaded": 400}},
       "sources": {"vendor_a_jumin": {"rows": 2501, "file": "JUMIN.csv", "sha256": "ab" * 32}},
       "stages": {"extract": {"rows": 2501, "seconds": 0.3}, "map": {"rows": 2490, "seconds": 0.5},
                  "moji": {"rows": 2490, "seconds": 0.2}, "validate": {"rows": 2488, "seconds": 0.1},
                  "load": {"rows": 2488, "seconds": 0.9}},
       "rules": [{"rule": "code_value.zokugara_code", "severity": "error",
                  "column": "zokugara_code", "rows_failed": 1}],
       "moji": {"counts": {"mj": 12000, "gaiji": 30, "decided": 0, "unresolved": 1,
                           "passthrough": 4000}, "unresolved": []},
       "control_totals": {"kazei_kojin": {"zeigaku": {"extracted": 9100, "loaded": 9000, "held": 100}}}}
PREVIOUS = {**RUN, "run_id": "20261101T110000Z-R1-cd34", "rehearsal": "R1",
            "tables": {"juki_kojin_rireki": {"extracted": 2500, "mapped": 2470, "quarantined": 30,
                                             "loaded": 2470, "warnings": 2}},
            "rules": [{"rule": "code_value.zokugara_code", "severity": "error",
                       "column": "zokugara_code", "rows_failed": 9}],
            "moji": {"counts": {"unresolved": 0}}}


def _quarantine() -> pl.DataFrame:
    return conform(pl.DataFrame({
        "stage": ["validate", "validate", "map"],
        "table": ["juki_kojin_rireki"] * 3,
        "source": ["JUMIN.csv"] * 3,
        "source_line": [10, 11, 12],
        "record_key": ["0000000010", "0000000011", "0000000012"],
        "column": ["kojin_no", "shimei", "zokugara_code"],
        "rule": ["checkdigit.kojin_no", "moji.unresolved", "code_table.unknown"],
        "severity": ["error", "error", "warning"],
        "value": ["123456789019", "山田花子", "ZZ"],
        "message_ja": ["個人番号の検査用数字が一致しません", "未解決の外字", "続柄コードが対応表にありません"],
    }))


def test_run_report_counts_reasons_trend_and_masking(tmp_path):
    out = render_run_report(RUN, _quarantine(), tmp_path / "report.html",
                            previous_summary=PREVIOUS, sensitive=SENSITIVE)
    html = out.read_text(encoding="utf-8")
    _assert_self_contained(html)
    assert "架空市" in html and "2,488" in html and "成功" in html
    assert "checkdigit.kojin_no" in html and "続柄コードが対応表にありません" in html
    assert "123456789019" not in html and "6789019" not in html and FULL_MASK in html
    assert "山田花子" not in html and "＊＊" in html
    assert "ZZ" in html                       # not sensitive: shown verbatim
    # trend: quarantined 30 → 12 and rule failures 9 → 1 got better, unresolved 0 → 1 worse
    assert re.search(r"juki_kojin_rireki（住民記録 個人履歴） 保留</td><td class=\"n\">30</td><td class=\"n\">12"
                     r"</td>\s*<td class=\"n\">-18</td>\s*<td class=\"ok\">改善", html)
    assert re.search(r"文字 未解決</td><td class=\"n\">0</td><td class=\"n\">1</td>\s*"
                     r"<td class=\"n\">\+1</td>\s*<td class=\"ng\">悪化", html)


def test_run_report_with_a_diff_section(tmp_path, pair_csv):
    diff = write_diff_outputs(compare(*pair_csv, key=["atena_no"]), tmp_path / "diff",
                              sensitive=SENSITIVE)
    html = render_run_report(RUN, _quarantine(), tmp_path / "r.html", diff=diff).read_text(
        encoding="utf-8")
    assert "並行稼働 比較" in html and "値が異なる行" in html


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html, png, *, window: str = "1280,2000") -> bytes:
    """Render `html` in headless Chromium into `png` (skip without chromium, fail under IKOU_REQUIRE_SERVICES)."""
    exe = _chromium()
    if exe is None:
        msg = "chromium is not installed (Debian: apt-get install -y chromium fonts-noto-cjk)"
        if os.environ.get("IKOU_REQUIRE_SERVICES") == "1":
            pytest.fail(msg + " (IKOU_REQUIRE_SERVICES=1)")
        pytest.skip(msg)
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={window}", html.as_uri()],
            capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return png.read_bytes()


def test_report_renders_in_headless_chromium(tmp_path, pair_csv):
    out = tmp_path / "out"
    assert main(["diff", str(pair_csv[0]), str(pair_csv[1]), "--key", "atena_no",
                 "--out", str(out)]) == 0
    data = screenshot(out / "report.html", tmp_path / "out.png")
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_run_report_cli_renders_the_html_and_the_workbook_of_a_run_directory(tmp_path):
    import json
    run, prev = tmp_path / "run2", tmp_path / "run1"
    run.mkdir()
    prev.mkdir()
    (run / "summary.json").write_text(json.dumps(RUN, ensure_ascii=False), encoding="utf-8")
    (prev / "summary.json").write_text(json.dumps(PREVIOUS, ensure_ascii=False), encoding="utf-8")
    _quarantine().write_parquet(run / "quarantine.parquet")
    assert main(["run-report", str(run), "--previous", str(prev)]) == 0
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "リハーサル R2" in html and "前回: R1" in html and "123456789019" not in html
    # the workbook too, from the same run directory, masked the same way
    from openpyxl import load_workbook

    cells = [str(c.value) for ws in load_workbook(run / "report.xlsx", read_only=True).worksheets
             for row in ws.iter_rows() for c in row if c.value is not None]
    assert "保留" in load_workbook(run / "report.xlsx", read_only=True).sheetnames
    assert any("R2" in c for c in cells) and not any("123456789019" in c for c in cells)
    assert main(["run-report", str(tmp_path / "missing")]) == 2


COMBINED = {   # summary.json's `combined` for a multi-table source, shaped as vendor C's run writes it
    "vendor_c_juki": {
        "tables": {
            "kojin": {"table": "C_KOJIN", "extracted": 1203, "used": 1190, "quarantined": 13, "not_migrated": 0,
                      "reference": 0},
            "gaikoku": {"table": "C_GAIKOKUJIN", "extracted": 57, "used": 41, "quarantined": 2, "not_migrated": 14,
                        "reference": 0,
                        "not_migrated_reasons": {"移行日 (2026-10-31) より前に終了した在留情報 (移行対象外)": 14}},
            "m_code": {"table": "M_CODE", "extracted": 36, "used": 0, "quarantined": 0, "not_migrated": 0,
                       "reference": 36}},
        "joins": [{"table": "C_KOJIN", "how": "inner", "unmatched_table_rows": 0, "unmatched_records": 3},
                  {"table": "C_GAIKOKUJIN", "how": "left", "unmatched_table_rows": 1}],
        "history": {"records": 2417}, "held_persons": 9,
        "crosswalks": {"atena_no": {"crosswalk": "atena_no.csv", "kept": 1187, "issued": 4, "held_total": 1191},
                       "setai_no": {"crosswalk": "setai_no.csv", "kept": 0, "issued": 612, "held_total": 612}}}}


def test_run_report_shows_a_combined_sources_ledger_join_unmatched_rows_and_crosswalk_counts(tmp_path):
    from tests.reports.html_tables import section_tables

    html = render_run_report({**RUN, "combined": COMBINED}, _quarantine(), tmp_path / "r.html").read_text(
        encoding="utf-8")
    _assert_self_contained(html)
    t = section_tables(html, "combined-vendor_c_juki")
    assert t["テーブル別の行の内訳"] == [
        ["テーブル", "抽出", "使用", "保留", "移行対象外", "参照（マスタ）", "移行対象外の理由"],
        ["C_KOJIN", "1,203", "1,190", "13", "0", "0", ""],
        ["C_GAIKOKUJIN", "57", "41", "2", "14", "0", "移行日 (2026-10-31) より前に終了した在留情報 (移行対象外): 14 件"],
        ["M_CODE", "36", "0", "0", "0", "36", ""]]
    assert t["結合で相手のなかった行"][1:] == [["C_KOJIN", "inner", "0", "3"], ["C_GAIKOKUJIN", "left", "1", "—"]]
    assert t["番号の対応表（旧番号 → 新番号）"] == [
        ["番号", "対応表", "継続（前回の番号）", "新規発番", "合計"],
        ["atena_no", "atena_no.csv", "1,187", "4", "1,191"], ["setai_no", "setai_no.csv", "0", "612", "612"]]
    assert "保留した人: 9 人" in html


def test_run_report_without_a_combined_source_has_no_combine_section(tmp_path):
    html = render_run_report(RUN, _quarantine(), tmp_path / "r.html").read_text(encoding="utf-8")
    assert "複数テーブルの結合" not in html
