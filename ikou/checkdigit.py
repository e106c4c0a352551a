"""Check digits, written once: 団体コード, 個人番号, 宛名番号/世帯番号.

Three forms of the same formulas: scalar functions on digit text (the run config, tests), Polars
expressions over whole columns (validation rules), and the integer-array forms the sample generator
uses (`*_check_digits`, which evaluate the expressions).

Each `*_valid` expression is null for null input (a missing value is the `required` rule's business),
False for text of the wrong shape or a wrong check digit, True otherwise.
"""
from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import polars as pl

__all__ = [
    "lgcode_check_digit", "is_valid_dantai_code", "kojin_no_check_digit", "atena_check_digit",
    "dantai_code_valid", "kojin_no_valid", "atena_no_valid", "ATENA_MAX_DIGITS",
    "kojin_no_check_digit_expr", "atena_check_digit_expr", "kojin_no_check_digits", "atena_check_digits",
]

KOJIN_WEIGHTS = [n + 1 if n <= 6 else n - 5 for n in range(1, 12)]  # Qn for Pn, n = 1 (rightmost) … 11
ATENA_MAX_DIGITS = 15  # 宛名番号/世帯番号 max_length in the target schema (≤ 18: fits Int64)


def lgcode_check_digit(code5: str) -> int:
    """全国地方公共団体コード check digit: (11 − Σ d_i·[6,5,4,3,2] mod 11) mod 10."""
    total = sum(int(d) * w for d, w in zip(code5, (6, 5, 4, 3, 2)))
    return (11 - total % 11) % 10


def is_valid_dantai_code(code: str) -> bool:
    return bool(re.fullmatch(r"[0-9]{6}", code)) and lgcode_check_digit(code[:5]) == int(code[5])


def kojin_no_check_digit(body11: str) -> int:
    """個人番号 check digit (平成26年総務省令第85号 第5条) of the first 11 digits."""
    r = sum(int(p) * q for p, q in zip(reversed(body11), KOJIN_WEIGHTS)) % 11
    return 0 if r <= 1 else 11 - r


def atena_check_digit(body: str) -> int:
    """宛名番号/世帯番号: modulus 11, weights 2,3,4,5,6,7,2,3… from the rightmost body digit.

    Convention chosen: cd = 11 − (Σ mod 11), and 0 when that is 10 or 11 (remainder 0 or 1), so the
    check digit is always one digit. Legacy numbers may follow another convention or none: the
    rule using this is a warning only (DOMAIN.md).
    """
    total = sum(int(d) * (2 + i % 6) for i, d in enumerate(reversed(body)))
    cd = 11 - total % 11
    return 0 if cd >= 10 else cd


def _digits_from_right(body: pl.Expr, count: int) -> list[pl.Expr]:
    """Integer digits of an Int64 expression, rightmost first (integer arithmetic: no string slicing)."""
    return [(body // 10**i) % 10 for i in range(count)]


def dantai_code_valid(expr: pl.Expr) -> pl.Expr:
    """全国地方公共団体コード: 6 digits, cd = (11 − Σ d_i·[6,5,4,3,2] mod 11) mod 10."""
    s = expr.cast(pl.String)
    ok = s.str.contains(r"^[0-9]{6}$")
    v = s.cast(pl.Int64, strict=False)
    total = pl.sum_horizontal([d * w for d, w in zip(_digits_from_right(v // 10, 5), (2, 3, 4, 5, 6))])
    cd = (11 - total % 11) % 10
    return pl.when(s.is_not_null()).then(ok & (cd == v % 10).fill_null(False))


def kojin_no_check_digit_expr(body11: pl.Expr) -> pl.Expr:
    """個人番号 check digit (Int64) of an 11-digit text expression; null if not 11 digits."""
    s = body11.cast(pl.String)
    return pl.when(s.str.contains(r"^[0-9]{11}$")).then(_kojin_cd(s.cast(pl.Int64, strict=False)))


def _kojin_cd(body: pl.Expr) -> pl.Expr:
    # Pn is the n-th digit from the right, weighted Qn.
    r = pl.sum_horizontal([p * q for p, q in zip(_digits_from_right(body, 11), KOJIN_WEIGHTS)]) % 11
    return pl.when(r <= 1).then(0).otherwise(11 - r)


def kojin_no_valid(expr: pl.Expr) -> pl.Expr:
    """個人番号: 12 digits, last = check digit over the first 11."""
    s = expr.cast(pl.String)
    ok = s.str.contains(r"^[0-9]{12}$")
    v = s.cast(pl.Int64, strict=False)
    return pl.when(s.is_not_null()).then(ok & (_kojin_cd(v // 10) == v % 10).fill_null(False))


def _atena_cd(body: pl.Expr, digits: int) -> pl.Expr:
    total = pl.sum_horizontal([d * (2 + i % 6) for i, d in enumerate(_digits_from_right(body, digits))])
    cd = 11 - total % 11
    return pl.when(cd >= 10).then(0).otherwise(cd)


def atena_check_digit_expr(body: pl.Expr, max_digits: int = ATENA_MAX_DIGITS - 1) -> pl.Expr:
    """Modulus-11 check digit (Int64) of a digit-text expression of up to `max_digits` digits."""
    s = body.cast(pl.String)
    return pl.when(s.str.contains(rf"^[0-9]{{1,{max_digits}}}$")).then(
        _atena_cd(s.cast(pl.Int64, strict=False), max_digits))


def atena_no_valid(expr: pl.Expr, max_digits: int = ATENA_MAX_DIGITS) -> pl.Expr:
    """宛名番号/世帯番号 (2 to `max_digits` digits, last = check digit): see `atena_check_digit`."""
    s = expr.cast(pl.String)
    ok = s.str.contains(rf"^[0-9]{{2,{max_digits}}}$")
    v = s.cast(pl.Int64, strict=False)
    return pl.when(s.is_not_null()).then(ok & (_atena_cd(v // 10, max_digits - 1) == v % 10).fill_null(False))


def _over_ints(cd: Callable[[pl.Expr], pl.Expr], bodies) -> np.ndarray:
    return pl.select(cd(pl.lit(pl.Series(bodies, dtype=pl.Int64)))).to_series().to_numpy()


def kojin_no_check_digits(bodies) -> np.ndarray:
    """個人番号 check digits of integer bodies (< 10^11), e.g. a numpy array: the expression's arithmetic."""
    return _over_ints(_kojin_cd, bodies)


def atena_check_digits(bodies, max_digits: int = ATENA_MAX_DIGITS - 1) -> np.ndarray:
    """宛名番号/世帯番号 check digits of integer bodies (up to `max_digits` digits), e.g. a numpy array."""
    return _over_ints(lambda b: _atena_cd(b, max_digits), bodies)
