"""A run config declares its own `inbox:`, so `inbox: [/]` let a hostile config read any file (security probe
3). The operator limits it from outside the config: with IKOU_INBOX_ROOTS set (os.pathsep-separated), every
inbox of a config, declared or the config's own folder, must lie under one of them (symlinks resolved)."""
from __future__ import annotations

import os

import pytest
import yaml

from ikou.config import load_config
from ikou.errors import ConfigError, message_ja


def _write(folder, **top):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "JUMIN.csv").write_text("x\n", encoding="utf-8")
    cfg = {"spec_version": 1, "dantai": {"code": "999717", "name": "架空市"}, "gyomu": ["juki"], "rehearsal": "R1",
           "sources": [{"name": "a", "kind": "file", "path": str(folder / "JUMIN.csv"), "mapping": "m.yaml"}],
           "target": {"url": "duckdb:///t.duckdb"}, "runs_dir": "runs", **top}
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def test_an_inbox_outside_the_operators_roots_is_refused(tmp_path, monkeypatch):
    allowed = tmp_path / "srv" / "inbox"
    allowed.mkdir(parents=True)
    monkeypatch.setenv("IKOU_INBOX_ROOTS", os.pathsep.join([str(tmp_path / "nowhere"), str(allowed)]))
    with pytest.raises(ConfigError, match="inbox.0 / is not under the inbox roots .*IKOU_INBOX_ROOTS") as e:
        load_config(_write(allowed / "999717", inbox=["/"]))
    assert "IKOU_INBOX_ROOTS" in message_ja(e.value) and "inbox.0" in message_ja(e.value)
    with pytest.raises(ConfigError, match="inbox .* is not under the inbox roots"):   # no inbox: the config's folder
        load_config(_write(tmp_path / "elsewhere"))
    assert load_config(_write(allowed / "999717")).sources[0].path.parent == allowed / "999717"


def test_a_symlink_under_the_roots_leading_out_of_them_is_refused(tmp_path, monkeypatch):
    allowed = tmp_path / "inbox"
    allowed.mkdir()
    (tmp_path / "outside").mkdir()
    (allowed / "link").symlink_to(tmp_path / "outside")
    monkeypatch.setenv("IKOU_INBOX_ROOTS", str(allowed))
    with pytest.raises(ConfigError, match="is not under the inbox roots"):
        load_config(_write(tmp_path / "cfg", inbox=[str(allowed / "link")]))


def test_without_the_setting_a_declared_inbox_is_taken_as_written(tmp_path, monkeypatch):
    monkeypatch.delenv("IKOU_INBOX_ROOTS", raising=False)
    assert load_config(_write(tmp_path / "cfg", inbox=[str(tmp_path)])).inbox == [tmp_path]
