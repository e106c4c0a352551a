"""The two report entry points: a diff's outputs, and a migration run's report.html.

Reports are ONE self-contained HTML file each (inline CSS and SVG, no external script, style,
font or image: 自治体 networks are closed), in Japanese for a PM, plus summary.json for machines
and detail Parquet + CSV for engineers. Sensitive values are masked everywhere unless `reveal`.
"""
from __future__ import annotations

import datetime as _dt
import functools
import json
from pathlib import Path

import polars as pl
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ikou.reports import labels
from ikou.reports.charts import bar_chart
from ikou.reports.csvsafe import safe_for_csv, visible_text
from ikou.reports.diff import DiffResult, summarize
from ikou.privacy import mask_cells_of, mask_frame, mask_long
from ikou.summary import write_replacing
from ikou.reports.reconcile import NOT_COMPARABLE, cell_count, stage_rows, totals_check, trend

TEMPLATES = Path(__file__).parent / "templates"
HTML_ROWS = 50   # rows per drill-down table in the HTML; detail files hold everything
TREND_NAMED = 3   # items that got worse named on the first screen (the 前回比較 table lists them all)

STAGE_LABELS = labels.STAGES
STATUS_JA = {"succeeded": "成功", "failed": "失敗", "cancelled": "中止（キャンセル）", "running": "実行中",
             "aborted": "中断"}
COLUMN_LABELS = {"table": "テーブル", "column": "項目", "left": "旧の値", "right": "新の値",
                 "rule": "想定差異ルール", "record_key": "キー", "source": "入力",
                 "source_line": "行（表はキー順の番号）", "value": "値", "message_ja": "内容", "severity": "重大度"}


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "はい" if v else "いいえ"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{int(v):,}" if v.is_integer() else f"{v:,.2f}"
    return visible_text(str(v))   # a bidi override or a zero-width character as ⟨U+202E⟩ (reports.csvsafe)


JST = _dt.timezone(_dt.timedelta(hours=9), "JST")   # the 自治体's clock: a run at 20:51 UTC ran on the next day there


def _jst(v) -> str:
    """An ISO time of summary.json (UTC) as the PM's clock reads it: `2026-12-01 05:51:54 JST`; as it is when it is
    not a time (a summary someone edited), — when there is none."""
    if not v:
        return "—"
    try:
        t = _dt.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        return str(v)
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S JST")


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["fmt"] = _fmt
    env.globals["jst"] = _jst
    return env


def _table(df: pl.DataFrame, *, limit: int = HTML_ROWS, total: int | None = None) -> dict:
    total = df.height if total is None else total
    head = df.head(limit)
    return {"columns": [COLUMN_LABELS.get(c, c) for c in head.columns],
            "rows": [list(r) for r in head.iter_rows()],
            "more": max(0, total - head.height), "total": total}


def _now() -> str:
    return _dt.datetime.now(JST).strftime("%Y-%m-%d %H:%M JST")


def _write_frame(df: pl.DataFrame, out_dir: Path, stem: str) -> None:
    """The Parquet exact (the record), the CSV for people with formula-like cells neutralised and a BOM (Japanese
    Excel reads a CSV without one as CP932: every Japanese cell garbled)."""
    write_replacing(out_dir / f"{stem}.parquet", df.write_parquet)
    write_replacing(out_dir / f"{stem}.csv", lambda p: safe_for_csv(df).write_csv(p, include_bom=True))


