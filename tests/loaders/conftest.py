"""The loader tests' tiny 業務 `ga`: one table `ga_t` keyed by 宛名番号, enough to load and read runs back."""
from __future__ import annotations

import pytest

from ikou.schema import TargetSchema, load_schema

GA_SCHEMA = """spec_version: 1
gyomu: ga
ja: 業務ga
tables:
  ga_t:
    ja: 表
    primary_key: [atena_no]
    columns:
      - {name: atena_no, ja: 宛名番号, type: text, required: true}
"""


@pytest.fixture
def schema(tmp_path) -> TargetSchema:
    """`ga` loaded from this test's folder, with a rules file of its own beside it: `ga` has no spec folder
    in the repository for the schema to take the 業務's rules from."""
    p = tmp_path / "ga.yaml"
    p.write_text(GA_SCHEMA, encoding="utf-8")
    (tmp_path / "rules.yaml").write_text("spec_version: 1\ngyomu: ga\n", encoding="utf-8")
    return load_schema(p)
