"""A source's 外字 table is checked at plan (flows.pipeline.checked_plan), before a record is read: a table
saved in CP932, a code listed twice with two glyphs or an MJ name the dictionary lacks stopped the run only at
文字同定, after the whole extract and map."""
from __future__ import annotations

import pytest
import yaml

from ikou import SPECS
from ikou.config import load_config
from ikou.errors import ConfigError, message_ja
from ikou.flows import pipeline as P
from tests.flows.conftest import SAMPLE


def _config(tmp_path, gaiji_bytes: bytes):
    table = tmp_path / "gaiji.csv"
    table.write_bytes(gaiji_bytes)
    cfg = {"spec_version": 1, "dantai": {"code": "999741", "name": "架空町"}, "gyomu": ["juki"], "rehearsal": "R1",
           "sources": [{"name": "vendor_a_jumin", "kind": "file", "path": str(SAMPLE / "vendor_a" / "JUMIN.csv"),
                        "encoding": "cp932", "gaiji_table": str(table),
                        "mapping": str(SPECS / "vendors" / "vendor_a" / "mappings" / "juki" / "jumin.yaml")}],
           "target": {"url": f"duckdb:///{tmp_path / 't.duckdb'}"}, "runs_dir": str(tmp_path / "runs"),
           "inbox": [str(SAMPLE), str(tmp_path)]}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return load_config(path), table


@pytest.mark.parametrize("content, said", [
    ("code,mj,備考\nU+E000,MJ000001,髙\n".encode("cp932"), "not UTF-8"),
    (b"code,mj\nU+E000,MJ000001\nU+E000,MJ000002\n", "more than once"),
    (b"code,mj\nU+E000,MJ999999\n", "not in the dictionary"),
])
def test_a_broken_gaiji_table_is_refused_at_plan_naming_the_file(tmp_path, content, said):
    cfg, table = _config(tmp_path, content)
    with pytest.raises(ConfigError) as info:
        P.checked_plan(cfg)
    assert said in str(info.value) and str(table) in str(info.value)
    assert "外字表" in message_ja(info.value) and str(table) in message_ja(info.value)


def test_a_good_gaiji_table_passes_the_plan(tmp_path):
    cfg, _ = _config(tmp_path, b"code,mj\nU+E000,MJ000001\n")
    assert [p.source.name for p in P.checked_plan(cfg)] == ["vendor_a_jumin"]