def render_diff_html(result: DiffResult, summary: dict, out_path: Path, *,
                     sensitive=frozenset(), reveal: bool = False) -> Path:
    s = summary
    key = tuple(result.key)
    unexplained = s["unexplained_cells"]
    explained_by_col: dict[str, int] = {}
    for e in s["explained"].values():
        for col, n in e["by_column"].items():
            explained_by_col[col] = explained_by_col.get(col, 0) + n
    diff_cols = [c for c in result.columns if s["changed_cells"].get(c)]
    if s["explained"]:
        chart_rows = [(c, [("説明できない差異", unexplained.get(c, 0), "red"),
                           ("想定差異", explained_by_col.get(c, 0), "green")]) for c in diff_cols]
    else:
        chart_rows = [(c, [("差異セル数", s["changed_cells"][c], "orange")]) for c in diff_cols]
    column_table = {"columns": ["項目", "差異セル数", "想定差異", "説明できない差異"],
                    "rows": [[c, s["changed_cells"][c], explained_by_col.get(c, 0),
                              unexplained.get(c, 0)] for c in diff_cols], "more": 0}
    rules_table = {"columns": ["ルール", "条件", "対象項目", "説明できた差異", "理由", "担当"],
                   "rows": [[n, e["condition"], ", ".join(e["columns"] or []), e["cells"],
                             e["reason"], e["owner"]] for n, e in s["explained"].items()],
                   "more": 0}
    count_chart = bar_chart([
        ("件数", [("旧システム", s["left_rows"], "blue"), ("新システム", s["right_rows"], "purple")]),
        ("両方にある", [("件数", s["matched"], "green")]),
        ("旧のみ", [("件数", s["only_left"], "red")]),
        ("新のみ", [("件数", s["only_right"], "red")]),
        ("値が異なる行", [("件数", s["changed_rows"], "orange")]),
    ], title="件数の突合")
    column_samples = []
    for c in diff_cols:   # unexplained first; only the rows shown are sorted and masked
        part = mask_cells_of(result.column_sample(c, HTML_ROWS), c, sensitive, reveal=reveal,
                             key_cols=key)
        column_samples.append((c, _table(part.drop("column"), total=s["changed_cells"][c])))
    dups = {side: mask_frame(d["sample"], sensitive, reveal=reveal, keys=key)
            for side, d in result.duplicates.items()}
    html = _env().get_template("diff_report.html.j2").render(
        s=s, generated_at=_now(), masked=not reveal,
        unexplained_total=sum(unexplained.values()),
        count_chart=count_chart,
        column_chart=bar_chart(chart_rows, title="項目ごとの差異セル数") if chart_rows else "",
        column_table=column_table, rules_table=rules_table,
        totals=totals_check(s["control_totals"]["left"], s["control_totals"]["right"]),
        column_samples=column_samples,
        only_left=_table(mask_frame(result.only_left_rows, sensitive, reveal=reveal, keys=key)),
        only_right=_table(mask_frame(result.only_right_rows, sensitive, reveal=reveal, keys=key)),
        dup_left=_table(dups["left"]), dup_right=_table(dups["right"]),
    )
    write_replacing(out_path, lambda p: p.write_text(html, encoding="utf-8"))
    return out_path


def _masked_cells(result: DiffResult, sensitive, reveal: bool, *,
                  unexplained: bool = False) -> pl.LazyFrame:
    """The result's unexplained cells, or its detail (unexplained + explained samples, `kind`),
    read and masked column by column (never all in memory)."""
    scan = ((lambda c: result.scan_cells([c], unexplained=True)) if unexplained
            else (lambda c: result.scan_detail([c])))
    parts = [mask_cells_of(scan(c), c, sensitive, reveal=reveal, key_cols=tuple(result.key))
             for c in result.columns]
    return pl.concat(parts) if parts else (result.scan_cells(unexplained=True) if unexplained
                                           else result.scan_detail())


