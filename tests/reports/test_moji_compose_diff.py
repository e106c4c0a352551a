"""文字同定 composes kana + combining voiced mark (カ\u3099 → ガ) on purpose: the run's diff explains it,
through the same character map that explains a 外字 replaced by the 団体's table."""
from __future__ import annotations

import polars as pl
import yaml

from ikou.reports.diff import compare
from ikou.reports.rules import load_rules
from ikou.reports.step import replaced_characters


def test_a_composed_kana_is_explained_and_a_changed_name_is_not(tmp_path):
    chars = tmp_path / "src.chars.parquet"
    pl.DataFrame({"char": ["\ue000"], "output": ["髙"], "status": ["gaiji"]}).write_parquet(chars)
    char_map = replaced_characters(chars)
    assert {"\ue000": "髙", "カ\u3099": "ガ", "ハ\u309a": "パ"}.items() <= dict(char_map.iter_rows()).items()
    char_map.write_csv(tmp_path / "map.csv")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"spec_version": 1, "rules": [
        {"name": "moji.gaiji", "columns": ["shimei"], "condition": {"type": "moji", "char_map": "map.csv"},
         "reason": "文字同定", "owner": "ikou"}]}, allow_unicode=True), encoding="utf-8")
    left = pl.DataFrame({"k": ["1", "2", "3"], "shimei": ["カ\u3099ン", "\ue000田", "ハ\u309aン"]})
    right = pl.DataFrame({"k": ["1", "2", "3"], "shimei": ["ガン", "髙田", "バン"]})
    r = compare(left, right, key="k", rules=load_rules(tmp_path / "rules.yaml"))
    try:
        assert r.changed_cells == {"shimei": 3} and r.unexplained_cells == {"shimei": 1}   # パ ≠ バ
    finally:
        r.close()
