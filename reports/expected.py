"""Expected-difference rules derived from a mapping spec: what the migration itself changed.

A mapping that turns vendor codes into standard codes, 和暦 into ISO dates and half-width kana
into full width, and 文字同定 that replaces 外字 by MJ glyphs, all cause documented differences
between the legacy data and the new system. Generating the rules from the same spec that drove
the migration means every such difference is explained by the rule that caused it, and anything
left is a real finding. Each mapping op declares its own rule (mappings.ops); the 外字 rule comes
from 文字同定, not from an op, and is made here.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl
import yaml

from ikou.mappings.ops import OPS

OWNER = "ikou 移行 (自動生成: マッピング定義より)"


def rules_from_mapping(spec, out_dir: Path, *, char_map: pl.DataFrame | None = None,
                       moji_columns: list[str] = ()) -> Path:
    """Write `out_dir/expected_rules.yaml` for `spec` (mappings.spec.MappingSpec) and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rules: list[dict] = []
    for c in spec.columns:   # each op declares the difference it causes (mappings.ops, `expected`)
        rule = OPS[c.op].expected_rule(c)
        if rule is not None:
            rules.append({**rule, "owner": OWNER})
    if char_map is not None and char_map.height and moji_columns:
        path = out_dir / "moji_char_map.csv"
        char_map.select("from", "to").unique().sort("from").write_csv(path)
        rules.append({"name": "moji.gaiji", "columns": list(moji_columns),
                      "condition": {"type": "moji", "char_map": path.name},
                      "reason": "外字を団体の外字表により文字情報基盤 (MJ) の文字に置き換えたため (文字同定)",
                      "owner": OWNER})
    out = out_dir / "expected_rules.yaml"
    out.write_text(yaml.safe_dump({"spec_version": 1, "rules": rules}, allow_unicode=True, sort_keys=False),
                   encoding="utf-8")
    return out
