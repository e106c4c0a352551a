"""Keys written so that one person becomes two (a space, full-width digits, a letter, the leading zeros Excel
strips), a 外字 outside the 文字同定 columns, and a placeholder 個人番号: held with their own messages."""
from __future__ import annotations

import polars as pl

from ikou import REPO_ROOT
from ikou.schema import load_schema
from ikou.spelling import normalised
from ikou.validators.engine import validate
from ikou.validators.kinds import code_points
from ikou.validators.spec import load_rules
from tests.validators.conftest import DANTAI, atena, frame, person

TABLE = "juki_kojin_rireki"


def run(rows, schema, rules):
    return validate(frame(rows), table=TABLE, schema=schema, rules=rules, run_id="R1-test", dantai_code=DANTAI)


def history(n: int, key: str, later: str, *, setai: str) -> list[dict]:
    """Person n: 履歴 1 住登 (世帯主) under `key`, 履歴 2 転出 with the key written as `later`."""
    return [person(n, setai=setai, zokugara="02", atena_no=key),
            person(n, setai=setai, zokugara="02", rireki=2, jotai="2", ido_jiyu_code="21", atena_no=later)]


FULL = str.maketrans("0123456789", "０１２３４５６７８９")


def held_keys(res, rule: str) -> list[str]:
    return sorted(res.quarantine.filter((pl.col("rule") == rule) & (pl.col("severity") == "error"))["record_key"])


def test_a_key_not_written_in_ascii_digits_is_held_naming_file_line_and_column(schema, rules):
    """'0000080012 ', full-width digits and a letter are not the person's key: each is held as
    format.atena_no naming the source line and column, and the person's other row (the key as issued,
    still 住登者) is held with it, so 現在の個人 never shows the state the person has left."""
    a, b, c = atena("0008001"), atena("0008002"), atena("0008003")
    rows = (history(1, a, a + " ", setai="60000") + history(2, b, b.translate(FULL), setai="70000")
            + history(3, c, "A" + c, setai="80000"))
    df = frame(rows)
    res = run(rows, schema, rules)
    fmt = res.quarantine.filter(pl.col("rule") == "format.atena_no")
    assert sorted(fmt["value"]) == sorted([a + " ", b.translate(FULL), "A" + c])
    assert set(fmt["column"]) == {"atena_no"} and set(fmt["severity"]) == {"error"}
    assert set(fmt["source"]) == {"JUMIN.csv"}
    assert sorted(fmt["source_line"]) == sorted(df.filter(pl.col("rireki_no") == 2)["_source_line"])
    assert "半角数字" in fmt["message_ja"][0] and "ASCII digits" in fmt["message_en"][0]
    # no misleading "check digit does not match" for what is not digits at all
    assert res.quarantine.filter(pl.col("rule") == "checkdigit.atena_no").is_empty()
    # the whole history of each person is held: the key as issued is the same number once width, spaces
    # and the letter are dropped, so every row of every spelling is held
    assert res.good.height == 0
    assert held_keys(res, "key.same_number") == sorted(f"atena_no={k},rireki_no={r}" for k, r in
                                                       [(a, 1), (a + " ", 2), (b, 1), (b.translate(FULL), 2),
                                                        (c, 1), ("A" + c, 2)])


def test_a_household_number_not_in_ascii_digits_is_held(schema, rules):
    s = atena("90000")
    rows = [person(1, setai="90000", zokugara="02"), person(2, setai="90000", zokugara="12", setai_no="\uff15" + s[1:])]
    res = run(rows, schema, rules)
    fmt = res.quarantine.filter(pl.col("rule") == "format.atena_no")
    assert fmt["column"].to_list() == ["setai_no"] and fmt["value"].to_list() == ["\uff15" + s[1:]]


def test_keys_equal_once_leading_zeros_are_dropped_hold_every_row_of_both_spellings(schema, rules):
    """80101 is 0000080101 with the zeros Excel strips: modulus 11 cannot see it (zeros weigh nothing) and
    unique_key compares text, so the dead person stayed 住登者 under one key and died under another."""
    key = atena("000008010")
    assert key.startswith("0000")
    rows = history(1, key, key.lstrip("0"), setai="50000") + [person(2, setai="60000", zokugara="02")]
    res = run(rows, schema, rules)
    same = res.quarantine.filter(pl.col("rule") == "key.same_number")
    assert sorted(same["value"]) == sorted([key, key.lstrip("0")])
    assert set(same["column"]) == {"atena_no"} and set(same["severity"]) == {"error"}
    assert "先頭のゼロ" in same["message_ja"][0] and "leading zeros" in same["message_en"][0]
    assert f"2 spellings of {key.lstrip('0')}" in same["message_en"][0]
    assert res.good["atena_no"].to_list() == [rows[2]["atena_no"]]   # only the other person is loaded
    # both spellings are ASCII digits with a valid check digit: nothing else would have found them
    assert set(res.quarantine["rule"]) == {"key.same_number"}


