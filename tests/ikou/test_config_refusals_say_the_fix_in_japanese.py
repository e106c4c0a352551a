"""A refused run config says in Japanese too which file, which key (and line) and what to do: a path outside
the inbox (.. or a symlink), an SQL-looking target.schema, an empty or list file, a folder given as the config.
The Japanese half used to say only "(top level) (直し方は英語の説明を参照)", or "file not found" for a folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from ikou import REPO_ROOT
from ikou.config import load_config
from ikou.errors import ConfigError, message_ja, one_line

CODE = "999822"
MAPPING = REPO_ROOT / "specs" / "vendors" / "vendor_a" / "mappings" / "juki" / "jumin.yaml"


def _config(tmp_path: Path, **changes) -> Path:
    (tmp_path / "inbox").mkdir(exist_ok=True)
    (tmp_path / "inbox" / "JUMIN.csv").write_text("x\n", encoding="utf-8")
    cfg = {"spec_version": 1, "dantai": {"code": CODE, "name": "架空市"}, "gyomu": ["juki"], "rehearsal": "R1",
           "sources": [{"name": "a", "kind": "file", "path": "inbox/JUMIN.csv", "mapping": str(MAPPING)}],
           "target": {"url": "duckdb:///t.duckdb"}, "runs_dir": "runs", "inbox": ["inbox"]}
    for key, value in changes.items():
        if key == "path":
            cfg["sources"][0]["path"] = value
        else:
            cfg["target"]["schema"] = value
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _ja(path: Path) -> tuple[str, str]:
    with pytest.raises(ConfigError) as e:
        load_config(path)
    ja = message_ja(e.value)
    assert str(path) in ja and "(top level)" not in ja and "英語の説明を参照" not in ja, ja
    return ja, one_line(e.value)


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in ln)


def test_a_dotdot_path_outside_the_inbox_is_named_with_its_key_line_and_fix_in_japanese(tmp_path):
    p = _config(tmp_path, path="inbox/../../elsewhere.csv")
    ja, en = _ja(p)
    assert f"sources.0.path ({_line_of(p, 'elsewhere.csv')} 行目)" in ja and "inbox:" in ja and "外にあります" in ja, ja
    assert "outside the 団体's inbox" in en


def test_a_symlink_out_of_the_inbox_is_named_with_its_key_and_fix_in_japanese(tmp_path):
    p = _config(tmp_path, path="inbox/link.csv")
    os.symlink("/etc/passwd", tmp_path / "inbox" / "link.csv")
    ja, _ = _ja(p)
    assert "sources.0.path" in ja and "シンボリックリンク" in ja and "/etc/passwd" in ja, ja


def test_an_sql_looking_target_schema_is_named_with_the_schema_it_must_be(tmp_path):
    p = _config(tmp_path, schema=f'dantai_{CODE}"; DROP SCHEMA public CASCADE; --')
    ja, _ = _ja(p)
    assert f"target.schema ({_line_of(p, 'schema:')} 行目)" in ja and f"dantai_{CODE} " in ja, ja


@pytest.mark.parametrize("text,what", [("", "空です"), ("# nothing yet\n", "空です"), ("- a\n- b\n", "リスト")])
def test_an_empty_or_list_config_says_so_and_lists_the_keys_it_needs(tmp_path, text, what):
    p = tmp_path / "run.yaml"
    p.write_text(text, encoding="utf-8")
    ja, _ = _ja(p)
    assert what in ja and "dantai" in ja and "sources" in ja and "target" in ja, ja


def test_a_folder_given_as_the_config_is_called_a_folder_not_a_missing_file(tmp_path):
    d = tmp_path / "run.yaml"
    d.mkdir()
    ja, en = _ja(d)
    assert "file not found" not in en and "folder" in en and "フォルダです" in ja and "--config" in ja, (en, ja)


def test_a_missing_config_is_named_in_japanese_too(tmp_path):
    ja, en = _ja(tmp_path / "nope.yaml")
    assert "file not found" in en and "ありません" in ja, ja
