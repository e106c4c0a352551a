"""report.xlsx: the run's record as a workbook for PMs and reviewers (xlsxwriter, Japanese headers).

Sheets: 概要 (run, status, sign-off blockers), 件数 (per table and stage), 保留 (the quarantine,
masked unless `reveal`, filters on), 保留理由 (per rule), 差異 (the parallel-run diff by
expected-difference rule and the unexplained cells per column), 説明できない差異 (those cells),
管理合計 (control totals), 前回比較 (trend against the previous rehearsal), 文字同定.

Every sheet has a line of text in row 1, headers in row 2 (frozen, filters on) and data below. A
sheet longer than `max_rows` (Excel holds 1,048,576 rows) keeps the first `max_rows` and says in
row 1 how many more rows there are and which Parquet file holds them all. Written row by row in
xlsxwriter's constant-memory mode, a slice of the frame at a time, so memory stays flat.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from ikou.privacy import mask_long
from ikou.reports.reconcile import stage_rows, trend
from ikou.reports.report import STATUS_JA

EXCEL_ROWS = 1_048_576
HEAD = 2                                  # rows above the data: the note, then the headers
MAX_ROWS = EXCEL_ROWS - HEAD              # data rows per sheet by default
SLICE = 50_000                            # rows masked and written at a time

QUARANTINE_COLUMNS = {"table": "テーブル", "stage": "段階", "source": "入力", "source_line": "行",
                      "record_key": "キー", "column": "項目", "rule": "ルール", "severity": "重大度",
                      "value": "値", "message_ja": "内容", "message_en": "内容 (英語)", "row_id": "行ID"}
STAGES_JA = {"extract": "抽出", "map": "変換", "moji": "文字同定", "validate": "検証", "load": "投入",
             "diff": "並行稼働比較"}
SEVERITY_JA = {"error": "エラー (保留)", "warning": "警告"}
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
                        ws.write_string(r, j, str(v))
                r += 1
        ws.autofilter(1, 0, max(1, r - 1), max(0, len(headers) - 1))
        return written

    def close(self) -> None:
        self.wb.close()


def _frame(rows: list[dict], columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame([[r.get(c) for c in columns] for r in rows], schema=columns, orient="row",
                        strict=False) if rows else pl.DataFrame(schema={c: pl.String for c in columns})


def _japanese(q: pl.DataFrame) -> pl.DataFrame:
    """Stage and severity codes in Japanese (rule ids stay as they are: they are the codes to look up)."""
    return q.with_columns(pl.col("stage").replace(STAGES_JA), pl.col("severity").replace(SEVERITY_JA))


def _slices(df: pl.DataFrame, fn=None):
    for part in df.iter_slices(SLICE):
        yield fn(part) if fn else part


def write_workbook(summary: dict, out: Path, *, run_dir: Path, quarantine: pl.DataFrame | None = None,
                   previous: dict | None = None, sensitive=frozenset(), reveal: bool = False,
                   max_rows: int = MAX_ROWS) -> Path:
    """Write report.xlsx for `summary` (summary.json as a dict); `max_rows` caps each sheet's data rows."""
    out, run_dir = Path(out), Path(run_dir)
    s = summary
    book = _Book(out, max_rows)
    try:
        _overview(book, s, masked=not reveal)
        _counts(book, s)
        q = quarantine if quarantine is not None else pl.DataFrame(schema={c: pl.String for c in QUARANTINE_COLUMNS})
        cols = list(QUARANTINE_COLUMNS)
        book.sheet("保留", [QUARANTINE_COLUMNS[c] for c in cols],
                   _slices(q.select(cols).head(book.max_rows),
                           lambda p: _japanese(mask_long(p, sensitive, reveal=reveal, value_cols=("value",)))),
                   total=q.height,
                   note="保留 (隔離) された記録とその理由" + ("" if reveal else " — 個人番号・氏名はマスク済"),
                   rest_in="quarantine.parquet", widths=[20, 8, 16, 8, 24, 16, 26, 8, 24, 50, 50, 16])
        reasons = s.get("quarantine_reasons") or []
        book.sheet("保留理由", ["テーブル", "段階", "ルール", "重大度", "記録数", "件数"],
                   [_frame(reasons, ["table", "stage", "rule", "severity", "rows_failed", "findings"])],
                   note="ルール別の保留件数 (記録数 = 保留された記録、件数 = 指摘の数)", rest_in="summary.json")
        _diff(book, s, run_dir)
        totals = [{"table": t, "column": c, **v} for t, cols_ in (s.get("control_totals") or {}).items()
                  for c, v in cols_.items()]
        book.sheet("管理合計", ["テーブル", "項目", "抽出", "投入", "保留中", "差額", "読めない値", "抽出時に保留 (記録)"],
                   [_frame(totals, ["table", "column", "extracted", "loaded", "held", "difference", "unreadable",
                                    "records_held_at_extract"])],
                   note="金額の管理合計: 抽出 = 投入 + 保留中 (差額 0)。読めない値・抽出時に保留した記録の金額はどの合計にも入りません",
                   rest_in="summary.json")
        tr = trend(s, previous)
        book.sheet("前回比較", ["項目", "前回", "今回", "差", "判定"],
                   [_frame(tr, ["item", "previous", "current", "delta", "verdict"])],
                   note=(f"前回のリハーサル ({previous.get('rehearsal')}, {previous.get('run_id')}) との比較"
                         if previous else "前回のリハーサルはありません"), rest_in="summary.json")
        moji = s.get("moji") or {}
        book.sheet("文字同定", ["入力", "項目", "文字", "符号位置", "出現数"],
                   [_frame(moji.get("unresolved") or [], ["source", "column", "char", "codepoints", "occurrences"])],
                   note="未同定の文字 (同定台帳で判断が必要): "
                        + ", ".join(f"{k} {v:,}" for k, v in (moji.get("counts") or {}).items()),
                   rest_in="moji/")
    finally:
        book.close()
    return out


