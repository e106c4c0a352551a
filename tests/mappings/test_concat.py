"""`op: concat` (mappings/ops.py) joins several source columns (氏 + 名 → 氏名) as the standard writes 氏名, and a
mapping may say which layout columns it leaves behind (`not_migrated`): every other column no line reads is
named (mappings.spec.unread_columns), never dropped silently."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.errors import ConfigError
from ikou.mappings import ops
from ikou.mappings.spec import ColumnMap, MappingSpec, load_mapping, unread_columns
from ikou.schema import load_schema
from tests.mappings.test_spec_checks import refused

SCHEMA = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")


def joined(values: list[tuple[str | None, str | None]], **line) -> list[str | None]:
    c = ColumnMap.model_validate({"target": "shimei", "op": "concat", "from": ["氏", "名"], **line})
    out = ops.build(c, ops.OpContext(schema=SCHEMA))
    df = pl.DataFrame(values, schema={"氏": pl.String, "名": pl.String}, orient="row")
    return df.select(out.value.alias("v"))["v"].to_list()


def test_concat_joins_shi_and_mei_with_a_fullwidth_space_and_leaves_a_blank_part_out():
    got = joined([("藤田", "太郎"), ("髙橋", "𠮷子"), ("渡邉", None), ("齋藤", ""), ("斉藤", "\u3000"),
                  (None, "花子"), (" ", "一郎"), (None, None), ("", " ")])
    assert got == ["藤田\u3000太郎", "髙橋\u3000𠮷子", "渡邉", "齋藤", "斉藤", "花子", "一郎", None, None]


def test_concat_strip_trims_each_part_and_without_it_the_padding_stays():
    padded = [("鈴木    ", "一郎  "), ("\u3000辻", "　")]
    assert joined(padded, strip=True) == ["鈴木\u3000一郎", "辻"]
    assert joined(padded) == ["鈴木    \u3000一郎  ", "\u3000辻"]


def test_concat_separator_is_the_lines_own_when_given():
    assert joined([("ヤマダ", "タロウ"), ("ヤマダ", None)], separator=" ") == ["ヤマダ タロウ", "ヤマダ"]


# --- the mapping spec: `from` as a list, `not_migrated` ----------------------------------------------------

def _files(tmp_path: Path, *lines: str, extra: str = "") -> Path:
    """A layout ATENA_NO, 氏, 名, カナ氏, カナ名, 予備 and a mapping with `lines` after atena_no."""
    layout = tmp_path / "layout.yaml"
    cols = "\n".join(f"  - {{name: {n}, ja: {n}}}" for n in ("ATENA_NO", "氏", "名", "カナ氏", "カナ名", "予備"))
    layout.write_text(f"spec_version: 1\nname: d.JUMIN\nformat: csv\nencoding: utf-8\nheader: true\n"
                      f"columns:\n{cols}\n", encoding="utf-8")
    body = "\n".join(f"  - {x}" for x in ("{target: atena_no, op: text, from: ATENA_NO}", *lines))
    p = tmp_path / "m.yaml"
    p.write_text(f"spec_version: 1\ntarget: juki_kojin_rireki\nschema: gyomu:juki\nlayout: {layout}\n"
                 f"columns:\n{body}\n{extra}", encoding="utf-8")
    return p


def test_a_list_from_loads_for_concat(tmp_path):
    spec = load_mapping(_files(tmp_path, "{target: shimei, op: concat, from: [氏, 名]}"))
    assert spec.columns[1].sources == ("氏", "名") and spec.columns[0].sources == ("ATENA_NO",)


def test_a_list_from_on_a_one_column_op_is_refused_naming_the_line_and_concat(tmp_path):
    msg = refused(_files(tmp_path, "{target: shimei, op: text, from: [氏, 名]}"))
    assert "columns.1.from: op 'text' reads one source column; `from` lists 2 (['氏', '名']): " \
           "only ['concat', 'kana_fullwidth'] join several" in msg


def test_a_joined_column_missing_from_the_layout_is_named(tmp_path):
    msg = refused(_files(tmp_path, "{target: shimei, op: concat, from: [氏, 名前]}"))
    assert "columns.1.from: source column '名前' of target column shimei is not in layout layout.yaml" in msg


def test_a_key_column_is_never_joined_from_several(tmp_path):
    msg = refused(_files(tmp_path, "{target: rireki_no, op: concat, from: [氏, 名]}"))
    assert "columns.1.from: target column rireki_no is a key column" in msg


def test_unread_layout_columns_are_listed_in_layout_order_unless_declared_not_migrated(tmp_path):
    spec = load_mapping(_files(tmp_path, "{target: shimei, op: text, from: 氏}"))
    assert unread_columns(spec) == ["名", "カナ氏", "カナ名", "予備"]
    spec = load_mapping(_files(tmp_path, "{target: shimei, op: concat, from: [氏, 名]}",
                               extra="not_migrated: {予備: filler, カナ氏: 廃止項目, カナ名: 廃止項目}\n"))
    assert unread_columns(spec) == [] and spec.not_migrated["予備"] == "filler"


def test_not_migrated_naming_a_column_the_layout_lacks_is_a_plan_error_naming_the_file(tmp_path):
    msg = refused(_files(tmp_path, "{target: shimei, op: concat, from: [氏, 名]}", extra="not_migrated: {予備2: filler}\n"))
    assert "not_migrated.予備2: column '予備2' is not in layout layout.yaml; did you mean ['予備']?" in msg


def test_not_migrated_naming_a_column_a_line_reads_is_refused(tmp_path):
    msg = refused(_files(tmp_path, "{target: shimei, op: concat, from: [氏, 名]}", extra="not_migrated: {名: 不要}\n"))
    assert "not_migrated.名: column '名' is read by a mapping line" in msg


def test_not_migrated_needs_a_reason(tmp_path):
    with pytest.raises(ConfigError, match="say why each is not migrated"):
        load_mapping(_files(tmp_path, "{target: shimei, op: concat, from: [氏, 名]}", extra="not_migrated: {予備: ''}\n"))


@pytest.mark.parametrize("mapping", sorted((REPO_ROOT / "specs" / "vendors").glob("*/mappings/*/*.yaml")),
                         ids=lambda p: "/".join(p.parts[-4:]))
def test_every_shipped_mapping_reads_or_declares_each_layout_column(mapping):
    assert unread_columns(load_mapping(mapping)) == []


def test_every_column_a_joined_name_reads_is_masked_as_personal_data(tmp_path):
    """A value held at extract is named by its source column: 名 is as personal as 氏 once both feed 氏名."""
    from types import SimpleNamespace

    from ikou.privacy import sensitive_columns

    spec = load_mapping(_files(tmp_path, "{target: shimei, op: concat, from: [氏, 名]}"))
    assert {"氏", "名"} <= sensitive_columns([SimpleNamespace(schema=SCHEMA, mapping=spec)])


def test_split_half_width_kana_is_joined_then_made_full_width_and_its_warning_passes_the_row():
    """`kana_fullwidth` with `from: [カナ氏, カナ名]`: joined as concat joins (「　」, blank part left out), then
    converted; a character no reading is written in warns on the row (kept), through the engine's direct path."""
    from ikou.mappings.engine import apply_mapping

    spec = MappingSpec.model_validate(
        {"spec_version": 1, "target": "juki_kojin_rireki", "schema": "gyomu:juki",
         "columns": [{"target": "atena_no", "op": "text", "from": "ATENA_NO"},
                     {"target": "rireki_no", "op": "integer", "from": "RIREKI_NO"},
                     {"target": "shimei", "op": "concat", "from": ["氏", "名"]},
                     {"target": "shimei_kana", "op": "kana_fullwidth", "from": ["カナ氏", "カナ名"], "strip": True}]})
    rows = {"ATENA_NO": ["1", "2", "3"], "RIREKI_NO": ["1", "1", "1"], "氏": ["藤田", "渡邉", "辻"],
            "名": ["太郎", None, "一"], "カナ氏": ["ﾌｼﾞﾀ ", "ﾜﾀﾅﾍﾞ", "ﾂｼﾞ"], "カナ名": ["ﾀﾛｳ", "  ", "ﾊｼﾞﾒ漢"]}
    df = pl.DataFrame({"_row_id": [1, 2, 3], "_source": ["d.csv"] * 3, "_source_line": [2, 3, 4], **rows},
                      schema={"_row_id": pl.Int64, "_source": pl.String, "_source_line": pl.Int64,
                              **{k: pl.String for k in rows}})
    r = apply_mapping(df, spec, SCHEMA, run_id="20260101T000000Z-R1-test", dantai_code="999776")
    assert r.frame["shimei"].to_list() == ["藤田\u3000太郎", "渡邉", "辻\u3000一"]
    assert r.frame["shimei_kana"].to_list() == ["フジタ\u3000タロウ", "ワタナベ", "ツジ\u3000ハジメ漢"]
    found = r.quarantine.select("rule", "severity", "column").rows()
    assert found == [("kana.not_fullwidth", "warning", "shimei_kana")]
