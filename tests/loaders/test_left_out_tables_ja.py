"""The refusal of a run that leaves out tables the target holds tells a Japanese reader which tables and the
three ways out (the 業務 in the run, a schema of its own, max_drop_ratio), not that the load would empty it."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.errors import message_ja
from ikou.loaders import EmptyExportError, LoadPart
from ikou.loaders.targets import check_counts


def test_the_japanese_refusal_names_the_tables_left_out_and_the_fixes(schema):
    part = LoadPart(schema, {"ga_t": pl.DataFrame({"atena_no": ["1"]})})
    with pytest.raises(EmptyExportError) as exc:
        check_counts({"ga_t": 1, "juki_kojin": 8991, "juki_setai": 3669}, [part], max_drop_ratio=0.5,
                     db_schema="dantai_999814", run_id="20261130T100000Z-R1-aaaa")
    ja = message_ja(exc.value)
    assert "juki_kojin (8,991 行)" in ja and "juki_setai (3,669 行)" in ja
    for fix in ("gyomu", "target.schema", "max_drop_ratio"):
        assert fix in ja
    assert "空にする" not in ja