def write_diff_outputs(result: DiffResult, out_dir: Path, *, sensitive=frozenset(),
                       reveal: bool = False, extra: dict | None = None) -> dict:
    """Write summary.json, report.html and the detail files (Parquet + CSV); return the summary.

    differences.parquet holds every unexplained cell and, per rule and column, a sample of the
    explained ones (`result.explained_sample`, smallest keys), with the rule and a `kind` column
    ("unexplained" / "sample"); the explained cells are counted in summary.json, not stored.
    differences.csv holds the unexplained cells only. Both are streamed from the result's cell
    files (grouped by column), so memory does not grow with them. The CSVs (opened in Excel) have
    formula-like text cells neutralised (reports.csvsafe); the Parquet files hold the values exactly.

    Detail files are masked like the HTML unless `reveal`: they leave the machine more easily
    than the database does.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(result)
    summary["masked"] = not reveal
    summary.update(extra or {})   # a flow's diff: the target `table` it compared
    (out_dir / "summary.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    # Parquet: what still needs explaining (rule is null) in full, and a sample per rule of the
    # explained cells (dates, kana width …: millions at 1M persons, counted in the summary);
    # the CSV an engineer opens: the unexplained cells only.
    write_replacing(out_dir / "differences.parquet", _masked_cells(result, sensitive, reveal).sink_parquet)
    write_replacing(out_dir / "differences.csv", lambda p: safe_for_csv(   # with a BOM: Japanese Excel reads
        _masked_cells(result, sensitive, reveal, unexplained=True)).sink_csv(p, include_bom=True))   # UTF-8 only then
    key = tuple(result.key)   # the key columns are never masked by shape: a key must stay traceable
    _write_frame(mask_frame(result.only_left_rows, sensitive, reveal=reveal, keys=key), out_dir,
                 "only_left")
    _write_frame(mask_frame(result.only_right_rows, sensitive, reveal=reveal, keys=key), out_dir,
                 "only_right")
    for side, d in result.duplicates.items():
        if d["keys"]:
            _write_frame(mask_frame(d["sample"], sensitive, reveal=reveal, keys=key), out_dir,
                         f"duplicates_{side}")
    render_diff_html(result, summary, out_dir / "report.html", sensitive=sensitive, reveal=reveal)
    return summary


# Rules that declare no message of their own in a registry (the extract stage words each finding with its
# byte or character position): what every finding of the rule says, for a heading over all of them
EXTRACT_MESSAGES = {
    "extract.decode": "文字コードとして読めないバイト列があります",
    "extract.field_count": "項目数がレイアウトと異なります",
    "extract.control_char": "制御文字があります",
    "extract.undefined_byte": "CP932 で定義されていないバイトがあります",
    "extract.nul_byte": "NUL バイト (0x00) があります",
    "extract.overlong": "項目がレイアウトの上限より長いです",
    "extract.truncated": "最後のレコードが途中で切れています",
    "extract.record_length": "レコード長がレイアウトと異なります",
    "extract.invalid_value": "値がその型として有効ではありません",
    "extract.inner_padding": "項目の途中に埋め草の空白が続いています (固定長の桁ずれの兆候)",
    "extract.blank_line": "空白だけの行です (記録ではありません)",
}
VARIED_MESSAGE = "内容は記録ごとに異なります（下の表の「内容」を参照）"


@functools.lru_cache(maxsize=8)
def _declared_rules(gyomu: tuple[str, ...]) -> tuple[dict[str, dict[str, str]], dict[str, set[str]]]:
    """The validation rules of the 業務 (their rules files and the rules their schemas imply): rule id →
    {table: its message}, and rule id → the kinds it is of. Empty when the specs cannot be read (the
    headings then fall back to what the findings say)."""
    from ikou import REPO_ROOT

    messages: dict[str, dict[str, str]] = {}
    kinds: dict[str, set[str]] = {}
    for g in gyomu:
        try:
            from ikou.schema import load_schema
            from ikou.validators.engine import schema_rules
            from ikou.validators.spec import load_rules

            schema = load_schema(REPO_ROOT / "specs" / "gyomu" / g / "schema.yaml")
            rules = load_rules(schema.rules)
            per_table = {t: (schema_rules(schema, t, rules.tables.get(t, [])) if rules.schema_rules else [])
                            + list(rules.tables.get(t, []))
                         for t in dict.fromkeys([*schema.tables, *rules.tables])}
        except Exception:   # noqa: BLE001 - a heading's wording must never stop a report
            continue
        for t, rs in per_table.items():
            for r in rs:
                messages.setdefault(r.id, {})[t] = r.messages()[0]
                kinds.setdefault(r.id, set()).add(r.kind)
                for o in r.outcomes():   # a finding under an id of its own (setai.setainushi_held)
                    messages.setdefault(o.id, {})[t] = o.ja
    return messages, kinds


def rule_message(rule: str | None, tables: list[str], gyomu=()) -> str | None:
    """The rule's own message, the same for every finding of it: as its rules file declares it for these
    tables (one wording), else its kind's (`key.unique` of 個人履歴 and of 納税義務者 name other keys: the
    kind says "キーが重複しています"), else the mapping op's or 文字同定's declared message, else the
    extract stage's. None when no registry knows the rule."""
    if not rule:
        return None
    declared, kinds = _declared_rules(tuple(gyomu or ()))
    if rule in declared:
        said = {declared[rule][t] for t in tables if t in declared[rule]} or set(declared[rule].values())
        if len(said) == 1:
            return said.pop()
        if len(kinds.get(rule, ())) == 1:
            from ikou.validators.kinds import KINDS

            return KINDS[next(iter(kinds[rule]))].message[0]
    try:
        from ikou.mappings.ops import RULE_MESSAGES as OPS
        from ikou.moji.identify import RULE_MESSAGES as MOJI
    except Exception:   # noqa: BLE001
        OPS, MOJI = {}, {}
    for registry in (OPS, MOJI):
        if rule in registry:
            return registry[rule][0]
    return EXTRACT_MESSAGES.get(rule)


