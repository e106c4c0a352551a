"""target.schema's suffix is checked for another 団体's code, as the target URL and the paths are."""
from __future__ import annotations

import pytest
import yaml

from ikou.config import load_config
from ikou.errors import ConfigError


def _config(tmp_path, schema: str):
    (tmp_path / "inbox").mkdir(exist_ok=True)
    (tmp_path / "inbox" / "JUMIN.csv").write_text("x\n", encoding="utf-8")
    cfg = {"spec_version": 1, "dantai": {"code": "999741", "name": "架空市"}, "gyomu": ["juki"], "rehearsal": "R1",
           "sources": [{"name": "jumin", "kind": "file", "path": "inbox/JUMIN.csv", "mapping": "m.yaml"}],
           "target": {"url": "duckdb:///t.duckdb", "schema": schema}, "runs_dir": "runs"}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("schema", ["dantai_999741_999750", "dantai_999741_t999750", "dantai_999741_dantai999750"])
def test_a_target_schema_suffix_naming_another_dantai_is_refused(tmp_path, schema):
    with pytest.raises(ConfigError, match="999750"):
        load_config(_config(tmp_path, schema))


@pytest.mark.parametrize("schema", ["dantai_999741_r2", "dantai_999741_999741", "dantai_999741_1234567"])
def test_a_target_schema_suffix_without_another_dantais_code_is_allowed(tmp_path, schema):
    assert load_config(_config(tmp_path, schema)).target_schema == schema
