"""A 個人番号 or 住民票コード shown in a column that is not declared sensitive: masked all the same.

Two ways: a target column a mapping fills from a sensitive (or 個人番号-named) source column is itself
sensitive (a mapping mistake `yubin_no ← KOJIN_NO`), and a value of 11–12 digits (blanks and hyphens,
half- or full-width, left out) is shown as the full mask in any column but a record key."""
from __future__ import annotations

import json
from types import SimpleNamespace

import polars as pl
import pytest
import yaml

from ikou import REPO_ROOT
from ikou.privacy import FULL_MASK, mask_cells_of, mask_frame, mask_long, sensitive_columns

KOJIN = "739518462038"
JUMINHYO = "86420975318"
KEY = "482603175926"   # a 宛名番号 that happens to look like a 個人番号: a key, it stays traceable
SCHEMA = REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml"


def _plan(tmp_path, lines: str, *, sensitive_layout_column: str | None = None):
    from ikou.mappings.spec import load_mapping

    vendor_a = REPO_ROOT / "specs" / "vendors" / "vendor_a"
    mapping = load_mapping(vendor_a / "mappings" / "juki" / "jumin.yaml")
    layout = yaml.safe_load(mapping.layout.read_text(encoding="utf-8"))
    for c in layout["columns"]:
        if c["name"] == sensitive_layout_column:
            c["sensitive"] = True
    (tmp_path / "layout.yaml").write_text(yaml.safe_dump(layout, allow_unicode=True), encoding="utf-8")
    columns = [c.model_copy(update={"from_": dict(yaml.safe_load(lines)).get(c.target, c.from_)})
               for c in mapping.columns]
    return SimpleNamespace(schema=mapping.schema_, mapping=mapping.model_copy(
        update={"layout": tmp_path / "layout.yaml", "columns": columns}))


def test_a_target_column_a_mapping_fills_from_a_mynumber_column_is_sensitive(tmp_path):
    sens = sensitive_columns([_plan(tmp_path, "{yubin_no: KOJIN_NO}")])
    assert "yubin_no" in sens
    shown = mask_long(pl.DataFrame({"column": ["yubin_no"], "value": ["7395184"]}), sens, value_cols=("value",))
    assert shown["value"].to_list() == [FULL_MASK]


def test_a_target_column_fed_by_a_layout_column_declared_sensitive_is_sensitive(tmp_path):
    sens = sensitive_columns([_plan(tmp_path, "{}", sensitive_layout_column="JUSHO")])
    assert {"JUSHO", "jusho"} <= sens


def test_a_plain_mapping_leaves_its_non_personal_target_columns_unmasked(tmp_path):
    sens = sensitive_columns([_plan(tmp_path, "{}")])
    assert "yubin_no" not in sens and "jusho" not in sens and "kojin_no" in sens


@pytest.mark.parametrize("value", [JUMINHYO, KOJIN, "7395-1846-2038", "7395 1846 2038", "７３９５１８４６２０３８",
                                   "７３９５－１８４６－２０３８", "7395　1846‐2038", " 86420975318 "])
def test_an_identifier_shaped_value_in_a_column_not_sensitive_is_fully_masked(value):
    q = pl.DataFrame({"record_key": [f"atena_no={KEY},rireki_no=1"], "column": ["seinengappi"], "value": [value]})
    shown = mask_long(q, set(), value_cols=("value",))
    assert shown["value"].to_list() == [FULL_MASK]
    assert shown["record_key"].to_list() == [f"atena_no={KEY},rireki_no=1"]   # the key stays traceable
    assert mask_long(q, set(), value_cols=("value",), reveal=True).equals(q)


@pytest.mark.parametrize("value", ["1234567", "2026-11-30", "03-1234-5678", "1234567890123", "S45.03.02",
                                   "0123456785"])
def test_a_value_not_shaped_like_an_identifier_is_shown(value):
    q = pl.DataFrame({"column": ["yubin_no"], "value": [value]})
    assert mask_long(q, set(), value_cols=("value",))["value"].to_list() == [value]


def test_the_wide_and_column_wise_maskings_guard_values_but_not_keys():
    rows = pl.DataFrame({"atena_no": [KEY], "seinengappi": [JUMINHYO], "yubin_no": [KOJIN], "jusho": ["本町1-1"]})
    shown = mask_frame(rows, set(), keys=("atena_no",))
    assert shown.row(0) == (KEY, FULL_MASK, FULL_MASK, "本町1-1")
    assert mask_frame(rows, set(), keys=("atena_no",), reveal=True).equals(rows)
    cells = pl.DataFrame({"atena_no": [KEY], "column": ["yubin_no"], "left": [KOJIN], "right": ["1000001"]})
    by_column = mask_cells_of(cells.lazy(), "yubin_no", set(), key_cols=("atena_no",)).collect()
    assert by_column.row(0) == (KEY, "yubin_no", FULL_MASK, "1000001")
    assert mask_long(cells, set(), key_cols=("atena_no",)).equals(by_column)


def test_the_diff_outputs_show_no_planted_identifier_but_keep_the_key(tmp_path):
    from ikou.flows.cli import main

    left, right = tmp_path / "l.csv", tmp_path / "r.csv"
    left.write_text(f"atena_no,seinengappi,yubin_no\n{KEY},{JUMINHYO},{KOJIN}\n0000000019,1970-01-01,1000001\n"
                    "0000000027,1970-01-02,1000002\n", encoding="utf-8")
    right.write_text("atena_no,seinengappi,yubin_no\n0000000019,1970-01-01,1000001\n"
                     f"0000000027,{JUMINHYO},{KOJIN}\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["diff", str(left), str(right), "--key", "atena_no", "--out", str(out), "--sensitive", ""]) == 0
    for f in ("only_left.csv", "differences.csv", "report.html"):
        text = (out / f).read_text(encoding="utf-8")
        assert JUMINHYO not in text and KOJIN not in text, f
    for f in ("only_left.parquet", "differences.parquet"):
        values = pl.read_parquet(out / f).select(pl.all().cast(pl.String)).unpivot()["value"].to_list()
        assert JUMINHYO not in values and KOJIN not in values, f
    assert KEY in (out / "only_left.csv").read_text(encoding="utf-8")
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["only_left"] == 1


def test_a_target_column_a_mapping_fills_from_the_name_column_is_sensitive(tmp_path):
    """`seinengappi ← SHIMEI` (a mapping mistake): the date rule quotes every value it cannot read, a name."""
    sens = sensitive_columns([_plan(tmp_path, "{seinengappi: SHIMEI}")])
    assert "seinengappi" in sens
    shown = mask_long(pl.DataFrame({"column": ["seinengappi"], "value": ["林"]}), sens, value_cols=("value",))
    assert shown["value"].to_list() == ["＊＊"]
