"""`ikou diff` of a legacy export guesses its sensitive columns by their headers: 方書 (KATAGAKI, HOUSHO) holds names
(「鶫荘7号鈴木方」) and is masked like one, and every column a shipped schema marks sensitive is recognised by its
romanised and its Japanese name (住民票コード, 在留カード等番号 …), so a legacy export headed either way is masked."""
from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.privacy import is_mynumber_column
from ikou.reports.cli import _sensitive, is_sensitive_header
from ikou.schema import load_schema

HEADERS = ["ATENA_NO", "方書", "HOUSHO", "Katagaki", "ｶﾀｶﾞｷ", "在留カード等番号", "JUSHO"]
LEFT = ["7123450013", "鶫荘7号鵺川方", "鶫荘8号鵺川方", "鶫荘9号鵺川方", "鶫荘1号鵺川方", "AB12345678CD", "架空市本町1"]
RIGHT = ["7123450013", "鶫荘7号鵺川方X", "鶫荘8号鵺川方X", "鶫荘9号鵺川方X", "鶫荘1号鵺川方X", "AB12345678CE", "架空市本町2"]
ONLY_LEFT = ["7123450021", "鶫荘2号鵺川方", "鶫荘3号鵺川方", "鶫荘4号鵺川方", "鶫荘5号鵺川方", "XY87654321ZZ", "架空市本町3"]


def test_diff_of_a_legacy_export_masks_katagaki_under_any_header(tmp_path):
    from ikou.flows.cli import main

    left, right = tmp_path / "l.csv", tmp_path / "r.csv"
    left.write_text("\n".join(",".join(r) for r in (HEADERS, LEFT, ONLY_LEFT)) + "\n", encoding="utf-8")
    right.write_text("\n".join(",".join(r) for r in (HEADERS, RIGHT)) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["diff", str(left), str(right), "--key", "ATENA_NO", "--out", str(out)]) == 0
    cells = pl.read_csv(out / "differences.csv", infer_schema=False)
    shown = dict(zip(cells["column"], cells["left"]))
    assert {shown[h] for h in HEADERS[1:6]} == {"＊＊"}, shown
    assert shown["JUSHO"] == "架空市本町1"   # 住所: not sensitive, shown (policy)
    for f in sorted(p for p in Path(out).iterdir() if p.suffix in (".csv", ".html")):
        text = f.read_text(encoding="utf-8")
        assert "鵺川" not in text and "AB12345678" not in text and "XY87654321" not in text, f.name


def _schema_sensitive() -> list[tuple[str, str]]:
    return sorted({(c.name, c.ja) for f in (REPO_ROOT / "specs" / "gyomu").glob("*/schema.yaml")
                   for t in load_schema(f).tables.values() for c in t.columns if c.sensitive})


@pytest.mark.parametrize("name,ja", _schema_sensitive())
def test_every_sensitive_column_of_the_shipped_schemas_is_recognised_by_either_name(name, ja):
    args = argparse.Namespace(sensitive=None, schema=None)
    headers = [name, name.upper(), ja, ja.split(" (")[0]]
    found = {h.casefold() for h in _sensitive(args, headers)}
    missed = [h for h in headers if h.casefold() not in found and not is_mynumber_column(h)]
    assert not missed, missed


@pytest.mark.parametrize("header", ["方書", "HOUSHO", "housho", "KATAGAKI_KANJI", "ｶﾀｶﾞｷ", "住民票コード", "JUMINHYO_KODO",
                                    "在留カード番号", "ZAIRYU_CARD_BANGO"])
def test_a_sensitive_header_is_recognised_by_its_words(header):
    assert is_sensitive_header(header)


@pytest.mark.parametrize("header", ["SHISHO", "JUSHO", "HOSHO_KBN", "SEIBETSU", "BANCHI", "住所"])
def test_other_headers_are_not_taken_for_sensitive_ones(header):
    assert not is_sensitive_header(header)
