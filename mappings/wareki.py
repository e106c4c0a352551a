"""和暦 (Japanese era dates) → ISO text 'YYYY-MM-DD', as Polars expressions over whole columns.

Legacy systems write 生年月日 and 異動年月日 as an era code plus YYMMDD. The register is the truth,
so conversion never "fixes" a date: unknown parts (00) are kept as 00 with a 不詳 flag, and a
date the calendar does not have (平成3年2月29日, 4月31日) is kept as written with a warning. Only
text that cannot be a date at all is an error (the mapping stage quarantines it).

Era spans (DOMAIN.md): 明治 1868-01-25 (counted from there although proclaimed 1868-10-23; in the 旧暦 dates
below, from the written 明治元年1月1日, the same day) to 1912-07-30, 大正 1912-07-30 to 1926-12-25, 昭和
1926-12-25 to 1989-01-07, 平成 1989-01-08 to 2019-04-30, 令和 from 2019-05-01. Transition days belong to both eras.

明治1–5年 (before 明治6年1月1日 = 1873-01-01) were written in the 旧暦 (lunisolar calendar). The register's
convention is kept: the year is converted, month and day stay as written (明治5年1月1日 → 1872-01-01, not
the Gregorian 1872-02-09), with the warning `wareki.pre_gregorian` so that nobody reads it as a Gregorian
day; 明治5年12月3日–31日 (skipped when the calendar changed) and a 31st (no 旧暦 month has one) get
`wareki.not_in_calendar` instead. A 旧暦 day is not judged by Gregorian month lengths (明治3年2月30日 exists).

A date wholly zero in a 西暦 format (`00000000`, `0000-00-00`) is the vendor's "no date" placeholder, as
the extractor holds a table's zero date: it is held (`wareki.zero_date`), not read as 年月日不詳. The
和暦 formats write an unknown part as 00 (中間標準レイアウト; specs/README.md): there `00000000` stays 年月日不詳.
A date wholly nines (`99999999`, `9999999`, `9999-99-99`, in any format) is the other "no date / unknown"
placeholder of legacy systems: held (`wareki.nines_date`), never read as a month 99 or an era 99.

Full-width digits are read as digits in every format (`０３４５０３０２` as `03450302`), as kanji and dotted
always read them; no finding (the diff's generated rule reads them the same way).

不詳表記 written after a `kanji` date (DOMAIN.md: 頃, 推定, 上旬 …) is part of the date, never an error:
`昭和45年3月2日頃` / `…推定` converts the date part and gives 不詳フラグ 1, 不詳表記 `頃` / `推定` as written;
`昭和45年3月上旬` (中旬, 下旬) has an unknown day: 1970-03-00, 不詳表記 `上旬` (the word names the day part, in
place of the module's 日不詳; after a crossing era `昭和64年1月上旬`); `昭和45年頃`, `昭和45年3月頃` leave the
parts not written unknown (00): 不詳表記 `月日不詳頃`, `日不詳頃` (the module's form, then the word as written).
The 不詳 forms the module writes are read after a date too: `昭和45年3月日不詳`, `昭和45年月日不詳`,
`昭和年月日不詳`, `年月日不詳` are the same as their 00 spellings. The qualifier lives only in the 不詳表記, so
a mapping line without a 不詳表記 column would drop it: `hyoki_column=False` holds such a date
(`wareki.qualifier_column`), `True` keeps it silently, and a caller that does not say (`None`) keeps it with
the warning `wareki.qualifier`, which says that a line without the column drops it (a date that already has
the warning pre_gregorian or not_in_calendar keeps that one: one warning per value).
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ikou.errors import ConfigError

FORMATS = ("era2_yymmdd", "era1_yymmdd", "letter_yymmdd", "seireki_yyyymmdd", "kanji", "dotted", "seireki_iso")
# seireki_iso: a database DATE or DATETIME as the extractor writes it (1985-06-01, 1985-06-01T00:00:00[.000000]);
# a time of day other than midnight is no date (wareki.format), never cut off; read as seireki_yyyymmdd after
ISO_DATE = r"^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]00:00(?::00(?:\.0+)?)?)?$"

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
    # kanji: the era written out (昭和45年3月2日); a vendor writing initials (昭45年…) or letters
    # (S45年…) gives its own `eras:`
    "kanji": {name: name for name in ERAS},
    # dotted: a letter or the era written out, then year.month.day (H05.03.01, 平成5/3/1, R元-5-1)
    "dotted": {"M": "明治", "T": "大正", "S": "昭和", "H": "平成", "R": "令和"} | {name: name for name in ERAS},
}

# kanji: era (any text without digits, or none when the year is unknown: 00年3月2日), year (元 or 1-2
# digits), month, day; matched after blanks (half- and full-width) are dropped and full-width digits read
KANJI_DATE = r"^(\D*?)(元|[0-9]{1,2})年([0-9]{1,2})月([0-9]{1,2})日$"
_FULLWIDTH_DIGITS = [chr(0xFF10 + i) for i in range(10)]
# kanji: 不詳表記 written after the date (module docstring), read before KANJI_DATE is matched
APPROX_WORDS, JUN_WORDS = ("頃", "推定"), ("上旬", "中旬", "下旬")
# a value wholly nines, in any format: the legacy "no date / unknown" placeholder (after full-width digits read)
NINES_DATE = r"^9{7,8}$|^9{4}-99-99$|^9{4}/99/99$|^9{4}\.99\.99$"
# dotted: era (text without digits or separators; none only with an unknown year), year (元 or 1-2 digits),
# month and day (1-2 digits) joined by one separator, the same twice: `.`, `/` or `-` (H05.03.01, H5/3/1);
# matched like kanji, after blanks are dropped and full-width digits read
DOTTED_DATE = r"^([^0-9./\-]*?)(元|[0-9]{1,2})([./\-])([0-9]{1,2})([./\-])([0-9]{1,2})$"

RULE_MESSAGES: dict[str, tuple[str, str]] = {
    "wareki.format": ("日付の形式が不正です（桁数・文字・書き方）", "date is not in the expected format (length, characters, layout)"),
    "wareki.era": ("元号コードが不明です", "unknown era code"),
    "wareki.month": ("月が不正です（13以上）", "invalid month (13 or more)"),
    "wareki.day": ("日が不正です（32以上）", "invalid day (32 or more)"),
    "wareki.era_range": ("元号の期間外の日付です（暦にない日は、その月が元号の期間外の場合）",
                         "date lies outside the era's span (an impossible day: its month does)"),
    "wareki.not_in_calendar": ("暦にない日付です（記録どおり保持）",
                               "date does not exist in the calendar (kept as recorded)"),
    "wareki.pre_gregorian": ("旧暦の日付です（記録どおり西暦の年に換算、月日はそのまま）",
                             "a 旧暦 date before 明治6年: year converted, month and day kept as written"),
    "wareki.zero_date": ("日付がすべて0です（旧システムの「日付なし」の値で、年月日不詳ではありません）。"
                         "任意項目なら抽出元で空にしてください",
                         "the date is all zeros: the legacy system's placeholder for \"no date\", not a date "
                         "wholly unknown (年月日不詳); if the column is optional, make it empty at the source"),
    "wareki.nines_date": ("日付がすべて9です（旧システムの「日付なし・不明」の値で、日付ではありません）。"
                          "任意項目なら抽出元で空にしてください",
                          "the date is all nines: the legacy system's placeholder for \"no date / unknown\", not a "
                          "date; if the column is optional, make it empty at the source"),
    "wareki.qualifier_column": ("日付に不詳表記（頃・推定・上旬・中旬・下旬）がありますが、このマッピング行に不詳表記の列"
                                "（fumei_hyoki）がないため、表記を失わないよう保留しました",
                                "the date carries a 不詳表記 (頃, 推定, 上旬, 中旬, 下旬) but this mapping line has no "
                                "不詳表記 column (fumei_hyoki): held so that it is not lost"),
    "wareki.qualifier": ("日付の不詳表記（頃・推定・上旬・中旬・下旬）は不詳フラグ・不詳表記の列に入ります。"
                         "マッピング行に不詳表記の列（fumei_hyoki）がなければ失われます",
                         "the date's 不詳表記 (頃, 推定, 上旬, 中旬, 下旬) goes to the 不詳フラグ and 不詳表記 columns; "
                         "a mapping line without a 不詳表記 column (fumei_hyoki) drops it"),
}
# 西暦 formats whose all-zero value is the "no date" placeholder (see the module docstring)
ZERO_DATE_FORMATS = ("seireki_yyyymmdd", "seireki_iso")
# 明治 dates before this day are 旧暦 (lunisolar); 明治5年12月3日 became 明治6年1月1日
GREGORIAN_FROM = 18730101
# a 旧暦 date keeps its written month and day, so 明治 starts on the written 明治元年1月1日 (the era applied back
# to 1月1日), not on its Gregorian 1868-01-25: a real 明治元年1月1日–24日 is in the era
LUNISOLAR_START = (ERAS["明治"][0] + 1) * 10000 + 101

FUMEI_DAY, FUMEI_MONTH_DAY, FUMEI_ALL = "日不詳", "月日不詳", "年月日不詳"
# Any part may be unknown (00), alone or with others: 年不詳 (month and day known), 月不詳 (day known),
# 年月不詳, 年日不詳 … The 不詳表記 names the unknown parts in 年 月 日 order followed by 不詳; the
# ISO text keeps the known parts and writes the unknown ones as 00 (0000 for the year). When the year
# is unknown but the era is written (昭和 + 00 for the year), the ISO text cannot hold the era, so the
# 不詳表記 starts with the era's name: 昭和年不詳, 平成年月日不詳 … (a 西暦 source, or era code 0, has none).
# Likewise when the unknown span reaches into another era (1989-01-00 is 昭和64年1月 or 平成元年1月): the
# 不詳表記 writes the era and the known year (and month): 昭和64年1月日不詳, 平成元年月日不詳.
FUMEI_FORMS = ("年不詳", "月不詳", "日不詳", "年月不詳", "年日不詳", "月日不詳", "年月日不詳")


@dataclass(frozen=True)
class WarekiExprs:
    iso: pl.Expr          # 'YYYY-MM-DD', unknown parts 00; null for null/blank input or on error
    error: pl.Expr        # rule id or null
    warning: pl.Expr      # 'wareki.not_in_calendar', 'wareki.pre_gregorian', 'wareki.qualifier' or null
    fumei_flag: pl.Expr   # 不詳フラグ: '1' / '0'; null for null input or on error
    fumei_hyoki: pl.Expr  # 不詳表記: one of FUMEI_FORMS (年不詳 … 年月日不詳), era-prefixed when only
                          # the era of an unknown year is known (昭和年不詳) or the unknown span reaches
                          # into another era (昭和64年1月日不詳); a kanji date's written 頃 / 推定 / 上旬 as
                          # written, after the unknown parts (頃, 上旬, 日不詳頃: module docstring); or null
    # The five above are fields of this one struct expression; each of them alone runs the whole
    # conversion, so for several outputs materialise `parsed` once and take its fields.
    parsed: pl.Expr | None = None


def _era_codes(fmt: str, eras: dict[str, str] | None) -> dict[str, str]:
    codes = dict(eras) if eras is not None else DEFAULT_ERA_CODES[fmt]
    bad = sorted(v for v in codes.values() if v not in ERAS)
    if bad:
        raise ConfigError(f"wareki eras: unknown era name(s) {bad}; known: {list(ERAS)}")
    if fmt in ("kanji", "dotted"):
        # any text without digits or blanks (昭和, 昭, Ｓ, S); not 元 or 年 (or a separator), which the date uses
        used = "元年" if fmt == "kanji" else "元./-"
        wrong = sorted(k for k in codes if not k or any(ch.isdigit() or ch.isspace() or ch in used for ch in k))
        if wrong:
            raise ConfigError(f"wareki eras for {fmt}: codes {wrong} must be text without digits, blanks, "
                              f"{' or '.join(used)}")
    else:
        width = {"era2_yymmdd": 2, "era1_yymmdd": 1, "letter_yymmdd": 1}[fmt]
        if fmt == "letter_yymmdd":   # one character, not a digit: a full-width Ｓ or a kanji initial 昭 too
            wrong = sorted(k for k in codes if len(k) != 1 or k.isdigit() or k.isspace())
        else:
            wrong = sorted(k for k in codes if len(k) != width or not k.isdigit() or not k.isascii())
        if wrong:
            raise ConfigError(f"wareki eras for {fmt}: codes {wrong} are not {width} "
                              f"{'letter' if fmt == 'letter_yymmdd' else 'ASCII digit'}(s)")
    upper = {k.upper(): v for k, v in codes.items()}
    if len(upper) != len(codes):
        raise ConfigError(f"wareki eras for {fmt}: codes {sorted(codes)} repeat when upper-cased")
    return upper


def _read_code(code: pl.Expr, codes: dict[str, str]) -> pl.Expr:
    """The era code as written, upper-cased; one not in `codes` is read width-folded (NFKC) as well, so that
    Ｈ０５．０３．０１ typed in full width, ｓ or ㍼ find H, S, 昭和 where full-width digits are read. A code of
    the line's own table matches as written first (its `Ｓ` is not the half-width `S`)."""
    upper = code.str.to_uppercase()
    return pl.when(upper.is_in(list(codes))).then(upper).otherwise(code.str.normalize("NFKC").str.to_uppercase())


