"""和暦 (Japanese era dates) → ISO text 'YYYY-MM-DD', as Polars expressions over whole columns.

Legacy systems write 生年月日 and 異動年月日 as an era code plus YYMMDD. The register is the truth,
so conversion never "fixes" a date: unknown parts (00) are kept as 00 with a 不詳 flag, and a
date the calendar does not have (平成3年2月29日, 4月31日) is kept as written with a warning. Only
text that cannot be a date at all is an error (the mapping stage quarantines it).

Era spans (DOMAIN.md): 明治 1868-01-25 (counted from there although proclaimed 1868-10-23) to
1912-07-30, 大正 1912-07-30 to 1926-12-25, 昭和 1926-12-25 to 1989-01-07, 平成 1989-01-08 to
2019-04-30, 令和 from 2019-05-01. Transition days belong to both eras. 明治 years before 6 (1873)
were lunisolar: the Gregorian year offset used here is the register's convention, not astronomy.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import polars as pl

from ikou.errors import ConfigError

FORMATS = ("era2_yymmdd", "era1_yymmdd", "letter_yymmdd", "seireki_yyyymmdd")

# era → (Gregorian year of 元年 minus 1, first day, last day) as YYYYMMDD integers.
ERAS: dict[str, tuple[int, int, int]] = {
    "明治": (1867, 18680125, 19120730),
    "大正": (1911, 19120730, 19261225),
    "昭和": (1925, 19261225, 19890107),
    "平成": (1988, 19890108, 20190430),
    "令和": (2018, 20190501, 99991231),
}

DEFAULT_ERA_CODES: dict[str, dict[str, str]] = {
    # 中間標準レイアウト 年号コード (2 digits)
    "era2_yymmdd": {"01": "明治", "02": "大正", "03": "昭和", "04": "平成", "05": "令和"},
    # 元号コード (1 digit)
    "era1_yymmdd": {"1": "明治", "2": "大正", "3": "昭和", "4": "平成", "5": "令和"},
    "letter_yymmdd": {"M": "明治", "T": "大正", "S": "昭和", "H": "平成", "R": "令和"},
}

RULE_MESSAGES: dict[str, tuple[str, str]] = {
    "wareki.format": ("日付の形式が不正です（桁数・数字以外・年不詳で月日あり）",
                      "date is not in the expected format (length, non-digits, or unknown year with known month/day)"),
    "wareki.era": ("元号コードが不明です", "unknown era code"),
    "wareki.month": ("月が不正です（13以上、または月不詳で日あり）",
                     "invalid month (13 or more, or unknown month with a known day)"),
    "wareki.day": ("日が不正です（32以上）", "invalid day (32 or more)"),
    "wareki.era_range": ("元号の期間外の日付です", "date lies outside the era's span"),
    "wareki.not_in_calendar": ("暦にない日付です（記録どおり保持）",
                               "date does not exist in the calendar (kept as recorded)"),
}

FUMEI_DAY, FUMEI_MONTH_DAY, FUMEI_ALL = "日不詳", "月日不詳", "年月日不詳"


@dataclass(frozen=True)
class WarekiExprs:
    iso: pl.Expr          # 'YYYY-MM-DD', unknown parts 00; null for null/blank input or on error
    error: pl.Expr        # rule id or null
    warning: pl.Expr      # 'wareki.not_in_calendar' or null
    fumei_flag: pl.Expr   # 不詳フラグ: '1' / '0'; null for null input or on error
    fumei_hyoki: pl.Expr  # 不詳表記: 日不詳 / 月日不詳 / 年月日不詳 or null


def _era_codes(fmt: str, eras: dict[str, str] | None) -> dict[str, str]:
    codes = dict(eras) if eras is not None else DEFAULT_ERA_CODES[fmt]
    bad = sorted(v for v in codes.values() if v not in ERAS)
    if bad:
        raise ConfigError(f"wareki eras: unknown era name(s) {bad}; known: {list(ERAS)}")
    return codes


def wareki_to_iso(expr: pl.Expr, fmt: str, eras: dict[str, str] | None = None) -> WarekiExprs:
    """Expressions converting a text column of `fmt` to ISO text plus error/warning/不詳 columns.

    `eras` replaces the format's whole code → era-name table (values: 明治 大正 昭和 平成 令和),
    for a vendor whose codes differ. Errors, most basic first: format, era, month, day, era_range.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"wareki format {fmt!r} is not one of {FORMATS}")
    s = expr.cast(pl.String).str.strip_chars()
    s = pl.when(s.str.len_chars() > 0).then(s)  # blank → null

    i32 = pl.Int32
    if fmt == "seireki_yyyymmdd":
        shape_ok = s.str.contains(r"^[0-9]{8}$")
        year = s.str.slice(0, 4).cast(i32, strict=False)
        all_zero = s == "00000000"
        era_error = pl.lit(False)
        offset = start = end = None
    else:
        width = 2 if fmt == "era2_yymmdd" else 1
        pattern = {"era2_yymmdd": r"^[0-9]{8}$", "era1_yymmdd": r"^[0-9]{7}$",
                   "letter_yymmdd": r"^[A-Za-z][0-9]{6}$"}[fmt]
        shape_ok = s.str.contains(pattern)
        code = s.str.slice(0, width)
        if fmt == "letter_yymmdd":
            code = code.str.to_uppercase()
        body = s.str.slice(width)
        codes = _era_codes(fmt, eras)
        era = code.replace_strict(codes, default=None, return_dtype=pl.String)
        offset = era.replace_strict({k: v[0] for k, v in ERAS.items()}, default=None, return_dtype=i32)
        start = era.replace_strict({k: v[1] for k, v in ERAS.items()}, default=None, return_dtype=i32)
        end = era.replace_strict({k: v[2] for k, v in ERAS.items()}, default=None, return_dtype=i32)
        yy = body.str.slice(0, 2).cast(i32, strict=False)
        year = yy + offset
        all_zero = body == "000000"
        # 年月日不詳 may come with or without an era code ('03000000' or '00000000').
        era_error = era.is_null() & ~(all_zero & code.str.contains(r"^0+$"))

    n = pl.String
    mmdd = s.str.slice(-4)
    mm = mmdd.str.slice(0, 2).cast(i32, strict=False)
    dd = mmdd.str.slice(2, 2).cast(i32, strict=False)
    year_digits = (s.str.slice(0, 4) if fmt == "seireki_yyyymmdd" else s.str.slice(-6, 2)).cast(i32, strict=False)
    year_unknown = year_digits == 0

    format_error = ~shape_ok | (year_unknown & ~all_zero)
    month_error = (mm > 12) | ((mm == 0) & (dd != 0))
    day_error = dd > 31
    if fmt == "seireki_yyyymmdd":
        range_error = pl.lit(False)
    else:
        # The date (or the span a partly unknown date covers) must touch the era's span.
        ym = year * 10000 + mm * 100
        lo = pl.when(mm == 0).then(year * 10000 + 101).otherwise(ym + pl.when(dd == 0).then(1).otherwise(dd))
        hi = pl.when(mm == 0).then(year * 10000 + 1231).otherwise(ym + pl.when(dd == 0).then(31).otherwise(dd))
        range_error = ~all_zero & ((hi < start) | (lo > end))

    error = (
        pl.when(s.is_null()).then(pl.lit(None, n))
        .when(format_error).then(pl.lit("wareki.format"))
        .when(era_error).then(pl.lit("wareki.era"))
        .when(month_error).then(pl.lit("wareki.month"))
        .when(day_error).then(pl.lit("wareki.day"))
        .when(range_error).then(pl.lit("wareki.era_range"))
        .otherwise(pl.lit(None, n))
    )
    ok = s.is_not_null() & error.is_null()

    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = (
        pl.when(mm == 2).then(pl.when(leap).then(29).otherwise(28))
        .when(mm.is_in([4, 6, 9, 11])).then(30)
        .otherwise(31)
    )
    warning = pl.when(ok & (mm >= 1) & (dd >= 1) & (dd > month_days)).then(pl.lit("wareki.not_in_calendar"))

    year_text = pl.when(all_zero).then(pl.lit("0000")).otherwise(year.cast(n).str.zfill(4))
    iso = pl.when(ok).then(pl.concat_str(year_text, pl.lit("-"), mmdd.str.slice(0, 2), pl.lit("-"), mmdd.str.slice(2, 2)))
    hyoki = (
        pl.when(~ok).then(pl.lit(None, n))
        .when(all_zero).then(pl.lit(FUMEI_ALL))
        .when(mm == 0).then(pl.lit(FUMEI_MONTH_DAY))
        .when(dd == 0).then(pl.lit(FUMEI_DAY))
        .otherwise(pl.lit(None, n))
    )
    flag = pl.when(ok).then(pl.when(all_zero | (mm == 0) | (dd == 0)).then(pl.lit("1")).otherwise(pl.lit("0")))
    return WarekiExprs(iso=iso, error=error, warning=warning, fumei_flag=flag, fumei_hyoki=hyoki)


def era_of(date: _dt.date) -> tuple[str, int]:
    """(era, era year) of a Gregorian date; on a transition day the newer era (as registers write it)."""
    ymd = date.year * 10000 + date.month * 100 + date.day
    for name, (offset, start, end) in reversed(list(ERAS.items())):
        if start <= ymd <= end:
            return name, date.year - offset
    raise ValueError(f"{date} lies before 明治")


def iso_to_wareki(date: _dt.date, fmt: str, era: str | None = None) -> str:
    """Scalar inverse (for tests and synthetic data): a date written in `fmt`, in `era` if given."""
    if fmt == "seireki_yyyymmdd":
        return date.strftime("%Y%m%d")
    if era is None:
        era, year = era_of(date)
    else:
        year = date.year - ERAS[era][0]
    code = {v: k for k, v in DEFAULT_ERA_CODES[fmt].items()}[era]
    return f"{code}{year:02d}{date.month:02d}{date.day:02d}"
