"""No character of a name reaches what a run shows people (quarantine.csv, report.html, report.xlsx, the diff's
outputs) by two side doors that column masking did not close:

- a wrong `encoding` (a CP932 file read as utf-8): every extract.decode message quoted the bytes it could not read,
  (0x88 0xA2) = 阿 of 阿部, so each resident's first character could be read back. The message now says where and
  how many bytes, never which (a record whose bad bytes lie in no known column included);
- a name typed into a number column (山田花子 in 郵便番号) fails format.digits / schema.length and was quoted in full,
  since the column is not sensitive: it is now shown by its shape (「＊＊ (漢字4字・かな0字・計4字 / 4 kanji, …)」).
The Parquet files (restricted) keep the values as read.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.privacy import mask_frame, mask_long
from tests.flows.conftest import vendor_a_source, write_config

SAMPLE = REPO_ROOT / "data" / "sample"
DANTAI = "999814"
SHIMEI, YUBIN = 6, 20
NAME_IN_YUBIN = "山田花子"
STRAY_NAME = "林　環"          # CP932 bytes in a field the layout does not have: the column is unknown


def _texts(path: Path) -> str:
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            return " ".join(z.read(n).decode("utf-8", errors="replace") for n in z.namelist())
    return path.read_text(encoding="utf-8-sig")


def _byte_traces(name: str) -> list[str]:
    """How the CP932 bytes of each character of `name` would read in a message or an escaped value."""
    out = []
    for ch in name.replace("　", ""):
        b = ch.encode("cp932")
        out += [" ".join(f"0x{x:02X}" for x in b), "".join(f"\\x{x:02x}" for x in b)]
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory, prefect_harness):
    from ikou.flows.migrate import migration_flow

    tmp = tmp_path_factory.mktemp("fxe_privacy")
    lines = [ln.decode("cp932") for ln in (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes().split(b"\r\n")[:40]]
    rows = [ln.split(",") for ln in lines]
    for r in rows:
        r[0] = DANTAI
    firsts = [i for i, r in enumerate(rows) if r[2] == "1"]
    rows[firsts[1]][YUBIN] = NAME_IN_YUBIN
    out = [",".join(r).encode("utf-8") for r in rows]
    # the file is UTF-8 (encoding: utf-8 is right for it) but two records were written by a CP932 tool
    cp932_name = rows[firsts[0]][SHIMEI]
    r = list(rows[firsts[0]])
    out[firsts[0]] = b",".join([*(f.encode("utf-8") for f in r[:SHIMEI]), cp932_name.encode("cp932"),
                                *(f.encode("utf-8") for f in r[SHIMEI + 1:])])
    out[firsts[2]] = out[firsts[2]] + b"," + STRAY_NAME.encode("cp932")
    src = tmp / "JUMIN.csv"
    src.write_bytes(b"\r\n".join(out) + b"\r\n")
    source = vendor_a_source(path=src).replace("encoding: cp932", "encoding: utf-8")
    cfg = write_config(tmp, source=source, target_url=f"duckdb:///{tmp / 't.duckdb'}", dantai=DANTAI)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("max_quarantine_rate: 0.05", "max_quarantine_rate: 0.5"),
                   encoding="utf-8")
    summary = migration_flow(config_path=str(cfg))
    return tmp / "runs" / DANTAI / summary["run_id"], cp932_name


def _shown_files(run_dir: Path) -> list[Path]:
    files = [run_dir / f for f in ("quarantine.csv", "report.html", "report.xlsx")]
    files += [p for p in (run_dir / "diff").rglob("*") if p.suffix in (".csv", ".html", ".xlsx")]
    return [p for p in files if p.exists()]


def test_an_undecodable_name_is_shown_by_no_byte_of_it_in_any_human_facing_output(run):
    run_dir, cp932_name = run
    q = pl.read_parquet(run_dir / "quarantine.parquet").filter(pl.col("rule") == "extract.decode")
    assert set(q["column"].to_list()) == {"SHIMEI", None}     # a known sensitive column, and an unknown one
    assert all("バイト目" in m and "0x" not in m for m in q["message_ja"].to_list())
    assert all(" byte(s) not valid utf-8 at byte " in m and "0x" not in m for m in q["message_en"].to_list())
    traces = _byte_traces(cp932_name) + _byte_traces(STRAY_NAME)
    for f in _shown_files(run_dir):
        text = _texts(f)
        assert not [t for t in traces if t in text], f.name


def test_a_name_in_a_number_column_is_shown_by_its_shape_in_every_human_facing_output(run):
    run_dir, _ = run
    q = pl.read_parquet(run_dir / "quarantine.parquet").filter(pl.col("value") == NAME_IN_YUBIN)
    assert "format.digits" in set(q["rule"])                   # the restricted copy keeps it
    shown = pl.read_csv(run_dir / "quarantine.csv", infer_schema=False)
    shape = "＊＊ (漢字4字・かな0字・計4字 / 4 kanji, 0 kana, 4 in all)"
    assert shape in shown.filter(pl.col("rule") == "format.digits")["value"].to_list()
    files = _shown_files(run_dir)
    assert any(f.parent.parent.name == "diff" for f in files)   # the diff's outputs are scanned too
    for f in files:
        text = _texts(f)
        assert NAME_IN_YUBIN not in text and "山田" not in text, f.name


@pytest.mark.parametrize("value", ["ﾔﾏﾀﾞ ﾊﾅｺ", "やまだ", "山田花子"])
def test_kana_or_kanji_failing_a_format_rule_is_shown_by_shape_wherever_the_column_is(value):
    """By the rule it failed (machiaza_code is no `_no` column) or by the column's name (a diff has no rules)."""
    q = pl.DataFrame({"column": ["machiaza_code", "yubin_no"], "rule": ["format.digits", "schema.required"],
                      "value": [value, value]})
    got = mask_long(q, set(), value_cols=("value",))["value"].to_list()
    assert all(v.startswith("＊＊ (") and value not in v for v in got)
    wide = mask_frame(pl.DataFrame({"yubin_no": [value], "jusho": ["架空市本町"]}), set())
    assert wide.row(0)[0].startswith("＊＊ (") and wide.row(0)[1] == "架空市本町"


