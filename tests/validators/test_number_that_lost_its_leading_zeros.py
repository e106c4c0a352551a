"""A 宛名番号 that lost its leading zeros (16837 among 10-digit 0000012345) with no other spelling of it in the data:
`key.same_number` has nothing to compare it with and modulus 11 cannot see zeros, so it loaded silently under a key
no other 業務 uses. `modal_length` (key.short_number) holds it; a numbering without padding is not judged."""
from __future__ import annotations

import random

import polars as pl

from ikou import REPO_ROOT
from ikou.checkdigit import atena_check_digit
from ikou.schema import load_schema
from ikou.validators.engine import validate
from ikou.validators.kinds import KINDS, ModalLength
from ikou.validators.spec import load_rules
from tests.validators.conftest import frame, person

TABLE = "juki_kojin_rireki"
DANTAI, DANTAI_TAX = "999741", "999750"


def ten(n: int) -> str:
    """A 10-digit 宛名番号 with its check digit: 000001683 + 7 = 0000016837 (what the newcomer's data held)."""
    body = f"{n:09d}"
    return body + str(atena_check_digit(body))


def households(n: int, *, key=ten) -> list[dict]:
    """`n` persons, each the 世帯主 of a household of one, numbered with `key`."""
    return [person(i, atena_no=key(1000 + i), setai_no=key(500_000 + i), zokugara="02", dantai_code=DANTAI)
            for i in range(1, n + 1)]


def run(rows, schema, rules):
    return validate(frame(rows), table=TABLE, schema=schema, rules=rules, run_id="R1-test", dantai_code=DANTAI)


def test_a_number_shorter_than_nearly_every_other_is_held_naming_file_line_and_column(schema, rules):
    rows = households(300)
    lost = ten(1683).lstrip("0")
    assert lost == "16837" and len(ten(1683)) == 10
    rows[120] = {**rows[120], "atena_no": lost}            # its zeros lost on the way (Excel): no other spelling
    rows[200] = {**rows[200], "setai_no": rows[200]["setai_no"].lstrip("0")}
    res = run(rows, schema, rules)
    q = res.quarantine
    short = q.filter(pl.col("rule") == "key.short_number")
    assert sorted(short.select("column", "value", "severity", "source", "source_line").rows()) == sorted([
        ("atena_no", lost, "error", "JUMIN.csv", 122), ("setai_no", rows[200]["setai_no"], "error", "JUMIN.csv", 202)])
    msg = short.filter(pl.col("column") == "atena_no").row(0, named=True)
    assert "先頭のゼロ" in msg["message_ja"] and "5 桁、この列の値の 99.6% は 10 桁" in msg["message_ja"]
    assert "leading zeros" in msg["message_en"] and "length 5; 99.6% of the column's values are 10 long" \
        in msg["message_en"]
    assert lost not in res.good["atena_no"].to_list()
    assert res.good.height == 298
    # the check digit could not see it: the finding is this rule's alone
    assert q.filter((pl.col("rule") == "checkdigit.atena_no") & (pl.col("value") == lost)).is_empty()


def test_a_longer_number_is_listed_not_held(schema, rules):
    """A numbering that grew past a digit (99999 → 100000) is normal: a warning, the person loaded."""
    rows = households(300)
    rows[7] = {**rows[7], "atena_no": "1" + ten(1007)}
    res = run(rows, schema, rules)
    long = res.quarantine.filter(pl.col("rule") == "key.long_number")
    assert long.select("column", "value", "severity").rows() == [("atena_no", "1" + ten(1007), "warning")]
    assert "桁数が多い" in long["message_ja"][0] and "grew by a digit" in long["message_en"][0]
    assert res.good.height == 300


