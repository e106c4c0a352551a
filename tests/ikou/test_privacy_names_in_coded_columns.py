"""privacy.shown_expr, the one decision what of a value is shown: in a column whose schema types it a code, a date, a
number or a key, a value holding kanji, kana (full or half width) or another letter no code holds may be a name and is
shown by its shape, in a wide frame (the diff's rows), a long one (findings, diff cells) and a record key alike; an ASCII
value stays shown, and so does free text that is not sensitive (住所)."""
from __future__ import annotations

from types import SimpleNamespace

import polars as pl

from ikou import REPO_ROOT
from ikou.mappings.spec import load_mapping
from ikou.privacy import (RunColumns, mask_cells_of, mask_frame, mask_long, schema_coded_columns,
                          sensitive_columns)

NAMES = ["鵺川　一郎", "ﾇｴｶﾜ ｲﾁﾛｳ", "ぬえかわ", "ＮＵＥ", "鵺\ue0fe"]
SHAPE = "＊＊ (漢字"


def test_the_run_columns_carry_the_schema_types():
    mapping = load_mapping(REPO_ROOT / "specs" / "vendors" / "vendor_a" / "mappings" / "juki" / "jumin.yaml")
    sens = sensitive_columns([SimpleNamespace(schema=mapping.schema_, mapping=mapping)])
    assert isinstance(sens, RunColumns) and "shimei" in sens and "seibetsu_code" not in sens
    assert {"seibetsu_code", "seinengappi", "ido_date", "zokugara_code", "rireki_no", "atena_no",
            "SEIBETSU", "IDO_YMD"} <= sens.coded
    assert not sens.coded & {"jusho", "banchi", "shimei", "katagaki"}
    assert {"seibetsu_code", "seinengappi", "rireki_no"} <= schema_coded_columns(mapping.schema_)


def test_a_wide_frame_masks_names_in_coded_columns_and_keys_but_not_ascii_or_addresses():
    n = len(NAMES)
    df = pl.DataFrame({"atena_no": ["0123456785"] * n, "rireki_no": NAMES, "seibetsu_code": NAMES,
                       "seinengappi": NAMES, "status": NAMES, "jusho": NAMES})
    sens = RunColumns({"shimei"}, coded={"seibetsu_code", "seinengappi", "status", "rireki_no", "atena_no"})
    out = mask_frame(df, sens, keys=("atena_no", "rireki_no"))
    for c in ("rireki_no", "seibetsu_code", "seinengappi", "status"):   # status: coded by the schema, not its name
        assert all(v.startswith(SHAPE) for v in out[c]), (c, out[c].to_list())
    assert out["jusho"].to_list() == NAMES and out["atena_no"].to_list() == df["atena_no"].to_list()
    ascii_ = mask_frame(pl.DataFrame({"seibetsu_code": ["X7", "H30.02.30"], "atena_no": ["0123456785"] * 2}),
                        sens, keys=("atena_no",))
    assert ascii_.to_dict(as_series=False) == {"seibetsu_code": ["X7", "H30.02.30"], "atena_no": ["0123456785"] * 2}


def test_a_plain_set_falls_back_on_the_shipped_schemas_and_the_column_name():
    df = pl.DataFrame({"seibetsu_code": NAMES, "SEINENGAPPI": NAMES, "IDO_YMD": NAMES, "jusho": NAMES})
    out = mask_frame(df, {"shimei"})
    for c in ("seibetsu_code", "SEINENGAPPI", "IDO_YMD"):
        assert all(v.startswith(SHAPE) for v in out[c]), c
    assert out["jusho"].to_list() == NAMES


def test_findings_and_diff_cells_mask_names_in_coded_columns_and_record_keys():
    q = pl.DataFrame({"record_key": ["atena_no=0123456785,rireki_no=鵺川四郎", "atena_no=0123456785,rireki_no=1",
                                     "atena_no=0123456785,rireki_no=2", "atena_no=0123456785,rireki_no=3"],
                      "column": ["rireki_no", "seibetsu_code", "seibetsu_code", "jusho"],
                      "rule": ["type.integer", "schema.required", "code_table.unknown", "schema.max_length"],
                      "value": ["鵺川四郎", "鵺川　一郎", "X7", "架空市本町"]})
    out = mask_long(q, RunColumns({"shimei"}, coded={"seibetsu_code", "rireki_no"}), value_cols=("value",))
    assert out["record_key"][0] == "atena_no=0123456785,rireki_no=＊＊ (漢字4字・かな0字・計4字)"
    assert out["record_key"][1:].to_list() == q["record_key"][1:].to_list()
    assert out["value"][0].startswith(SHAPE) and out["value"][1].startswith(SHAPE)
    assert out["value"][2:].to_list() == ["X7", "架空市本町"]
    cells = pl.DataFrame({"rireki_no": ["鵺川四郎", "1"], "left": ["鵺川　一郎", "1"], "right": ["2", "ぬえ"]})
    masked = mask_cells_of(cells, "seibetsu_code", {"shimei"}, key_cols=("rireki_no",))
    assert masked["rireki_no"][0].startswith(SHAPE) and masked["rireki_no"][1] == "1"
    assert masked["left"][0].startswith(SHAPE) and masked["right"][1].startswith(SHAPE)
    assert masked["left"][1] == "1" and masked["right"][0] == "2"
    assert mask_cells_of(cells, "jusho", {"shimei"})["left"].to_list() == ["鵺川　一郎", "1"]   # free text: policy
