"""Parallel-run diff (並行稼働比較) and the HTML reports of ikou.

The diff stage's one step is `diff_source` (reports.step) → `ikou.stage.StageResult`.

Public surface: `reports.diff.compare`, `reports.report.write_diff_outputs`,
`reports.report.render_run_report`, `reports.rules.load_rules`; CLI `ikou diff`, `ikou run-report`.
"""

from ikou.reports.step import diff_source  # noqa: E402

__all__ = ["diff_source"]