def _overview(book: _Book, s: dict, *, masked: bool) -> None:
    rows = [("団体コード", s.get("dantai")), ("団体名", s.get("dantai_name")), ("実行ID", s.get("run_id")),
            ("リハーサル", s.get("rehearsal")), ("業務", ", ".join(s.get("gyomu") or [])),
            ("状態", STATUS_JA.get(s.get("status"), s.get("status") or "不明")),
            ("開始", s.get("started_at")), ("終了", s.get("finished_at")),
            ("移行先", f"{(s.get('target') or {}).get('url', '')} {(s.get('target') or {}).get('schema', '')}"),
            ("個人番号・氏名", "マスク済" if masked else "マスクなし (reveal_personal)")]
    if s.get("error"):
        rows.append(("失敗", f"({s['error'].get('stage')}) {s['error'].get('message_ja')} — {s['error'].get('message')}"))
    blockers = s.get("sign_off_blockers") or []
    rows += [("承認の妨げ", b) for b in blockers] or [("承認の妨げ", "なし")]
    book.sheet("概要", ["項目", "値"], [pl.DataFrame(rows, schema=["項目", "値"], orient="row")],
               note=f"移行結果 {s.get('dantai')} {s.get('dantai_name', '')} ({s.get('rehearsal')})",
               rest_in="summary.json", widths=[18, 90])


def _counts(book: _Book, s: dict) -> None:
    cols = ["table", "derived", "extracted", "mapped", "quarantined", "validated", "loaded", "warnings"]
    rows = [{**r, "validated": (s["tables"][r["table"]] or {}).get("validated")} for r in stage_rows(s)]
    stages = [{"table": f"段階: {STAGES_JA.get(k, k)}", "derived": None, "extracted": v.get("rows"),
               "seconds": v.get("seconds")} for k, v in (s.get("stages") or {}).items()]
    book.sheet("件数", ["テーブル", "派生", "抽出", "変換", "保留", "検証", "投入", "警告"],
               [_frame(rows, cols)], note="テーブル別・段階別の件数: 抽出 = 投入 + 保留 (派生テーブルは投入のみ)",
               rest_in="summary.json", widths=[24, 8, 12, 12, 12, 12, 12, 12])
    book.sheet("段階", ["段階", "処理件数", "秒"], [_frame(stages, ["table", "extracted", "seconds"])],
               note="段階別の処理件数と時間", rest_in="summary.json", widths=[24, 14, 10])


def _diff(book: _Book, s: dict, run_dir: Path) -> None:
    by_rule, unexplained = [], []
    for source, d in (s.get("diff") or {}).items():
        for rule, e in (d.get("explained") or {}).items():
            by_rule.append({"source": source, "rule": rule, "condition": e.get("condition"),
                            "columns": ", ".join(e.get("columns") or []), "cells": e.get("cells"),
                            "reason": e.get("reason"), "owner": e.get("owner")})
        for col, n in (d.get("unexplained_cells") or {}).items():
            by_rule.append({"source": source, "rule": "(説明できない差異)", "columns": col, "cells": n})
    book.sheet("差異", ["入力", "想定差異ルール", "条件", "項目", "セル数", "理由", "担当"],
               [_frame(by_rule, ["source", "rule", "condition", "columns", "cells", "reason", "owner"])],
               note="並行稼働比較 (旧 ⇔ 新): 想定差異ルールで説明できた差異と説明できない差異", rest_in="summary.json",
               widths=[20, 30, 14, 20, 10, 50, 30])
    files = sorted(run_dir.glob("diff/*/differences.parquet"))
    total = 0
    frames = []
    for f in files:   # masked when the run wrote them; the unexplained cells only, source by source
        lf = pl.scan_parquet(f).filter(pl.col("rule").is_null())
        key = _diff_key(f, (s.get("diff") or {}).get(f.parent.name), lf.collect_schema().names())
        n = lf.select(pl.len()).collect().item()
        total += n
        if n:
            frames.append(lf.select(pl.lit(f.parent.name).alias("source"),
                                    pl.concat_str([pl.col(k).cast(pl.String).fill_null(NULL_KEY_PART) for k in key],
                                                  separator="/").alias("key"),
                                    "column", "left", "right").head(book.max_rows).collect())
            unexplained.append(f.relative_to(run_dir).as_posix())
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