def test_same_after_normalising_reads_only_what_it_is_told_to():
    df = pl.DataFrame({"v": ["0000080101", "80101", " 80101", "０８０１０１", "000", "", None, "abc"]})
    got = df.select(a=normalised(pl.col("v"), ["leading_zeros"]),
                    b=normalised(pl.col("v"), ["width", "strip", "leading_zeros"]),
                    c=normalised(pl.col("v"), ["width", "digits_only", "leading_zeros"]))
    assert got["a"].to_list() == ["80101", "80101", " 80101", "０８０１０１", "0", None, None, "abc"]
    assert got["b"].to_list() == ["80101", "80101", "80101", "80101", "0", None, None, "abc"]
    assert got["c"].to_list() == ["80101", "80101", "80101", "80101", "0", None, None, None]


def test_a_private_use_character_outside_the_moji_columns_is_held_naming_column_and_code_point(schema, rules):
    """A 外字 means a glyph only under the vendor's 外字 table, which 文字同定 applies to `moji` columns:
    in 氏名フリガナ it would reach the standard system as a bare code. The message names the column and
    the code point, never the name."""
    rows = [person(1, setai="50000", zokugara="02", shimei_kana="ヤマ\ue000タロウ"),
            person(2, setai="60000", zokugara="02", shimei="山\ue001太郎"),         # moji column: 文字同定's business
            person(3, setai="70000", zokugara="02", kokuseki="\U000F0001国")]
    res = run(rows, schema, rules)
    pua = res.quarantine.filter(pl.col("rule") == "schema.private_use")
    assert pua.select("column", "severity").rows() == [("shimei_kana", "error"), ("kokuseki", "error")]
    assert "shimei_kana: U+E000" in pua["message_ja"][0] and "shimei_kana: U+E000" in pua["message_en"][0]
    assert "kokuseki: U+F0001" in pua["message_en"][1]
    assert not any("ヤマ" in m for m in pua["message_ja"].to_list() + pua["message_en"].to_list())
    assert "外字" in pua["message_ja"][0] and "private-use" in pua["message_en"][0]
    assert res.good["shimei"].to_list() == ["山\ue001太郎"]


def test_code_points_are_computed_over_the_column():
    df = pl.DataFrame({"v": ["a\ue000b\uf8ff", "\U000F0000\U0010FFFD", "none", None]})
    assert df.select(code_points(pl.col("v")))["v"].to_list() == ["U+E000 U+F8FF", "U+F0000 U+10FFFD", "", None]


def test_an_all_same_digit_kojin_no_is_held_as_a_placeholder(schema, rules):
    """000000000000 passes the check digit (r = 0 → 0) but is what a vendor writes for "not collected"."""
    rows = [person(1, setai="50000", zokugara="02", kojin_no="000000000000"),
            person(2, setai="60000", zokugara="02", kojin_no="999999999999"),
            person(3, setai="70000", zokugara="02")]
    res = run(rows, schema, rules)
    ph = res.quarantine.filter(pl.col("rule") == "placeholder.kojin_no")
    assert ph["value"].to_list() == ["000000000000", "999999999999"] and set(ph["severity"]) == {"error"}
    assert "000000000000" not in ph["message_ja"][0] + ph["message_en"][0]
    assert "仮の値" in ph["message_ja"][0] and "placeholder" in ph["message_en"][0]
    assert res.good["atena_no"].to_list() == [rows[2]["atena_no"]]
    cd = res.quarantine.filter(pl.col("rule") == "checkdigit.kojin_no")
    assert cd["value"].to_list() == ["999999999999"]   # 000000000000 passes the formula: only this rule holds it


def test_zei_keys_are_held_the_same_way():
    zschema = load_schema(REPO_ROOT / "specs" / "gyomu" / "kojin_juminzei" / "schema.yaml")
    zrules = load_rules(REPO_ROOT / "specs" / "gyomu" / "kojin_juminzei" / "rules.yaml")
    key = atena("000008010")
    df = pl.DataFrame({"dantai_code": [DANTAI] * 4, "atena_no": [key, key.lstrip("0"), key + " ", atena("0000099")],
                       "kazei_nendo": [2024, 2025, 2026, 2025], "kazei_kubun_code": ["1"] * 4,
                       "choshu_hoho_code": ["1"] * 4})
    kubun = zschema.code_values("kazei_kubun")["code"][0]
    choshu = zschema.code_values("choshu_hoho")["code"][0]
    df = df.with_columns(kazei_kubun_code=pl.lit(kubun), choshu_hoho_code=pl.lit(choshu))
    res = validate(df, table="kojin_juminzei_gimusha", schema=zschema, rules=zrules, run_id="R1-test",
                   dantai_code=DANTAI)
    assert res.good["atena_no"].to_list() == [atena("0000099")]
    assert set(res.quarantine.filter(pl.col("rule") == "key.same_number")["value"]) == {key, key.lstrip("0"), key + " "}
    assert res.quarantine.filter(pl.col("rule") == "format.atena_no")["value"].to_list() == [key + " "]


def test_an_all_same_digit_juminhyo_code_is_held_as_a_placeholder(schema, rules):
    rows = [person(1, setai="50000", zokugara="02", juminhyo_code="00000000000"),
            person(2, setai="60000", zokugara="02")]
    res = run(rows, schema, rules)
    ph = res.quarantine.filter(pl.col("rule") == "placeholder.juminhyo_code")
    assert ph["value"].to_list() == ["00000000000"] and set(ph["severity"]) == {"error"}
    assert res.good["atena_no"].to_list() == [rows[1]["atena_no"]]
