"""Fixed-width fields lose the blanks that pad them to their width (format, not data) unless the layout says
`pad: keep`; a record of the wrong length still names its key when it holds the key columns' bytes."""
from __future__ import annotations

import polars as pl
import pytest
import yaml

from ikou.errors import ConfigError
from ikou.extractors import load_layout
from ikou.extractors.fixed_width import extract_fixed
from tests.extractors.conftest import run, write_layout


def _layout(tmp_path, pad: str | None = None, fmt: str = "fixed"):
    path = write_layout(tmp_path, fmt=fmt, widths=[10, 12, 8] if fmt == "fixed" else None)
    if pad is not None:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec["pad"] = pad
        path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def _file(tmp_path):
    path = tmp_path / "p.dat"
    path.write_bytes(b"0000000001" + "山田　太郎　".encode("cp932") + b"   12000\r\n"   # full-width pad
                     + b"0000000002" + "  ｻﾄｳ".encode("cp932") + b" " * 7 + b"00000005\r\n"   # leading blanks
                     + b"0000000003" + b" " * 12 + b"00000007\r\n")                            # blank field
    return path


def test_fixed_width_text_loses_its_trailing_pad_blanks_and_keeps_leading_ones(tmp_path):
    _, df = run(_file(tmp_path), _layout(tmp_path), tmp_path)
    assert df.select("ATENA_NO", "SHIMEI", "KINGAKU").rows() == [
        ("0000000001", "山田　太郎", "   12000"), ("0000000002", "  ｻﾄｳ", "00000005"), ("0000000003", "", "00000007")]


def test_pad_keep_stages_every_field_byte_for_byte(tmp_path):
    _, df = run(_file(tmp_path), _layout(tmp_path, pad="keep"), tmp_path)
    assert df["SHIMEI"].to_list() == ["山田　太郎　", "  ｻﾄｳ       ", " " * 12]


def test_pad_is_refused_outside_fixed_width_layouts(tmp_path):
    with pytest.raises(ConfigError, match="fixed-width"):
        load_layout(_layout(tmp_path, pad="keep", fmt="csv"))


NAMES = ["DANTAI", "ATENA_NO", "RIREKI", "SHIMEI", "KINGAKU"]
WIDTHS = [6, 10, 2, 12, 8]


def _rec(dantai: bytes, atena: bytes, rireki: bytes, name: str = "佐藤", amount: int = 1) -> bytes:
    n = name.encode("cp932")
    return dantai + atena + rireki + n + b" " * (12 - len(n)) + b"%08d" % amount


def test_a_record_of_the_wrong_length_names_key_columns_it_holds_after_a_column_the_others_confirm(tmp_path):
    recs = [_rec(b"999822", b"0000000001", b"01"),
            _rec(b"999822", b"0000000002", b"01")[:-1],                 # 1 byte short: key intact
            _rec(b"999822", b"0000000003", b"02") + b"9",               # 1 byte long: key intact
            _rec(b"99982", b"0000000004", b"01"),                       # a byte missing in DANTAI: shifted
            _rec(b"999822", b"0000000005", b"0"),                       # cut inside the key columns
            _rec(b"999822", b"00000\x85\x40006", b"01")[:-1],           # the key does not decode
            _rec(b"999822", b"0000000007", b"01 ")[:25],                # holds the key and a little more
            _rec(b"999822", b"0000000008", b"01")]
    path = tmp_path / "k.dat"
    path.write_bytes(b"\r\n".join(recs) + b"\r\n")
    layout = load_layout(write_layout(tmp_path, fmt="fixed", widths=WIDTHS, names=NAMES))
    r = extract_fixed(path, layout, out_path=tmp_path / "k.parquet", source_name="src", source_ordinal=1,
                      target_table="t", run_id="r", dantai_code="999822", key_columns=["ATENA_NO", "RIREKI"])
    assert r.quarantine.sort("source_line").select("source_line", "rule", "record_key").rows() == [
        (2, "extract.record_length", "ATENA_NO=0000000002,RIREKI=01"),
        (3, "extract.record_length", "ATENA_NO=0000000003,RIREKI=02"),
        (4, "extract.record_length", None),
        (5, "extract.record_length", None),
        (6, "extract.record_length", None),
        (7, "extract.record_length", "ATENA_NO=0000000007,RIREKI=01"),
    ]
    assert pl.read_parquet(r.staging)["ATENA_NO"].to_list() == ["0000000001", "0000000008"]
