"""report.xlsx: the run's record as a workbook for PMs and reviewers (xlsxwriter, Japanese headers).

Sheets: 概要 (run, status, sign-off blockers, a parallel run's mode), 件数 (per table and stage), 保留 (the held
records' findings: not migrated) and 警告 (the warnings: loaded), masked unless `reveal`, filters on, 保留理由
(per rule), 比較件数 (the parallel-run diff's counts per source, duplicate-key rows included), 差異 (the parallel-run diff by
expected-difference rule and the unexplained cells per column), 説明できない差異 (those cells),
管理合計 (control totals), 前回比較 (trend against the previous rehearsal), 文字同定.

Every sheet has a line of text in row 1, headers in row 2 (frozen, filters on) and data below. A
sheet longer than `max_rows` (Excel holds 1,048,576 rows) keeps the first `max_rows` and says in
row 1 how many more rows there are and which Parquet file holds them all. Written row by row in
xlsxwriter's constant-memory mode, a slice of the frame at a time, so memory stays flat, into a temporary file
beside the workbook that replaces it only once whole: a failure (a full disk) leaves no half-written .xlsx under
its name, the one there before as it was, and no temporary file.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import polars as pl

from ikou.privacy import mask_long
from ikou.reports import labels
from ikou.reports.csvsafe import visible_text
from ikou.reports.reconcile import stage_rows, trend
from ikou.reports.report import STATUS_JA, WITHHELD_CHAR, rule_message, sign_off_blockers
from ikou.reports.summary import shown_unresolved, signoff_max_held_rate

EXCEL_ROWS = 1_048_576
HEAD = 2                                  # rows above the data: the note, then the headers
MAX_ROWS = EXCEL_ROWS - HEAD              # data rows per sheet by default
SLICE = 50_000                            # rows masked and written at a time
PER_RULE = 5_000                          # 保留 rows per rule: enough to filter and read, where a
                                          # sheet of every finding (600k) took minutes to write;
                                          # quarantine.csv / .parquet hold them all
CELL_CHARS = 32_767                       # Excel's limit on a cell's text
TRUNCATED = " …（以下省略 / truncated）"

QUARANTINE_COLUMNS = {"table": "テーブル", "stage": "段階", "source": "入力", "source_line": "行（表はキー順の番号）",
                      "record_key": "キー", "column": "項目", "rule": "ルール", "severity": "重大度",
                      "value": "値", "message_ja": "内容", "message_en": "内容 (英語)", "row_id": "行ID"}
STAGES_JA = labels.STAGES
SEVERITY_JA = labels.SEVERITIES
NULL_KEY_PART = "(空)"   # a key part with no value, shown (left out, two keys could read the same)


class _Book:
    def __init__(self, out: Path, max_rows: int):
        import xlsxwriter

        self.wb = xlsxwriter.Workbook(str(out), {"constant_memory": True, "strings_to_numbers": False,
                                                 "strings_to_formulas": False, "strings_to_urls": False})
        self.max_rows = max(1, min(max_rows, MAX_ROWS))
        self.bold = self.wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        self.note = self.wb.add_format({"italic": True, "font_color": "#7F3F00"})

    def sheet(self, name: str, headers: list[str], frames, *, note: str, total: int | None = None,
              rest_in: str | None = None, widths: list[int] | None = None) -> int:
        """One sheet: `frames` yields DataFrames whose columns match `headers`; returns the rows written."""
        ws = self.wb.add_worksheet(name)
        for j, h in enumerate(headers):
            ws.set_column(j, j, (widths[j] if widths and j < len(widths) else max(10, 2 * len(h) + 2)))
        written, more = 0, 0
        rows_out = []
        for df in frames:
            take = max(0, self.max_rows - written)
            if take < df.height:
                more += df.height - take
            if take:
                rows_out.append(df.head(take))
                written += min(take, df.height)
        if total is not None:
            more = max(more, total - written)
        if more:
            note = (f"{note} 先頭 {written:,} 行のみ表示: 残り {more:,} 行を含む全件は {rest_in} にあります / "
                    f"first {written:,} rows only: all rows, {more:,} more, are in {rest_in}")
        ws.write_string(0, 0, note, self.note)
        ws.write_row(1, 0, headers, self.bold)
        ws.freeze_panes(HEAD, 0)
        r = HEAD
        for df in rows_out:
            for row in df.iter_rows():
                for j, v in enumerate(row):
                    if v is None:
                        continue
                    if isinstance(v, bool):
                        ws.write_string(r, j, "はい" if v else "いいえ")
                    elif isinstance(v, (int, float)):
                        ws.write_number(r, j, v)
                    else:
                        ws.write_string(r, j, _cell_text(visible_text(str(v))))   # ⟨U+202E⟩: csvsafe
                r += 1
        ws.autofilter(1, 0, max(1, r - 1), max(0, len(headers) - 1))
        return written

    def close(self) -> None:
        self.wb.close()


def _cell_text(v: str) -> str:
    """`v` within Excel's limit, which counts UTF-16 units (𠮷 is two): cut with the mark, never silently
    (xlsxwriter would drop what is over and return an error code)."""
    units = len(v.encode("utf-16-le")) // 2
    if units <= CELL_CHARS:
        return v
    room = CELL_CHARS - len(TRUNCATED)   # TRUNCATED is in the BMP: one unit per character
    out, used = [], 0
    for ch in v:   # only for a value over the limit: rare, and at most 32,767 characters
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > room:
            break
        out.append(ch)
    return "".join(out) + TRUNCATED


def _frame(rows: list[dict], columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame([[r.get(c) for c in columns] for r in rows], schema=columns, orient="row",
                        strict=False) if rows else pl.DataFrame(schema={c: pl.String for c in columns})


def _japanese(q: pl.DataFrame) -> pl.DataFrame:
    """Stage and severity codes in Japanese, tables and columns with their Japanese names (rule ids stay as
    they are: they are the codes to look up)."""
    out = q.with_columns(pl.col("stage").replace(STAGES_JA), pl.col("severity").replace(SEVERITY_JA))
    for col, label in (("table", labels.table), ("column", labels.column)):
        if col in out.columns:
            names = out[col].drop_nulls().unique().to_list()
            out = out.with_columns(pl.col(col).replace({n: label(n) for n in names}))
    return out


def _slices(df: pl.DataFrame, fn=None):
    for part in df.iter_slices(SLICE):
        yield fn(part) if fn else part


def write_workbook(summary: dict, out: Path, *, run_dir: Path, quarantine: pl.DataFrame | None = None,
                   previous: dict | None = None, sensitive=frozenset(), reveal: bool = False,
                   max_rows: int = MAX_ROWS, diffs: dict[str, dict] | None = None,
                   diff_dirs: dict[str, Path] | None = None, per_rule: int = PER_RULE) -> Path:
    """Write report.xlsx for `summary` (summary.json as a dict); `max_rows` caps each sheet's data rows,
    `per_rule` the 保留 sheet's findings of each rule (quarantine.csv and .parquet hold every one).
    `diffs` (source → diff summary; default summary.json's `diff`) are the diffs report.html shows, and
    `diff_dirs` where those not under RUN_DIR/diff/<source>/ keep their differences.parquet (`ikou
    run-report --diff`): the workbook and the page show the same diffs and the same 承認の妨げ."""
    out, run_dir = Path(out), Path(run_dir)
    s = summary
    diffs = dict(s.get("diff") or {}) if diffs is None else diffs
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    book = _Book(tmp, max_rows)
    try:
        _overview(book, s, masked=not reveal, blockers=sign_off_blockers(s, diffs, signoff_max_held_rate(run_dir)),
                  run_dir=run_dir)
        _counts(book, s)
        _vanished(book, s, run_dir, sensitive=sensitive, reveal=reveal)
        _changed(book, s, run_dir, sensitive=sensitive, reveal=reveal)
        q = quarantine if quarantine is not None else pl.DataFrame(schema={c: pl.String for c in QUARANTINE_COLUMNS})
        # held records (not migrated) and warnings (loaded) on sheets of their own: one sheet of both counted 280
        # rows for 48 held records, and a PM counting or filtering it got another number than the report's
        for name, severity, title in (("保留", "error", "保留された記録 (エラー: 移行されていません)"),
                                      ("警告", "warning", "警告のある記録 (投入済み: 移行されています)")):
            _findings(book, q.filter(pl.col("severity") == severity), name, title, per_rule=per_rule,
                      sensitive=sensitive, reveal=reveal)
        reasons = sorted(({**r, "table": labels.table(r.get("table")), "stage": labels.stage(r.get("stage")),
                           "severity": labels.severity(r.get("severity")),
                           "message": rule_message(r.get("rule"), [r.get("table")], s.get("gyomu") or ()) or ""}
                          for r in s.get("quarantine_reasons") or []),
                         key=lambda r: r["severity"] != labels.severity("error"))   # held first
        book.sheet("保留理由", ["テーブル", "段階", "ルール", "重大度", "記録数", "件数", "内容"],
                   [_frame(reasons, ["table", "stage", "rule", "severity", "rows_failed", "findings", "message"])],
                   note="ルール別の保留・警告の件数 (重大度「エラー (保留)」の記録は移行されず、「警告」の記録は投入済み。"
                        "記録数 = 記録の数、件数 = 指摘の数)", rest_in="summary.json",
                   widths=[34, 10, 26, 14, 10, 10, 60])
        _diff(book, s, run_dir, diffs, diff_dirs or {}, sensitive=sensitive, reveal=reveal)
        from ikou.reports.summary import shown_totals

        totals = [{"table": labels.table(t), "column": labels.column(c), **shown_totals(v)}
                  for t, cols_ in (s.get("control_totals") or {}).items() for c, v in cols_.items()]
        book.sheet("管理合計", ["テーブル", "項目", "抽出", "投入", "保留中", "差額", "読めない値", "抽出時に保留 (記録)"],
                   [_frame(totals, ["table", "column", "extracted", "loaded", "held", "difference", "unreadable",
                                    "records_held_at_extract"])],
                   note="金額の管理合計: 抽出 = 投入 + 保留中 (差額 0)。読めない値・抽出時に保留した記録の金額はどの合計にも入りません",
                   rest_in="summary.json")
        tr = trend(s, previous)
        book.sheet("前回比較", ["項目", "前回", "今回", "差", "判定", "備考"],
                   [_frame(tr, ["item", "previous", "current", "delta", "verdict", "note"])],
                   note=(f"前回のリハーサル ({previous.get('rehearsal')}, {previous.get('run_id')}) との比較"
                         if previous else "前回のリハーサルはありません"), rest_in="summary.json")
        moji = s.get("moji") or {}
        listed = [{**u, "column": labels.column(u.get("column")), "char": u.get("char") or WITHHELD_CHAR}
                  for u in shown_unresolved(moji.get("unresolved"))]   # Hangul, emoji …: code point only
        omitted = moji.get("unresolved_omitted")   # a bounded list (summaries since it was bounded)
        book.sheet("文字同定", ["入力", "項目", "文字", "符号位置", "出現数"],
                   [_frame(listed, ["source", "column", "char", "codepoints", "occurrences"])],
                   note="未同定の文字 (同定台帳で判断が必要)。文字の内訳: "
                        + "、".join(f"{labels.MOJI.get(k, k)} {v:,}" for k, v in (moji.get("counts") or {}).items()),
                   total=len(listed) + omitted if isinstance(omitted, int) and omitted > 0 else None,
                   rest_in=str(moji.get("unresolved_file") or "moji/"))
    except BaseException:
        with contextlib.suppress(Exception):   # its constant-memory files released; the error is the one above
            book.close()
        tmp.unlink(missing_ok=True)
        raise
    _publish(book, tmp, out)
    return out


def _publish(book: _Book, tmp: Path, out: Path) -> None:
    """The workbook written whole into `tmp`, then renamed to `out`; on a failure `tmp` removed and the error
    naming `out`, the file it was for (the temporary's name would mean nothing to the operator)."""
    from xlsxwriter.exceptions import FileCreateError

    try:
        try:
            book.close()
            os.replace(tmp, out)
        except BaseException as exc:
            _close_zip_files(exc)
            tmp.unlink(missing_ok=True)
            raise
    except FileCreateError as exc:   # xlsxwriter's wrapper of the OSError of writing the file
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else None
        if inner is None:
            raise
        named = OSError(inner.errno, inner.strerror, str(out))
        named.__cause__ = exc   # --debug still shows the original
        raise FileCreateError(named) from named
    except OSError as exc:   # the rename
        raise OSError(exc.errno, exc.strerror, str(out)) from exc


def _close_zip_files(exc: BaseException) -> None:
    """xlsxwriter leaves the ZipFile it failed to write (a full disk) open in its frame: collected later, its
    __del__ writes again and prints "Exception ignored … No space left" on the terminal, at any later moment (it
    broke Python's own compile of a module once). Closed here, quietly: the error that matters is `exc`."""
    import zipfile

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            for v in list(tb.tb_frame.f_locals.values()):
                if isinstance(v, zipfile.ZipFile) and v.fp is not None:
                    with contextlib.suppress(Exception):
                        v.fp.close()
                    v.fp = None   # ZipFile.close() (and so __del__) does nothing more
            tb = tb.tb_next
        exc = exc.__cause__ or exc.__context__


def _findings(book: _Book, q: pl.DataFrame, name: str, title: str, *, per_rule: int, sensitive, reveal: bool) -> None:
    """One sheet of the quarantine's findings of one severity, its title counting the records and the findings
    (the first `per_rule` of each rule shown; quarantine.csv / .parquet hold every one)."""
    cols = list(QUARANTINE_COLUMNS)
    records = q["row_id"].n_unique() if q.height else 0
    shown = q.select(cols).filter(pl.int_range(pl.len()).over("rule") < per_rule)   # the first of each rule
    capped = shown.height < q.height
    book.sheet(name, [QUARANTINE_COLUMNS[c] for c in cols],
               _slices(shown.head(book.max_rows),
                       lambda p: _japanese(mask_long(p, sensitive, reveal=reveal, value_cols=("value",)))),
               total=None if capped else q.height,
               note=f"{title}: {records:,} 件の記録 (指摘 {q.height:,} 件)" + ("" if reveal else " — 個人番号・氏名はマスク済")
               + (f" — ルールごとに先頭 {per_rule:,} 件まで表示 ({min(shown.height, book.max_rows):,} / "
                  f"{q.height:,} 件): 全件は quarantine.csv / quarantine.parquet にあります / the first "
                  f"{per_rule:,} findings of each rule; all {q.height:,} are in quarantine.csv / .parquet"
                  if capped else ""),
               rest_in="quarantine.parquet", widths=[20, 8, 16, 8, 24, 16, 26, 8, 24, 50, 50, 16])


def _persons_rows(s: dict, blockers: list[str]) -> list[tuple[str, str]]:
    """概要's lines of the persons the run saw against the previous rehearsal (summary.json `persons`): the
    vanished and the new ones counted, as a warning or (the run's limit exceeded) a blocker, or why they were not
    compared."""
    from ikou.reports.reconcile import vanished_blocks

    p = s.get("persons")
    if not isinstance(p, dict) or p.get("compared") is None:
        return []
    run = f"{p.get('previous_rehearsal') or ''} {p.get('previous_run') or ''}".strip()
    if not p.get("compared"):
        return [("前回から消えた人", f"不明: 前回 {run} は人のキーを記録していません / unknown: the previous rehearsal "
                                    f"kept no keys of its persons ({p.get('not_compared') or ''})")]
    n = int(p.get("vanished") or 0)
    level = ("承認の妨げ / sign-off blocker" if vanished_blocks(blockers) else "警告 / warning") if n else "なし / none"
    return [("前回から消えた人", f"{n:,} 人 ({level}; 前回 {run} の {int(p.get('previous_count') or 0):,} 人のうち、"
                                f"今回の投入にも保留にもいない人。一覧は「消えた人」シートと {p.get('vanished_file') or VANISHED_CSV})"
                                if n else f"0 人 (前回 {run} の人は全員、投入または保留されています)"),
            ("新しい人", f"{int(p.get('new') or 0):,} 人 (前回 {run} にいなかった人)")] + (
        [("内容が変わった人", f"{int(p['changed']):,} 人 (前回 {run} も今回も投入され、投入した行が前回と同じでない人。"
                              f"一覧は「変わった人」シートと {p.get('changed_file') or CHANGED_CSV})"
                              if p["changed"] else f"0 人 (前回 {run} も今回も投入された人の行はすべて前回と同じ)")]
        if p.get("changed") is not None else [])


VANISHED_CSV = "vanished.csv"
CHANGED_CSV = "changed.csv"


def _signoff_rows(run_dir: Path, s: dict) -> list[tuple[str, str]]:
    """概要's lines of the sign-offs recorded after the run (signoff.json), as report.html shows them."""
    from ikou.reports.report import signoffs_of

    out = []
    for o in signoffs_of(run_dir, s):
        line = f"{o['by'] or '—'} ({o['role'] or '—'}) {o['at']}"
        if o["override"]:
            line += f" — 承認の妨げ {len(o['blockers'])} 件を理由を記録して承認 (--override): {o['override']}"
        if o["target_checked"] is False:
            line += " — 移行先を確認せずに承認 (--no-target)"
        if not o["same_summary"]:
            line += " — 承認後に summary.json が変更されています / summary.json changed since it was signed"
        out.append(("承認", line))
    return out


def _vanished(book: _Book, s: dict, run_dir: Path, *, sensitive, reveal: bool) -> None:
    """消えた人: the previous rehearsal's persons this run did not see (vanished.csv, else summary.json's first
    ones); no sheet when none were compared or vanished, nor for a key column flagged sensitive."""
    p = s.get("persons")
    if not isinstance(p, dict) or not p.get("compared") or not p.get("vanished"):
        return
    _persons_sheet(book, p, run_dir, "vanished", "消えた人", VANISHED_CSV,
                   lambda f: pl.read_csv(f, infer_schema=False).select("column", "value"),
                   lambda run, n: f"前回リハーサル {run} にいて、今回の投入にも保留にもいない人: {n:,} 人 / persons of the "
                                  "previous rehearsal in neither this run's loaded nor its held records",
                   sensitive=sensitive, reveal=reveal)


def _changed(book: _Book, s: dict, run_dir: Path, *, sensitive, reveal: bool) -> None:
    """変わった人: persons loaded in both rehearsals whose loaded rows differ (changed.csv, else summary.json's first
    ones); no sheet when none changed, nor for a key column flagged sensitive."""
    p = s.get("persons")
    if not isinstance(p, dict) or not p.get("changed"):
        return
    _persons_sheet(book, p, run_dir, "changed", "変わった人", CHANGED_CSV,
                   lambda f: _key_rows(pl.read_csv(f, infer_schema=False)["record_key"].to_list()),
                   lambda run, n: f"前回リハーサル {run} も今回も投入され、投入した行が前回と同じでない人: {n:,} 人 / persons "
                                  "loaded in both rehearsals whose loaded rows differ",
                   sensitive=sensitive, reveal=reveal)


def _persons_sheet(book: _Book, p: dict, run_dir: Path, kind: str, name: str, default_file: str, read, note, *,
                   sensitive, reveal: bool) -> None:
    """Sheet `name` of summary.json `persons`' `kind` ("vanished", "changed"): their keys, 項目 and 値, read by
    `read` from the run's `<kind>_file` (default `default_file`; never through a symbolic link), else summary.json's
    first ones (`<kind>_listed`); its note `note(previous run, count)`. No sheet for a key column flagged sensitive
    (unless `reveal`)."""
    if not reveal and any(c in sensitive for col in p.get("columns") or [] for c in col.split(",")):
        return
    f = run_dir / str(p.get(f"{kind}_file") or default_file)
    rows = read(f) if f.is_file() and not f.is_symlink() else _key_rows(p.get(f"{kind}_listed") or [])
    rows = rows.with_columns(pl.col("column").replace({c: labels.columns(c) for c in rows["column"].unique().to_list()}))
    run = f"{p.get('previous_rehearsal') or ''} {p.get('previous_run') or ''}".strip()
    book.sheet(name, ["項目", "値"], [rows], note=note(run, int(p[kind])), total=int(p[kind]),
               rest_in=str(p.get(f"{kind}_file") or default_file), widths=[30, 24])


def _key_rows(keys: list) -> pl.DataFrame:
    """Record keys (`atena_no=…`; a key without `=` has no column) as 項目 (column) and 値 (value) rows."""
    keys = [str(k).split("=", 1) for k in keys]
    return pl.DataFrame([k if len(k) == 2 else ["", k[0]] for k in keys], schema=["column", "value"],
                        orient="row") if keys else pl.DataFrame(schema={"column": pl.String, "value": pl.String})


def _overview(book: _Book, s: dict, *, masked: bool, blockers: list[str], run_dir: Path | None = None) -> None:
    rows = [("団体コード", s.get("dantai")), ("団体名", s.get("dantai_name")), ("実行ID", s.get("run_id")),
            ("リハーサル", s.get("rehearsal")), ("業務", ", ".join(labels.gyomu(g) for g in s.get("gyomu") or [])),
            ("状態", STATUS_JA.get(s.get("status"), s.get("status") or "不明")),
            ("開始", s.get("started_at")), ("終了", s.get("finished_at")),
            ("移行先", f"{(s.get('target') or {}).get('url', '')} {(s.get('target') or {}).get('schema', '')}"),
            ("個人番号・氏名", "マスク済" if masked else "マスクなし (reveal_personal)")]
    if s.get("error"):
        e = s["error"]
        rows.append(("失敗", f"(段階: {labels.stage(e.get('stage')) or '—'}) {e.get('message_ja') or '—'} — "
                             f"{e.get('message')}"))
    if s.get("mode") == "parallel_run":   # a run into a cut-over target: compared with it, nothing loaded
        cut = s.get("cutover") or {}
        rows.append(("実行の種類", "並行稼働: 切替済みのため投入せず比較のみ / parallel run: target cut over, compared, "
                                  "not loaded (差異には本番切替後の利用者による更新も含まれます)"))
        rows.append(("本番切替", f"実行 {cut.get('run_id') or '—'}、{cut.get('at') or '—'} に宣言 / cut over to run "
                                f"{cut.get('run_id') or '—'}, declared {cut.get('at') or '—'}"))
    elif s.get("mode"):
        rows.append(("実行の種類", "投入 (移行先の内容をこの実行で置き換え) / load"))
    target = s.get("target") or {}
    if target.get("replaced_run"):
        rows.append(("前の状態（戻り先）", target["replaced_run"]))   # what ikou rollback --to restores
    if target.get("replaced_unfinished_run"):   # killed, failed or cancelled after its load committed
        u = target["replaced_unfinished_run"]
        rows.append(("未完了の実行を置換", f"{u.get('run_id')} ({u.get('status')}): "
                     + ("前の状態として残しました / kept as the previous state" if u.get("kept_as_previous")
                        else "破棄し、その前の完了した実行を残しました / dropped; the finished run before it is kept")))
    rows += [("承認の妨げ", b) for b in blockers] or [("承認の妨げ", "なし")]
    rows += _persons_rows(s, blockers)
    rows += _signoff_rows(run_dir, s) if run_dir is not None else []
    book.sheet("概要", ["項目", "値"], [pl.DataFrame(rows, schema=["項目", "値"], orient="row")],
               note=f"移行結果 {s.get('dantai')} {s.get('dantai_name', '')} ({s.get('rehearsal')})",
               rest_in="summary.json", widths=[18, 90])


def _counts(book: _Book, s: dict) -> None:
    cols = ["table", "derived", "extracted", "mapped", "quarantined", "validated", "loaded", "warnings"]
    rows = [{**r, "table": labels.table(r["table"]), "validated": (s["tables"][r["table"]] or {}).get("validated")}
            for r in stage_rows(s)]
    stages = [{"table": f"段階: {STAGES_JA.get(k, k)}", "derived": None, "extracted": v.get("rows"),
               "seconds": v.get("seconds")} for k, v in (s.get("stages") or {}).items()]
    book.sheet("件数", ["テーブル", "派生", "抽出", "変換後", "保留", "検証", "投入", "警告"],
               [_frame(rows, cols)], note="テーブル別・段階別の件数: 抽出 = 投入 + 保留 (派生テーブルは投入のみ)",
               rest_in="summary.json", widths=[24, 8, 12, 12, 12, 12, 12, 12])
    book.sheet("段階", ["段階", "入力件数", "秒"], [_frame(stages, ["table", "extracted", "seconds"])],
               note="段階別の入力件数 (各段階が受け取った件数) と時間。件数シートの「変換後」(変換を通過した件数) とは別の数です",
               rest_in="summary.json", widths=[24, 14, 10])


def _diff(book: _Book, s: dict, run_dir: Path, diffs: dict[str, dict], diff_dirs: dict[str, Path], *,
          sensitive=frozenset(), reveal: bool = False) -> None:
    from ikou.reports.report import _diffs_view   # the HTML's 入力ごとの比較, the same numbers

    counts = _diffs_view(diffs, s.get("sources"))["table"]
    book.sheet("比較件数", counts["columns"],
               [pl.DataFrame(counts["rows"], schema=counts["columns"], orient="row", strict=False) if counts["rows"]
                else pl.DataFrame(schema={c: pl.String for c in counts["columns"]})],
               note="並行稼働比較の件数: 抽出件数 = 抽出で保留（比較外） + 旧の件数、旧の件数 = 両方にある + 旧のみ + 重複キー（旧）、新の件数 = 両方にある + 新のみ + "
                    "重複キー（新） (重複キーの行は突き合わせない)", rest_in="summary.json")
    by_rule, unexplained = [], []
    for source, d in diffs.items():
        for rule, e in (d.get("explained") or {}).items():
            by_rule.append({"source": source, "rule": rule, "condition": e.get("condition"),
                            "columns": ", ".join(e.get("columns") or []), "cells": e.get("cells"),
                            "reason": e.get("reason"), "owner": e.get("owner")})
        for col, n in (d.get("unexplained_cells") or {}).items():
            by_rule.append({"source": source, "rule": "(説明できない差異)", "columns": labels.column(col), "cells": n})
    book.sheet("差異", ["入力", "想定差異ルール", "条件", "項目", "セル数", "理由", "担当"],
               [_frame(by_rule, ["source", "rule", "condition", "columns", "cells", "reason", "owner"])],
               note="並行稼働比較 (旧 ⇔ 新): 想定差異ルールで説明できた差異と説明できない差異", rest_in="summary.json",
               widths=[20, 30, 14, 20, 10, 50, 30])
    # the run's own diffs (RUN_DIR/diff/<source>/) and those the report was given besides (run-report --diff)
    files = {f.parent.name: f for f in sorted(run_dir.glob("diff/*/differences.parquet")) if f.parent.name in diffs}
    for source, folder in diff_dirs.items():
        if source in diffs and (Path(folder) / "differences.parquet").is_file():
            files[source] = Path(folder) / "differences.parquet"
    total = 0
    frames = []
    for source, f in files.items():   # the unexplained cells only, source by source
        lf = pl.scan_parquet(f).filter(pl.col("rule").is_null())
        key = _diff_key(f, diffs.get(source), lf.collect_schema().names())
        n = lf.select(pl.len()).collect().item()
        total += n
        if n:
            # masked again with this run's columns, the 個人番号 names and the shape guard, whatever the diff
            # was written with (`ikou diff --reveal`, another run's columns); keys by their columns only
            cells = mask_long(lf.select(*key, "column", "left", "right").head(book.max_rows).collect()
                              .with_columns(pl.col("left", "right").cast(pl.String)),
                              sensitive, reveal=reveal, key_cols=tuple(key))
            frames.append(cells.select(pl.lit(source).alias("source"),
                                       pl.concat_str([pl.col(k).cast(pl.String).fill_null(NULL_KEY_PART) for k in key],
                                                     separator="/").alias("key"),
                                       "column", "left", "right"))
            frames[-1] = frames[-1].with_columns(pl.col("column").replace(
                {c: labels.column(c) for c in frames[-1]["column"].drop_nulls().unique().to_list()}))
            unexplained.append(f.relative_to(run_dir).as_posix() if f.is_relative_to(run_dir) else f.as_posix())
    book.sheet("説明できない差異", ["入力", "キー", "項目", "旧の値", "新の値"],
               frames or [pl.DataFrame(schema={c: pl.String for c in ("source", "key", "column", "left", "right")})],
               note="想定差異ルールで説明できない差異 (要確認)", total=total,
               rest_in=", ".join(unexplained) or "diff/*/differences.parquet", widths=[20, 24, 16, 30, 30])


def _diff_key(f: Path, diff: dict | None, names: list[str]) -> list[str]:
    """The key columns of a diff's differences.parquet: the diff's own key (its summary), never the other
    columns of the file (`kind`, added ones) that would read as part of the key."""
    key = (diff or {}).get("key")
    if not key and (f.parent / "summary.json").is_file():
        import json

        key = json.loads((f.parent / "summary.json").read_text(encoding="utf-8")).get("key")
    key = [k for k in key or [] if k in names]
    # a file without its summary: every column that is not one of the cell's own
    return key or [c for c in names if c not in ("column", "left", "right", "rule", "kind")]
