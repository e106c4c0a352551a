"""Check digits as Polars expressions over whole columns, with scalar twins the tests compare against.

Each `*_valid` expression is null for null input (a missing value is the `required` rule's business),
False for text of the wrong shape or a wrong check digit, True otherwise.
"""
from __future__ import annotations

import polars as pl

from ikou.config import lgcode_check_digit

__all__ = [
    "lgcode_check_digit", "kojin_no_check_digit", "atena_check_digit",
    "dantai_code_valid", "kojin_no_valid", "atena_no_valid", "ATENA_MAX_DIGITS",
    "kojin_no_check_digit_expr", "atena_check_digit_expr",
]

KOJIN_WEIGHTS = [n + 1 if n <= 6 else n - 5 for n in range(1, 12)]  # Qn for Pn, n = 1 (rightmost) … 11
ATENA_MAX_DIGITS = 15  # 宛名番号/世帯番号 max_length in the target schema


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


def _digit(s: pl.Expr, i: int) -> pl.Expr:
    return s.str.slice(i, 1).cast(pl.Int32, strict=False)


def dantai_code_valid(expr: pl.Expr) -> pl.Expr:
    """全国地方公共団体コード: 6 digits, cd = (11 − Σ d_i·[6,5,4,3,2] mod 11) mod 10."""
    s = expr.cast(pl.String)
    total = pl.sum_horizontal([_digit(s, i) * w for i, w in enumerate((6, 5, 4, 3, 2))])
    cd = (11 - total % 11) % 10
    ok = s.str.contains(r"^[0-9]{6}$")
    return pl.when(s.is_not_null()).then(ok & (cd == _digit(s, 5)).fill_null(False))


def kojin_no_check_digit_expr(body11: pl.Expr) -> pl.Expr:
    """個人番号 check digit (Int32) of an 11-digit text expression; null if not digits."""
    s = body11.cast(pl.String)
    # digit at index 10 is P1 (rightmost body digit), index 0 is P11.
    r = pl.sum_horizontal([_digit(s, 10 - k) * q for k, q in enumerate(KOJIN_WEIGHTS)]) % 11
    return pl.when(s.str.contains(r"^[0-9]{11}$")).then(pl.when(r <= 1).then(0).otherwise(11 - r))


def kojin_no_valid(expr: pl.Expr) -> pl.Expr:
    """個人番号: 12 digits, last = check digit over the first 11."""
    s = expr.cast(pl.String)
    ok = s.str.contains(r"^[0-9]{12}$")
    cd = kojin_no_check_digit_expr(s.str.slice(0, 11))
    return pl.when(s.is_not_null()).then(ok & (cd == _digit(s, 11)).fill_null(False))


def atena_check_digit_expr(body: pl.Expr, max_digits: int = ATENA_MAX_DIGITS - 1) -> pl.Expr:
    """Modulus-11 check digit (Int32) of a digit-text expression of up to `max_digits` digits."""
    padded = body.cast(pl.String).str.zfill(max_digits)   # leading zeros weigh nothing
    total = pl.sum_horizontal([_digit(padded, max_digits - 1 - i) * (2 + i % 6) for i in range(max_digits)])
    cd = 11 - total % 11
    return pl.when(cd >= 10).then(0).otherwise(cd)


def atena_no_valid(expr: pl.Expr, max_digits: int = ATENA_MAX_DIGITS) -> pl.Expr:
    """宛名番号/世帯番号 (2 to `max_digits` digits, last = check digit): see `atena_check_digit`."""
    s = expr.cast(pl.String)
    ok = s.str.contains(rf"^[0-9]{{2,{max_digits}}}$")
    cd = atena_check_digit_expr(s.str.slice(0, s.str.len_chars() - 1), max_digits - 1)
    return pl.when(s.is_not_null()).then(ok & (cd == _digit(s.str.slice(-1), 0)).fill_null(False))
