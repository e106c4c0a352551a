"""The run's own 団体コード written another way, or no valid 団体コード at all, is held under its own rule,
never as another 団体's data (isolation.dantai_mismatch): only a valid code of another 団体 is that."""
from __future__ import annotations

import polars as pl

from ikou import REPO_ROOT
from ikou.mappings.engine import apply_mapping
from ikou.mappings.spec import MappingSpec
from ikou.schema import load_schema

SCHEMA_PATH = REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml"
DANTAI, OTHER = "999725", "999733"

CASES = [   # (DANTAI_CD as the legacy file writes it, the rule it is held by; None: loaded)
    (DANTAI, None),
    (f"{DANTAI} ", "isolation.own_code_written_otherwise"),        # a trailing blank from the CSV
    ("99972", "isolation.own_code_written_otherwise"),             # the 5 digits, no check digit
    ("９９９７２５", "isolation.own_code_written_otherwise"),        # full width
    (f"\u3000{DANTAI}", "isolation.own_code_written_otherwise"),   # an ideographic space before it
    ("999726", "format.dantai_code"),                              # wrong check digit: no 団体 at all
    ("99972A", "format.dantai_code"),
    (OTHER, "isolation.dantai_mismatch"),                          # another 団体's valid code
    ("９９９７３３", "isolation.dantai_mismatch"),                  # … however it is written
    (f"{OTHER} ", "isolation.dantai_mismatch"),
]


def _map(values: list[str | None]):
    spec = MappingSpec.model_validate(
        {"spec_version": 1, "target": "juki_kojin_rireki", "schema": str(SCHEMA_PATH),
         "columns": [{"target": "dantai_code", "op": "text", "from": "DANTAI_CD"},
                     {"target": "atena_no", "op": "text", "from": "ATENA_NO"}]},
        context={"path": SCHEMA_PATH})
    n = len(values)
    df = pl.DataFrame({"_row_id": range(1, n + 1), "_source": ["JUMIN.csv"] * n, "_source_line": range(2, n + 2),
                       "DANTAI_CD": values, "ATENA_NO": [f"A{i}" for i in range(n)]},
                      schema={"_row_id": pl.Int64, "_source": pl.String, "_source_line": pl.Int64,
                              "DANTAI_CD": pl.String, "ATENA_NO": pl.String})
    return apply_mapping(df, spec, load_schema(SCHEMA_PATH), run_id="20261130T000000Z-R1-ab12", dantai_code=DANTAI)


def test_each_spelling_of_a_dantai_code_is_held_by_what_it_is():
    res = _map([v for v, _ in CASES])
    held = dict(res.quarantine.filter(pl.col("column") == "dantai_code").select("value", "rule").iter_rows())
    assert held == {v: r for v, r in CASES if r is not None}
    assert res.quarantine["severity"].unique().to_list() == ["error"]       # all of them held, as before
    assert res.frame["dantai_code"].to_list() == [DANTAI]                   # only the run's own code is loaded
    assert res.rows_in == res.rows_out + res.quarantine["row_id"].n_unique()


def test_only_another_dantais_code_is_called_another_dantais():
    q = _map([v for v, _ in CASES]).quarantine
    msgs = dict(q.select("rule", "message_ja").unique().iter_rows())
    assert "他団体" in msgs["isolation.dantai_mismatch"]
    assert "この団体の団体コード" in msgs["isolation.own_code_written_otherwise"]
    assert "他団体の団体コードです" not in msgs["isolation.own_code_written_otherwise"]
    assert "他団体" not in msgs["format.dantai_code"]
    en = dict(q.select("rule", "message_en").unique().iter_rows())
    assert "not a valid 団体コード" in en["format.dantai_code"] and "own" in en["isolation.own_code_written_otherwise"]


def test_a_missing_dantai_code_is_still_left_to_the_required_rule():
    res = _map([None, DANTAI])
    assert res.quarantine.height == 0 and res.rows_out == 2
