"""A name whose mapping line trims (`strip: true`, a fixed-width field) and which holds a 外字 differs from the
target by both the trim and the replacement: the generated moji rule reads its legacy side as the text op does
first, so the cell is explained, and a padded cell of a line that does not trim still is not."""
from __future__ import annotations

import polars as pl
import yaml

from ikou.reports.expected import rules_from_mapping
from ikou.reports.rules import load_rules
from tests.reports.test_expected_rules import CHAR_MAP, spec_of


def explained(rules, cells: list[tuple[str, str, str]]) -> list[str | None]:
    frame = pl.DataFrame(cells, schema={"column": pl.String, "left": pl.String, "right": pl.String},
                         orient="row").with_columns(pl.lit(None, pl.String).alias("rule"))
    return rules.explain(frame)["rule"].to_list()


def test_a_padded_name_with_a_gaiji_is_explained_when_its_line_trims(tmp_path):
    spec = spec_of([{"target": "shimei", "op": "text", "from": "N", "strip": True},
                    {"target": "shimei_kana", "op": "text", "from": "K"}])
    path = rules_from_mapping(spec, tmp_path, char_map=CHAR_MAP, moji_columns=["shimei", "shimei_kana"])
    moji = [r for r in yaml.safe_load(path.read_text(encoding="utf-8"))["rules"] if r["name"] == "moji.gaiji"]
    assert moji[0]["condition"]["trim_columns"] == ["shimei"]
    rules = load_rules(path)
    assert explained(rules, [
        ("shimei", "\ue000田　　 ", "髙田"),        # trim + 外字: the op's trim, then 文字同定
        ("shimei", "\ue000田", "髙田"),             # 外字 alone
        ("shimei", "山田  ", "山田"),               # trim alone: the line's own rule
        ("shimei", "\ue000田  ", "髙山"),           # something else changed too: never explained
        ("shimei_kana", "\ue000ﾀ  ", "髙ﾀ"),        # a line that does not trim: its padding is a difference
    ]) == ["moji.gaiji", "moji.gaiji", "shimei.trim", None, None]


def test_lines_that_do_not_trim_write_the_moji_rule_as_before(tmp_path):
    spec = spec_of([{"target": "shimei", "op": "text", "from": "N"}])
    path = rules_from_mapping(spec, tmp_path, char_map=CHAR_MAP, moji_columns=["shimei"])
    moji = [r for r in yaml.safe_load(path.read_text(encoding="utf-8"))["rules"] if r["name"] == "moji.gaiji"]
    assert moji[0]["condition"] == {"type": "moji", "char_map": "moji_char_map.csv"}
