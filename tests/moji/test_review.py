"""The 同定台帳 reviewed on a page and in Excel: pictures inline, record keys but no names, decisions
round-tripping through `ikou moji decide --workbook`."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import zipfile

import polars as pl
import pytest

from ikou.flows.cli import main
from ikou.moji import glyphs as G
from ikou.moji.identify import identify_frame
from ikou.moji.ledger import Ledger
from ikou.moji.review import DECIDED_BY, DECISION, SHEET, render_html, write_workbook
from ikou.sample.gaiji_font import build_pua_font

from tests.moji.glyph_fixtures import crosswalk, glyph_index, need, noto  # noqa: F401

NAME = "山田花子"   # a name in the data: must never reach a review output


@pytest.fixture()
def ledger_dir(tmp_path, dictionary, glyph_index, noto, crosswalk):
    font = tmp_path / "EUDC.TTE"
    build_pua_font(font, [(0xE700, "髙"), (0xE701, "﨑")], noto)
    df = pl.DataFrame({"_row_id": [101, 102, 103, 104],
                       "shimei": [f"{NAME}\ue700", "\ue701山　一郎", "葛\U000e0100西", "\ue700"]})
    res = identify_frame(df, ["shimei"], dictionary=dictionary)
    un = res.chars.filter(pl.col("status") == "unresolved")["char"]
    led = Ledger()
    led.update(res, dictionary=dictionary, source="vendor_a",
               glyph_candidates=G.glyph_candidates(un, gaiji_font=font, dictionary=dictionary, index=glyph_index))
    d = tmp_path / "moji_ledger"
    led.save(d)
    return d


def test_review_page_is_self_contained_with_pictures_and_keys_but_no_names(ledger_dir, tmp_path):
    assert main(["moji", "review", "--ledger", str(ledger_dir)]) == 0
    html = (ledger_dir / "review.html").read_text(encoding="utf-8")
    assert NAME not in html and "山　一郎" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", html) and "<link" not in html
    # 3 unresolved characters drawn as the source drew them + their candidates + 50 crosswalk rows
    assert html.count("<svg") >= 3 + 3 * 5 + 50 * 2
    assert "101" in html and "104" in html          # record keys
    assert "MJ028902" in html and "MJ030196" in html and "MJ022335" in html
    assert "Adobe-Japan1" in html


def test_review_page_renders_in_headless_chromium(ledger_dir, tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    need(exe is not None, "chromium is not installed (apt-get install chromium)")
    out = tmp_path / "review.html"
    led = Ledger.load(ledger_dir)
    from ikou.moji import crosswalk as X
    render_html(led, out, crosswalk=X.load_crosswalk())
    png = tmp_path / "review.png"
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1280,1600", out.as_uri()],
            capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    from PIL import Image
    img = Image.open(png).convert("L")
    assert img.size == (1280, 1600)
    # the glyphs are drawn: a good share of the page's pixels are dark (text alone would be far fewer)
    dark = sum(img.histogram()[:100]) / (img.size[0] * img.size[1])
    assert dark > 0.01, dark


def test_workbook_round_trips_decisions_through_decide(ledger_dir, tmp_path, moji_dir, monkeypatch):
    from openpyxl import load_workbook
    monkeypatch.setenv("IKOU_MOJI_CACHE", str(moji_dir))
    xlsx = tmp_path / "review.xlsx"
    write_workbook(Ledger.load(ledger_dir), xlsx)
    with zipfile.ZipFile(xlsx) as z:
        pics = [n for n in z.namelist() if n.startswith("xl/media/")]
        assert len(pics) >= 3 + 3 * 5
        body = b"".join(z.read(n) for n in z.namelist() if n.endswith(".xml"))
    assert NAME.encode() not in body
    wb = load_workbook(xlsx)
    ws = wb[SHEET]
    head = [c.value for c in ws[1]]
    rows = {ws.cell(r, 1).value: r for r in range(2, ws.max_row + 1)}
    assert set(rows) == {"U+E700", "U+E701", "U+845B U+E0100"}
    ws.cell(rows["U+E700"], head.index(DECISION) + 1).value = "MJ028902"
    ws.cell(rows["U+E700"], head.index(DECIDED_BY) + 1).value = "審査担当A"
    ws.cell(rows["U+845B U+E0100"], head.index(DECISION) + 1).value = "MJ022335"
    wb.save(xlsx)
    assert main(["moji", "decide", "--ledger", str(ledger_dir), "--workbook", str(xlsx), "--by", "審査担当B"]) == 0
    act = Ledger.load(ledger_dir).active()
    got = {r["codepoints"]: (r["mj"], r["decided_by"], r["version"]) for r in act.iter_rows(named=True)}
    assert got == {"U+E700": ("MJ028902", "審査担当A", 1), "U+845B U+E0100": ("MJ022335", "審査担当B", 1)}
    # the same workbook again changes nothing; a changed cell makes version 2 — in a workbook written
    # after the first decision (this one predates it: changing U+E700 in it is a conflict)
    assert main(["moji", "decide", "--ledger", str(ledger_dir), "--workbook", str(xlsx), "--by", "x"]) == 0
    assert Ledger.load(ledger_dir).decisions.height == 2
    wb = load_workbook(xlsx)   # (openpyxl cannot save a workbook with pictures twice from one load)
    wb[SHEET].cell(rows["U+E700"], head.index(DECISION) + 1).value = "MJ028901"
    wb.save(xlsx)
    assert main(["moji", "decide", "--ledger", str(ledger_dir), "--workbook", str(xlsx), "--by", "x"]) == 2
    assert Ledger.load(ledger_dir).decisions.height == 2
    write_workbook(Ledger.load(ledger_dir), xlsx)
    wb = load_workbook(xlsx)
    ws = wb[SHEET]
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == "U+E700")
    assert ws.cell(row, head.index(DECISION) + 1).value == "MJ028902"
    ws.cell(row, head.index(DECISION) + 1).value = "MJ028901"
    wb.save(xlsx)
    assert main(["moji", "decide", "--ledger", str(ledger_dir), "--workbook", str(xlsx), "--by", "x"]) == 0
    act = Ledger.load(ledger_dir).active().filter(pl.col("codepoints") == "U+E700")
    assert act["mj"].item() == "MJ028901" and act["version"].item() == 2


def test_workbook_decision_that_is_not_an_mj_name_is_refused_naming_the_row(ledger_dir, tmp_path):
    from openpyxl import load_workbook
    from ikou.errors import ConfigError
    from ikou.moji.review import apply_workbook
    xlsx = tmp_path / "review.xlsx"
    write_workbook(Ledger.load(ledger_dir), xlsx)
    wb = load_workbook(xlsx)
    ws = wb[SHEET]
    col = [c.value for c in ws[1]].index(DECISION) + 1
    ws.cell(2, col).value = "高"
    wb.save(xlsx)
    with pytest.raises(ConfigError, match="row 2"):
        apply_workbook(Ledger.load(ledger_dir), xlsx, default_by="x")
