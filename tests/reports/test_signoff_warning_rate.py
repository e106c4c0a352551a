"""A warning rule firing on more than thresholds.signoff_max_warning_rate of a table's records is a sign-off blocker:
a vendor layout with 氏名 and フリガナ swapped loaded every name wrong with `kana.not_fullwidth` on 100 % of the rows
and 「承認の妨げ なし」 (warnings hold nothing, so the held rate never saw it). A rule the run config expects on most
records (signoff_expected_warnings) is left out; a failed run's counts are not judged."""
from __future__ import annotations

import pytest

from ikou.config import Thresholds
from ikou.reports.summary import warned_over

TABLES = {"juki_kojin_rireki": {"extracted": 2587, "quarantined": 7},
          "juki_kojin": {"derived": True, "extracted": 0, "loaded": 1995}}


def _reasons(**rules: int) -> list[dict]:
    return [{"table": "juki_kojin_rireki", "rule": r.replace("__", "."), "severity": "warning", "rows_failed": n}
            for r, n in rules.items()] + [{"table": "juki_kojin_rireki", "rule": "key.unique", "severity": "error",
                                            "rows_failed": 2000}]


def test_a_warning_on_nearly_every_record_is_a_blocker_naming_rule_rate_and_the_likely_mistake():
    (line,) = warned_over(TABLES, _reasons(kana__not_fullwidth=2585, checkdigit__atena_no=12), 0.5)
    assert line.startswith("juki_kojin_rireki: 警告 kana.not_fullwidth が記録の 99.9 % (2,585 件)")
    assert "レイアウトかマッピングの誤り" in line and "layout or mapping mistake" in line
    assert "signoff_max_warning_rate 50 %" in line


def test_warnings_at_or_under_the_rate_errors_and_derived_tables_are_not_judged():
    assert warned_over(TABLES, _reasons(kana__not_fullwidth=1293), 0.5) == []   # 49.98 %
    assert warned_over(TABLES, _reasons(), 0.0) == []   # only an error rule: the held rate judges those


def test_a_rule_the_config_expects_on_most_records_is_left_out():
    reasons = _reasons(checkdigit__atena_no=2587)
    assert len(warned_over(TABLES, reasons, 0.5)) == 1
    assert warned_over(TABLES, reasons, 0.5, {"checkdigit.atena_no": "検査数字なしで付番"}) == []


def test_the_thresholds_take_the_rate_and_expected_rules_and_refuse_a_malformed_rule_id():
    t = Thresholds(signoff_max_warning_rate=0.2, signoff_expected_warnings={"checkdigit.atena_no": "付番時に検査数字なし"})
    assert t.signoff_max_warning_rate == 0.2 and "checkdigit.atena_no" in t.signoff_expected_warnings
    assert Thresholds().signoff_max_warning_rate == 0.5
    with pytest.raises(ValueError):
        Thresholds(signoff_expected_warnings={"DROP TABLE x": "?"})
