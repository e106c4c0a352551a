"""A control character (line break, tab, other C0/C1, DEL, NUL) in any path or name of a run config is
refused naming the key, and a path component over 255 bytes is a config error naming the key, not
「予期しないエラー」 from the file system's ENAMETOOLONG (security probe 6, 7)."""
from __future__ import annotations

import pytest
import yaml

from ikou.config import load_config, with_target_url
from ikou.errors import ConfigError, message_ja, one_line


def _write(tmp_path, *, source: dict | None = None, **top):
    (tmp_path / "JUMIN.csv").write_text("x\n", encoding="utf-8")
    cfg = {"spec_version": 1, "dantai": {"code": "999717", "name": "架空市"}, "gyomu": ["juki"], "rehearsal": "R1",
           "sources": [source or {"name": "a", "kind": "file", "path": "JUMIN.csv", "mapping": "m.yaml"}],
           "target": {"url": "duckdb:///t.duckdb"}, "runs_dir": "runs", **top}
    path = tmp_path / "run.yaml"
    # escaped: written raw, YAML itself reads NEL (U+0085) and U+2028 as line breaks inside a scalar
    path.write_text(yaml.safe_dump(cfg, allow_unicode=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\u2028"])
def test_a_control_character_in_runs_dir_is_refused_naming_the_key(tmp_path, char):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, runs_dir=f"runs{char}999725"))
    assert "runs_dir holds a control character" in one_line(e.value), one_line(e.value)
    assert "runs_dir" in message_ja(e.value) and "制御文字" in message_ja(e.value)


@pytest.mark.parametrize("key, value", [("path", "JU\nMIN.csv"), ("mapping", "m\t.yaml"), ("name", "a")])
def test_a_control_character_in_a_source_path_or_name_is_refused_naming_the_key(tmp_path, key, value):
    source = {"name": "a", "kind": "file", "path": "JUMIN.csv", "mapping": "m.yaml", key: value}
    if key == "name":
        source["gaiji_table"] = "gaiji\r.csv"
        key = "gaiji_table"
    with pytest.raises(ConfigError, match=f"sources.0.{key} holds a control character"):
        load_config(_write(tmp_path, source=source))


def test_a_control_character_in_a_names_or_a_urls_query_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="dantai.name holds a control character"):
        load_config(_write(tmp_path, dantai={"code": "999717", "name": "架空市\n999725"}))
    with pytest.raises(ConfigError, match="sources.0.url: .*'charset' holds a control character"):
        load_config(_write(tmp_path, source={"name": "b", "kind": "database", "table": "T", "mapping": "m.yaml",
                                             "url": "mysql+pymysql://root@127.0.0.1:3306/legacy?charset=utf8%0A"}))
    with pytest.raises(ConfigError, match="--target-url: the target URL holds a control character"):
        with_target_url(load_config(_write(tmp_path)), "duckdb:///t\n.duckdb")


@pytest.mark.parametrize("key", ["runs_dir", "inbox"])
def test_an_over_long_path_component_is_a_config_error_naming_the_key(tmp_path, key):
    long = str(tmp_path / ("r" * 300))
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, **{key: long if key == "runs_dir" else [long]}))
    where = "runs_dir" if key == "runs_dir" else "inbox.0"
    assert f"{where} is too long for a path" in one_line(e.value), one_line(e.value)
    assert where in message_ja(e.value) and "長すぎます" in message_ja(e.value)
