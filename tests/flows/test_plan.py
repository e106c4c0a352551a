"""The plan of a run (flows/pipeline.py): the config's `gyomu` is exactly the 業務 its sources map into."""
from __future__ import annotations

import pytest

from ikou.config import load_config
from ikou.errors import ConfigError
from ikou.flows import pipeline as P

from tests.flows.conftest import vendor_a_source, write_config


def _with_gyomu(cfg_path, gyomu: str):
    text = cfg_path.read_text(encoding="utf-8").replace("gyomu: [juki]", f"gyomu: {gyomu}")
    cfg_path.write_text(text, encoding="utf-8")
    return load_config(cfg_path)


def test_a_gyomu_no_source_maps_into_is_refused(tmp_path):
    cfg = _with_gyomu(write_config(tmp_path, source=vendor_a_source(), target_url="duckdb:///t.duckdb"),
                      "[juki, nosuch]")
    with pytest.raises(ConfigError, match=r"gyomu lists \['nosuch'\], which no source maps into"):
        P.plan(cfg)


def test_a_source_mapping_into_a_gyomu_the_config_does_not_list_is_refused(tmp_path):
    cfg = _with_gyomu(write_config(tmp_path, source=vendor_a_source(), target_url="duckdb:///t.duckdb"),
                      "[kojin_juminzei]")
    with pytest.raises(ConfigError, match=r"sources.0 \(vendor_a_jumin\) maps into 業務 'juki'"):
        P.plan(cfg)


def test_the_gyomu_of_the_sources_plan(tmp_path):
    cfg = load_config(write_config(tmp_path, source=vendor_a_source(), target_url="duckdb:///t.duckdb"))
    assert [p.schema.gyomu for p in P.plan(cfg)] == ["juki"]