def test_numbers_without_padding_are_not_judged(schema, rules):
    """A numbering without zero padding (1 … 12345 and its check digit) has lengths that vary by design: below the
    share nothing is judged, whatever the lengths."""
    rows = households(1_200, key=lambda n: str(n - 999) + str(atena_check_digit(str(n - 999))))
    res = run(rows, schema, rules)
    lengths = pl.Series([r["atena_no"] for r in rows]).str.len_chars().value_counts()
    assert lengths.height >= 3   # 2, 3, 4 and 5 characters
    assert res.quarantine.filter(pl.col("rule").is_in(["key.short_number", "key.long_number"])).is_empty()
    assert res.good.height == 1_200


def test_a_column_below_the_share_is_not_judged():
    """98 of 100 values with one length (0.98 < 0.99): the column's lengths vary, no finding; 99 of 100: a finding."""
    ctx = type("Ctx", (), {"need": lambda self, *a: None})()
    (chk,) = KINDS["modal_length"].build(ModalLength(columns=["n"]), ctx)
    for same, found in [(98, []), (99, [99])]:
        f = pl.DataFrame({"n": ["0000000001"] * same + ["123"] * (100 - same)})
        assert f.with_row_index("i").filter(chk.prepare(f).failed)["i"].to_list()[:1] == found
    assert ModalLength(columns=["n"]).share == 0.99


def test_the_check_on_the_lengths_counts_holds_the_rows_the_check_over_every_row_holds():
    """`prepare` (a group by over the lengths) and the stages' windows (the definition) hold the same rows with
    the same details, nulls and blanks not counted."""
    rnd = random.Random(11)
    values = [ten(rnd.randint(1, 10**8)) for _ in range(3000)] + ["16837", "123", None, "", "   ",
                                                                  "000001683700", "１２３４５６７８９０"]
    rnd.shuffle(values)
    frame_ = pl.DataFrame({"atena_no": values}, schema={"atena_no": pl.String})
    ctx = type("Ctx", (), {"need": lambda self, *a: None})()

    def failing(chk) -> pl.DataFrame:
        lf = frame_.lazy()
        for stage in chk.stages:
            lf = lf.with_columns(**stage)
        return (lf.with_row_index("i").filter(chk.failed.fill_null(False))
                .select("i", chk.value.alias("value"), chk.detail.alias("ja"), chk.detail_en.alias("en")).collect())

    for only in (None, "shorter", "longer"):
        (chk,) = KINDS["modal_length"].build(ModalLength(columns=["atena_no"], only=only), ctx)
        by_rows, by_counts = failing(chk), failing(chk.prepare(frame_))
        assert by_rows.height > 0
        assert by_counts.sort("i").equals(by_rows.sort("i"))
    # the full-width number has the modal length: not this rule's business (format.atena_no holds it)
    assert "１２３４５６７８９０" not in by_rows["value"].to_list()


def test_kojin_juminzei_holds_a_gimusha_number_that_lost_its_zeros():
    schema = load_schema(REPO_ROOT / "specs" / "gyomu" / "kojin_juminzei" / "schema.yaml")
    rules = load_rules(REPO_ROOT / "specs" / "gyomu" / "kojin_juminzei" / "rules.yaml")
    rows = [{"dantai_code": DANTAI_TAX, "atena_no": ten(2000 + i), "kazei_nendo": "2025", "kazei_kubun_code": "1",
             "choshu_hoho_code": "1"} for i in range(150)]
    rows[3]["atena_no"] = ten(2003).lstrip("0")
    df = pl.DataFrame(rows).with_columns(_row_id=pl.int_range(pl.len(), dtype=pl.Int64),
                                         _source=pl.lit("GIMUSHA.csv"),
                                         _source_line=pl.int_range(pl.len(), dtype=pl.Int64) + 2)
    res = validate(df, table="kojin_juminzei_gimusha", schema=schema, rules=rules, run_id="R1-test",
                   dantai_code=DANTAI_TAX)
    short = res.quarantine.filter(pl.col("rule") == "key.short_number")
    assert short.select("column", "value", "severity", "source_line").rows() == [
        ("atena_no", ten(2003).lstrip("0"), "error", 5)]
    assert res.good.height == 149
