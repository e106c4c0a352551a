"""Derived tables (mappings/derive.py) as declared in specs/gyomu/juki/schema.yaml."""
from __future__ import annotations

import polars as pl

from ikou import REPO_ROOT
from ikou.loaders.derive import derive_all, derive_table
from ikou.schema import load_schema

SCHEMA = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")
COLS = [c.name for c in SCHEMA.tables["juki_kojin_rireki"].columns]


def rireki(rows: list[dict]) -> pl.DataFrame:
    full = [{c: None for c in COLS} | {"dantai_code": "999997"} | r for r in rows]
    return pl.DataFrame(full, schema={c: pl.Int64 if c == "rireki_no" else pl.String for c in COLS}, orient="row")


def person(atena, rireki_no, setai, zokugara, jotai="1", **kw) -> dict:
    return {"atena_no": atena, "rireki_no": rireki_no, "setai_no": setai, "zokugara_code": zokugara,
            "jumin_jotai_code": jotai, **kw}


def test_latest_picks_the_highest_rireki_no_per_atena_no():
    src = rireki([
        person("A1", 1, "S1", "02", jusho="旧住所"),
        person("A1", 3, "S1", "02", jusho="新住所"),
        person("A1", 2, "S1", "02", jusho="中間"),
        person("A2", 10, "S1", "12"),
        person("A2", 9, "S9", "02"),
    ])
    out = derive_table("juki_kojin", SCHEMA, {"juki_kojin_rireki": src})
    assert out.columns == COLS
    assert out.select("atena_no", "rireki_no", "setai_no").rows() == [("A1", 3, "S1"), ("A2", 10, "S1")]
    assert out.filter(pl.col("atena_no") == "A1")["jusho"].to_list() == ["新住所"]


def test_latest_compares_rireki_no_as_a_number_not_text():
    src = rireki([person("A1", 9, "S1", "02"), person("A1", 10, "S1", "02")])
    out = derive_table("juki_kojin", SCHEMA, {"juki_kojin_rireki": src})
    assert out["rireki_no"].to_list() == [10]


def test_group_builds_setai_with_setainushi_and_counts_from_the_schema():
    src = rireki([
        person("A1", 1, "S1", "02", machiaza_code="0001001", jusho="本町1"),   # 世帯主 (old history)
        person("A1", 2, "S1", "02", machiaza_code="0001001", jusho="本町1"),   # 世帯主 (current)
        person("A2", 1, "S1", "12", machiaza_code="0001001", jusho="本町1"),   # 妻
        person("A3", 1, "S1", "51", machiaza_code="0001001", jusho="本町1"),   # 子
        person("A4", 1, "S1", "51", jotai="2"),                                # 転出者: not counted
        person("B1", 1, "S2", "11", machiaza_code="0002002", jusho="栄町2"),   # no 世帯主
        person("B2", 1, "S2", "12", machiaza_code="0002002", jusho="栄町2"),
        person("C1", 1, "S3", "02", jotai="3"),                                # 死亡者 only: no 世帯
    ])
    frames = derive_all(SCHEMA, {"juki_kojin_rireki": src})
    setai = frames["juki_setai"]
    declared = [c.name for c in SCHEMA.resolved_table("juki_setai").columns]
    assert setai.columns == declared
    assert setai.rows() == [
        ("S1", "A1", 1, 3, "0001001", "本町1"),
        ("S2", None, 0, 2, "0002002", "栄町2"),
    ]
    assert setai.schema["setaiin_su"] == pl.Int64 and setai.schema["setainushi_su"] == pl.Int64


def test_group_counts_two_setainushi_so_validators_can_flag_them():
    src = rireki([person("A1", 1, "S1", "02"), person("A2", 1, "S1", "02"), person("A3", 1, "S1", "51")])
    setai = derive_all(SCHEMA, {"juki_kojin_rireki": src})["juki_setai"]
    assert setai.select("setainushi_atena_no", "setainushi_su", "setaiin_su").rows() == [("A1", 2, 3)]


def test_derive_all_keeps_the_source_frames_and_adds_derived_ones_in_order():
    src = rireki([person("A1", 1, "S1", "02")])
    frames = derive_all(SCHEMA, {"juki_kojin_rireki": src})
    assert list(frames) == ["juki_kojin_rireki", "juki_kojin", "juki_setai"]
    assert frames["juki_kojin_rireki"] is src
