"""Reconciliation (突合): stage counts of a run and the trend against the previous rehearsal.

The run directory's summary.json is the record of a run; comparing it with the previous
rehearsal of the same 団体 says what got better and what got worse, item by item.
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from ikou.errors import ConfigError
from ikou.reports import labels

# metric → True when a higher value is better
_TABLE_METRICS = {"extracted": None, "mapped": True, "quarantined": False, "loaded": True,
                  "warnings": False}
_LABELS = {"extracted": "抽出", "mapped": "変換", "quarantined": labels.HELD, "loaded": "投入",
           "warnings": "警告"}
_STAGES = labels.STAGES

# verdicts besides 改善 / 悪化 / 変化なし / — (no direction) / 注意 (a note on the comparison itself)
NOT_COMPARABLE = "比較不可"   # this run did not succeed: its counts stop where it stopped
NEUTRAL = "判定せず"         # a fall that records held elsewhere may explain (a warning on a row now held)
ROSE = "増加"                # more records extracted, or persons/households, than last time: a change, no verdict
FELL_WITHIN = "減少（上限内）"  # fewer, by no more than SIGNOFF_MAX_FALL_RATE (people move out, die): shown, not judged

# Records extracted (source-fed tables) and rows loaded (derived tables too: persons, households) may fall by at most
# this share against the previous rehearsal of the same target before the fall is a sign-off blocker and 悪化: an
# export that lost part of a file (39 % of 住民記録) loads cleanly and stays under max_drop_ratio (0.5), which only
# guards the target from halving. The default of a run-config key to come, thresholds.signoff_max_fall_rate
# (ikou/config.py Thresholds; reports.summary reads it with getattr until it exists).
SIGNOFF_MAX_FALL_RATE = 0.01
FALL_METRICS = {"extracted": "抽出件数", "loaded": "投入件数"}


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


def _verdict(prev, cur, higher_better, prev_base=None, cur_base=None) -> tuple[str, str | None]:
    """改善/悪化 of a count, and a note. A count that did not change is 変化なし. When both runs give the number
    of records the count is out of (`*_base`: records extracted) and those differ, the rates are compared, not
    the counts (a smaller input gives fewer loaded records without anything getting worse), and a difference of
    less than one record at the new base is 変化なし: 15 of 2,129 against 15 of 2,128 (0.70% both) is no
    regression."""
    if prev is None or cur is None or higher_better is None:
        return ("変化なし" if prev == cur else "—"), None
    if prev == cur:
        return "変化なし", None
    rated = (isinstance(prev_base, int) and isinstance(cur_base, int) and prev_base > 0 and cur_base > 0
             and prev_base != cur_base)
    if not rated:
        return ("改善" if (cur > prev) == higher_better else "悪化"), None
    p, c = Fraction(prev, prev_base), Fraction(cur, cur_base)
    digits = 2 if f"{float(p):.2%}" != f"{float(c):.2%}" else 4   # a verdict on equal-looking rates shows why
    note = (f"抽出件数が異なるため ({prev_base:,} → {cur_base:,})、抽出1件あたりの率で判定: "
            f"{float(p):.{digits}%} → {float(c):.{digits}%}")
    if abs(c - p) * cur_base < 1:   # less than one record at the new base
        return "変化なし", note + " (差は新しい抽出件数で1件未満)"
    return ("改善" if (c > p) == higher_better else "悪化"), note


def _pct(rate: float) -> str:
    """39% for a big fall, 1.4% for a small one (a whole percent would read 1.4 % as 1 %, at the limit)."""
    return f"{100 * rate:.0f}%" if rate >= 0.095 else f"{100 * rate:.1f}%"


def falls(current: dict, previous: dict | None, max_rate: float = SIGNOFF_MAX_FALL_RATE) -> list[dict]:
    """The tables whose count fell by more than `max_rate` against `previous` (the previous rehearsal of the same
    target): a source-fed table by its extracted records, else by its loaded rows; a derived table (現在の個人,
    世帯) by its loaded rows. [{table, metric, previous, current, fell, rate, limit}]. Empty for a run that did not succeed
    (its counts stop where it stopped), nor for a table either run lacks (another 業務 set is never the previous run)."""
    if not previous or current.get("status") not in (None, "succeeded") or previous.get("status") not in (None, "succeeded"):
        return []
    out = []
    ptabs, ctabs = previous.get("tables") or {}, current.get("tables") or {}
    for table, c in ctabs.items():
        p = ptabs.get(table)
        if not isinstance(p, dict) or not isinstance(c, dict):
            continue
        derived = bool(c.get("derived") or p.get("derived"))
        for m in (("loaded",) if derived else ("extracted", "loaded")):
            pv, cv = p.get(m), c.get(m)
            if isinstance(pv, int) and isinstance(cv, int) and pv > 0 and (pv - cv) / pv > max_rate:
                out.append({"table": table, "metric": m, "previous": pv, "current": cv, "fell": pv - cv,
                            "rate": (pv - cv) / pv, "limit": max_rate})
                break   # a table's loaded rows fall with its extracted records: one line says it
    return out


def fall_line(f: dict, previous: dict) -> str:
    """The sign-off blocker of one fall (`falls`), Japanese and English: which count, by how much, against which run."""
    what = FALL_METRICS[f["metric"]]
    run = f"{previous.get('rehearsal') or ''} {previous.get('run_id') or ''}".strip()
    return (f"{labels.table(f['table'])}: {what}が前回より {f['fell']:,} 件 ({_pct(f['rate'])}) 減少 "
            f"(前回 {run}: {f['previous']:,} 件 → 今回 {f['current']:,} 件、上限 {100 * f['limit']:g}%。"
            f"抽出データの欠け・絞り込みの誤りがないか確認) / {f['table']}: {f['metric']} fell by {f['fell']:,} "
            f"({_pct(f['rate'])}) against the previous rehearsal {run} ({f['previous']:,} → {f['current']:,}; limit "
            f"{100 * f['limit']:g}%): check that the export is complete")


def vanished_over(persons: dict | None, max_rate: float = SIGNOFF_MAX_FALL_RATE) -> bool:
    """Whether the persons of the previous rehearsal this run saw in neither its loaded nor its held records
    (summary.json `persons`, reports.summary.persons_seen) are more than `max_rate` of them: a sign-off blocker,
    as a fall of the counts is. The counts alone miss it when as many new persons came in: a renumbered or
    re-padded 宛名番号, or another export's persons, keep every count and replace everyone. A few (people move out,
    die, are merged) are a warning on the first screen, not a blocker (`vanished_warning`)."""
    p = persons if isinstance(persons, dict) else {}
    n, base = p.get("vanished"), p.get("previous_count")
    return bool(p.get("compared")) and isinstance(n, int) and isinstance(base, int) and base > 0 and n / base > max_rate


def _persons_run(persons: dict) -> str:
    return f"{persons.get('previous_rehearsal') or ''} {persons.get('previous_run') or ''}".strip()


def vanished_line(persons: dict, max_rate: float = SIGNOFF_MAX_FALL_RATE) -> str:
    """The sign-off blocker of `vanished_over`, Japanese and English: how many persons, their share, against
    which run, where they are listed."""
    n, base = persons["vanished"], persons["previous_count"]
    cols = ", ".join(persons.get("columns") or [])
    ja_cols = "、".join(labels.columns(c) for c in persons.get("columns") or [])
    new = persons.get("new") or 0
    run = _persons_run(persons)
    return (f"前回リハーサル {run} の {n:,} 人 ({_pct(n / base)}) が今回の投入にも保留にもいません (新しい人 {new:,} 人; "
            f"上限 {100 * max_rate:g}%。{ja_cols} の一覧は vanished.csv。抽出データの欠け・番号の振り直しがないか確認) / "
            f"{n:,} person(s) ({_pct(n / base)}) of the previous rehearsal {run} are in neither this run's loaded nor "
            f"its held records ({new:,} new; limit {100 * max_rate:g}%; their {cols} are in vanished.csv): check that "
            "the export is complete and the keys were not renumbered")


VANISHED_MARK = "が今回の投入にも保留にもいません (新しい人"   # in `vanished_line` only: the run listed it as a blocker


def vanished_blocks(blockers: list) -> bool:
    """Whether a run's `sign_off_blockers` hold the `vanished_line` (its own limit decided, at the run)."""
    return any(isinstance(b, str) and VANISHED_MARK in b for b in blockers or [])


