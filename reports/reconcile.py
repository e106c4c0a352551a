"""Reconciliation (突合): stage counts of a run and the trend against the previous rehearsal.

The run directory's summary.json is the record of a run; comparing it with the previous
rehearsal of the same 団体 says what got better and what got worse, item by item.
"""
from __future__ import annotations

import json
from pathlib import Path

from ikou.errors import ConfigError

# metric → True when a higher value is better
_TABLE_METRICS = {"extracted": None, "mapped": True, "quarantined": False, "loaded": True,
                  "warnings": False}
_LABELS = {"extracted": "抽出", "mapped": "変換", "quarantined": "隔離", "loaded": "投入",
           "warnings": "警告"}
_STAGES = {"extract": "抽出", "map": "変換", "moji": "文字同定", "validate": "検証", "load": "投入"}


def load_summary(path: Path | str) -> dict:
    """Read a run's summary.json (a run directory or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / "summary.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: summary.json not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None


def stage_rows(summary: dict) -> list[dict]:
    """One row per table: extracted/mapped/quarantined/loaded/warnings (None when not applicable)."""
    out = []
    for table, t in (summary.get("tables") or {}).items():
        out.append({"table": table, "derived": bool(t.get("derived")),
                    **{m: t.get(m) for m in _TABLE_METRICS}})
    return out


def _verdict(prev, cur, higher_better) -> str:
    if prev is None or cur is None or prev == cur or higher_better is None:
        return "変化なし" if prev == cur else "—"
    better = (cur > prev) == higher_better
    return "改善" if better else "悪化"


def trend(current: dict, previous: dict | None) -> list[dict]:
    """Items that changed (or not) between two rehearsals, with 改善/悪化 verdicts: table counts, records
    held or listed per (stage, rule) of every stage, 文字同定, unexplained diff cells; first, a line when
    the previous run is not what the target held before this one (`target.replaced_run`: a rollback)."""
    if not previous:
        return []
    rows = []

    def add(item, prev, cur, higher_better):
        rows.append({"item": item, "previous": prev, "current": cur,
                     "delta": (cur - prev) if isinstance(cur, (int, float))
                     and isinstance(prev, (int, float)) else None,
                     "verdict": _verdict(prev, cur, higher_better)})

    replaced = (current.get("target") or {}).get("replaced_run")
    if replaced and replaced != previous.get("run_id"):
        # after `ikou rollback` the latest rehearsal is not what this run replaced in the target; the run
        # ids go in the item, so that the previous/current columns stay numbers (the workbook's types)
        rows.append({"item": f"比較対象 {previous.get('run_id')} は、移行先がこの実行の前に保持していた実行 "
                             f"{replaced} ではありません (ロールバック後など)",
                     "previous": None, "current": None, "delta": None, "verdict": "注意"})
    ptabs, ctabs = previous.get("tables") or {}, current.get("tables") or {}
    for table in dict.fromkeys([*ctabs, *ptabs]):
        p, c = ptabs.get(table, {}), ctabs.get(table, {})
        for m, hb in _TABLE_METRICS.items():
            if m in p or m in c:
                add(f"{table} {_LABELS[m]}", p.get(m), c.get(m), hb)
    prules, crules = rows_failed_per_rule(previous), rows_failed_per_rule(current)
    for stage, rule in dict.fromkeys([*(crules or {}), *(prules or {})]):
        add(f"{_STAGES.get(stage, stage)} ルール {rule} 違反件数", None if prules is None else prules.get((stage, rule), 0),
            None if crules is None else crules.get((stage, rule), 0), False)
    pm = (previous.get("moji") or {}).get("counts") or {}
    cm = (current.get("moji") or {}).get("counts") or {}
    for k, label, hb in (("unresolved", "未解決", False), ("gaiji", "外字", None)):
        if k in pm or k in cm:
            add(f"文字 {label}", pm.get(k), cm.get(k), hb)
    # the parallel-run diff's findings block sign-off like the counts above: a source whose
    # unexplained cells grew is a regression the PM must see next to them
    pd, cd = unexplained_cells(previous), unexplained_cells(current)
    for source in dict.fromkeys([*cd, *pd]):
        add(f"並行稼働比較 {source} 説明できない差異（セル）", pd.get(source), cd.get(source), False)
    return rows


def rows_failed_per_rule(summary: dict) -> dict[tuple[str, str], int] | None:
    """Records held or listed per (stage, rule), summed over the tables (and severities) of
    `quarantine_reasons`: every stage's rules (an unknown code at map, a bad byte at extract), not only
    the validation's. None for a summary that predates the list (its counts are unknown, not 0)."""
    reasons = summary.get("quarantine_reasons")
    if reasons is None:
        return None
    out: dict[tuple[str, str], int] = {}
    for r in reasons:
        key = (r.get("stage") or "", r.get("rule") or "")
        out[key] = out.get(key, 0) + int(r.get("rows_failed") or 0)
    return out


def cell_count(v) -> int:
    """A diff summary's cell count: per column (a dict) or one number."""
    return sum(v.values()) if isinstance(v, dict) else int(v or 0)


def unexplained_cells(summary: dict) -> dict[str, int]:
    """Unexplained diff cells per source of a run."""
    return {source: cell_count((d or {}).get("unexplained_cells"))
            for source, d in (summary.get("diff") or {}).items()}


def totals_check(left: dict, right: dict) -> list[dict]:
    """Control totals of both sides of a diff, side by side, with a match flag."""
    rows = []
    for item in ("rows", "distinct_keys"):
        rows.append({"item": {"rows": "件数", "distinct_keys": "キー数"}[item],
                     "left": left.get(item), "right": right.get(item),
                     "ok": left.get(item) == right.get(item)})
    for col in dict.fromkeys([*(left.get("sums") or {}), *(right.get("sums") or {})]):
        lv, rv = (left.get("sums") or {}).get(col), (right.get("sums") or {}).get(col)
        rows.append({"item": f"合計 {col}", "left": lv, "right": rv, "ok": lv == rv})
    return rows
