"""What a run shows people (quarantine.csv, report.html, report.xlsx, summary.json) of three awkward values:
a name in 方書 (「髙橋一郎方」, 「鈴木方」: masked like a name), a bidi override in 住所 (shown as ⟨U+202E⟩, not
reversing the text around it) and a name written wholly in Hangul (「김　민준」: its unresolved characters listed
by code point only, never spelled out). The Parquet files and the 同定台帳 (restricted) keep every character."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import polars as pl
import pytest

from ikou import REPO_ROOT
from tests.flows.conftest import vendor_a_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
SAMPLE = REPO_ROOT / "data" / "sample"
DANTAI = "999768"
SHIMEI, JUSHO, KATAGAKI = 6, 17, 19
HANGUL = "김　민준"
HELD_KATAGAKI = "髙橋一郎方\u200b"       # held (moji.invalid_char): its value is listed with the finding
WARNED_KATAGAKI = "鈴木\ue0ff方"         # an unmapped 外字: listed as a moji.unresolved warning
BIDI_JUSHO = "架空市\u202e町一丁目"      # held: a raw U+202E shows 「架空市目丁一町」


def _texts(path: Path) -> str:
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            return " ".join(z.read(n).decode("utf-8", errors="replace") for n in z.namelist())
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from ikou.flows.migrate import migration_flow

    tmp = tmp_path_factory.mktemp("fx_mojiout")
    lines = [ln.decode("cp932") for ln in (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes().split(b"\r\n")[:30]]
    rows = [ln.split(",") for ln in lines]
    for r in rows:
        r[0] = DANTAI
    # one value each, on rows of different persons (first history rows: 宛名番号 changes)
    firsts = [i for i, r in enumerate(rows) if r[2] == "1"]
    rows[firsts[0]][KATAGAKI] = HELD_KATAGAKI
    rows[firsts[1]][KATAGAKI] = WARNED_KATAGAKI
    rows[firsts[2]][JUSHO] = BIDI_JUSHO
    rows[firsts[3]][SHIMEI] = HANGUL
    src = tmp / "JUMIN.csv"
    src.write_bytes(("\r\n".join(",".join(r) for r in rows) + "\r\n").encode("utf-8"))
    source = vendor_a_source(path=src).replace("encoding: cp932", "encoding: utf-8")
    cfg = write_config(tmp, source=source, target_url=f"duckdb:///{tmp / 't.duckdb'}", dantai=DANTAI)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("max_quarantine_rate: 0.05", "max_quarantine_rate: 0.5"),
                   encoding="utf-8")
    summary = migration_flow(config_path=str(cfg))
    return tmp, tmp / "runs" / DANTAI / summary["run_id"], summary


def test_a_name_in_katagaki_is_masked_in_every_human_facing_output(run):
    _, run_dir, summary = run
    q = pl.read_parquet(run_dir / "quarantine.parquet")
    kata = q.filter(pl.col("column") == "katagaki")
    assert set(kata["rule"]) >= {"moji.invalid_char", "moji.unresolved"}
    assert {HELD_KATAGAKI, WARNED_KATAGAKI} <= set(kata["value"])   # the authorised copy keeps them
    shown = pl.read_csv(run_dir / "quarantine.csv", infer_schema=False).filter(pl.col("column") == "katagaki")
    assert shown.height == kata.height and set(shown["value"]) == {"＊＊"}
    for f in ("quarantine.csv", "report.html", "report.xlsx", "summary.json"):
        text = _texts(run_dir / f)
        assert "髙橋一郎" not in text and "鈴木" not in text, f


def test_a_bidi_override_is_shown_by_its_code_point_in_every_human_facing_cell(run):
    _, run_dir, _ = run
    q = pl.read_parquet(run_dir / "quarantine.parquet")
    assert BIDI_JUSHO in q.filter(pl.col("column") == "jusho")["value"].to_list()   # the Parquet keeps it raw
    seen = "架空市⟨U+202E⟩町一丁目"
    csv = pl.read_csv(run_dir / "quarantine.csv", infer_schema=False)
    assert seen in csv.filter(pl.col("column") == "jusho")["value"].to_list()
    for f in ("quarantine.csv", "report.html", "report.xlsx"):
        text = _texts(run_dir / f)
        assert "\u202e" not in text and "\u200b" not in text, f
    assert seen in _texts(run_dir / "report.html") and seen in _texts(run_dir / "report.xlsx")


def test_a_name_written_in_hangul_is_listed_by_code_point_only_and_ideographs_and_gaiji_as_themselves(run):
    tmp, run_dir, summary = run
    listed = summary["moji"]["unresolved"]
    by_cp = {u["codepoints"]: u["char"] for u in listed}
    assert {"U+AE40", "U+BBFC", "U+C900"} <= set(by_cp) and by_cp["U+AE40"] is None   # 김 민 준
    assert by_cp["U+E0FF"] == "\ue0ff"                                                  # a 外字: what is decided on
    assert summary["moji"]["unresolved_chars"] == len(by_cp)
    written = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["moji"]["unresolved"]
    assert written == listed
    for f in ("summary.json", "report.html", "report.xlsx", "quarantine.csv"):
        text = _texts(run_dir / f)
        assert not any(ch in text for ch in "김민준"), f
    assert "U+AE40" in _texts(run_dir / "report.html") and "U+AE40" in _texts(run_dir / "report.xlsx")
    ledger = (tmp / "runs" / DANTAI / "moji_ledger" / "ledger.csv").read_text(encoding="utf-8")
    assert all(ch in ledger for ch in "김민준")   # the restricted 同定台帳 keeps the glyphs a reviewer needs
