"""thresholds.signoff_max_warning_rate judges a warning rule per column it applies to: a rule on two columns, each
warning on 30 % of the records, is no warning on 60 % of them (a false blocker on a sound run), and the blocker of
a column over the limit names that column, in Japanese and in English (findings without a column are counted per
rule, as before: tests/reports/test_signoff_warning_rate.py)."""
from __future__ import annotations

from ikou.reports.summary import warned_over

TABLE = "juki_kojin_rireki"
TABLES = {TABLE: {"extracted": 1000, "quarantined": 0}}


def _reason(rule: str, n: int, column: str | None = None) -> dict:
    return {"table": TABLE, "rule": rule, "severity": "warning", "column": column, "rows_failed": n}


def test_a_rule_on_two_columns_each_under_the_limit_is_no_blocker():
    reasons = [_reason("kana.not_fullwidth", 300, "shimei_kana"), _reason("kana.not_fullwidth", 300, "tsusho_kana")]
    assert warned_over(TABLES, reasons, 0.5) == []


def test_one_column_over_the_limit_is_a_blocker_naming_that_column_in_both_languages():
    reasons = [_reason("kana.not_fullwidth", 300, "tsusho_kana"), _reason("kana.not_fullwidth", 990, "shimei_kana")]
    (line,) = warned_over(TABLES, reasons, 0.5)
    ja, en = line.split(" / ", 1)
    assert ja.startswith(f"{TABLE}: 警告 kana.not_fullwidth (列 shimei_kana) が記録の 99.0 % (990 件)"), line
    assert "warning kana.not_fullwidth (column shimei_kana) on 99.0 % of the records (990;" in en, line
    assert "tsusho_kana" not in line

