"""Check digits: vectorised expressions agree with the published formulas and real codes."""
from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikou import REPO_ROOT
from ikou.checkdigit import (
    atena_check_digit, atena_check_digit_expr, atena_check_digits, atena_no_valid, dantai_code_valid,
    kojin_no_check_digit, kojin_no_check_digit_expr, kojin_no_check_digits, kojin_no_valid,
    lgcode_check_digit,
)

LGCODE_CSV = REPO_ROOT.parent / "shared" / "reference" / "localgovjp-utf8.csv"


def run(expr_fn, values: list[str | None]) -> list[bool | None]:
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(expr_fn(pl.col("v")))["v"].to_list()


def test_published_examples():
    assert lgcode_check_digit("13101") == 6 and lgcode_check_digit("01101") == 1
    assert kojin_no_check_digit("98320567321") == 4
    assert run(dantai_code_valid, ["131016", "011011", "131017", "13101", "13101a", None]) == [
        True, True, False, False, False, None]
    assert run(kojin_no_valid, ["983205673214", "983205673215", "98320567321", "98320567321x", None]) == [
        True, False, False, False, None]


@pytest.mark.skipif(not LGCODE_CSV.is_file(), reason="shared reference data not present")
def test_all_real_dantai_codes_pass_and_single_digit_changes_fail_except_the_mod10_collision():
    """Every real code passes. A single-digit change fails unless it moves Σ mod 11 between 0 and 10:
    the final `mod 10` maps both remainders to check digit 1, so the formula cannot see those
    (1,558 of the 103,464 variants). Any other passing variant would be a bug in the expression."""
    codes = pl.read_csv(LGCODE_CSV, infer_schema=False).select(pl.col("lgcode"))
    assert codes.height == 1916
    assert codes.select(dantai_code_valid(pl.col("lgcode")).all()).item()
    # 1,916 codes × 6 positions × 9 other digits, built as columns.
    variants = (
        codes.join(pl.DataFrame({"pos": list(range(6))}), how="cross")
        .join(pl.DataFrame({"delta": list(range(1, 10))}), how="cross")
        .with_columns(
            new_digit=((pl.col("lgcode").str.slice(pl.col("pos"), 1).cast(pl.Int32) + pl.col("delta")) % 10)
            .cast(pl.String))
        .with_columns(variant=pl.concat_str(
            pl.col("lgcode").str.slice(0, pl.col("pos")), pl.col("new_digit"),
            pl.col("lgcode").str.slice(pl.col("pos") + 1)))
    )
    assert variants.height == 1916 * 6 * 9
    assert variants.filter(pl.col("variant") == pl.col("lgcode")).height == 0

    def residue(col: str) -> pl.Expr:
        return pl.sum_horizontal(
            [pl.col(col).str.slice(i, 1).cast(pl.Int32) * w for i, w in enumerate((6, 5, 4, 3, 2))]) % 11

    out = variants.with_columns(
        passes=dantai_code_valid(pl.col("variant")),
        collision=pl.concat_list(residue("lgcode"), residue("variant")).list.sort() == pl.lit([0, 10]),
    )
    assert out["passes"].null_count() == 0
    assert out.filter(pl.col("passes") != pl.col("collision")).height == 0
    assert out.filter("passes").height == 1558
    assert out.filter("passes")["pos"].max() < 5   # a changed check digit is always caught


digits = st.text("0123456789", min_size=1, max_size=1)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text("0123456789", min_size=5, max_size=5), min_size=1, max_size=50))
def test_dantai_expression_matches_formula(bodies):
    good = [b + str(lgcode_check_digit(b)) for b in bodies]
    bad = [b + str((lgcode_check_digit(b) + 1) % 10) for b in bodies]
    assert run(dantai_code_valid, good) == [True] * len(bodies)
    assert run(dantai_code_valid, bad) == [False] * len(bodies)


def kojin_formula(body11: str) -> int:
    """The 省令 text, literally: Pn = n-th digit from the right, Qn = n+1 (n≤6) or n−5 (n≥7)."""
    r = sum(int(body11[11 - n]) * (n + 1 if n <= 6 else n - 5) for n in range(1, 12)) % 11
    return 0 if r <= 1 else 11 - r


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text("0123456789", min_size=11, max_size=11), min_size=1, max_size=50),
       st.integers(1, 9))
def test_kojin_no_expression_matches_formula(bodies, shift):
    assert [kojin_no_check_digit(b) for b in bodies] == [kojin_formula(b) for b in bodies]
    good = [b + str(kojin_formula(b)) for b in bodies]
    bad = [b + str((kojin_formula(b) + shift) % 10) for b in bodies]
    assert run(kojin_no_valid, good) == [True] * len(bodies)
    assert run(kojin_no_valid, bad) == [False] * len(bodies)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text("0123456789", min_size=1, max_size=14), min_size=1, max_size=50),
       st.integers(1, 9))
def test_atena_expression_matches_scalar(bodies, shift):
    good = [b + str(atena_check_digit(b)) for b in bodies]
    bad = [b + str((atena_check_digit(b) + shift) % 10) for b in bodies]
    assert run(atena_no_valid, good) == [True] * len(bodies)
    assert run(atena_no_valid, bad) == [False] * len(bodies)


def test_atena_convention_and_shapes():
    # 1234 → 4·2 + 3·3 + 2·4 + 1·5 = 30, 30 mod 11 = 8, cd = 3
    assert atena_check_digit("1234") == 3
    # remainder 0 or 1 → cd 0: '6' → 12 mod 11 = 1 → 0; '0' → 0 → 0
    assert atena_check_digit("6") == 0 and atena_check_digit("0") == 0
    assert run(atena_no_valid, ["12343", "012343", "12344", "1", "1234567890123456", "12a43", None]) == [
        True, True, False, False, False, False, None]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text("0123456789", min_size=11, max_size=11), min_size=1, max_size=50),
       st.lists(st.text("0123456789", min_size=1, max_size=14), min_size=1, max_size=50))
def test_check_digit_expressions_equal_scalar_twins(kojin_bodies, atena_bodies):
    k = pl.DataFrame({"b": kojin_bodies}).select(kojin_no_check_digit_expr(pl.col("b")))
    a = pl.DataFrame({"b": atena_bodies}).select(atena_check_digit_expr(pl.col("b")))
    assert k.to_series().to_list() == [kojin_no_check_digit(b) for b in kojin_bodies]
    assert a.to_series().to_list() == [atena_check_digit(b) for b in atena_bodies]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 10**11 - 1), min_size=1, max_size=50),
       st.lists(st.integers(0, 10**14 - 1), min_size=1, max_size=50))
def test_array_forms_equal_scalar_twins(kojin_bodies, atena_bodies):
    assert kojin_no_check_digits(kojin_bodies).tolist() == [kojin_no_check_digit(f"{b:011d}") for b in kojin_bodies]
    assert atena_check_digits(atena_bodies).tolist() == [atena_check_digit(str(b)) for b in atena_bodies]
