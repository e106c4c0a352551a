"""Read back the tables of a rendered report.html by section (for assertions on the numbers shown)."""
from __future__ import annotations

import html as _html
import re


def section_tables(page: str, h2_id: str) -> dict[str, list[list[str]]]:
    """The tables under `<h2 id=h2_id>`, by their <h3> title: rows of cell texts (header row first)."""
    m = re.search(rf'<h2 id="{re.escape(h2_id)}">(.*?)(?=<h2|\Z)', page, re.S)
    assert m, f"no section {h2_id!r} in the report"
    out = {}
    for title, body in re.findall(r"<h3>(.*?)</h3>(.*?)(?=<h3>|\Z)", m.group(1), re.S):
        out[title] = [[_html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                       for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
                      for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
    return out