def vanished_warning(persons: dict | None, blockers: list = ()) -> str | None:
    """The first screen's warning of persons that vanished since the previous rehearsal, when they are not a
    blocker (`vanished_over`, the run's `blockers` tell): a few persons deleted between rehearsals are named
    nowhere else. None when none vanished, or they are a blocker (its line says it)."""
    p = persons if isinstance(persons, dict) else {}
    if not p.get("compared") or not p.get("vanished") or vanished_blocks(blockers):
        return None
    n, new, run = p["vanished"], p.get("new") or 0, _persons_run(p)
    return (f"前回リハーサル {run} にいた {n:,} 人が、今回の投入にも保留にもいません (新しい人 {new:,} 人)。"
            f"転出・死亡などで旧システムから削除されたのか、抽出の漏れか確認してください / {n:,} person(s) of the "
            f"previous rehearsal {run} are in neither this run's loaded nor its held records ({new:,} new): check "
            "that they were deleted in the legacy system, not lost in the export")


def _fall_verdict(prev, cur, max_rate: float) -> tuple[str, str | None]:
    """A count that should not fall (records extracted, persons, households): 悪化 beyond `max_rate` (a
    sign-off blocker), 減少（上限内） within it, 増加 (a change, not an improvement) when it rose."""
    if not isinstance(prev, int) or not isinstance(cur, int):
        return ("変化なし" if prev == cur else "—"), None
    if cur == prev:
        return "変化なし", None
    if cur > prev:
        return ROSE, None
    rate = (prev - cur) / prev if prev else 1.0
    note = f"前回より {prev - cur:,} 件 ({_pct(rate)}) 減少"
    if rate > max_rate:
        return "悪化", f"{note}: 上限 {100 * max_rate:g}% を超えるため承認の妨げ (抽出データの欠けがないか確認)"
    return FELL_WITHIN, f"{note} (上限 {100 * max_rate:g}% 以内)"


