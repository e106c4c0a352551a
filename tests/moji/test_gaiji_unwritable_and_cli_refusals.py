"""A 外字 whose MJ glyph has no code point is loaded as its code with a warning; `ikou moji` refuses
undefined CP932 bytes, surrogates and code ranges that name no 外字 (#10, #9, #11 of the 文字同定 probe)."""
from __future__ import annotations

from types import SimpleNamespace

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.context import RunContext
from ikou.flows.cli import main
from ikou.moji import identify_source
from ikou.moji.identify import identify_frame, load_gaiji_table
from ikou.schema import load_schema

NO_CODE_POINT = "MJ003719"   # an MJ glyph with neither 実装したUCS nor IVS


@pytest.fixture()
def gaiji_csv(tmp_path):
    p = tmp_path / "gaiji.csv"
    p.write_text(f"code,mj\nU+E000,{NO_CODE_POINT}\nU+E001,MJ028902\n", encoding="utf-8")
    return p


def test_gaiji_without_code_point_is_kept_and_listed_as_unwritable(dictionary, gaiji_csv):
    assert dictionary.glyph_output[NO_CODE_POINT] is None
    g = load_gaiji_table(gaiji_csv, dictionary)
    df = pl.DataFrame({"_row_id": [1, 2, 3], "shimei": ["\ue000田", "\ue001田", "山田"]})
    res = identify_frame(df, ["shimei"], dictionary=dictionary, gaiji=g)
    assert res.frame["shimei"].to_list() == ["\ue000田", "髙田", "山田"]   # nothing lost
    assert res.unwritable_rows.select("_row_id", "column", "chars").rows() == [(1, "shimei", "\ue000")]


def test_stage_warns_gaiji_unwritable_and_counts_it(tmp_path, monkeypatch, moji_dir, gaiji_csv):
    monkeypatch.setenv("IKOU_MOJI_CACHE", str(moji_dir))
    schema = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")
    n = 4
    df = pl.DataFrame({"_row_id": pl.int_range(1, n + 1, eager=True),
                       "atena_no": [f"{i:015d}" for i in range(n)], "rireki_no": [1] * n,
                       "shimei": ["\ue000田　花子", "\ue001田　一郎", "山田　太郎", "\ue000\ue000"],
                       "jusho": ["東京都"] * n, "banchi": ["1"] * n, "katagaki": [None] * n})
    mapped = tmp_path / "mapped.parquet"
    df.write_parquet(mapped)
    ctx = RunContext(dantai_code="999750", run_id="20990101T000000Z-T-0750", runs_dir=tmp_path / "runs")
    r = identify_source(schema, "juki_kojin_rireki", ctx, mapped, source_name="vend_a", gaiji_table=gaiji_csv)
    q = r.quarantine
    assert q["rule"].unique().to_list() == ["moji.gaiji_unwritable"]
    assert q["severity"].unique().to_list() == ["warning"] and sorted(q["row_id"].to_list()) == [1, 4]
    msg = q.filter(pl.col("row_id") == 1).row(0, named=True)
    assert "U+E000" in msg["message_en"] and NO_CODE_POINT in msg["message_en"]
    assert "U+E000" in msg["message_ja"] and NO_CODE_POINT in msg["message_ja"] and "花子" not in str(msg)
    assert r.rows_out == n                                     # a warning holds nothing: every row goes on
    assert r.metrics["gaiji_unwritable"] == 3                  # occurrences, a subset of counts["gaiji"]
    assert "gaiji_unwritable" not in r.metrics["counts"]
    assert pl.read_parquet(r.output)["shimei"].to_list()[0] == "\ue000田　花子"


@pytest.mark.parametrize("raw,line,byte", [(b"\x8eR\x93c\n\x8eR\xa0\x91\xbe\n", 2, "0xA0"),
                                           (b"\x8eR\xfd\n", 1, "0xFD"), (b"\x80\n", 1, "0x80")])
def test_identify_refuses_undefined_cp932_bytes_naming_the_line(moji_dir, tmp_path, capsys, raw, line, byte):
    src = tmp_path / "t.txt"
    src.write_bytes(raw)
    rc = main(["moji", "identify", "--text-file", str(src), "--encoding", "cp932", "--out", str(tmp_path / "o.csv"),
               "--dictionary", str(moji_dir)])
    err = capsys.readouterr().err
    assert rc != 0 and f"line {line}: byte {byte} is not a CP932 character" in err
    assert not (tmp_path / "o.csv").exists()


def test_decide_refuses_a_surrogate_clearly(moji_dir, tmp_path, capsys):
    d = tmp_path / "ledger"
    d.mkdir()
    rc = main(["moji", "decide", "--ledger", str(d), "--char", "U+D800", "--mj", "MJ028902", "--by", "t",
               "--dictionary", str(moji_dir)])
    err = capsys.readouterr().err
    assert rc != 0 and "surrogate" in err and "UnicodeEncodeError" not in err and "予期しない" not in err


@pytest.mark.parametrize("codes,said", [("U+E003-U+E000", "reversed range"), ("U+4E00-U+4E10", "private-use"),
                                        ("U+E000,U+0041", "private-use")])
def test_suggest_codes_refuses_reversed_or_non_private_use_ranges(codes, said):
    from ikou.errors import ConfigError
    from ikou.moji.glyphs import parse_codes
    with pytest.raises(ConfigError, match=said):
        parse_codes(codes)


def test_suggest_codes_reads_a_private_use_range():
    from ikou.moji.glyphs import parse_codes
    assert parse_codes("U+E000-U+E002,U+F0000") == [0xE000, 0xE001, 0xE002, 0xF0000]
