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
    """Items that changed (or not) between two rehearsals, with 改善/悪化 verdicts."""
    if not previous:
        return []
    rows = []

    def add(item, prev, cur, higher_better):
        rows.append({"item": item, "previous": prev, "current": cur,
                     "delta": (cur - prev) if isinstance(cur, (int, float))
                     and isinstance(prev, (int, float)) else None,
                     "verdict": _verdict(prev, cur, higher_better)})

    ptabs, ctabs = previous.get("tables") or {}, current.get("tables") or {}
    for table in dict.fromkeys([*ctabs, *ptabs]):
        p, c = ptabs.get(table, {}), ctabs.get(table, {})
        for m, hb in _TABLE_METRICS.items():
            if m in p or m in c:
                add(f"{table} {_LABELS[m]}", p.get(m), c.get(m), hb)
    def per_rule(summary: dict) -> dict[str, int]:
        """Findings per rule id, summed over the columns and tables it is checked on (one entry each)."""
        out: dict[str, int] = {}
        for r in summary.get("rules") or []:
            out[r["rule"]] = out.get(r["rule"], 0) + (r.get("rows_failed") or 0)
        return out

    prules, crules = per_rule(previous), per_rule(current)
    for rule in dict.fromkeys([*crules, *prules]):
        add(f"ルール {rule} 違反件数", prules.get(rule, 0), crules.get(rule, 0), False)
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
