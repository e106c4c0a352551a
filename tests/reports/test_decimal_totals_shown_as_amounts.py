"""A decimal amount's control totals, kept exactly in its smallest unit with `scale` (summary.json), are shown to
a PM as amounts (247291.05), never as the unit count (24729105): in report.html's table and the workbook's."""
from __future__ import annotations

from ikou.reports.report import _control_totals_view
from ikou.reports.summary import shown_totals


def test_a_decimal_total_is_shown_as_its_amount_and_an_integer_one_as_it_is():
    dec = {"extracted": 24729105, "loaded": 24729100, "held": 5, "difference": 0, "unreadable": 1,
           "records_held_at_extract": 2, "scale": 2}
    assert shown_totals(dec) == {**dec, "extracted": "247291.05", "loaded": "247291.00", "held": "0.05",
                                 "difference": "0.00"}
    whole = {"extracted": 359563200, "loaded": 359563200, "held": 0, "difference": 0}
    assert shown_totals(whole) == whole
    view = _control_totals_view({"kokuho_choshu": {"chotei_gaku": dec}})
    assert view["rows"][0][2:5] == ["247291.05", "247291.00", "0.05"]
