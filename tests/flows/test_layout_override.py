"""A run config's `layout:` (a source's override of its mapping's layout) is the layout the run reads, so the plan
checks the mapping against it before Prefect starts, as it checks the mapping's own: a broken override or one
lacking a column the mapping reads is refused in seconds, and the unread columns are the override's."""
from __future__ import annotations

import pytest

from ikou import REPO_ROOT
from ikou.config import load_config
from ikou.errors import ConfigError
from ikou.flows import pipeline as P
from tests.flows.conftest import write_config

LAYOUT = REPO_ROOT / "specs" / "vendors" / "vendor_a" / "layouts" / "jumin.yaml"


def _config(tmp_path, layout_text: str):
    layout = tmp_path / "override.yaml"
    layout.write_text(layout_text, encoding="utf-8")
    source = f"""  - name: vendor_a_jumin
    kind: file
    path: {REPO_ROOT / 'data' / 'sample' / 'vendor_a' / 'JUMIN.csv'}
    layout: {layout}
    mapping: {REPO_ROOT / 'specs' / 'vendors' / 'vendor_a' / 'mappings' / 'juki' / 'jumin.yaml'}
"""
    return load_config(write_config(tmp_path, source=source, target_url=f"duckdb:///{tmp_path / 't.duckdb'}"))


def test_an_override_layout_with_a_duplicate_column_is_refused_at_plan(tmp_path):
    text = LAYOUT.read_text(encoding="utf-8").replace("  - {name: SHIMEI,       ja: 氏名}\n",
                                                      "  - {name: SHIMEI,       ja: 氏名}\n  - {name: SHIMEI, ja: 氏名2}\n")
    with pytest.raises(ConfigError, match="duplicate column names"):
        P.checked_plan(_config(tmp_path, text))


def test_an_override_layout_lacking_a_column_the_mapping_reads_is_refused_at_plan(tmp_path):
    text = LAYOUT.read_text(encoding="utf-8").replace("SHIMEI_KANA,", "SHIMEI_YOMI,")
    with pytest.raises(ConfigError, match=r"override\.yaml[\s\S]*SHIMEI_KANA"):
        P.checked_plan(_config(tmp_path, text))


def test_the_unread_columns_are_those_of_the_layout_the_run_reads(tmp_path):
    text = LAYOUT.read_text(encoding="utf-8").rstrip("\n") + "\n  - {name: YOBI, ja: 予備}\n"
    p, = P.checked_plan(_config(tmp_path, text))
    assert P.unread_columns(p) == ["YOBI"]
    assert P.extract_kwargs(p)["layout_path"] == tmp_path / "override.yaml"