def _kanji_fumei(k: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """A kanji date's written 不詳表記 (module docstring), column-wise: (the date with its unknown parts as 00,
    頃 / 推定 or null, 上旬 / 中旬 / 下旬 or null). 昭和45年3月上旬頃 → (昭和45年3月00日, 頃, 上旬)."""
    approx_re, jun_re = f"({'|'.join(APPROX_WORDS)})$", f"月({'|'.join(JUN_WORDS)})$"
    approx = k.str.extract(approx_re, 1)
    k = k.str.replace(approx_re, "")
    jun = k.str.extract(jun_re, 1)
    k = k.str.replace(jun_re, "月00日")
    # 昭和45年頃, 昭和45年3月頃: with 頃 / 推定 the parts not written are unknown (without it, 昭和45年3月 stays no date)
    k = pl.when(approx.is_not_null()).then(k.str.replace("年$", "年00月00日").str.replace("月$", "月00日")).otherwise(k)
    # the module's own 不詳 forms written out: 年月日不詳 / 昭和年月日不詳 (no year), 昭和45年月日不詳, 昭和45年3月日不詳
    k = (k.str.replace("^([^0-9元]*)年月日不詳$", "${1}00年00月00日").str.replace("年月日不詳$", "年00月00日")
         .str.replace("([0-9])月日不詳$", "${1}月00日"))
    return k, approx, jun


_OUT = {"iso": pl.String, "error": pl.String, "warning": pl.String, "fumei_flag": pl.String,
        "fumei_hyoki": pl.String}


def wareki_to_iso(expr: pl.Expr, fmt: str, eras: dict[str, str] | None = None,
                  hyoki_column: bool | None = None) -> WarekiExprs:
    """Expressions converting a text column of `fmt` to ISO text plus error/warning/不詳 columns.

    `eras` replaces the format's whole code → era-name table (values: 明治 大正 昭和 平成 令和),
    for a vendor whose codes differ. Errors, most basic first: nines_date, format, zero_date, era, month, day,
    era_range, qualifier_column. `hyoki_column`: whether the mapping line has a 不詳表記 column for a written
    不詳表記 (頃, 推定, 上旬 …; module docstring): False holds such a date, None keeps it with a warning.

    The conversion runs as staged `with_columns` over each batch (`map_batches`, elementwise): as
    one nested expression Polars recomputed the shared parts ~30 times (3 s per million values,
    now ~0.1 s). The five expressions are fields of the same struct.
    """
    stages = wareki_stages(fmt, eras, hyoki_column)

    def convert(values: pl.Series) -> pl.Series:
        lf = pl.DataFrame({"__in": values.cast(pl.String)}).lazy()
        for stage in stages:
            lf = lf.with_columns(**stage)
        return lf.select(**{k: pl.col(f"__{k}") for k in _OUT}).collect().to_struct(values.name)

    parsed = expr.map_batches(convert, return_dtype=pl.Struct(_OUT), is_elementwise=True)
    f = parsed.struct.field
    return WarekiExprs(iso=f("iso"), error=f("error"), warning=f("warning"), fumei_flag=f("fumei_flag"),
                       fumei_hyoki=f("fumei_hyoki"), parsed=parsed)


def wareki_stages(fmt: str, eras: dict[str, str] | None = None,
                  hyoki_column: bool | None = None) -> list[dict[str, pl.Expr]]:
    """The conversion as successive `with_columns` steps over a text column `__in`; the results are
    `__iso`, `__error`, `__warning`, `__fumei_flag`, `__fumei_hyoki`."""
    if fmt not in FORMATS:
        raise ConfigError(f"wareki format {fmt!r} is not one of {FORMATS}")
    i64, n, c = pl.Int64, pl.String, pl.col
    # full-width digits read in every format (as kanji and dotted always did): ０３４５０３０２ is 03450302
    s = c("__in").str.strip_chars().str.replace_many(_FULLWIDTH_DIGITS, [str(i) for i in range(10)])
    nines = s.str.contains(NINES_DATE)
    iso_shape = None
    zero_is_placeholder = fmt in ZERO_DATE_FORMATS
    if fmt == "seireki_iso":   # the same checks as seireki_yyyymmdd, once the ISO shape is read as its 8 digits
        iso_shape = s.str.contains(ISO_DATE)
        s, fmt = s.str.replace(ISO_DATE, "${1}${2}${3}"), "seireki_yyyymmdd"
    # blank or null → null, no error, in every format (a null compared would leave the errors' when-chain to
    # a format whose checks are not null for it: letter_yymmdd read an empty optional date as wareki.era)
    first: dict[str, pl.Expr] = {"__s": s, "__present": s.str.len_chars().fill_null(0) > 0, "__nines": nines,
                                 "__jun": pl.lit(None, pl.String), "__approx": pl.lit(None, pl.String)}
    second: dict[str, pl.Expr] = {}
    if fmt == "seireki_yyyymmdd":
        shape = s.str.contains(r"^[0-9]{8}$")
        first |= {"__shape_ok": shape if iso_shape is None else shape & iso_shape, "__num": s.cast(i64, strict=False)}
        second |= {"__year": c("__num") // 10000, "__era_error": pl.lit(False), "__era_name": pl.lit(None, n)}
    else:
        codes = _era_codes(fmt, eras)
        if fmt == "letter_yymmdd":
            # Ｓ４５０３０２ typed in full width: the six digits read width-folded (NFKC), the code as written
            # (`_read_code`: the table's own `Ｓ` first); a one-character era name (㍼ → 昭和) is that era
            codes = codes | {name: name for name in ERAS}
            code, digits = s.str.slice(0, 1), s.str.slice(1)
            first |= {"__shape_ok": code.str.contains(r"^[^0-9\s\uFF10-\uFF19]$")
                      & ~code.str.normalize("NFKC").str.contains(r"[0-9\s]")
                      & digits.str.contains(r"^[0-9\uFF10-\uFF19]{6}$"),
                      "__code": _read_code(code, codes),
                      "__num": digits.str.normalize("NFKC").cast(i64, strict=False), "__zero_code": pl.lit(False)}
        elif fmt in ("kanji", "dotted"):
            # 昭和45年3月2日, 令和元年5月1日, 平成 元年, H05.03.01, R元/5/1, full-width digits: blanks dropped,
            # digits read
            k = (s.str.replace_all(r"[\s\u3000]", "")
                 .str.replace_many(_FULLWIDTH_DIGITS, [str(i) for i in range(10)]))
            if fmt == "dotted":   # ＨＯ５．０３．０１ typed in full width: its separators read as . / -
                k = k.str.replace_many(["．", "／", "－"], [".", "/", "-"])
            else:   # 不詳表記 after the date (module docstring), read into __approx / __jun, the date left as 00s
                k, first["__approx"], first["__jun"] = _kanji_fumei(k)
            pattern = KANJI_DATE if fmt == "kanji" else DOTTED_DATE
            part = lambda i: k.str.extract(pattern, i)   # noqa: E731
            md = (3, 4) if fmt == "kanji" else (4, 6)
            shape = k.str.contains(pattern)
            if fmt == "dotted":   # one separator, the same twice: H05.03/01 is not a date written one way
                shape = shape & (part(3) == part(5))   # null input stays null (blank: no error)
            year = pl.when(part(2) == "元").then(pl.lit(1, i64)).otherwise(part(2).cast(i64, strict=False))
            first |= {"__shape_ok": shape, "__code": _read_code(part(1), codes),
                      "__num": year * 10000 + part(md[0]).cast(i64) * 100 + part(md[1]).cast(i64),
                      "__zero_code": part(1) == ""}   # no era written: only with an unknown year (00年)
        else:
            whole = s.cast(i64, strict=False)
            first |= {"__shape_ok": s.str.contains(r"^[0-9]{8}$" if fmt == "era2_yymmdd" else r"^[0-9]{7}$"),
                      "__code": whole // 1_000_000, "__num": whole % 1_000_000}
            first["__zero_code"] = first["__code"] == 0
            codes = {int(k): v for k, v in codes.items()}

        def lookup(i: int) -> pl.Expr:
            return c("__code").replace_strict({k: ERAS[v][i] for k, v in codes.items()}, default=None,
                                              return_dtype=i64)

        second |= {"__offset": lookup(0), "__start": lookup(1), "__end": lookup(2),
                   "__era_name": c("__code").replace_strict(codes, default=None, return_dtype=n)}
    num = c("__num")
    second |= {"__mm": (num // 100) % 100, "__dd": num % 100,
               "__year_unknown": (num // 10000) == 0}
    third: dict[str, pl.Expr] = {}
    if fmt != "seireki_yyyymmdd":
        third["__year"] = num // 10000 + c("__offset")
        # an unknown year may come with or without an era code ('03000512' or '00000512')
        third["__era_error"] = c("__offset").is_null() & ~(c("__year_unknown") & c("__zero_code"))

    year, mm, dd, y0 = c("__year"), c("__mm"), c("__dd"), c("__year_unknown")
    checks = {
        # 上旬 names a day of a known month: 昭和45年00月上旬 is no date
        "__format_error": ~c("__shape_ok") | (c("__jun").is_not_null() & (mm == 0)),
        # 00000000 / 0000-00-00: "no date", not 年月日不詳 (a 和暦 format's 00000000 is its 年月日不詳)
        "__zero_date_error": pl.lit(zero_is_placeholder) & (num == 0),
        "__month_error": mm > 12,
        "__day_error": dd > 31,
    }
    # 明治1–5年: a 旧暦 date (module docstring). 明治5年12月3日–31日 never were; no 旧暦 month has a 31st; other
    # days are not judged by Gregorian month lengths (a 旧暦 2月 may have a 30th)
    lunisolar = ~y0 & (c("__era_name") == "明治") & (year * 10000 + mm * 100 + dd < GREGORIAN_FROM)
    leap = y0 | ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)   # unknown year: 2/29 may exist
    month_days = (
        pl.when(mm == 2).then(pl.when(leap).then(29).otherwise(28))
        .when(mm.is_in([4, 6, 9, 11])).then(30)
        .otherwise(31)
    )
    if fmt == "seireki_yyyymmdd":
        checks["__range_error"] = pl.lit(False)
        checks["__other_era"] = pl.lit(False)
    else:
        # The date (or the span a partly unknown date covers) must touch the era's span. A day the
        # calendar lacks (4月31日) is judged by its month, like any impossible day kept as recorded:
        # 平成31年4月31日 is kept (平成31年4月 is 平成) with not_in_calendar; 令和元年4月31日 is not 令和.
        whole_month = (dd == 0) | (dd > month_days)
        ym = year * 10000 + mm * 100
        lo = pl.when(mm == 0).then(year * 10000 + 101).otherwise(ym + pl.when(whole_month).then(1).otherwise(dd))
        hi = pl.when(mm == 0).then(year * 10000 + 1231).otherwise(ym + pl.when(whole_month).then(31).otherwise(dd))
        start = pl.when(lunisolar.fill_null(False)).then(pl.lit(LUNISOLAR_START)).otherwise(c("__start"))
        checks["__range_error"] = ~y0 & ((hi < start) | (lo > c("__end")))   # no year: no span
        # a partly unknown date whose span reaches into the era before or after (1989-01-00: 昭和64年1月
        # and 平成元年1月): the ISO text alone cannot say which era the register wrote
        # (by the month's real last day: 平成31年4月日不詳 ends on 4月30日, within 平成)
        first_era, last_era = next(iter(ERAS)), next(reversed(ERAS))
        last = pl.when(mm == 0).then(year * 10000 + 1231).otherwise(ym + pl.when(dd == 0).then(month_days)
                                                                    .otherwise(dd))
        checks["__other_era"] = ~y0 & ((mm == 0) | (dd == 0)) & (
            ((lo < c("__start")) & (c("__era_name") != first_era))
            | ((last > c("__end")) & (c("__era_name") != last_era)))

    error = (
        pl.when(~c("__present")).then(pl.lit(None, n))
        .when("__nines").then(pl.lit("wareki.nines_date"))
        .when("__format_error").then(pl.lit("wareki.format"))
        .when("__zero_date_error").then(pl.lit("wareki.zero_date"))
        .when("__era_error").then(pl.lit("wareki.era"))
        .when("__month_error").then(pl.lit("wareki.month"))
        .when("__day_error").then(pl.lit("wareki.day"))
        .when("__range_error").then(pl.lit("wareki.era_range"))
        # a written 不詳表記 the line has no column for: held, not dropped (module docstring)
        .when(pl.lit(hyoki_column is False) & c("__qualified")).then(pl.lit("wareki.qualifier_column"))
        .otherwise(pl.lit(None, n))
    )
    status = {"__error": error}
    checks["__qualified"] = c("__jun").is_not_null() | c("__approx").is_not_null()
    ok_stage = {"__ok": (c("__present") & c("__error").is_null()).fill_null(False)}

    ok = c("__ok")
    year_text = pl.when(y0).then(pl.lit("0000")).otherwise(year.cast(n).str.zfill(4))
    skipped = ((year == GREGORIAN_FROM // 10000 - 1) & (mm == 12) & (dd >= 3)) | (dd == 31)
    gregorian_gap = (mm >= 1) & (dd >= 1) & (dd > month_days)
    era_text = pl.concat_str(c("__era_name"), pl.when(num // 10000 == 1).then(pl.lit("元"))
                             .otherwise((num // 10000).cast(n)), pl.lit("年"),
                             pl.when(mm > 0).then(mm.cast(n) + "月").otherwise(pl.lit("")))
    unknown_hyoki = pl.when(ok & (y0 | (mm == 0) | (dd == 0))).then(pl.concat_str(
        pl.when(y0).then(c("__era_name").fill_null(""))   # 昭和年不詳: keep the era
        .when(c("__other_era")).then(era_text).otherwise(pl.lit("")),   # 昭和64年1月日不詳: era, year, month
        pl.when(y0).then(pl.lit("年")).otherwise(pl.lit("")), pl.when(mm == 0).then(pl.lit("月")).otherwise(pl.lit("")),
        pl.when(dd == 0).then(pl.lit("日")).otherwise(pl.lit("")), pl.lit("不詳")))
    out = {
        "__warning": pl.when(ok & lunisolar.fill_null(False)).then(
            pl.when(skipped).then(pl.lit("wareki.not_in_calendar")).otherwise(pl.lit("wareki.pre_gregorian")))
        .when(ok & gregorian_gap).then(pl.lit("wareki.not_in_calendar"))
        .when(pl.lit(hyoki_column is None) & ok & c("__qualified")).then(pl.lit("wareki.qualifier")),
        "__iso": pl.when(ok).then(pl.concat_str(year_text, pl.lit("-"), mm.cast(n).str.zfill(2), pl.lit("-"),
                                                dd.cast(n).str.zfill(2))),
        "__fumei_hyoki": pl.when(ok & c("__qualified")).then(pl.concat_str(
            # 上旬 names the day part in place of 日不詳 (__jun comes with a day 00), then 頃 / 推定 as written
            pl.when(c("__jun").is_not_null()).then(unknown_hyoki.str.replace("日不詳$", "") + c("__jun"))
            .otherwise(unknown_hyoki.fill_null("")), c("__approx").fill_null("")))
        .otherwise(unknown_hyoki),
        "__fumei_flag": pl.when(ok).then(
            pl.when(y0 | (mm == 0) | (dd == 0) | c("__qualified")).then(pl.lit("1")).otherwise(pl.lit("0"))),
    }
    return [first, second, third, checks, status, ok_stage, out]
