"""Review of the 同定台帳: one self-contained HTML page and an Excel workbook with the same rows.

Each unresolved character is shown as the source drew it (the vendor's 外字 font for a 外字, Noto
Serif CJK for an Adobe-Japan1 sequence), with its count and record keys (row keys, never names), and
its glyph candidates drawn in IPAmj明朝 with their scores; the relation candidates (same base, 縮退マップ)
follow as text. The page also shows the first rows of the Adobe-Japan1 crosswalk as pictures. Pictures
are inline SVG outlines (page) or PNG pictures in cells (workbook): no external resources.

Reviewers write an MJ文字図形名 in the workbook's 判断 column (or empty it, with their name in 判断者, to
withdraw a decision); `ikou moji decide --workbook` reads the rows they changed back into the ledger
(`read_workbook`, `apply_workbook`), a new version per changed decision. The workbook carries, in a
hidden sheet, the 団体 and the ledger it was written from and each character's active decision at
that moment: 外字 code points are each 団体's own, and a workbook older than a later decision must not
undo it, so both are refused and nothing is recorded.
"""
from __future__ import annotations

import datetime as dt
import html
import io
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import polars as pl

from ikou.errors import ConfigError
from ikou.moji import glyphs as G
from ikou.moji.dictionary import MojiDictionary
from ikou.moji.identify import codepoints, parse_codepoints
from ikou.moji.ledger import Ledger

SHEET = "同定台帳"
DECISION = "判断 (MJ文字図形名)"
DECIDED_BY = "判断者"
NOTE = "メモ"
CODEPOINTS = "コードポイント"
META = "ikou"                       # the hidden sheet: identity and the decisions as written
FORMAT = "ikou moji review 2"       # workbooks before it carry no identity
_WRITTEN_HEAD = ["codepoints", "mj", "version"]
_CPS = re.compile(r"U\+[0-9A-Fa-f]{4,6}(?: U\+[0-9A-Fa-f]{4,6})?")
_ONE_CHAR = re.compile(r"(?s).[\uFE00-\uFE0F\U000E0100-\U000E01EF]?")
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
    # 判断 shows the active decision, the very value the hidden sheet records as written
    act = {c: (m, v) for c, m, v in ledger.active().select("codepoints", "mj", "version").iter_rows()}
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
        ws.write_string(n, dec_col, act.get(r["codepoints"], (None, 0))[0] or "", entry)
        ws.write_blank(n, dec_col + 1, None, entry)
        ws.write_blank(n, dec_col + 2, None, entry)
    if rows.height:
        ws.data_validation(1, dec_col, rows.height, dec_col, {
            "validate": "length", "criteria": "between", "minimum": 0, "maximum": 8,
            "error_message": "MJ文字図形名 (MJnnnnnn) を入力してください"})
    ws.freeze_panes(1, 1)
    _write_identity(wb, ledger, rows, act)
    wb.close()
    return out


def _write_identity(wb, ledger: Ledger, rows: pl.DataFrame, act: dict[str, tuple[str | None, int]]) -> None:
    """The hidden sheet `apply_workbook` checks: which 団体 and ledger, and every character's active
    decision (mj, version; 0 = none) when written, so a later change to it is seen as a conflict."""
    if not ledger.ledger_id:
        raise ConfigError("the 同定台帳 has no identity (ledger.json): save it before writing a review workbook")
    ws = wb.add_worksheet(META)
    ident = [("format", FORMAT), ("dantai", ledger.dantai or ""), ("ledger_id", ledger.ledger_id),
             ("written_at", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))]
    for i, (k, v) in enumerate(ident):
        ws.write_string(i, 0, k)
        ws.write_string(i, 1, v)
    start = len(ident) + 1
    ws.write_row(start, 0, _WRITTEN_HEAD)
    cps = sorted(set(rows["codepoints"].drop_nulls().to_list()) | set(act))
    for n, c in enumerate(cps, start=start + 1):
        m, v = act.get(c, (None, 0))
        ws.write_string(n, 0, c)
        ws.write_string(n, 1, m or "")
        ws.write_number(n, 2, v)
    ws.very_hidden()


class WorkbookRowError(ConfigError):
    ja = "レビュー用ワークブックの行に誤りがあります (何も記録していません)"


