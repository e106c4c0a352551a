"""Parallel-run diff (並行稼働比較) and the HTML reports of ikou.

Public surface: `reports.diff.compare`, `reports.report.write_diff_outputs`,
`reports.report.render_run_report`, `reports.rules.load_rules`; CLI `ikou diff`, `ikou run-report`.
"""
