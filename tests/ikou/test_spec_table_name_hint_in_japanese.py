"""A table or schema name refused by the SQL-name pattern in any spec file (a vendor-C mapping's `tables.*.table`
too) says in Japanese what is allowed and the way round it (a view), not 「直し方は英語の説明を参照」."""
from __future__ import annotations

import pytest
from pydantic import BaseModel

from ikou.config import SqlName
from ikou.errors import ConfigError, message_ja
from ikou.spec import load_spec


class _Tables(BaseModel):
    table: SqlName


def test_a_japanese_table_name_is_refused_with_the_view_hint_in_japanese(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("table: 住民\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_spec(path, _Tables)
    ja = message_ja(e.value)
    assert "ビューを作成" in ja and "英数字と _ のみ" in ja and "英語の説明を参照" not in ja, ja