class WorkbookTooOldError(ConfigError):
    ja = "レビュー用ワークブックに団体・同定台帳の識別がありません (古い版): ikou moji review で作り直してください"


class WorkbookIdentityError(ConfigError):
    ja = "レビュー用ワークブックは別の団体・別の同定台帳から作られています (何も記録していません)"


class WorkbookConflictError(ConfigError):
    ja = "ワークブック作成後に同定台帳の判断が変わりました (何も記録していません): ikou moji review で作り直してください"


@dataclass
class ReviewWorkbook:
    """A review workbook as read back: its identity, the decisions as written, and its rows."""
    path: Path
    identity: dict[str, str]
    written: dict[str, tuple[str | None, int]]   # codepoints → (active mj, its version) when written
    rows: pl.DataFrame                            # codepoints, mj (None: 判断 empty), decided_by, note, row


@dataclass
class Applied:
    recorded: int = 0          # decisions recorded (withdrawals included)
    withdrawn: int = 0
    unsigned: list[str] = field(default_factory=list)   # 'row n (U+…)': 判断 emptied without 判断者


def _cell(row: tuple, i: int) -> str:
    v = row[i] if i < len(row) else None
    return str(v).strip() if v is not None else ""


def _row_codepoints(path: Path, n: int, text: str) -> str:
    """The row's コードポイント as the ledger keys it: one character, at most one variation selector."""
    try:
        char = parse_codepoints(text) if _CPS.fullmatch(text) else ""
    except (ValueError, OverflowError):
        char = ""
    if not char or not _ONE_CHAR.fullmatch(char):
        raise WorkbookRowError(f"{path}: {SHEET}!row {n}: コードポイント {text!r} is not one character's code "
                               "points like U+E700 or 'U+845B U+E0100'")
    return codepoints(char)


