"""Review of the 同定台帳: one self-contained HTML page and an Excel workbook with the same rows.

Each unresolved character is shown as the source drew it (the vendor's 外字 font for a 外字, Noto
Serif CJK for an Adobe-Japan1 sequence), with its count and record keys (row keys, never names), and
its glyph candidates drawn in IPAmj明朝 with their scores; the relation candidates (same base, 縮退マップ)
follow as text. The page also shows the first rows of the Adobe-Japan1 crosswalk as pictures. Pictures
are inline SVG outlines (page) or PNG pictures in cells (workbook): no external resources.

Reviewers write an MJ文字図形名 in the workbook's 判断 column; `ikou moji decide --workbook` reads
them back into the ledger (`read_workbook_decisions`), a new version per changed decision.
"""
from __future__ import annotations

import html
import io
import re
from functools import lru_cache
from pathlib import Path

import polars as pl

from ikou.errors import ConfigError
from ikou.moji import glyphs as G
from ikou.moji.identify import parse_codepoints
from ikou.moji.ledger import Ledger

SHEET = "同定台帳"
DECISION = "判断 (MJ文字図形名)"
DECIDED_BY = "判断者"
NOTE = "メモ"
CODEPOINTS = "コードポイント"
SHOWN_CANDIDATES = 5
CROSSWALK_ROWS = 50
_CAND = re.compile(r"(MJ\d{6})\(([-0-9.]+)\)")


@lru_cache(maxsize=8)
def _reader(path: str, face: int = 0) -> G.FontReader | None:
    try:
        return G.FontReader(path, face)
    except ConfigError:
        return None


def _mj_reader() -> G.FontReader | None:
    p = G.ipamj_font()
    return _reader(str(p)) if p else None


def _glyph_name(reader: G.FontReader, char: str) -> str | None:
    return reader.glyph_for(char)


def _mj_glyph(reader: G.FontReader, mj: str) -> str | None:
    name = mj.lower()
    return name if name in reader.glyph_id else None


def parse_glyph_candidates(s: str | None) -> list[tuple[str, float]]:
    return [(m.group(1), float(m.group(2))) for m in _CAND.finditer(s or "")]


def review_rows(ledger: Ledger) -> pl.DataFrame:
    """The ledger's unresolved rows as reviewed: undecided first, most frequent first."""
    e = ledger.entries
    return e.sort(pl.col("decided_mj").is_not_null(), pl.col("occurrences"), "codepoints",
                  descending=[False, True, False], nulls_last=True)


# -- HTML ------------------------------------------------------------------------------------------
def _svg(reader: G.FontReader | None, name: str | None, size: int, title: str) -> str:
    if reader is None or name is None:
        return f'<span class="nog" title="{html.escape(title)}">□</span>'
    return reader.svg(name, size, html.escape(title))


