"""An invisible character in a フリガナ (U+200B, U+202E, a control, U+FFFD) holds the record, as it does in a 文字同定
column (moji.invalid_char): it loaded with only the generic 「全角カナにできない文字」 warning and broke search and
sorting in the new system."""
from __future__ import annotations

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.extractors import load_layout
from ikou.extractors.csv_file import extract_csv
from ikou.mappings.engine import apply_mapping
from ikou.mappings.spec import load_mapping
from ikou.schema import load_schema
from tests.mappings.test_ops import cm, run


@pytest.mark.parametrize("value", ["ﾔﾏﾀﾞ\u200bﾀﾛｳ", "ヤマダ\u202eタロウ", "ヤマダ\u2028タロウ", "ヤマダ\ufffdタロウ", "\u200dヤマダ",
                                   "ヤマダ\x07タロウ"])
def test_an_invisible_character_in_a_furigana_holds_the_record(value):
    df = run(cm(op="kana_fullwidth", **{"from": "v"}), [value])
    # one finding: the error alone, no kana.not_fullwidth warning on the same cell (an invisible character is not
    # kana either, and the record is held anyway)
    assert df.select("error", "warning").rows() == [("kana.invalid_char", None)]


def test_a_held_furigana_is_one_finding_in_the_quarantine(tmp_path):
    """Through the mapping stage: the cell with U+200B gives one quarantine row, not an error and a warning."""
    spec = load_mapping(REPO_ROOT / "specs" / "vendors" / "vendor_a" / "mappings" / "juki" / "jumin.yaml")
    r = extract_csv(REPO_ROOT / "data" / "sample" / "vendor_a" / "JUMIN.csv", load_layout(spec.layout),
                    out_path=tmp_path / "s.parquet", source_name="a", source_ordinal=1, target_table=spec.target,
                    run_id="r", dantai_code="999997")   # the sample data's 団体コード
    staged = pl.read_parquet(r.staging).head(2).with_columns(pl.Series("SHIMEI_KANA", ["ﾔﾏﾀﾞ\u200bﾀﾛｳ", "ﾔﾏﾀﾞ ﾀﾛｳ"]))
    mapped = apply_mapping(staged, spec, load_schema(spec.schema_), run_id="r", dantai_code="999997")
    found = mapped.quarantine.filter(pl.col("column") == "shimei_kana")
    assert found.select("rule", "severity").rows() == [("kana.invalid_char", "error")]


@pytest.mark.parametrize("value", ["ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ\u3000タロウ", "ｱ\u00a0ｲ", "ABC 123"])
def test_visible_text_and_spaces_in_a_furigana_are_not_held(value):
    df = run(cm(op="kana_fullwidth", **{"from": "v"}), [value])
    assert df["error"].to_list() == [None]
