"""Expected-difference rules derived from a mapping spec: what the migration itself changed.

A mapping that turns vendor codes into standard codes, 和暦 into ISO dates and half-width kana
into full width, and 文字同定 that replaces 外字 by MJ glyphs, all cause documented differences
between the legacy data and the new system. Generating the rules from the same spec that drove
the migration means every such difference is explained by the rule that caused it, and anything
left is a real finding. Each mapping op declares its own rule (mappings.ops); the rules of 文字同定
(a 外字 replaced, kana + combining voiced mark composed) come from no op and are declared here (MOJI_RULES).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

from ikou.mappings.ops import OPS

OWNER = "ikou 移行 (自動生成: マッピング定義より)"


@dataclass(frozen=True)
class MojiRule:
    """A difference 文字同定 makes on purpose, as an expected-difference rule on the 文字同定 columns: its name
    and reason, the file its character map is written to (next to the rules), and the replacements it is
    written for (`kana`: kana + combining voiced mark composed, moji.identify.kana_compositions; `other`:
    every other replacement, a 外字 through the 団体's table or a reviewer's decision). The rule is written
    when the run's character map holds a replacement it is for."""

    name: str
    reason: str
    file: str
    explains: str                 # "kana" | "other"
    # the replacements its map applies: its own and, for a cell where both happened, those of the rules
    # before it (a 外字 next to a composed kana is explained as the 外字: the rule that is more than notation)
    applies: tuple[str, ...]


# in the order the diff tries them (the first rule whose condition holds explains the cell)
MOJI_RULES = (
    MojiRule("moji.kana_width", "半角カナを全角カナにしたため (文字同定)", "moji_kana_width_map.csv",
             explains="width", applies=("width",)),
    MojiRule("moji.kana_compose", "かなと結合用濁点を合成したため (文字同定)", "moji_kana_map.csv",
             explains="kana", applies=("width", "kana")),
    MojiRule("moji.gaiji", "外字を団体の外字表により文字情報基盤 (MJ) の文字に置き換えたため (文字同定)",
             "moji_char_map.csv", explains="other", applies=("width", "kana", "other")),
)


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
        from ikou.moji.identify import halfwidth_kana, kana_compositions

        # a moji column whose line trims: the rule reads its legacy side trimmed first (rules.MojiCondition)
        trimmed = [t for t in moji_columns if any(c.target == t and getattr(c, "strip", False) for c in spec.columns)]
        pairs = char_map.select("from", "to").unique().with_columns(
            kind=pl.when(pl.col("from").is_in(list(halfwidth_kana()))).then(pl.lit("width"))
            .when(pl.col("from").is_in(list(kana_compositions()))).then(pl.lit("kana")).otherwise(pl.lit("other")))
        for m in MOJI_RULES:
            if not (pairs["kind"] == m.explains).any():
                continue
            pairs.filter(pl.col("kind").is_in(m.applies)).select("from", "to").sort("from").write_csv(out_dir / m.file)
            condition = {"type": "moji", "char_map": m.file}
            if trimmed:
                condition["trim_columns"] = trimmed
            rules.append({"name": m.name, "columns": list(moji_columns), "condition": condition,
                          "reason": m.reason, "owner": OWNER})
    out = out_dir / "expected_rules.yaml"
    out.write_text(yaml.safe_dump({"spec_version": 1, "rules": rules}, allow_unicode=True, sort_keys=False),
                   encoding="utf-8")
    return out