def _labelled(t: dict, how: dict[int, object]) -> dict:
    """A frame_table's rows with the cells at the given positions given their Japanese labels."""
    t["rows"] = [[how[i](v) if i in how and v is not None else v for i, v in enumerate(r)] for r in t["rows"]]
    return t


def _quarantine_view(quarantine: pl.DataFrame, sensitive, reveal: bool, gyomu=()):
    if quarantine is None or quarantine.is_empty():
        return {"columns": [], "rows": [], "more": 0}, [], ""
    q = mask_long(quarantine, sensitive, reveal=reveal, value_cols=("value",))
    grouped = (q.group_by("rule", "severity")
               .agg(pl.len().alias("n"), pl.col("table").drop_nulls().unique().sort()
                    .str.join(", ").alias("tables"),
                    pl.col("column").drop_nulls().unique().sort().str.join(", ").alias("columns"),
                    pl.col("message_ja").drop_nulls().first().alias("message"),
                    pl.col("message_ja").drop_nulls().n_unique().alias("wordings"))
               .sort("n", "rule", descending=[True, False]))
    # each rule's heading says what the rule is, not what its first finding said (another table's key, one
    # household's number): its declared message, or the findings' one wording, else a pointer to the rows
    said = {(r["rule"], r["severity"]): rule_message(r["rule"], (r["tables"] or "").split(", "), gyomu)
            or (r["message"] if r["wordings"] == 1 else VARIED_MESSAGE) for r in grouped.iter_rows(named=True)}
    reasons = {"columns": ["ルール", "重大度", "件数", "テーブル", "項目", "内容"],
               "rows": [[r["rule"], labels.severity(r["severity"]), r["n"], labels.tables(r["tables"]),
                         labels.columns(r["columns"]), said[(r["rule"], r["severity"])]]
                        for r in grouped.iter_rows(named=True)], "more": 0}
    samples = []
    show = ["table", "source", "source_line", "record_key", "column", "value", "message_ja"]
    for r in grouped.iter_rows(named=True):
        part = q.filter(pl.col("rule").eq_missing(r["rule"]) &
                        pl.col("severity").eq_missing(r["severity"]))
        samples.append({"rule": r["rule"], "severity": labels.severity(r["severity"]), "total": r["n"],
                        "message": said[(r["rule"], r["severity"])],
                        "table": _labelled(_table(part.select(show).sort("source", "source_line")),
                                           {0: labels.table, 4: labels.column})})
    colours = {"error": "red", "warning": "orange"}
    chart = bar_chart([(f'{r["rule"]}', [(r["severity"] or "", r["n"],
                                          colours.get(r["severity"], "grey"))])
                       for r in grouped.head(20).iter_rows(named=True)],
                      title="理由別の件数（上位20）")
    return reasons, samples, chart


def sign_off_blockers(summary: dict, diffs: dict[str, dict] | None = None, max_held_rate: float | None = None) -> list[str]:
    """The 承認の妨げ report.html and report.xlsx list, one list for both: summary.json's `sign_off_blockers`
    (what `ikou signoff` refuses on) and, for a diff the report was given besides the run's own (`ikou
    run-report --diff`), its unexplained cells, worded as the run words them and marked as not in
    summary.json; and, as `ikou signoff` refuses on it, a 'nothing loaded' blocker its counts show that a
    summary written before that blocker existed does not list (marked so). `max_held_rate`: the run's
    thresholds.signoff_max_held_rate (reports.summary.signoff_max_held_rate), so that the page shows the held-rate
    line `ikou signoff` refuses on for a run written before it."""
    from ikou.reports.summary import unlisted_nothing_loaded

    out = list(summary.get("sign_off_blockers") or []) + unlisted_nothing_loaded(summary, max_held_rate)
    own = set(summary.get("diff") or {})
    extra = {k: d for k, d in (diffs or {}).items() if k not in own and isinstance(d, dict)}
    if extra:
        from ikou.reports.summary import _blockers   # the one place the blocker lines are worded

        out += [f"{b} — run-report で追加した比較 (summary.json の承認の妨げには含まれません) / "
                "a diff added by run-report, not in summary.json" for b in _blockers({}, None, extra)]
    return out


