"""One masking rule (ikou/privacy.py) for quarantine.csv, reports, the diff's outputs and the CLI."""
from __future__ import annotations

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.privacy import FULL_MASK, mask_cells_of, mask_long, schema_sensitive_columns

SENSITIVE = {"kojin_no", "shimei", "shimei_kana"}


def test_sensitive_columns_come_from_the_target_schema():
    schema = REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml"
    assert {"kojin_no", "shimei", "shimei_kana"} <= schema_sensitive_columns(schema)


def test_cells_masked_column_by_column_as_when_masked_row_by_row():
    cells = pl.DataFrame({
        "kojin_no": ["123456789018", "234567890128", "345678901238", "456789012347"],
        "column": ["shimei", "kojin_no", "jusho", "shimei"],
        "left": ["山田太郎", "123456789018", "本町1-1", "０１２３"],
        "right": ["山田太朗", None, "本町1-2", "鈴木"]})
    whole = mask_long(cells, SENSITIVE, key_cols=("kojin_no",))
    by_column = pl.concat([mask_cells_of(cells.filter(pl.col("column") == c).lazy(), c, SENSITIVE,
                                         key_cols=("kojin_no",)).collect()
                           for c in ("shimei", "kojin_no", "jusho")])
    assert by_column.sort(pl.all()).equals(whole.sort(pl.all()))
    assert whole["left"].to_list() == ["＊＊", FULL_MASK, "本町1-1", FULL_MASK]


def test_quarantine_values_follow_the_same_rule_and_a_source_mynumber_column_shows_no_digit():
    q = pl.DataFrame({"column": ["SHIMEI", "MYNUMBER", "KOJIN_NO", "ZOKUGARA", None],
                      "value": ["山田太郎", "98320567321X", "983205673215", "77", "x"]})
    shown = mask_long(q, {"SHIMEI"}, value_cols=("value",))
    # a value without a column is a whole record (an unparsable line): only its length is shown
    assert shown["value"].to_list() == ["＊＊", FULL_MASK, FULL_MASK, "77",
                                        "＊＊＊ (レコード全体 1 文字 / whole record, not shown)"]
    assert mask_long(q, {"SHIMEI"}, value_cols=("value",), reveal=True).equals(q)


def test_a_layout_column_declared_sensitive_is_masked_though_nothing_maps_it(tmp_path):
    """旧氏 kept by a vendor but not migrated: its layout says `sensitive: true`, so a value held at
    extract under that column is masked like a name."""
    from types import SimpleNamespace

    import yaml

    from ikou.mappings.spec import load_mapping
    from ikou.privacy import sensitive_columns

    vendor_a = REPO_ROOT / "specs" / "vendors" / "vendor_a"
    mapping = load_mapping(vendor_a / "mappings" / "juki" / "jumin.yaml")
    layout = yaml.safe_load(mapping.layout.read_text(encoding="utf-8"))
    layout["columns"].append({"name": "KYU_UJI", "ja": "旧氏", "sensitive": True})
    (tmp_path / "jumin.yaml").write_text(yaml.safe_dump(layout, allow_unicode=True), encoding="utf-8")
    plan = SimpleNamespace(schema=mapping.schema_, mapping=mapping.model_copy(update={"layout": tmp_path / "jumin.yaml"}))
    sens = sensitive_columns([plan])
    assert {"KYU_UJI", "SHIMEI", "shimei", "kojin_no"} <= sens and "JUSHO" not in sens
    shown = mask_long(pl.DataFrame({"column": ["KYU_UJI"], "value": ["旧姓花子"]}), sens, value_cols=("value",))
    assert shown["value"].to_list() == ["＊＊"]


@pytest.mark.parametrize("note", ["123456789012", "1234-5678-9012", "住民票コード１２３４５６７８９０１の件", "12345 678901"])
def test_a_free_text_note_holding_an_identifier_is_refused_without_echoing_it(note):
    from ikou.privacy import PersonalDataInNote, check_free_text

    with pytest.raises(PersonalDataInNote) as exc:
        check_free_text(note, "--note")
    assert "678901" not in str(exc.value) and "６７８９０１" not in str(exc.value)


@pytest.mark.parametrize("note", ["R2 で判断 2026-11-30", "tel 03-1234-5678", "行 12345", "20261130120000 の抽出", ""])
def test_a_free_text_note_without_an_identifier_passes(note):
    from ikou.privacy import check_free_text

    check_free_text(note, "--note")


def test_a_masked_name_shows_no_character_of_it_so_a_one_character_name_is_not_shown_whole():
    q = pl.DataFrame({"column": ["shi", "mei", "shimei"], "value": ["林", "環", "鬮瀬　𠮷之助"]})
    shown = mask_long(q, {"shi", "mei", "shimei"}, value_cols=("value",))
    assert shown["value"].to_list() == ["＊＊", "＊＊", "＊＊"]
    assert not any(c in "".join(shown["value"].to_list()) for c in "林環鬮瀬𠮷之助")
