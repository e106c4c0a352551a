"""The persons that vanished since the previous rehearsal, named (PM at the sign-off of rehearsal N: "which 宛名番号
were in the previous rehearsal, loaded or held, and are in neither this run's loaded nor its held records?"). The
fall check judges counts only: two persons deleted between rehearsals were named nowhere. Each run keeps the keys
of the persons it saw (persons.parquet); the next rehearsal of the same target lists those gone (report.html, the
workbook, summary.json, vanished.csv) and counts the new ones, as a first-screen warning (a few are no blocker);
a previous run without the file says so instead of 0. A sign-off made later shows on the first screen of the
report rendered again: who, when (JST), the role, the override."""
from __future__ import annotations

import json
import re
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from ikou.flows.cli import main
from ikou.flows.migrate import migration_flow
from ikou.reports.signoff import sign_off
from tests.flows.conftest import SAMPLE, vendor_a_source, write_config

DANTAI = "999733"


def _records(raw: bytes) -> list[tuple[bytes, list[bytes]]]:
    """The sample's lines with their first fields (団体コード, 宛名番号, 履歴番号 … 続柄: before any name)."""
    return [(line, line.split(b",")) for line in raw.split(b"\n") if line]


def _sources(tmp: Path) -> tuple[Path, Path, list[str], str, list[str]]:
    """Vendor A's sample as this 団体's (the 団体コード rewritten byte for byte, as test_cutover's `_jumin_of`),
    and the next rehearsal's export: two persons deleted (every line of theirs) and one new person (a copy of
    another's lines under a new 宛名番号). Returns both files, the two deleted 宛名番号, the new one, and the
    names of the three persons (none may show in any report)."""
    raw = (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes()
    assert raw.startswith(b"999997,")
    raw = DANTAI.encode() + raw[6:].replace(b"\n999997,", b"\n" + DANTAI.encode() + b",")
    first = tmp / "r1" / "JUMIN.csv"
    first.parent.mkdir()
    first.write_bytes(raw)
    faulty = set(pl.read_csv(SAMPLE / "faults.csv", infer_schema=False)["atena_no"])
    lines = _records(raw)
    by_person: dict[bytes, list[list[bytes]]] = {}
    for _, f in lines:
        by_person.setdefault(f[1], []).append(f)
    # persons who are nobody's 世帯主 (続柄 never 02) and carry no planted fault: their absence holds nobody else
    plain = [a for a, rows in by_person.items() if a.decode() not in faulty and len(rows[0]) == 21
             and all(r[10] != b"02" for r in rows)]
    gone, model = plain[:2], plain[2]
    names = [by_person[a][0][6].decode("cp932") for a in (*gone, model)]
    new = b"9000000016"   # its modulus-11 check digit right: the new person loads like the others
    assert new not in by_person
    # and one person whose 郵便番号 was corrected in place between the exports: loaded both times, rows not the same
    edited = plain[3]
    old_zip = by_person[edited][0][20].rstrip(b"\r")
    new_zip = b"9990001" if old_zip != b"9990001" else b"9990002"
    kept = [line.replace(b"," + old_zip, b"," + new_zip) if f[1] == edited else line
            for line, f in lines if f[1] not in gone]
    added = [line.replace(b"," + model + b",", b"," + new + b",", 1) for line, f in lines if f[1] == model]
    second = tmp / "r2" / "JUMIN.csv"
    second.parent.mkdir()
    second.write_bytes(b"\n".join(kept + added) + b"\n")
    _sources.edited = edited.decode()
    return first, second, sorted(a.decode() for a in gone), new.decode(), names


def _run(tmp: Path, source: Path, rehearsal: str, url: str) -> Path:
    cfg = write_config(tmp, source=vendor_a_source(source), target_url=url, rehearsal=rehearsal, dantai=DANTAI,
                       target_schema=f"dantai_{DANTAI}")
    s = migration_flow(config_path=str(cfg))
    assert s["status"] == "succeeded", s.get("error")
    return tmp / "runs" / DANTAI / s["run_id"]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _book_text(path: Path) -> dict[str, list[tuple]]:
    wb = openpyxl.load_workbook(path, read_only=True)
    return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


@pytest.mark.usefixtures("prefect_harness")
def test_the_next_rehearsal_names_the_persons_that_vanished_and_counts_the_new(tmp_path):
    first, second, gone, new, names = _sources(tmp_path)
    url = f"duckdb:///{tmp_path / 't.duckdb'}"
    r1 = _run(tmp_path, first, "R1", url)
    keys = pl.read_parquet(r1 / "persons.parquet")
    assert keys.columns == ["column", "value", "fingerprint"] and set(keys["column"]) == {"atena_no"}
    s1 = json.loads((r1 / "summary.json").read_text(encoding="utf-8"))
    # every person seen, loaded or held: the 989 persons loaded and the ones whose every row was held
    assert keys.height == s1["persons"]["count"] >= s1["tables"]["juki_kojin"]["loaded"]
    assert set(gone) <= set(keys["value"]) and new not in set(keys["value"])
    assert s1["persons"].get("compared") is None and not (r1 / "vanished.csv").exists()   # a first run: nothing to compare

    r2 = _run(tmp_path, second, "R2", url)
    s2 = json.loads((r2 / "summary.json").read_text(encoding="utf-8"))
    p = s2["persons"]
    assert (p["compared"], p["previous_run"], p["vanished"], p["new"]) == (True, r1.name, 2, 1)
    assert p["vanished_listed"] == [f"atena_no={a}" for a in gone] and p["count"] == keys.height - 1
    # a few persons: a warning, never a blocker (the fall check judges many)
    assert not any("が今回の投入にも保留にもいません" in b for b in s2["sign_off_blockers"])

    # the person whose 郵便番号 was corrected in place: loaded both times, named as changed (nobody else is)
    assert (p["changed"], p["changed_listed"]) == (1, [f"atena_no={_sources.edited}"]), p
    assert pl.read_csv(r2 / "changed.csv", infer_schema=False)["record_key"].to_list() == [f"atena_no={_sources.edited}"]
    assert "前回から内容が変わった人: 1 人" in (r2 / "report.html").read_text(encoding="utf-8")
    csv = (r2 / "vanished.csv").read_bytes()
    assert csv.startswith(b"\xef\xbb\xbf")   # a BOM, as the other CSVs: Excel reads Japanese as UTF-8 only then
    listed = pl.read_csv(r2 / "vanished.csv", infer_schema=False)
    assert listed["value"].to_list() == gone and listed["record_key"].to_list() == [f"atena_no={a}" for a in gone]

    html = (r2 / "report.html").read_text(encoding="utf-8")
    top = html[:html.index("テーブル別の件数")]
    warning = _text(top[top.index('id="vanished-warning"'):])
    assert "前回リハーサルから消えた人 2 人" in warning and "承認の妨げではありません" in warning
    assert all(a in warning for a in gone) and "新しい人 1 人" in warning
    section = _text(html[html.index('id="persons"'):html.index("</table>", html.index('id="persons"'))])
    assert all(a in section for a in gone) and new not in section

    book = _book_text(r2 / "report.xlsx")
    overview = {r[0]: r[1] for r in book["概要"][2:]}
    assert overview["前回から消えた人"].startswith("2 人 (警告") and overview["新しい人"].startswith("1 人")
    assert [r[1] for r in book["消えた人"][2:]] == gone
    assert overview["内容が変わった人"].startswith("1 人") and [r[1] for r in book["変わった人"][2:]] == [_sources.edited]

    # names never leave the run: not in the report, the workbook, the summary nor the list
    outputs = [html, (r2 / "summary.json").read_text(encoding="utf-8"), csv.decode("utf-8-sig"),
               json.dumps(book, ensure_ascii=False, default=str)]
    for name in names:
        for part in name.split("\u3000"):
            assert all(part not in out for out in outputs), part

    # a sign-off made later is on the first screen of the report rendered again: who, role, when (JST), override
    record = sign_off(r2, by="移行PM 加藤", role="PM", override="リハーサル R2 の確認として承認 (外字は R3 で判断)",
                      no_target=True)
    assert main(["run-report", str(r2)]) == 0
    again = (r2 / "report.html").read_text(encoding="utf-8")
    first_screen = _text(again[:again.index('id="blockers"')])
    at = record["at"]
    assert "承認済み" in first_screen and "移行PM 加藤" in first_screen and "役割: PM" in first_screen
    from ikou.reports.report import _jst

    assert _jst(at) in first_screen and _jst(at).endswith("JST")
    assert "リハーサル R2 の確認として承認" in first_screen and "--override" in first_screen
    assert f"承認の妨げ {len(record['blockers'])} 件" in first_screen and "--no-target" in first_screen
    assert "承認後に summary.json が変更されています" not in first_screen
    assert "移行PM 加藤" in json.dumps(_book_text(r2 / "report.xlsx")["概要"], ensure_ascii=False)

    # a previous rehearsal that kept no keys (a run from before them, or purged) is said so, never 0
    (r2 / "persons.parquet").unlink()
    r3 = _run(tmp_path, second, "R3", url)
    p3 = json.loads((r3 / "summary.json").read_text(encoding="utf-8"))["persons"]
    assert (p3["compared"], p3["previous_run"], p3["vanished"]) == (False, r2.name, None)
    page = _text((r3 / "report.html").read_text(encoding="utf-8"))
    assert "前回から消えた人は数えていません（0 人ではなく不明）" in page and "前回から消えた人 " not in page.split("テーブル別")[0]


@pytest.mark.usefixtures("prefect_harness")
def test_a_renumbered_export_keeps_every_count_and_still_blocks_the_signoff(tmp_path):
    """Every 宛名番号 written anew (a vendor's renumbering, a padding changed): the counts do not fall, so the fall
    check passes, and every person of the previous rehearsal is gone: a blocker, naming how many and where."""
    first, _, _, _, _ = _sources(tmp_path)
    renumbered = tmp_path / "r2" / "RENUMBERED.csv"
    renumbered.write_bytes(b"\n".join(b",".join([f[0], b"1" + f[1], *f[2:]]) for _, f in _records(first.read_bytes()))
                           + b"\n")
    url = f"duckdb:///{tmp_path / 't.duckdb'}"
    r1 = _run(tmp_path, first, "R1", url)
    r2 = _run(tmp_path, renumbered, "R2", url)
    s1, s2 = (json.loads((r / "summary.json").read_text(encoding="utf-8")) for r in (r1, r2))
    assert s2["tables"]["juki_kojin"]["loaded"] == s1["tables"]["juki_kojin"]["loaded"]   # no fall to judge
    assert not any("前回より" in b for b in s2["sign_off_blockers"])
    p = s2["persons"]
    assert p["vanished"] == p["new"] == p["previous_count"] == s1["persons"]["count"]
    (line,) = [b for b in s2["sign_off_blockers"] if "が今回の投入にも保留にもいません" in b]
    assert f"{p['vanished']:,} 人 (100%)" in line and "vanished.csv" in line and r1.name in line
    assert len(p["vanished_listed"]) == 100
    assert pl.read_csv(r2 / "vanished.csv", infer_schema=False).height == p["vanished"]
    html = (r2 / "report.html").read_text(encoding="utf-8")
    assert 'id="vanished-warning"' not in html and "が今回の投入にも保留にもいません" in html[:html.index("テーブル別の件数")]
