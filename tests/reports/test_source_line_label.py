"""quarantine.source_line is a file's line, but for a database table the row's position in the layout's key
order (extractors.database reads in key order; a table has no lines): wherever a person reads it (report.html,
report.xlsx) its heading says so, not a bare 行 that reads as a line of an export file. The column keeps its
name in quarantine.parquet / .csv (the schema contract)."""
from __future__ import annotations

from ikou.quarantine import QUARANTINE_SCHEMA
from ikou.reports.report import COLUMN_LABELS
from ikou.reports.workbook import QUARANTINE_COLUMNS


def test_the_line_heading_says_a_table_rows_number_is_its_position_in_key_order():
    for label in (COLUMN_LABELS["source_line"], QUARANTINE_COLUMNS["source_line"]):
        assert label.startswith("行") and "キー順" in label, label


def test_the_quarantine_column_keeps_its_name():
    assert "source_line" in QUARANTINE_SCHEMA
