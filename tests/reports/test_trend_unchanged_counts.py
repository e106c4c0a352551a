"""前回比較: a count that did not change is 変化なし, and a rate that moved by less than one record at the new
base is too, when the extracted records changed by one (R1 − one person + another); a real change is still
judged; derived tables (persons, households) are not rated by extracted records."""
from __future__ import annotations

from ikou.reports.reconcile import trend


def _summary(run_id, *, extracted, mapped, held, loaded, kojin, rule_rows):
    return {"run_id": run_id, "rehearsal": "R1", "status": "succeeded",
            "tables": {"juki_kojin_rireki": {"extracted": extracted, "mapped": mapped, "quarantined": held,
                                             "loaded": loaded, "warnings": 0},
                       "juki_kojin": {"derived": True, "loaded": kojin}},
            "quarantine_reasons": [{"stage": "validate", "rule": "r.x", "severity": "error", "table":
                                    "juki_kojin_rireki", "rows_failed": rule_rows}]}


def _rows(cur, prev):
    return {r["item"]: r for r in trend(cur, prev)}


def test_unchanged_counts_are_not_judged_worse_when_one_record_fewer_was_extracted():
    r1 = _summary("20261130T170000Z-R1-aaaa", extracted=2129, mapped=2125, held=15, loaded=2114, kojin=989,
                  rule_rows=15)
    r2 = _summary("20261130T173850Z-R2-4335", extracted=2128, mapped=2124, held=15, loaded=2113, kojin=989,
                  rule_rows=15)
    rows = _rows(r2, r1)
    verdicts = {item: r["verdict"] for item, r in rows.items()}
    assert "悪化" not in verdicts.values() and "改善" not in verdicts.values(), verdicts
    held = next(r for item, r in rows.items() if "rireki" in item or "履歴" in item if r["previous"] == 15
                and "違反" not in item)
    assert held["verdict"] == "変化なし"
    kojin = [r for item, r in rows.items() if r["previous"] == 989]
    assert kojin and all(r["verdict"] == "変化なし" and r["note"] is None for r in kojin)


def test_a_real_change_is_still_judged_at_a_new_base():
    r1 = _summary("20261130T170000Z-R1-aaaa", extracted=2129, mapped=2125, held=15, loaded=2114, kojin=989,
                  rule_rows=15)
    r2 = _summary("20261130T173850Z-R2-4335", extracted=2128, mapped=2124, held=25, loaded=2103, kojin=980,
                  rule_rows=25)
    rows = _rows(r2, r1)
    assert next(r for r in rows.values() if r["previous"] == 15 and r["current"] == 25)["verdict"] == "悪化"
    assert next(r for r in rows.values() if r["previous"] == 2114)["verdict"] == "悪化"
    # persons fell by 0.9 %: a fall within the sign-off limit (a larger one is 悪化 and a blocker)
    assert next(r for r in rows.values() if r["previous"] == 989)["verdict"] == "減少（上限内）"
