"""A vendor table named in Japanese (`住民`) cannot be read by name; the refusal tells the fix in Japanese
too, not only 「直し方は英語の説明を参照」 and a regex (legacydb probe 7): create a view with a plain name."""
from __future__ import annotations

import pytest
import yaml

from ikou.config import load_config
from ikou.errors import ConfigError, message_ja, one_line


def _write(tmp_path, **change):
    source = {"name": "b", "kind": "database", "url": "duckdb:///legacy.duckdb", "table": "B_JUMIN",
              "mapping": "m.yaml", **change}
    cfg = {"spec_version": 1, "dantai": {"code": "999717", "name": "架空市"}, "gyomu": ["juki"], "rehearsal": "R1",
           "sources": [source], "target": {"url": "duckdb:///t.duckdb"}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("change, key", [({"table": "住民"}, "table"), ({"table": 'B"; DROP TABLE x; --'}, "table"),
                                         ({"schema": "旧システム"}, "schema"), ({"table": "1JUMIN"}, "table")])
def test_a_table_name_that_is_no_plain_sql_name_is_refused_with_the_view_hint_in_japanese(tmp_path, change, key):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, **change))
    ja, en = message_ja(e.value), one_line(e.value)
    assert f"sources.0.{key} (" in ja, ja   # the key and its line
    assert "英数字と _ のみ" in ja and "CREATE VIEW jumin AS SELECT * FROM `住民`" in ja, ja
    assert "直し方は英語の説明を参照" not in ja, ja
    assert f"sources.0.{key}" in en and "create a view" in en, en