def read_workbook(path: Path) -> ReviewWorkbook:
    """Every row of a review workbook with a コードポイント (判断 may be empty), and its identity."""
    from openpyxl import load_workbook
    path = Path(path)
    try:
        wb = load_workbook(str(path), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException variants
        raise ConfigError(f"{path}: not a review workbook: {exc}") from exc
    try:
        if SHEET not in wb.sheetnames:
            raise ConfigError(f"{path}: no sheet {SHEET!r}")
        identity, written = _read_meta(wb, path)
        it = wb[SHEET].iter_rows(values_only=True)
        header = [str(h) if h is not None else "" for h in next(it, [])]
        need = [CODEPOINTS, DECISION, DECIDED_BY, NOTE]
        missing = [h for h in need if h not in header]
        if missing:
            raise ConfigError(f"{path}: sheet {SHEET} lacks columns {missing}")
        ix = {h: header.index(h) for h in need}
        out = []
        for n, row in enumerate(it, start=2):
            cps, mj = _cell(row, ix[CODEPOINTS]), _cell(row, ix[DECISION])
            if mj and not re.fullmatch(r"MJ\d{6}", mj):
                raise WorkbookRowError(f"{path}: {SHEET}!row {n}: 判断 {mj!r} is not an MJ文字図形名 (MJnnnnnn)")
            if not cps:
                if mj:
                    raise WorkbookRowError(f"{path}: {SHEET}!row {n}: 判断 {mj} without a コードポイント")
                continue
            out.append({"codepoints": _row_codepoints(path, n, cps), "mj": mj or None,
                        "decided_by": _cell(row, ix[DECIDED_BY]) or None, "note": _cell(row, ix[NOTE]), "row": n})
    finally:
        wb.close()
    rows = pl.DataFrame(out, schema={"codepoints": pl.String, "mj": pl.String, "decided_by": pl.String,
                                     "note": pl.String, "row": pl.Int64})
    return ReviewWorkbook(path, identity, written, rows)


def _read_meta(wb, path: Path) -> tuple[dict[str, str], dict[str, tuple[str | None, int]]]:
    old = WorkbookTooOldError(f"{path}: carries no 団体 or 同定台帳 identity (made by an older ikou, or not by "
                              "`ikou moji review`): run `ikou moji review` again and enter the decisions there")
    if META not in wb.sheetnames:
        raise old
    it = wb[META].iter_rows(values_only=True)
    identity: dict[str, str] = {}
    for row in it:
        if not row or row[0] is None:
            continue
        if [str(v) for v in row[:3]] == _WRITTEN_HEAD:
            break
        identity[str(row[0])] = _cell(row, 1)
    if identity.get("format") != FORMAT or not identity.get("ledger_id"):
        raise old
    written = {}
    for row in it:
        if row and row[0]:
            try:
                written[str(row[0])] = (_cell(row, 1) or None, int(row[2] or 0))
            except (TypeError, ValueError, IndexError):
                raise ConfigError(f"{path}: sheet {META}: bad row {row!r}") from None
    return identity, written


def _check_identity(ledger: Ledger, wb: ReviewWorkbook) -> None:
    """The workbook must come from this 団体's ledger: a 外字 code point means another character elsewhere."""
    theirs = wb.identity.get("dantai") or None
    if theirs != ledger.dantai:
        raise WorkbookIdentityError(
            f"{wb.path} was written from 団体 {theirs or '(unknown)'}'s 同定台帳, this ledger is 団体 "
            f"{ledger.dantai or '(unknown)'}'s: 外字 code points are each 団体's own; nothing recorded "
            "(run `ikou moji review` on this 団体's ledger)")
    if wb.identity["ledger_id"] != ledger.ledger_id:
        raise WorkbookIdentityError(
            f"{wb.path} was written from another 同定台帳 (id {wb.identity['ledger_id'][:12]}, this one "
            f"{(ledger.ledger_id or 'none')[:12]}): nothing recorded (run `ikou moji review` on this ledger)")


def apply_workbook(ledger: Ledger, path: Path, *, default_by: str, dictionary: MojiDictionary | None = None,
                   ahead: bool = False) -> Applied:
    """Record the rows reviewers changed since the workbook was written, all or nothing.

    A row left as written records nothing (it is no decision of the reviewer's); a changed row whose
    character's decision changed in the ledger meanwhile is a conflict (the workbook would undo it);
    an emptied 判断 withdraws the decision when 判断者 is given and is reported otherwise. With a
    `dictionary`, decisions 文字同定 would never consult are refused (Ledger.check_decision).
    """
    wb = read_workbook(path)
    _check_identity(ledger, wb)
    act = {c: (m, v) for c, m, v in ledger.active().select("codepoints", "mj", "version").iter_rows()}
    changes, conflicts, res = [], [], Applied()
    # one group per reviewed character (a handful), not per record; a character of two sources has two rows
    for (cps,), g in wb.rows.group_by("codepoints", maintain_order=True):
        rows = list(g.iter_rows(named=True))
        if g["mj"].n_unique() > 1:
            raise WorkbookRowError(
                f"{wb.path}: {SHEET}!rows {', '.join(str(r['row']) for r in rows)}: {cps} is given different "
                f"判断 ({', '.join(r['mj'] or '(empty)' for r in rows)}); make them agree")
        now = rows[0]["mj"]
        was_mj, was_version = wb.written.get(cps, (None, 0))
        if now == was_mj:
            continue                         # as written: not a decision of the reviewer's
        cur_mj, cur_version = act.get(cps, (None, 0))
        if now == cur_mj:
            continue                         # the ledger already says so
        if cur_version != was_version:
            conflicts.append(cps)
            continue
        by = next((r["decided_by"] for r in rows if r["decided_by"]), None)
        if now is None and by is None:
            res.unsigned.append(f"row {rows[0]['row']} ({cps})")
            continue
        note = (next((r["note"] for r in rows if r["note"]), "")
                or f"review workbook {wb.path.name} row {rows[0]['row']}")
        changes.append((cps, now, by or default_by, note, rows[0]["row"]))
    if conflicts:
        raise WorkbookConflictError(
            f"{wb.path}: the 同定台帳's decision for {', '.join(conflicts)} changed after the workbook was "
            "written; nothing recorded: run `ikou moji review` again and enter the decisions there")
    if dictionary is not None:
        for cps, mj, _, _, n in changes:
            try:
                ledger.check_decision(parse_codepoints(cps), mj, dictionary=dictionary, ahead=ahead)
            except ConfigError as exc:
                raise type(exc)(f"{wb.path}: {SHEET}!row {n}: {exc}") from None
    for cps, mj, by, note, _ in changes:
        ledger.decide(parse_codepoints(cps), mj, decided_by=by, note=note)
        res.recorded += 1
        res.withdrawn += mj is None
    return res