CONTROL_TOTAL_COLUMNS = ["extracted", "loaded", "held", "difference", "unreadable", "records_held_at_extract"]


def _control_totals_view(totals: dict | None) -> dict:
    """summary.json's control totals as one row per table and amount, its sums in Japanese-headed columns."""
    from ikou.reports.summary import shown_totals

    rows = [[labels.table(t), labels.column(c), *(shown_totals(v or {}).get(k) for k in CONTROL_TOTAL_COLUMNS)]
            for t, cols in (totals or {}).items() for c, v in (cols or {}).items()]
    return {"columns": ["テーブル", "項目", *(labels.CONTROL_TOTALS[k] for k in CONTROL_TOTAL_COLUMNS)],
            "rows": rows, "more": 0}


def _rows_table(rows: list[dict], columns: list[tuple[str, str]]) -> dict:
    """A list of dicts as the frame_table macro's {columns, rows, more}."""
    return {"columns": [label for _, label in columns],
            "rows": [[r.get(k) for k, _ in columns] for r in rows[:HTML_ROWS]],
            "more": max(0, len(rows) - HTML_ROWS)}


# the 文字 of an unresolved character outside MJ's scope (Hangul, emoji …): its 符号位置 says which it is
WITHHELD_CHAR = "（符号位置のみ表示）"


def _unresolved_table(moji: dict) -> dict:
    """The unresolved characters summary.json lists; those it leaves out (a bounded list, summaries since
    it was bounded: `unresolved_omitted`) are counted in `more` (the table says where all rows are)."""
    from ikou.reports.summary import shown_unresolved

    t = _rows_table([{**u, "column": labels.column(u.get("column")), "char": u.get("char") or WITHHELD_CHAR}
                     for u in shown_unresolved(moji.get("unresolved"))],
                    [("source", "ソース"), ("column", "項目"), ("codepoints", "符号位置"), ("char", "文字"),
                     ("occurrences", "出現数")])
    omitted = moji.get("unresolved_omitted")
    if isinstance(omitted, int) and omitted > 0:
        t["more"] += omitted
    return t


def _combined_view(combined: dict | None) -> list[dict]:
    """Per multi-table source: the ledger of every vendor table, each join's unmatched rows, the
    crosswalks' kept / new / total numbers (the same counts summary.json holds under `combined`)."""
    views = []
    for src, c in (combined or {}).items():
        ledger = {"columns": ["テーブル", "抽出", "使用", labels.HELD, "移行対象外", "参照（マスタ）",
                              "移行対象外の理由"],
                  "rows": [[t.get("table", a), t.get("extracted"), t.get("used"), t.get("quarantined"),
                            t.get("not_migrated"), t.get("reference"),
                            "、".join(f"{r}: {n:,} 件" for r, n in (t.get("not_migrated_reasons") or {}).items())]
                           for a, t in (c.get("tables") or {}).items()], "more": 0}
        joins = {"columns": ["結合するテーブル", "結合方法", "相手のない行（テーブル側）", "相手のない記録（記録側）"],
                 "rows": [[j.get("table"), j.get("how"), j.get("unmatched_table_rows"), j.get("unmatched_records")]
                          for j in c.get("joins") or []], "more": 0}
        crosswalks = {"columns": ["番号", "対応表", "継続（前回の番号）", "新規発番", "合計"],
                      "rows": [[name, x.get("crosswalk"), x.get("kept"), x.get("issued"), x.get("held_total")]
                               for name, x in (c.get("crosswalks") or {}).items() if "crosswalk" in x],
                      "more": 0}
        views.append({"source": src, "ledger": ledger, "joins": joins, "crosswalks": crosswalks,
                      "held_persons": c.get("held_persons")})
    return views