def _extracted(summary: dict) -> int | None:
    """Records the run extracted (tables fed by sources; derived tables are built from loaded rows)."""
    tables = [t for t in (summary.get("tables") or {}).values() if isinstance(t, dict) and not t.get("derived")]
    if not tables or not all(isinstance(t.get("extracted"), int) for t in tables):
        return None
    return sum(t["extracted"] for t in tables)


def _held(summary: dict) -> int:
    return sum(int(t.get("quarantined") or 0) for t in (summary.get("tables") or {}).values()
               if isinstance(t, dict) and not t.get("derived"))


def _target(summary: dict) -> tuple[str | None, str | None]:
    t = summary.get("target") or {}
    return t.get("url"), t.get("schema")


def trend(current: dict, previous: dict | None, *, max_fall_rate: float = SIGNOFF_MAX_FALL_RATE) -> list[dict]:
    """Items that changed (or not) between two rehearsals, with 改善/悪化 verdicts: table counts, records
    held or listed per (stage, rule) of every stage, 文字同定, unexplained diff cells; first, a line when
    the previous run is not what the target held before this one (`target.replaced_run`: a rollback), or
    was loaded into another target.

    Counts are judged by their rate per extracted record when the two runs extracted different numbers
    (each row's `note` says so). A warning count that fell by no more than the records held grew is not
    called 改善 (`判定せず`): its rows may only have been held. A run that did not succeed is not compared
    (one `比較不可` line): its counts stop where it stopped, and would read as improvements.

    Records extracted and the rows of a derived table (persons, households) are judged by their fall
    (`_fall_verdict`, `max_fall_rate`): more than the limit is 悪化 (and a sign-off blocker, `falls`), a rise 増加."""
    if not previous:
        return []
    if current.get("status") not in (None, "succeeded"):
        from ikou.reports.report import STATUS_JA

        status = STATUS_JA.get(current.get("status"), current.get("status"))
        return [{"item": f"この実行は「{status}」で終わったため、前回リハーサル ({previous.get('rehearsal') or ''} "
                         f"{previous.get('run_id')}) とは比較していません (件数は途中までのもので、比べると改善に見えます)",
                 "previous": None, "current": None, "delta": None, "verdict": NOT_COMPARABLE,
                 "note": f"the run {current.get('status')}: not compared with the previous rehearsal"}]
    rows = []

    def add(item, prev, cur, higher_better, prev_base=None, cur_base=None, *, warning=False, fall=False):
        verdict, note = (_fall_verdict(prev, cur, max_fall_rate) if fall
                         else _verdict(prev, cur, higher_better, prev_base, cur_base))
        fell = isinstance(prev, int) and isinstance(cur, int) and cur < prev
        if warning and verdict == "改善" and fell and 0 < prev - cur <= held_grew:
            verdict = NEUTRAL
            note = (f"保留した記録が {held_grew:,} 件増えています。警告の減少 ({prev - cur:,} 件) は、"
                    "その記録が保留されて検証されなかったためかもしれません")
        elif warning and verdict == "悪化" and isinstance(prev, int) and isinstance(cur, int) \
                and 0 < cur - prev <= held_fell:   # the mirror: records no longer held are checked again
            verdict = NEUTRAL
            note = (f"保留した記録が {held_fell:,} 件減っています。警告の増加 ({cur - prev:,} 件) は、"
                    "その記録が保留されずに検証されるようになったためかもしれません")
        rows.append({"item": item, "previous": prev, "current": cur,
                     "delta": (cur - prev) if isinstance(cur, (int, float))
                     and isinstance(prev, (int, float)) else None,
                     "verdict": verdict, "note": note})

    replaced = (current.get("target") or {}).get("replaced_run")
    if replaced and replaced != previous.get("run_id"):
        # after `ikou rollback` the latest rehearsal is not what this run replaced in the target; the run
        # ids go in the item, so that the previous/current columns stay numbers (the workbook's types)
        rows.append({"item": f"比較対象 {previous.get('run_id')} は、移行先がこの実行の前に保持していた実行 "
                             f"{replaced} ではありません (ロールバック後など)",
                     "previous": None, "current": None, "delta": None, "verdict": "注意", "note": None})
    (purl, pschema), (curl, cschema) = _target(previous), _target(current)
    if purl and curl and (purl, pschema) != (curl, cschema):
        rows.append({"item": f"比較対象 {previous.get('run_id')} の移行先 ({purl} {pschema or ''}) は、この実行の移行先 "
                             f"({curl} {cschema or ''}) と異なります (別の移行先の件数との比較です)",
                     "previous": None, "current": None, "delta": None, "verdict": "注意", "note": None})
    held_grew = max(0, _held(current) - _held(previous))
    held_fell = max(0, _held(previous) - _held(current))
    pall, call = _extracted(previous), _extracted(current)
    ptabs, ctabs = previous.get("tables") or {}, current.get("tables") or {}
    for table in dict.fromkeys([*ctabs, *ptabs]):
        p, c = ptabs.get(table, {}), ctabs.get(table, {})
        derived = p.get("derived") or c.get("derived")
        # a derived table (現在の個人, 世帯) counts persons or households, not records: it is not rated by the
        # run's extracted records; it is judged by its fall only (a few persons moving out is no regression, a
        # tenth of them gone is: `_fall_verdict`)
        pb, cb = (None, None) if derived else (p.get("extracted"), c.get("extracted"))
        for m, hb in _TABLE_METRICS.items():
            if m in p or m in c:
                add(f"{labels.table(table)} {_LABELS[m]}", p.get(m), c.get(m), None if derived else hb, pb, cb,
                    warning=m == "warnings", fall=m == "extracted" or (derived and m == "loaded"))
    prules, crules = rows_failed_per_rule(previous), rows_failed_per_rule(current)
    warnings = {(r.get("stage") or "", r.get("rule") or "") for s in (previous, current)
                for r in s.get("quarantine_reasons") or [] if r.get("severity") == "warning"}
    for stage, rule in dict.fromkeys([*(crules or {}), *(prules or {})]):
        add(f"{_STAGES.get(stage, stage)} ルール {rule} 違反件数", None if prules is None else prules.get((stage, rule), 0),
            None if crules is None else crules.get((stage, rule), 0), False, pall, call,
            warning=(stage, rule) in warnings)
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