def render_html(ledger: Ledger, out: Path, *, crosswalk: pl.DataFrame | None = None,
                title: str = "同定台帳 レビュー") -> Path:
    mj = _mj_reader()
    rows = review_rows(ledger)
    body = []
    for r in rows.iter_rows(named=True):
        cps = r["codepoints"] or ""
        src_reader = _reader(r["glyph_font"]) if r.get("glyph_font") else None
        name = _glyph_name(src_reader, r["char"]) if src_reader and r["char"] else None
        cands = "".join(
            f'<figure>{_svg(mj, _mj_glyph(mj, m) if mj else None, 56, m)}'
            f'<figcaption>{m}<br><b>{s:.3f}</b></figcaption></figure>'
            for m, s in parse_glyph_candidates(r["glyph_candidates"])[:SHOWN_CANDIDATES])
        rel = html.escape(" ".join((r["candidates"] or "").split()[:SHOWN_CANDIDATES]))
        body.append(
            f'<tr><td class="g">{_svg(src_reader, name, 64, cps)}</td>'
            f'<td><code>{html.escape(cps)}</code><br>{html.escape(r["source"] or "")}'
            f'<br>{html.escape(r["columns"] or "")}</td>'
            f'<td class="n">{r["occurrences"] or 0}</td>'
            f'<td class="k">{html.escape(r["record_keys"] or "")}</td>'
            f'<td class="c">{cands or "—"}</td><td class="r">{rel or "—"}</td>'
            f'<td>{html.escape(r["decided_mj"] or "")}</td></tr>')
    xw = ""
    if crosswalk is not None and crosswalk.height:
        aj = _reader(str(G.aj1_font())) if G.aj1_font() else None
        first = crosswalk.filter(pl.col("rank").is_not_null())
        seqs = first["seq"].unique(maintain_order=True).head(CROSSWALK_ROWS)
        parts = []
        for seq in seqs.to_list():
            c = first.filter(pl.col("seq") == seq).sort("rank")
            pic = _svg(aj, aj.glyph_for(seq) if aj else None, 56, c["codepoints"][0])
            cands = "".join(
                f'<figure>{_svg(mj, _mj_glyph(mj, m) if mj else None, 48, m)}'
                f'<figcaption>{m}<br><b>{s:.3f}</b></figcaption></figure>'
                for m, s in zip(c["mj"].head(3), c["score"].head(3)))
            parts.append(f'<tr><td class="g">{pic}</td><td><code>{c["codepoints"][0]}</code><br>{c["cid"][0]}</td>'
                         f'<td class="c">{cands}</td></tr>')
        xw = (f'<h2>Adobe-Japan1 → MJ (最初の {len(parts)} 件 / {crosswalk["seq"].n_unique()} 系列)</h2>'
              '<table><tr><th>Noto Serif CJK</th><th>系列</th><th>MJ候補 (IPAmj明朝)</th></tr>'
              + "".join(parts) + "</table>")
    doc = f"""<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse}}td,th{{border:1px solid #bbb;
padding:4px;vertical-align:top}}td.g svg{{background:#fff;border:1px solid #ddd}}td.n{{text-align:right}}
td.k{{max-width:16em;font-size:80%;word-break:break-all}}td.r{{font-size:80%;max-width:18em}}
figure{{display:inline-block;margin:0 6px 0 0;text-align:center;font-size:75%}}.nog{{font-size:40px;color:#c00}}
svg path{{fill:#000}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>未解決 {rows.height} 件 (判断済 {rows["decided_mj"].is_not_null().sum()} 件)。外字は提供元のフォント、候補は IPAmj明朝
{html.escape(str(mj.version) if mj else "(未インストール)")} で描画。スコアは字形の類似度 (1 = 同じ絵)。</p>
<table><tr><th>字形</th><th>文字</th><th>件数</th><th>レコードキー</th><th>字形候補</th><th>関連候補</th><th>判断</th></tr>
{"".join(body)}</table>
{xw}
</body></html>"""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    return out