def _diffs_view(diffs: dict[str, dict], extracted: dict[str, dict] | None = None) -> dict:
    """Every source's parallel-run diff: one row each plus the total (a run compares each source with its
    table: the first alone would hide the others' findings), and per source its columns.

    `extracted`: the run's summary `sources` (records read, held at extract): a record held at extract is not in
    the extract staging the diff reads, so 抽出件数 = 旧の件数 + 抽出で保留 says where the legacy system's count went.
    A multi-table source's rows are its tables' (the diff compares the persons they combine into): left empty."""
    metrics = ("left_rows", "right_rows", "matched", "only_left", "only_right", "changed_rows")
    rows, sources = [], []
    # the rows of a duplicated key are left out of the join: counted here so that 旧 = 両方 + 旧のみ + 重複 (新 too)
    order = ("extracted", "held_extract", "left_rows", "right_rows", "matched", "only_left", "only_right", "dup_left",
             "dup_right", "changed_rows", "explained", "unexplained")
    total = dict.fromkeys(order, 0)
    for source, d in diffs.items():
        explained_by_col: dict[str, int] = {}
        for e in (d.get("explained") or {}).values():
            for col, n in (e.get("by_column") or {}).items():
                explained_by_col[col] = explained_by_col.get(col, 0) + n
        unexplained = d.get("unexplained_cells")
        per_col = unexplained if isinstance(unexplained, dict) else {}
        dup = {side: int(((d.get("duplicates") or {}).get(side) or {}).get("rows") or 0) for side in ("left", "right")}
        src = (extracted or {}).get(source)   # a diff given besides the run's own has no extract counts
        if src and src.get("tables"):   # rows of several legacy tables, compared as the persons they combine into
            src = None
        row = {**{m: d.get(m) or 0 for m in metrics}, "dup_left": dup["left"], "dup_right": dup["right"],
               "explained": cell_count(d.get("explained_cells")), "unexplained": cell_count(unexplained),
               "extracted": int(src.get("rows") or 0) if src else None,
               "held_extract": int(src.get("quarantined") or 0) if src else None}
        row = {k: row[k] for k in order}
        for k, v in row.items():
            total[k] = None if v is None or total[k] is None else total[k] + v
        rows.append([source, *row.values()])
        changed = {c: n for c, n in (d.get("changed_cells") or {}).items() if n}
        sources.append({
            "source": source, "left": d.get("left"), "right": d.get("right"), "unexplained": row["unexplained"],
            "chart": bar_chart([(c, [("説明できない差異", per_col.get(c, 0), "red"),
                                     ("想定差異", explained_by_col.get(c, 0), "green")]) for c in changed],
                               title=f"{source}: 項目ごとの差異セル数") if changed else "",
            "columns": {"columns": ["項目", "差異セル数", "想定差異", "説明できない差異"],
                        "rows": [[c, n, explained_by_col.get(c, 0), per_col.get(c, 0)] for c, n in changed.items()],
                        "more": 0}})
    if len(rows) > 1:
        rows.append(["合計", *total.values()])
    table = {"columns": ["入力", "抽出件数", "抽出で保留（比較外）", "旧の件数", "新の件数", "両方にある", "旧のみ", "新のみ", "重複キー（旧）", "重複キー（新）",
                         "値が異なる行", "想定差異（セル）", "説明できない差異（セル）"], "rows": rows, "more": 0}
    return {"total": total, "table": table, "sources": sources}


def _left_behind(source: dict) -> str:
    """The layout columns a source's mapping does not migrate (names only): those no line reads and nobody
    declared first (未宣言: a 名 left out of 氏名 is lost silently otherwise), then the declared ones with their
    reasons (`not_migrated`)."""
    unread = [str(c) for c in source.get("unread_columns") or []]
    declared = [f"{c}（{r}）" for c, r in (source.get("not_migrated") or {}).items()]
    parts = ([f"未宣言 (どの行も読まない): {', '.join(unread)}"] if unread else []) + declared
    return " ／ ".join(parts) or "なし"