def test_a_wareki_date_or_an_address_failing_a_rule_is_still_shown_a_worded_code_by_its_shape():
    """What a reviewer needs to fix the mapping: a 和暦 date as written and 住所 are shown; a code column's kanji are
    shown by their shape only (a 氏名 and 性別 swapped would put every name there), its ASCII codes as written."""
    q = pl.DataFrame({"column": ["seinengappi", "seinengappi", "zokugara_code", "zokugara_code", "jusho"],
                      "rule": ["wareki.invalid", "wareki.invalid", "code_table.unknown", "code_table.unknown",
                               "schema.max_length"],
                      "value": ["平成30年2月30日", "H30.02.30", "長男の妻", "77", "架空市本町"]})
    shown = mask_long(q, set(), value_cols=("value",))["value"].to_list()
    assert shown[:2] == ["平成30年2月30日", "H30.02.30"] and shown[3:] == ["77", "架空市本町"]
    assert shown[2].startswith("＊＊ (漢字3字") and "長男" not in shown[2]


def test_a_database_column_read_in_the_wrong_encoding_names_no_byte_in_its_messages():
    """The binary column of a database source (extractors.text), found in one call or value by value."""
    import numpy as np
    import pyarrow as pa

    from ikou.extractors import text as text_mod

    names = ["阿部　浩二", "林　環", "佐藤"]
    arr = pa.array([n.encode("cp932") for n in names], pa.large_binary())
    col = text_mod.Column("NAME", "氏名", "utf-8", "Asia/Tokyo", type_name="bytea")
    offsets, data = text_mod._buffers(arr)
    sep = next(s for s in text_mod._SEPARATORS if not (data == s).any())
    bulk = text_mod._decode_skipping(arr, col, np.insert(data, offsets[1:], sep), offsets, sep, arr.is_valid())
    one = text_mod._decode_by_value(arr, col, offsets, data, arr.is_valid())
    assert bulk is not None and bulk.held == one.held and len(one.held) == 3
    traces = [t for n in names for t in _byte_traces(n)]
    for h in one.held:
        msg = h["message_ja"] + h["message_en"]
        assert "バイト目" in h["message_ja"] and "0x" not in msg and not [t for t in traces if t in msg]