# -- Excel -----------------------------------------------------------------------------------------
def write_workbook(ledger: Ledger, out: Path) -> Path:
    """The same rows as the page, pictures in cells, and the decision columns reviewers fill in."""
    import xlsxwriter
    mj = _mj_reader()
    rows = review_rows(ledger)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(out))
    ws = wb.add_worksheet(SHEET)
    head = wb.add_format({"bold": True, "bg_color": "#DDEEFF", "text_wrap": True, "valign": "top"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    entry = wb.add_format({"bg_color": "#FFFFCC", "border": 1})
    cols = [CODEPOINTS, "ソース", "件数", "レコードキー", "外字"]
    for i in range(1, SHOWN_CANDIDATES + 1):
        cols += [f"候補{i}", f"候補{i} 名/スコア"]
    cols += ["関連候補", DECISION, DECIDED_BY, NOTE]
    for c, h in enumerate(cols):
        ws.write(0, c, h, head)
    ws.set_column(0, 0, 16)
    ws.set_column(1, 1, 14)
    ws.set_column(3, 3, 24)
    ws.set_column(4, 4, 7)
    for i in range(SHOWN_CANDIDATES):
        ws.set_column(5 + 2 * i, 5 + 2 * i, 7)
        ws.set_column(6 + 2 * i, 6 + 2 * i, 11)
    dec_col = cols.index(DECISION)
    ws.set_column(dec_col - 1, dec_col - 1, 30)
    ws.set_column(dec_col, dec_col + 2, 18)
    for n, r in enumerate(rows.iter_rows(named=True), start=1):
        ws.set_row(n, 42)
        ws.write_string(n, 0, r["codepoints"] or "", wrap)
        ws.write_string(n, 1, r["source"] or "", wrap)
        ws.write_number(n, 2, r["occurrences"] or 0)
        ws.write_string(n, 3, r["record_keys"] or "", wrap)
        src_reader = _reader(r["glyph_font"]) if r.get("glyph_font") else None
        name = src_reader.glyph_for(r["char"]) if src_reader and r["char"] else None
        if name:
            ws.insert_image(n, 4, f"{r['codepoints']}.png", {"image_data": io.BytesIO(src_reader.png(name, 48)),
                                                            "object_position": 1, "x_offset": 2, "y_offset": 4})
        for i, (m, s) in enumerate(parse_glyph_candidates(r["glyph_candidates"])[:SHOWN_CANDIDATES]):
            g = _mj_glyph(mj, m) if mj else None
            if g:
                ws.insert_image(n, 5 + 2 * i, f"{m}.png", {"image_data": io.BytesIO(mj.png(g, 48)),
                                                          "object_position": 1, "x_offset": 2, "y_offset": 4})
            ws.write_string(n, 6 + 2 * i, f"{m}\n{s:.3f}", wrap)
        ws.write_string(n, dec_col - 1, " ".join((r["candidates"] or "").split()[:SHOWN_CANDIDATES]), wrap)
        ws.write_string(n, dec_col, r["decided_mj"] or "", entry)
        ws.write_blank(n, dec_col + 1, None, entry)
        ws.write_blank(n, dec_col + 2, None, entry)
    if rows.height:
        ws.data_validation(1, dec_col, rows.height, dec_col, {
            "validate": "length", "criteria": "between", "minimum": 0, "maximum": 8,
            "error_message": "MJ文字図形名 (MJnnnnnn) を入力してください"})
    ws.freeze_panes(1, 1)
    wb.close()
    return out


def read_workbook_decisions(path: Path) -> pl.DataFrame:
    """codepoints, mj, decided_by, note, cell: the decisions written in a review workbook (empty 判断 skipped)."""
    from openpyxl import load_workbook
    try:
        wb = load_workbook(str(path), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException variants
        raise ConfigError(f"{path}: not a review workbook: {exc}") from exc
    if SHEET not in wb.sheetnames:
        raise ConfigError(f"{path}: no sheet {SHEET!r}")
    ws = wb[SHEET]
    it = ws.iter_rows(values_only=True)
    header = [str(h) if h is not None else "" for h in next(it, [])]
    need = [CODEPOINTS, DECISION, DECIDED_BY, NOTE]
    missing = [h for h in need if h not in header]
    if missing:
        raise ConfigError(f"{path}: sheet {SHEET} lacks columns {missing}")
    ix = {h: header.index(h) for h in need}
    out = []
    for n, row in enumerate(it, start=2):
        mj = row[ix[DECISION]] if ix[DECISION] < len(row) else None
        mj = str(mj).strip() if mj is not None else ""
        if not mj:
            continue
        if not re.fullmatch(r"MJ\d{6}", mj):
            raise ConfigError(f"{path}: {SHEET}!row {n}: 判断 {mj!r} is not an MJ文字図形名 (MJnnnnnn)")
        cps = str(row[ix[CODEPOINTS]] or "").strip()
        try:
            parse_codepoints(cps)
        except ValueError as exc:
            raise ConfigError(f"{path}: {SHEET}!row {n}: {exc}") from exc
        out.append({"codepoints": cps, "mj": mj, "decided_by": str(row[ix[DECIDED_BY]] or "").strip() or None,
                    "note": str(row[ix[NOTE]] or "").strip(), "row": n})
    wb.close()
    return pl.DataFrame(out, schema={"codepoints": pl.String, "mj": pl.String, "decided_by": pl.String,
                                     "note": pl.String, "row": pl.Int64})


def apply_workbook(ledger: Ledger, path: Path, *, default_by: str) -> int:
    """Record the workbook's decisions that differ from the ledger's active ones; returns how many."""
    dec = read_workbook_decisions(path)
    active = dict(ledger.active().select("codepoints", "mj").iter_rows())
    n = 0
    for r in dec.iter_rows(named=True):   # one row per reviewed character (a handful), not per record
        if active.get(r["codepoints"]) == r["mj"]:
            continue
        ledger.decide(parse_codepoints(r["codepoints"]), r["mj"], decided_by=r["decided_by"] or default_by,
                      note=r["note"] or f"review workbook {Path(path).name} row {r['row']}")
        n += 1
    return n