def signoffs_of(run_dir: Path | None, summary: dict) -> list[dict]:
    """The sign-offs `ikou signoff` recorded in RUN_DIR/signoff.json (reports.signoff) for this run, as the first
    screen shows them: who, in which role, when (JST), the blockers an override overrode and its reason, whether
    the target was read, and whether summary.json is still the one signed (its SHA-256). [] when there are none
    or the file cannot be read (a report is never refused for it)."""
    from ikou.reports.evidence import SIGNOFF, sha256_bytes

    if run_dir is None:
        return []
    f = Path(run_dir) / SIGNOFF
    try:
        data = json.loads(f.read_text(encoding="utf-8")) if f.is_file() and not f.is_symlink() else {}
        raw = (Path(run_dir) / "summary.json").read_bytes()
    except (OSError, ValueError):
        return []
    records = data.get("signoffs") if isinstance(data, dict) else None
    out = []
    for r in records if isinstance(records, list) else []:
        if not isinstance(r, dict) or r.get("run_id") != summary.get("run_id"):
            continue
        target = r.get("target") if isinstance(r.get("target"), dict) else {}
        out.append({"by": r.get("by"), "role": r.get("role"), "at": _jst(r.get("at")),
                    "override": r.get("override"),
                    "blockers": [b for b in r.get("blockers") or [] if isinstance(b, str)],
                    "target_checked": target.get("checked"),
                    "same_summary": r.get("summary_sha256") == sha256_bytes(raw)})
    return out


def _persons_view(persons: dict | None, blockers: list, sensitive, reveal: bool) -> dict | None:
    """summary.json's `persons` (reports.summary.persons_seen) for the page: the counts, the warning or blocker
    they make (reports.reconcile), and the vanished persons' keys listed (never a column flagged sensitive)."""
    if not isinstance(persons, dict):
        return None
    from ikou.reports.reconcile import vanished_blocks, vanished_warning

    hidden = not reveal and any(c in sensitive for col in persons.get("columns") or [] for c in col.split(","))
    # listed as record keys (atena_no=0123456785): shown by their value under the column's name
    listed = [] if hidden else [str(k).split("=", 1)[-1] for k in persons.get("vanished_listed") or []]
    names = "、".join(labels.columns(c) for c in persons.get("columns") or [])
    return {"changed": None, "changed_file": None, **persons, "labels": names,   # a summary from before `changed`
            "warning": vanished_warning(persons, blockers), "blocker": vanished_blocks(blockers), "hidden": hidden,
            "listed": {"columns": [names or "キー"], "rows": [[k] for k in listed],
                       "more": max(0, int(persons.get("vanished") or 0) - len(listed)) if not hidden else 0},
            "changed_rows": {"columns": [names or "キー"], "rows": [] if hidden else [
                [str(k).split("=", 1)[-1]] for k in persons.get("changed_listed") or []],
                "more": 0 if hidden else max(0, int(persons.get("changed") or 0)
                                             - len(persons.get("changed_listed") or []))}}


