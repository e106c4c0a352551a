from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.checkdigit import atena_check_digit, kojin_no_check_digit
from ikou.schema import load_schema
from ikou.staging import ROW_ID, SOURCE, SOURCE_LINE, row_id_base
from ikou.validators.spec import load_rules

DANTAI = "131016"


def atena(body: str) -> str:
    return body + str(atena_check_digit(body))


def kojin(body: str) -> str:
    return body + str(kojin_no_check_digit(body))


def person(n: int, *, rireki: int = 1, setai: str = "10000", zokugara: str = "02", jotai: str = "1",
           **over) -> dict:
    """One valid 個人履歴 row; `over` replaces any column."""
    row = {
        "dantai_code": DANTAI, "atena_no": atena(f"{n:07d}"), "rireki_no": rireki,
        "setai_no": atena(setai), "juminhyo_code": f"{n:011d}", "kojin_no": kojin(f"{n:011d}"),
        "shimei": "山田　太郎", "shimei_kana": "ヤマダ　タロウ", "seibetsu_code": "1",
        "seinengappi": "1970-03-02", "seinengappi_fumei_flag": "0", "seinengappi_fumei_hyoki": None,
        "zokugara_code": zokugara, "jumin_shubetsu_code": "1", "jumin_jotai_code": jotai,
        "ido_jiyu_code": "01", "ido_date": "2000-04-01", "ido_date_fumei_flag": "0", "ido_date_fumei_hyoki": None,
        "todokede_date": "2000-04-05", "todokede_date_fumei_flag": "0", "todokede_date_fumei_hyoki": None,
        "machiaza_code": "0012345", "jusho": "東京都千代田区千代田", "banchi": "1番1号", "katagaki": None,
        "yubin_no": "1000001", "zokugara_code_2": None, "zokugara_code_3": None, "zokugara_code_4": None,
        "kokuseki": None, "zairyu_shikaku": None, "zairyu_card_no": None,   # a chained 続柄, a foreign resident
    }
    row.update(over)
    return row


def frame(rows: list[dict]) -> pl.DataFrame:
    df = pl.DataFrame(rows, schema_overrides={"rireki_no": pl.Int64}, infer_schema_length=None)
    df = df.with_columns(pl.col(c).cast(pl.String) for c in df.columns if c != "rireki_no")
    return df.with_columns(
        _row_id=pl.int_range(pl.len(), dtype=pl.Int64) + 1000,
        _source=pl.lit("JUMIN.csv"),
        _source_line=pl.int_range(pl.len(), dtype=pl.Int64) + 2,
    )


@pytest.fixture(scope="session")
def schema():
    return load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")


@pytest.fixture(scope="session")
def rules():
    return load_rules(REPO_ROOT / "specs" / "gyomu" / "juki" / "rules.yaml")


def faulty_rows() -> list[dict]:
    """~40 rows in households of three with a fault of every kind, laid out so that batches of 4 rows
    split them: household 10000 has its head first and a second head last, person 21's key is
    repeated at the end, and the single-row faults sit on members all through the frame."""
    plants = [
        {"shimei": "  "}, {"ido_date": None}, {"dantai_code": "13101"}, {"atena_no": "1" * 16},
        {"seibetsu_code": "7"}, {"jumin_jotai_code": "4"}, {"seinengappi": "1970-13-02"},
        {"seinengappi": "1970-03-00"}, {"ido_date": "2000/04/01"}, {"dantai_code": "131017"},
        {"dantai_code": "011011"}, {"kojin_no": "983205673215"}, {"juminhyo_code": "1234567890A"},
        {"yubin_no": "100-001"}, {"seinengappi": "2001-01-01"}, {"atena_no": "00000018"},
    ]
    rows = [person(1, setai="10000", zokugara="02")]
    for h in range(2, 13):
        setai = f"{h}0000"
        rows += [person(10 * h + 1, setai=setai, zokugara="02" if h != 5 else "11"),   # 5: no head
                 person(10 * h + 2, setai=setai, zokugara="12"),
                 person(10 * h + 3, setai=setai, zokugara="20", rireki=1),
                 person(10 * h + 3, setai=setai, zokugara="20", rireki=2, ido_jiyu_code="41")]
    members = [i for i, r in enumerate(rows) if r["zokugara_code"] in ("12", "20")][1::2]
    for i, over in zip(members, plants):
        rows[i] = rows[i] | over
    # household 130000: a placeholder 個人番号, a 外字 in the フリガナ, and person 131's key written twice
    # (its later row with the leading zeros Excel strips)
    rows += [person(131, setai="130000", zokugara="02"),
             person(132, setai="130000", zokugara="12", kojin_no="000000000000"),
             person(133, setai="130000", zokugara="20", shimei_kana="ヤマ\ue000タロウ", todokede_date="2099-01-01"),
             person(131, setai="130000", zokugara="02", rireki=2, ido_jiyu_code="41",
                    atena_no=atena("0000131").lstrip("0"))]
    rows += [person(21, setai="20000", zokugara="02", shimei="別人"),    # key of row 1 again
             person(2, setai="10000", zokugara="12"),
             person(3, setai="10000", zokugara="02")]                     # household 10000: 2nd head
    return rows


def vendor_b_households(root: Path, persons: int, *, dantai: str, first_line: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Vendor B's table for `persons` generated persons without faults, as the extract stages it (row ids,
    source B_JUMIN, source lines from `first_line`), and the 世帯主 a household test can change: those of
    households of three current residents or more who have one 履歴, in row order."""
    from ikou.sample.generate import generate

    generate(root, persons, faults=False, dantai=dantai)
    b = pl.read_csv(root / "vendor_b" / "B_JUMIN.csv", infer_schema=False)
    b = b.with_columns((pl.int_range(1, pl.len() + 1, dtype=pl.Int64) + row_id_base(1)).alias(ROW_ID),
                       pl.lit("B_JUMIN").alias(SOURCE),
                       pl.int_range(first_line, pl.len() + first_line, dtype=pl.Int64).alias(SOURCE_LINE))
    latest = b.filter(pl.col("SEQ") == pl.col("SEQ").cast(pl.Int64).max().over("KOJIN_ID").cast(pl.String))
    sizes = latest.filter(pl.col("STATUS") == "A").group_by("SETAI_ID").len().filter(pl.col("len") >= 3)
    heads = b.filter((pl.col("ZOKU") == "1") & pl.col("SETAI_ID").is_in(sizes["SETAI_ID"].implode())
                     & (pl.len().over("KOJIN_ID") == 1)).sort(ROW_ID)
    return b, heads
