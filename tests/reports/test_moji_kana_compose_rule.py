"""文字同定's kana + combining voiced mark composition (カ\u3099 → ガ) is explained by its own expected rule
(moji.kana_compose, 「かなと結合用濁点を合成したため」), not under the 外字 rule and its reason; a name where a
外字 was replaced as well is explained as the 外字; a name that really changed is not explained at all."""
from __future__ import annotations

import polars as pl
import yaml

from ikou import REPO_ROOT
from ikou.mappings.spec import load_mapping
from ikou.reports.diff import compare
from ikou.reports.expected import rules_from_mapping
from ikou.reports.rules import load_rules
from ikou.reports.step import replaced_characters

B_JUMIN = REPO_ROOT / "specs" / "vendors" / "vendor_b" / "mappings" / "juki" / "jumin.yaml"


def _rules(tmp_path, chars: list[tuple[str, str, str]]):
    path = tmp_path / "src.chars.parquet"
    pl.DataFrame(chars, schema=["char", "output", "status"], orient="row").write_parquet(path)
    out = rules_from_mapping(load_mapping(B_JUMIN), tmp_path / "diff", char_map=replaced_characters(path),
                             moji_columns=["shimei"])
    return out, {r["name"]: r for r in yaml.safe_load(out.read_text(encoding="utf-8"))["rules"]}


def test_a_composed_kana_is_explained_by_its_own_rule_and_reason(tmp_path):
    path, rules = _rules(tmp_path, [("\ue000", "髙", "gaiji"), ("山", "山", "mj")])
    assert rules["moji.kana_compose"]["reason"].startswith("かなと結合用濁点を合成したため")
    assert "外字" in rules["moji.gaiji"]["reason"]
    names = list(rules)
    assert names.index("moji.kana_compose") < names.index("moji.gaiji")
    left = pl.DataFrame({"k": ["1", "2", "3", "4"],
                         "shimei": ["カ\u3099ン", "\ue000田", "\ue000田　カ\u3099ク", "ハ\u309aン"]})
    right = pl.DataFrame({"k": ["1", "2", "3", "4"], "shimei": ["ガン", "髙田", "髙田　ガク", "バン"]})
    r = compare(left, right, key="k", rules=load_rules(path))
    try:
        by_key = dict(r.cells.select("k", "rule").iter_rows())
    finally:
        r.close()
    assert by_key == {"1": "moji.kana_compose", "2": "moji.gaiji", "3": "moji.gaiji", "4": None}   # パ ≠ バ


def test_a_run_without_a_replaced_gaiji_writes_no_gaiji_rule(tmp_path):
    _, rules = _rules(tmp_path, [("山", "山", "mj")])
    assert "moji.kana_compose" in rules and "moji.gaiji" not in rules