def render_run_report(summary: dict, quarantine: pl.DataFrame, out_path: Path, *,
                      diffs: dict[str, dict] | None = None, diff: dict | None = None,
                      previous_summary: dict | None = None, sensitive=frozenset(), reveal: bool = False,
                      max_held_rate: float | None = None, run_dir: Path | None = None) -> Path:
    """The migration run's report.html (counts per stage, quarantine reasons, diff, trend).

    `diffs`: source → its diff summary (summary.json's `diff`), every one shown; `diff`: a single diff
    without a source name (shown as 比較). `run_dir`: the run folder, whose signoff.json the first screen
    shows (`signoffs_of`); default: the folder of `out_path` when it holds this run's summary.json."""
    out_path = Path(out_path)
    if run_dir is None and (out_path.parent / "summary.json").is_file():
        run_dir = out_path.parent
    out_path.parent.mkdir(parents=True, exist_ok=True)
    s = summary
    tables = [{**r, "label": labels.table(r["table"])} for r in stage_rows(s)]
    # derived tables (世帯 …) are built from loaded rows: counting them again would mislead
    totals = {m: sum((r[m] or 0) for r in tables if not r["derived"])
              for m in ("extracted", "mapped", "quarantined", "loaded", "warnings")}
    series = [("抽出", "extracted", "blue"), ("変換", "mapped", "purple"),
              (labels.HELD, "quarantined", "red"), ("投入", "loaded", "green")]
    table_chart = bar_chart([(r["table"], [(lab, r[m], col) for lab, m, col in series
                                           if r[m] is not None]) for r in tables],
                            title="テーブル別・段階別の件数")
    stages = [{"label": STAGE_LABELS.get(k, k), "rows": v.get("rows"), "seconds": v.get("seconds")}
              for k, v in (s.get("stages") or {}).items()]
    stage_chart = bar_chart([(r["label"], [("件数", r["rows"] or 0, "blue")]) for r in stages],
                            title="段階別の処理件数") if stages else ""
    reasons, reason_samples, reason_chart = _quarantine_view(quarantine, sensitive, reveal, s.get("gyomu") or ())
    rules_rows = {"columns": ["ルール", "重大度", "項目", "違反件数"],
                  "rows": [[r.get("rule"), labels.severity(r.get("severity")), labels.columns(r.get("column")),
                            r.get("rows_failed")] for r in s.get("rules") or []], "more": 0}
    moji_counts = (s.get("moji") or {}).get("counts") or {}
    moji_labels = labels.MOJI
    moji_chart = bar_chart([(moji_labels.get(k, k), [("件数", v, "red" if k in ("unresolved", "invalid")
                                                       else "blue")])
                            for k, v in moji_counts.items()], title="文字の内訳")
    diffs = {**(diffs or {}), **({"比較": diff} if diff else {})}
    diffs_view = _diffs_view(diffs, s.get("sources")) if diffs else None
    for d in (diffs_view or {}).get("sources") or []:   # the compared columns with their Japanese names
        _labelled(d["columns"], {0: labels.column})
    tr = trend(s, previous_summary)
    sources = {"columns": ["入力", "件数", "ファイル・テーブル", "SHA-256 (全桁)", "移行しない旧項目"],
               "rows": [[k, v.get("rows"), v.get("origin") or v.get("file"), v.get("sha256") or "—", _left_behind(v)]
                        for k, v in (s.get("sources") or {}).items()], "more": 0}
    error = ({k: s["error"].get(k) for k in ("kind", "stage", "message", "message_ja")}
             if isinstance(s.get("error"), dict) else None)
    html = _env().get_template("run_report.html.j2").render(
        s=s, generated_at=_now(), masked=not reveal,
        status_ja=STATUS_JA.get(s.get("status"), s.get("status") or "不明"),
        totals=totals, table_rows=tables, table_chart=table_chart, stage_rows=stages,
        stage_chart=stage_chart, reasons=reasons, reason_samples=reason_samples,
        reason_chart=reason_chart, rules_rows=rules_rows, moji_counts=moji_counts,
        moji_chart=moji_chart, moji_unresolved=_unresolved_table(s.get("moji") or {}),
        moji_changes=_rows_table(
            (s.get("moji") or {}).get("decision_changes") or [],
            [("codepoints", "符号位置"), ("change", "変更"), ("mj_before", "前回"), ("mj_after", "今回"),
             ("decided_by", "判断者"), ("note", "備考")]),
        diffs=diffs_view, prev=previous_summary, trend=tr,
        trend_better=sum(r["verdict"] == "改善" for r in tr),
        trend_worse=sum(r["verdict"] == "悪化" for r in tr),
        trend_comparable=not any(r["verdict"] == NOT_COMPARABLE for r in tr),
        # a fall that blocks the sign-off first (its note says so), then the table's order
        trend_worst=[r["item"] for r in sorted((r for r in tr if r["verdict"] == "悪化"),
                                               key=lambda r: "承認の妨げ" not in (r["note"] or ""))][:TREND_NAMED],
        held_persons=sum(int(c.get("held_persons") or 0) for c in (s.get("combined") or {}).values()
                         if isinstance(c, dict)) or None,
        rules_zero=sum(1 for r in rules_rows["rows"] if not r[-1]),
        control_totals=_control_totals_view(s.get("control_totals")),
        sources=sources, combined=_combined_view(s.get("combined")),
        gyomu=", ".join(labels.gyomu(g) for g in s.get("gyomu") or []),
        blockers=sign_off_blockers(s, diffs, max_held_rate), error=error,
        signoffs=signoffs_of(run_dir, s),
        persons=_persons_view(s.get("persons"), s.get("sign_off_blockers") or [], sensitive, reveal),
        error_stage=labels.stage(error.get("stage")) if error and error.get("stage") else "—",
    )
    write_replacing(out_path, lambda p: p.write_text(html, encoding="utf-8"))
    return out_path
