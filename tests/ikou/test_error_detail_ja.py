"""The Japanese half of a failure line carries the raising site's facts (`ja=`), not only the kind's generic
sentence: message_ja, summary.json's error and the printed one line all show it."""
from __future__ import annotations

from ikou.errors import IkouError, LayoutError, SourceMissingError, message_ja, one_line

DETAIL = "q_bom: Q_BOM.csv の先頭に UTF-8 の BOM があります: encoding を確認してください"


def test_a_raising_sites_ja_detail_is_the_japanese_half_and_the_class_line_stays_the_default():
    exc = LayoutError("q_bom: Q_BOM.csv starts with a UTF-8 byte order mark", run_id="r1", ja=DETAIL)
    assert message_ja(exc) == DETAIL and exc.ja == DETAIL
    assert LayoutError.ja == "ソース (ファイル・表) がレイアウトと一致しません"   # the class keeps its line
    assert message_ja(LayoutError("x")) == LayoutError.ja
    assert message_ja(SourceMissingError("x")) == SourceMissingError.ja
    assert message_ja(SourceMissingError("x", ja="q_empty: Q_EMPTY.csv が空です")) == "q_empty: Q_EMPTY.csv が空です"
    assert str(exc) == "[run r1] q_bom: Q_BOM.csv starts with a UTF-8 byte order mark"   # the English is unchanged


def test_a_ja_detail_is_kept_to_one_line():
    exc = IkouError("a\nb", ja="一行目\n  二行目\n")
    assert message_ja(exc) == "一行目 二行目" and one_line(exc) == "a b"


def test_a_subclass_with_its_own_init_keeps_its_own_japanese_line():
    from ikou.extractors.text import ColumnTypeError

    exc = ColumnTypeError(source_name="s", table="T", column="C", type_name="BLOB", run_id="r")
    assert "表 T の列 C" in message_ja(exc) and "column C of table T" in one_line(exc)


def test_the_ja_detail_reaches_summary_json_and_the_printed_failure_line():
    from ikou.flows.pipeline import run_error
    from ikou.flows.run_cli import failure_line

    err = run_error("extract", LayoutError("q_bom: Q_BOM.csv starts with a UTF-8 byte order mark", ja=DETAIL))
    assert err.message_ja == DETAIL
    line = failure_line(err.model_dump(), "")
    assert line == (f"ikou: 失敗 (extract): {DETAIL} — "
                    "failed at extract: q_bom: Q_BOM.csv starts with a UTF-8 byte order mark")
