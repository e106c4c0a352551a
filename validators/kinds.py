"""The registry of check kinds: named functions that turn parameters into Polars expressions.

A rule file refers to a kind by name and gives its parameters (checked by the kind's own strict
model); the engine never knows what a kind does. A kind returns one `Check` per column it looks
at: `failed` is a Boolean expression over the whole frame (null counts as passed), `value` is the
text to quarantine verbatim, `detail` an optional text appended to the message (which household,
how many heads …). `value` and `detail` are evaluated on the failing rows only (after the filter),
so a window in them sees only failing rows: put whole-frame windows in `stages`. Phase 1 kinds
see every row; phase 2 kinds (sets of rows) see only the rows that passed phase 1 errors, i.e. the
rows that would be loaded; phase 3 kinds (groups held together, households) see every row, those
phases 1 and 2 hold marked (`HELD`, and `HELD_BY`: why), with the records held before validation as
held rows of their own (as far as their columns are known; the engine never reports them).

Every kind declares `row_local`: True when its expressions read nothing but the row itself (and
constants), so any batch of rows gives the same answer as the whole table and the engine may
read the input batch by batch; False when it compares rows (duplicates, households) or reads
another table, so the engine gives it the whole table projected to the columns its expressions
name (`meta.root_names`). Phase 2 kinds always get that projection: they need all of phase 1.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Literal

import polars as pl
from pydantic import Field, field_validator, model_validator

from ikou import checkdigit
from ikou.errors import ConfigError
from ikou.schema import Table, TargetSchema
from ikou.spec import StrictModel
from ikou.spelling import Normalise, normalised


class Outcome(StrictModel):
    """A finding of a rule whose cause lies elsewhere, under its own rule id and message (named in the rules
    file, as a kind's parameter): e.g. a household held because its 世帯主 is held by another rule."""
    id: str = Field(description="the rule id its findings carry (quarantine.rule)")
    ja: str = Field(description="the findings' message in Japanese")
    en: str = Field(description="the findings' message in English")


@dataclass(frozen=True)
class Check:
    column: str | None
    failed: pl.Expr
    value: pl.Expr | None = None
    detail: pl.Expr | None = None
    # helper columns computed first, one with_columns per step (window functions over a
    # materialised column are ~20× faster than over a nested expression)
    stages: tuple[dict[str, pl.Expr], ...] = ()
    # the rule id and message of this check's findings when they are not the rule's own (Outcome)
    outcome: Outcome | None = None
    # the English half's detail when it is worded (`detail` is then the Japanese half's; None: one for both)
    detail_en: pl.Expr | None = None
    # the same check built from its input (a table-wide check on the column's distinct values): the engine
    # calls it with the frame the phase reads; the expressions above stay the definition it must equal
    prepare: Callable[[pl.DataFrame], "Check"] | None = None


@dataclass(frozen=True)
class Context:
    """What a kind may read besides its parameters."""

    table_name: str
    table: Table
    schema: TargetSchema
    columns: frozenset[str]
    dantai_code: str
    source_frames: dict[str, pl.DataFrame | pl.LazyFrame] = field(default_factory=dict)
    # key columns of records held before validation (at map: an impossible date …), for `held_together`
    held_before: pl.DataFrame | None = None
    # the run's date (validators.engine.run_date_of: the run id's day in Japan), for `date_range`'s `max: run_date`
    run_date: dt.date | None = None

    def need(self, *names: str) -> None:
        missing = [n for n in names if n not in self.columns]
        if missing:
            raise ConfigError(f"validate {self.table_name}: columns {missing} named by a rule are not in the data")


@dataclass(frozen=True)
class Kind:
    name: str
    params: type[StrictModel]
    build: Callable[[StrictModel, Context], list[Check]]
    message: tuple[str, str]
    row_local: bool             # reads only the row: may be evaluated batch by batch
    phase: int = 1


KINDS: dict[str, Kind] = {}


def kind(name: str, params: type[StrictModel], ja: str, en: str, *, row_local: bool, phase: int = 1):
    """Register a kind; `row_local` has no default, so every kind states whether batches may split it."""
    def register(fn: Callable[[StrictModel, Context], list[Check]]):
        KINDS[name] = Kind(name, params, fn, (ja, en), row_local, phase)
        return fn
    return register


def _text(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.String)


def _blank(col: str) -> pl.Expr:
    return _text(col).str.strip_chars().str.len_chars() == 0


class Columns(StrictModel):
    columns: list[str] = Field(min_length=1, description="the columns checked, each on its own")


class Length(Columns):
    length: int = Field(ge=1, description="the length in characters (exact for length, the most for max_length)")


class Pattern(Columns):
    regex: str = Field(description="must match the whole value (anchor it: ^…$)")


class CodeValue(Columns):
    code_table: str | None = Field(None, description="schema code table name")
    values: list[str] | None = Field(None, description="or the allowed values inline")


class DateValid(StrictModel):
    column: str = Field(description="the date column (YYYY-MM-DD text)")
    fumei_flag: str | None = Field(None, description="不詳フラグ column: '1' allows 00 parts")


class DateOrder(StrictModel):
    earlier: str = Field(description="the date column that must not be after `later`")
    later: str = Field(description="the date column that must not be before `earlier`")


class DateRange(Columns):
    min: str | None = Field(None, description="the earliest date allowed (YYYY-MM-DD); none: no lower bound")
    max: str | None = Field(None, description="the latest date allowed (YYYY-MM-DD), or `run_date`: the day the run "
                                              "started, in Japan (the run id's time); none: no upper bound")

    @field_validator("min", "max", mode="before")
    @classmethod
    def _iso(cls, v: object, info) -> object:
        """YAML reads an unquoted 1868-01-01 as a date: take it as its ISO text; refuse anything else."""
        if isinstance(v, dt.date):
            v = v.isoformat()
        if v is None or (info.field_name == "max" and v == "run_date"):
            return v
        try:
            if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", str(v)) and dt.date.fromisoformat(str(v)):
                return v
        except ValueError:
            pass
        raise ValueError(f"{v!r} is not a date YYYY-MM-DD" + (" or run_date" if info.field_name == "max" else ""))

    @model_validator(mode="after")
    def _a_bound(self) -> "DateRange":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


class Key(StrictModel):
    columns: list[str] = Field(min_length=1, description="the key columns, together (宛名番号 + 履歴番号 …)")


class Setainushi(StrictModel):
    person: str = Field("atena_no", description="the person column (宛名番号)")
    rireki: str = Field("rireki_no", description="the history number column (履歴番号): a person's latest row counts")
    setai: str = Field("setai_no", description="the household column (世帯番号)")
    jotai: str = Field("jumin_jotai_code", description="the 住民状態 column")
    active_jotai: list[str] = Field(["1"], description="住民状態 codes of a resident: only they are counted")
    zokugara: str = Field("zokugara_code", description="the 続柄 column")
    setainushi_codes: list[str] = Field(["02"], description="続柄 codes of a 世帯主")
    head_held: Outcome | None = Field(
        None, description="a household left without a 世帯主 because its 世帯主 is held by another rule (a bad "
                          "生年月日 …): the rule id and message of its members' findings, whose detail names the "
                          "held 世帯主 and why it is held (default: this rule's own id and message)")
    head_maybe_held: Outcome | None = Field(
        None, description="a household with no 世帯主 among the rows validated, none known to be held, while records "
                          "that may be its 世帯主 are held (a held record of the household whose 続柄 is unknown, or a "
                          "held record whose household is unknown: held at extract, a person a multi-table source's "
                          "combine held): the rule id and message of its members' findings, which say the 世帯主 may "
                          "be among the held records, not that the legacy data has none (default: this rule's own)")


class Referential(StrictModel):
    column: str | list[str] = Field(description="the referring column, or columns (a composite key)")
    frame: str = Field(description="a source frame name, or this table's own name")
    frame_column: str | list[str] = Field(description="the referenced column(s), in the same order")
    optional: bool = Field(False, description="the referenced table belongs to another 業務: when this run "
                                              "does not migrate it, the rule is not checked (instead of an error)")


class Flag(StrictModel):
    flag: str = Field("_moji_unresolved", description="the Boolean column the 文字同定 stage sets")
    detail: str | None = Field(None, description="optional text column shown as the finding's value")


@kind("required", Columns, "必須項目が空です", "required value is missing", row_local=True)
def _required(p: Columns, ctx: Context) -> list[Check]:
    ctx.need(*p.columns)
    return [Check(c, pl.col(c).is_null() | _blank(c), _text(c)) for c in p.columns]


@kind("length", Length, "桁数が規定と異なります", "value does not have the required length", row_local=True)
def _length(p: Length, ctx: Context) -> list[Check]:
    ctx.need(*p.columns)
    return [Check(c, _text(c).str.len_chars() != p.length, _text(c),
                  pl.format("{} 桁、規定は {} 桁", _text(c).str.len_chars(), pl.lit(p.length)),
                  detail_en=pl.format("length {} ≠ {}", _text(c).str.len_chars(), pl.lit(p.length)))
            for c in p.columns]


@kind("max_length", Length, "桁数が上限を超えています", "value is longer than allowed", row_local=True)
def _max_length(p: Length, ctx: Context) -> list[Check]:
    ctx.need(*p.columns)
    return [Check(c, _text(c).str.len_chars() > p.length, _text(c),
                  pl.format("{} 桁、上限は {} 桁", _text(c).str.len_chars(), pl.lit(p.length)),
                  detail_en=pl.format("length {} > {}", _text(c).str.len_chars(), pl.lit(p.length)))
            for c in p.columns]


@kind("integer", Columns, "整数ではありません", "value is not an integer", row_local=True)
def _integer(p: Columns, ctx: Context) -> list[Check]:
    ctx.need(*p.columns)
    return [Check(c, pl.col(c).is_not_null() & _text(c).str.strip_chars().cast(pl.Int64, strict=False).is_null(),
                  _text(c)) for c in p.columns]


@kind("pattern", Pattern, "形式が不正です", "value does not match the expected format", row_local=True)
def _pattern(p: Pattern, ctx: Context) -> list[Check]:
    ctx.need(*p.columns)
    return [Check(c, ~_text(c).str.contains(p.regex), _text(c)) for c in p.columns]


@kind("code_value", CodeValue, "コード表にない値です", "value is not in the code table", row_local=True)
def _code_value(p: CodeValue, ctx: Context) -> list[Check]:
    ctx.need(*p.columns)
    if (p.code_table is None) == (p.values is None):
        raise ConfigError(f"validate {ctx.table_name}: code_value needs exactly one of code_table, values")
    if p.code_table is not None:
        if p.code_table not in ctx.schema.code_tables:
            raise ConfigError(f"validate {ctx.table_name}: unknown code table {p.code_table!r}")
        values = ctx.schema.code_values(p.code_table)["code"].to_list()
    else:
        values = list(p.values)
    allowed = pl.Series(values, dtype=pl.String)
    return [Check(c, ~_blank(c) & ~_text(c).is_in(allowed.implode()), _text(c)) for c in p.columns]


def _digits_kind(name: str, fn: Callable[[pl.Expr], pl.Expr], ja: str, en: str, *, digits_only: bool = False) -> None:
    """`digits_only`: judge only values written in ASCII digits. What is not digits at all has no check
    digit to get wrong: its own rule (a `pattern` such as format.atena_no) says what is wrong with it,
    rather than a misleading "check digit does not match"."""
    @kind(name, Columns, ja, en, row_local=True)
    def _build(p: Columns, ctx: Context) -> list[Check]:
        ctx.need(*p.columns)
        return [Check(c, (_text(c).str.contains(r"^[0-9]+$") if digits_only else pl.lit(True)) & ~fn(pl.col(c)),
                      _text(c)) for c in p.columns]


_digits_kind("checkdigit_dantai", checkdigit.dantai_code_valid,
             "団体コードの検査数字が不正です", "団体コード check digit is wrong")
_digits_kind("checkdigit_kojin_no", checkdigit.kojin_no_valid,
             "個人番号の形式または検査数字が不正です", "個人番号 is not 12 digits with a valid check digit")
_digits_kind("checkdigit_atena", checkdigit.atena_no_valid,
             "番号の検査数字（モジュラス11）が一致しません", "modulus-11 check digit does not match", digits_only=True)


class RepeatedChar(Columns):
    min_length: int = Field(2, ge=2, description="shorter values are not judged")


@kind("repeated_char", RepeatedChar, "同じ文字の繰り返しだけの値です（仮の値）",
      "value is one character repeated (a placeholder)", row_local=True)
def _repeated_char(p: RepeatedChar, ctx: Context) -> list[Check]:
    """A value that is one character repeated (000000000000, 999999999999): what vendors write for "not
    collected", not a number anyone was given, even where a check digit formula happens to accept it."""
    ctx.need(*p.columns)
    checks = []
    for c in p.columns:
        t = _text(c)
        checks.append(Check(c, (t.str.len_chars() >= p.min_length) & (t.str.strip_chars(t.str.slice(0, 1)) == ""), t))
    return checks


class SameAfterNormalising(Columns):
    normalise: list[Normalise] = Field(
        min_length=1, description="what makes two spellings the same: strip (surrounding whitespace, any width), "
                                  "width (NFKC: full-width digits and letters), digits_only (every character but "
                                  "the digits dropped: A0000007803, 0000-7803), leading_zeros, case")


@kind("same_after_normalising", SameAfterNormalising,
      "表記が異なるだけで同じ値です（別々のキーとして読むと同じ人・世帯が分かれるため、すべての表記の行を保留）",
      "values written differently are the same once normalised (read as separate keys they would split one "
      "person or household: every row of every spelling is held)", row_local=False)
def _same_after_normalising(p: SameAfterNormalising, ctx: Context) -> list[Check]:
    """Rows whose value, normalised (`normalise`: leading zeros Excel stripped, a trailing space, full-width
    digits), equals the normalised value of rows written otherwise: 0000080101 and 80101 are one 宛名番号
    written two ways, which `unique_key` (raw text) and `held_together` (raw groups) cannot see. Every
    row of every spelling fails, so the person's whole history is held, never half of it."""
    ctx.need(*p.columns)
    checks = []
    for c in p.columns:
        norm, n = f"__norm_{c}", f"__spellings_{c}"
        stages = ({norm: normalised(pl.col(c), list(p.normalise))},
                  {n: pl.when(pl.col(norm).is_not_null()).then(pl.col(c).n_unique().over(norm))})
        checks.append(Check(c, (pl.col(n) > 1).fill_null(False), _text(c),
                            pl.format("{}: {} 通りの表記 (正規化すると {})", pl.lit(c), pl.col(n), pl.col(norm)), stages,
                            detail_en=pl.format("{}: {} spellings of {}", pl.lit(c), pl.col(n), pl.col(norm)),
                            prepare=partial(_spellings_of_distinct, c, tuple(p.normalise))))
    return checks


def _spellings_of_distinct(c: str, normalise: tuple[Normalise, ...], frame: pl.DataFrame) -> Check:
    """`same_after_normalising` on the column's distinct values: each normalised once, not once per row,
    and the spellings found without a window over every row (1M persons' 宛名番号: about half the time).
    The detail's window runs over the failing rows only, which hold every spelling of their number."""
    u = frame.lazy().select(_text(c).unique()).with_columns(normalised(pl.col(c), list(normalise)).alias("__n"))
    bad = u.filter(pl.col("__n").is_duplicated() & pl.col("__n").is_not_null()).collect().get_column(c)
    norm = normalised(pl.col(c), list(normalise))
    n = _text(c).n_unique().over(norm)
    return Check(c, _text(c).is_in(bad.implode()), _text(c),
                 pl.format("{}: {} 通りの表記 (正規化すると {})", pl.lit(c), n, norm),
                 detail_en=pl.format("{}: {} spellings of {}", pl.lit(c), n, norm))


class ModalLength(Columns):
    share: float = Field(0.99, gt=0.5, le=1, description="the share of the column's values (not null, not blank) "
                                                         "that must have one length for a value of another length "
                                                         "to be a finding; below it the column's lengths vary by "
                                                         "design (numbers without padding: 1 … 12345) and nothing "
                                                         "is judged")
    only: Literal["shorter", "longer"] | None = Field(
        None, description="judge only the values shorter than that length (a number whose leading zeros were lost), "
                          "or only those longer (a numbering that grew past a digit); none: both")


@kind("modal_length", ModalLength, "ほかの値とほぼすべて桁数が揃った列で、この値だけ桁数が異なります",
      "nearly every value of the column has one length, this one another", row_local=False)
def _modal_length(p: ModalLength, ctx: Context) -> list[Check]:
    """Where at least `share` of a column's values have one length, a value of another length is a finding:
    0000016837 written 16837 (its zeros lost on the way, Excel) among 10-digit numbers, when no other spelling of
    it is there for `same_after_normalising` to compare, and the check digit, blind to leading zeros, passes.
    Computed on the lengths' counts (`prepare`: a group by over the column); the expressions over every row (its
    stages) stay the definition."""
    ctx.need(*p.columns)
    checks = []
    for c in p.columns:
        n, cnt, top, share = (f"__len_{c}", f"__len_n_{c}", f"__len_top_{c}", f"__len_share_{c}")
        stages = ({n: pl.when(~_blank(c)).then(_text(c).str.len_chars())},
                  {cnt: pl.col(n).count().over(n)},
                  {top: pl.col(n).filter(pl.col(cnt) == pl.col(cnt).max()).min(),
                   share: pl.col(cnt).max() / pl.col(n).count()})
        failed, detail, detail_en = _off_length(p, pl.col(n), pl.col(top), pl.col(share))
        checks.append(Check(c, failed.fill_null(False), _text(c), detail, stages, detail_en=detail_en,
                            prepare=partial(_modal_length_of, p, c)))
    return checks


def _off_length(p: ModalLength, n: pl.Expr, top: pl.Expr, share: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """`modal_length`'s mask and details from the value's length `n`, the column's modal length and its share."""
    off = {"shorter": n < top, "longer": n > top, None: n != top}[p.only]
    pct = ((share * 1000).floor() / 10).cast(pl.String)
    return ((share >= p.share) & off,
            pl.format("{} 桁、この列の値の {}% は {} 桁", n, pct, top),
            pl.format("length {}; {}% of the column's values are {} long", n, pct, top))


def _modal_length_of(p: ModalLength, c: str, frame: pl.DataFrame) -> Check:
    """`modal_length` on the counts of the column's lengths (one group by), not on windows over every row."""
    n = pl.when(~_blank(c)).then(_text(c).str.len_chars())
    counts = frame.lazy().select(n.alias("n")).drop_nulls().group_by("n").len().collect()
    if counts.height == 0:
        return Check(c, pl.lit(False), _text(c))
    first = counts.sort(["len", "n"], descending=[True, False]).row(0)
    top, share = first[0], first[1] / counts["len"].sum()
    off = counts["n"].filter(counts["n"] < top if p.only == "shorter" else counts["n"] > top if p.only == "longer"
                             else counts["n"] != top)
    if share < p.share or off.is_empty():   # nothing to judge: no pass over the rows
        return Check(c, pl.lit(False), _text(c))
    failed, detail, detail_en = _off_length(p, n, pl.lit(top, pl.UInt32), pl.lit(share, pl.Float64))
    return Check(c, failed.fill_null(False), _text(c), detail, detail_en=detail_en)


class SpelledOtherwise(StrictModel):
    column: str = Field(description="the referring column (one: a number such as 宛名番号)")
    frame: str = Field(description="the table it refers to (another 業務's too)")
    frame_column: str = Field(description="the referenced column")
    normalise: list[Normalise] = Field(min_length=1, description="what makes two spellings the same (as in "
                                                                 "same_after_normalising)")
    optional: bool = Field(False, description="not checked when this run does not migrate `frame`")


@kind("spelled_otherwise_in", SpelledOtherwise,
      "参照先に同じ番号が別の表記で存在します（先頭のゼロが落ちたなど。別人として投入されるため保留）",
      "the referenced table holds the same number written otherwise (leading zeros lost …): read as written it "
      "would be another person, so the row is held", row_local=False)
def _spelled_otherwise_in(p: SpelledOtherwise, ctx: Context) -> list[Check]:
    """A value missing from the table it refers to, written exactly, whose normalised form (`normalise`) is
    there: the 税 export lost the leading zeros of 0123456785, so 123456785 would load as a 住登外者 while the
    resident is the same person. Joins on the distinct normalised values of the other table's column."""
    ctx.need(p.column)
    frames = ctx.source_frames or {}
    if p.frame == ctx.table_name or (p.optional and p.frame not in frames):
        return []
    if p.frame not in frames or p.frame_column not in frames[p.frame].collect_schema().names():
        raise ConfigError(f"validate {ctx.table_name}: rule needs frame {p.frame!r} with column {p.frame_column!r}")
    other = frames[p.frame].lazy().select(pl.col(p.frame_column).cast(pl.String).alias("k"))
    exact = other.drop_nulls().unique().collect().to_series()
    spelled = (other.select(normalised(pl.col("k"), list(p.normalise)).alias("n")).drop_nulls().unique()
               .collect().to_series())
    value = _text(p.column)
    failed = (value.is_not_null() & ~value.is_in(exact.implode())
              & normalised(pl.col(p.column), list(p.normalise)).is_in(spelled.implode())).fill_null(False)
    return [Check(p.column, failed, value)]


# Private use (外字): the BMP area a CP932 user-defined cell decodes to, and the supplementary planes 15-16
PRIVATE_USE = "[\ue000-\uf8ff\U000F0000-\U0010FFFF]"
_HEX = {i: "0123456789ABCDEF"[i] for i in range(16)}


def code_points(e: pl.Expr, pattern: str = PRIVATE_USE) -> pl.Expr:
    """The code points (`U+E000 U+E001`) of the characters of `e` matching `pattern`, as Polars
    expressions (from each character's UTF-8 bytes): a message names them, never the value."""
    def one(ch: pl.Expr) -> pl.Expr:
        h = ch.str.encode("hex")
        v = h.str.to_integer(base=16, strict=False)
        three = ((v // 65536) % 16) * 4096 + ((v // 256) % 64) * 64 + v % 64
        four = ((v // 16777216) % 8) * 262144 + ((v // 65536) % 64) * 4096 + ((v // 256) % 64) * 64 + v % 64
        two = ((v // 256) % 32) * 64 + v % 64
        cp = (pl.when(h.str.len_chars() == 8).then(four).when(h.str.len_chars() == 6).then(three)
              .when(h.str.len_chars() == 4).then(two).otherwise(v))
        digits = [((cp // 16 ** i) % 16).replace_strict(_HEX, return_dtype=pl.String) for i in range(5, -1, -1)]
        return pl.concat_str(pl.lit("U+"), pl.concat_str(digits).str.replace(r"^00?", ""))
    return e.cast(pl.String).str.extract_all(pattern).list.eval(one(pl.element())).list.join(" ")


@kind("no_private_use", Columns, "文字同定の対象でない列に外字 (私用領域の文字) があります（団体の外字表はこの列には使えません）",
      "private-use (外字) character in a column 文字同定 does not cover (the 外字 table does not apply to it)",
      row_local=True)
def _no_private_use(p: Columns, ctx: Context) -> list[Check]:
    """A private-use code point means a glyph only under one vendor's 外字 table, which 文字同定 applies to
    `moji` columns only: anywhere else it would reach the standard system as a bare vendor code. The
    finding's value is the column's own (masked where the schema marks it sensitive); its message names
    the column and the code points, never the value."""
    ctx.need(*p.columns)
    return [Check(c, _text(c).str.contains(PRIVATE_USE), _text(c),
                  pl.concat_str(pl.lit(f"{c}: "), code_points(pl.col(c)))) for c in p.columns]


@kind("equals_run_dantai", Columns, "実行中の団体と異なる団体コードです", "団体コード differs from the run's 団体",
      row_local=True)
def _equals_run_dantai(p: Columns, ctx: Context) -> list[Check]:
    ctx.need(*p.columns)
    return [Check(c, _text(c) != ctx.dantai_code, _text(c)) for c in p.columns]


_ISO = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _parts(col: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    t = _text(col)
    return (t.str.slice(0, 4).cast(pl.Int32, strict=False), t.str.slice(5, 2).cast(pl.Int32, strict=False),
            t.str.slice(8, 2).cast(pl.Int32, strict=False))


@kind("date_valid", DateValid, "日付が不正です（00は不詳フラグがある場合のみ）",
      "invalid date (00 parts only when the 不詳 flag is set)", row_local=True)
def _date_valid(p: DateValid, ctx: Context) -> list[Check]:
    """ISO text; 00 parts (any of year, month, day: 年不詳 … 年月日不詳) only with the flag. Days the
    calendar lacks (2/29 of a common year) pass: the register's value is kept as recorded."""
    ctx.need(p.column, *([p.fumei_flag] if p.fumei_flag else []))
    t = _text(p.column)
    y, m, d = _parts(p.column)
    shape = t.str.contains(_ISO) & (m <= 12) & (d <= 31)
    has_unknown = (y == 0) | (m == 0) | (d == 0)
    flagged = (_text(p.fumei_flag) == "1").fill_null(False) if p.fumei_flag else pl.lit(False)
    failed = t.is_not_null() & ~_blank(p.column) & ~(shape & (~has_unknown | flagged)).fill_null(False)
    return [Check(p.column, failed, t)]


def _precision(col: str) -> pl.Expr:
    """How many leading characters of an ISO text are known: 0 / 4 / 7 / 10."""
    y, m, d = _parts(col)
    return pl.when(y == 0).then(0).when(m == 0).then(4).when(d == 0).then(7).otherwise(10)


@kind("date_order", DateOrder, "日付の前後関係が不正です", "dates are out of order", row_local=True)
def _date_order(p: DateOrder, ctx: Context) -> list[Check]:
    """earlier ≤ later, compared as text at the precision both dates know (不詳 parts skipped)."""
    ctx.need(p.earlier, p.later)
    a, b = _text(p.earlier), _text(p.later)
    prec = pl.min_horizontal(_precision(p.earlier), _precision(p.later))
    valid = a.str.contains(_ISO) & b.str.contains(_ISO) & (prec > 0)
    failed = valid & (a.str.slice(0, prec) > b.str.slice(0, prec))
    return [Check(p.later, failed, pl.concat_str(a, pl.lit(" > "), b))]


@kind("date_range", DateRange, "日付が有り得る範囲の外です", "date is outside the range it can have", row_local=True)
def _date_range(p: DateRange, ctx: Context) -> list[Check]:
    """min ≤ date ≤ max, compared as ISO text at the precision the date knows (as `date_order`: 1970-03-00 by
    1970-03, 0000-00-00 not at all). A 生年月日 after the run, or a 9999-12-31 standing for "no date", would load
    as a real date: no other rule compares a date with anything but another column. Null, blank and text that
    is no ISO date pass (`date_valid`'s business)."""
    ctx.need(*p.columns)
    top = p.max
    if top == "run_date":
        if ctx.run_date is None:
            raise ConfigError(f"validate {ctx.table_name}: a date_range rule compares with the run's date, "
                              "which this validation was not given",
                              ja=f"検証 {ctx.table_name}: date_range の max: run_date に使う実行日が与えられていません")
        top = ctx.run_date.isoformat()
    checks = []
    for c in p.columns:
        t, prec = _text(c), _precision(c)
        known = t.str.slice(0, prec)
        judged = t.str.contains(_ISO) & (prec > 0)
        low = (known < pl.lit(p.min).str.slice(0, prec)) if p.min else pl.lit(False)
        high = (known > pl.lit(top).str.slice(0, prec)) if top else pl.lit(False)
        below = f"{c} < {p.min}"
        above = f"{c} > {top}"
        run_date = p.max == "run_date"
        detail = pl.when(low).then(pl.lit(below)).otherwise(pl.lit(above + (" (実行日)" if run_date else "")))
        detail_en = pl.when(low).then(pl.lit(below)).otherwise(pl.lit(above + (" (run date)" if run_date else "")))
        checks.append(Check(c, (judged & (low | high)).fill_null(False), t, detail, detail_en=detail_en))
    return checks


@kind("unique_key", Key, "キーが重複しています（重複した全行を保留）", "duplicate key (every row of it is held)",
      row_local=False)
def _unique_key(p: Key, ctx: Context) -> list[Check]:
    ctx.need(*p.columns)
    # a window count, not pl.struct(...).is_duplicated(): same rows (nulls group together),
    # a third of the memory and faster at 2M rows
    return [Check(",".join(p.columns), pl.len().over(p.columns) > 1,
                  pl.concat_str([_text(c).fill_null("") for c in p.columns], separator=","),
                  pl.format("同じキーの行が {} 行", pl.len().over(p.columns)),
                  detail_en=pl.format("{} rows", pl.len().over(p.columns)))]


HELD = "__held"        # phase 3: the engine marks the rows phases 1 and 2 hold
HELD_BY = "__held_by"  # … and why: "<rule> (<source> source_line <n>)" of the first error that holds the row


def held_by(rule: pl.Expr, source: pl.Expr, line: pl.Expr) -> pl.Expr:
    """What `HELD_BY` says of a held record: its rule and where it is (source and source_line, as the quarantine)."""
    return pl.format("{} ({} source_line {})", rule.fill_null("?"), source.fill_null("?"),
                     line.cast(pl.String).fill_null("?"))


@kind("setainushi", Setainushi, "世帯主が一人ではありません（世帯全体を保留）",
      "household does not have exactly one current 世帯主 (whole household held)", row_local=False, phase=3)
def _setainushi(p: Setainushi, ctx: Context) -> list[Check]:
    """Each current household (世帯番号 on the latest 履歴 of persons whose 住民状態 is active) has exactly
    one 世帯主 that will be loaded. A failure holds every history row of every person currently in that household.

    Phase 3: it sees every row, those held already marked (`HELD`, `HELD_BY`), and the records held before
    validation (at extract, map or 文字同定) as far as their columns are known. A person with any held row is
    held whole (`held_together`), so is no 世帯主 that will be loaded: a household whose only 世帯主 is held
    is held too, and its findings (`head_held`) name that 世帯主 and why it is held, not "no 世帯主" — the
    legacy data has one, and fixing its record migrates the household. A household with none among the rows
    validated and none known to be held, while held records may be its 世帯主 (their 続柄 or household unknown:
    `_maybe_held_head`), gets `head_maybe_held`: its 世帯主 may be among the held records. A household with
    really none (nothing held that could be it) or two gets the rule's own message. A member whose own person
    is held is left to `held_together`."""
    ctx.need(p.person, p.rireki, p.setai, p.jotai, p.zokugara)
    held = pl.col(HELD)
    known = pl.col(p.jotai).is_not_null()   # a record held before validation whose state is unknown: not its latest
    head = pl.col("__current") & _text(p.zokugara).is_in(p.setainushi_codes)
    maybe = p.head_maybe_held is not None
    # "atena_no=… rireki_no=… held by …" of a held 世帯主; with `head_maybe_held`, also of a held record that may be
    # it ("~…": after them in the household's min, only named when the household has no held 世帯主)
    cand = head & pl.col("__person_held")
    mark = pl.when(cand).then(pl.lit("")).when(pl.col("__maybe_head")).then(pl.lit("~")) if maybe \
        else pl.when(cand).then(pl.lit(""))
    unknown = pl.when(cand).then(pl.lit("")).otherwise(pl.lit(" (続柄 unknown)")) if maybe else pl.lit("")
    # the details in Japanese for message_ja (the English ones above for message_en): the columns by their 項目名,
    # the keys as they are (宛名番号, 履歴番号, 世帯番号: never a name or 個人番号)
    person_ja, rireki_ja, setai_ja = (_label_ja(ctx, c) for c in (p.person, p.rireki, p.setai))
    unknown_ja = pl.when(cand).then(pl.lit("")).otherwise(pl.lit(" (続柄不明)")) if maybe else pl.lit("")
    latest = known & (pl.col(p.rireki) == pl.col("__latest_rireki"))
    stages = [
        {"__person_held": held.any().over(p.person),
         "__latest_rireki": pl.col(p.rireki).filter(known).max().over(p.person)},
        {"__latest": latest, "__current": latest & _text(p.jotai).is_in(p.active_jotai)},
        {"__current_setai": pl.when("__current").then(_text(p.setai))},
        {"__household": pl.col("__current_setai").max().over(p.person),   # person's current 世帯番号
         "__cause": pl.col(HELD_BY).drop_nulls().first().over(p.person),
         # the 履歴 the cause is on: the head's current row may be held only with it (held_together)
         "__cause_rireki": _text(p.rireki).filter(pl.col(HELD_BY).is_not_null()).first().over(p.person)},
        {"__heads": (head & ~pl.col("__person_held")).sum().over("__household"),
         "__held_heads": cand.sum().over("__household"),
         "__held_head": pl.format("{}{}={} {}={}{} held{} by {}", mark, pl.lit(p.person), _text(p.person),
                                  pl.lit(p.rireki), _text(p.rireki), unknown,
                                  pl.when(pl.col("__cause_rireki").fill_null("?") != _text(p.rireki).fill_null("?"))
                                  .then(pl.format(" with its {}={}", pl.lit(p.rireki),
                                                  pl.col("__cause_rireki").fill_null("?")))
                                  .otherwise(pl.lit("")),
                                  pl.col("__cause").fill_null("?")),
         "__held_head_ja": pl.when(mark.is_not_null()).then(pl.format(
             "{} {} {} {}{} は{}保留 (理由: {})", pl.lit(person_ja), _text(p.person), pl.lit(rireki_ja), _text(p.rireki),
             unknown_ja,
             pl.when(pl.col("__cause_rireki").fill_null("?") != _text(p.rireki).fill_null("?"))
             .then(pl.format("{} {} とともに", pl.lit(rireki_ja), pl.col("__cause_rireki").fill_null("?")))
             .otherwise(pl.lit("")),
             _cause_ja(pl.col("__cause"))))},
        # the household's first (held 世帯主 before "~" maybe ones), the Japanese one of the same record
        {"__held_head": pl.col("__held_head").min().over("__household"),
         "__held_head_ja": pl.col("__held_head_ja").filter(pl.col("__held_head") == pl.col("__held_head").min())
         .first().over("__household")},
    ]
    member = ~held & ~pl.col("__person_held") & pl.col("__household").is_not_null()
    cause_held = (pl.col("__heads") == 0) & (pl.col("__held_heads") > 0)
    maybe_held, maybe_detail, maybe_detail_en = (_maybe_held_head(p, ctx, stages, person_ja, rireki_ja, setai_ja)
                                                 if maybe else (pl.lit(False), None, None))
    stages = tuple(stages)
    checks = [Check(p.setai, member & (pl.col("__heads") != 1) & ~cause_held & ~maybe_held, pl.col("__household"),
                    pl.format("{} {}、現在の世帯主 {} 人", pl.lit(setai_ja), pl.col("__household"), pl.col("__heads")),
                    stages,
                    detail_en=pl.format("setai_no={} setainushi={}", pl.col("__household"), pl.col("__heads")))]
    held_detail = pl.concat_str(
        pl.format("{} {}、世帯主 {}", pl.lit(setai_ja), pl.col("__household"), pl.col("__held_head_ja")),
        pl.when(pl.col("__held_heads") > 1).then(pl.format("、ほか {} 人の世帯主も保留", pl.col("__held_heads") - 1))
        .otherwise(pl.lit("")))
    held_detail_en = pl.concat_str(
        pl.format("setai_no={}; setainushi {}", pl.col("__household"), pl.col("__held_head")),
        pl.when(pl.col("__held_heads") > 1).then(pl.format(" (+{} more)", pl.col("__held_heads") - 1))
        .otherwise(pl.lit("")))
    checks.append(Check(p.setai, member & cause_held, pl.col("__household"), held_detail, stages,
                        outcome=p.head_held, detail_en=held_detail_en))
    if maybe:
        checks.append(Check(p.setai, member & maybe_held, pl.col("__household"), maybe_detail, stages,
                            outcome=p.head_maybe_held, detail_en=maybe_detail_en))
    return checks


def _label_ja(ctx: Context, column: str) -> str:
    """A column as a Japanese detail names it: its 項目名 (宛名番号), else its name."""
    return next((c.ja for c in ctx.table.columns if c.name == column), column)


def _cause_ja(cause: pl.Expr) -> pl.Expr:
    """Why a record is held (`HELD_BY`: "<rule> (<source> source_line <n>)", or "the <stage> stage (see its
    quarantine)" for a record that says only where it was held) as a Japanese detail says it."""
    return (cause.fill_null("不明").str.replace(r"^(\S+) \((.*) source_line ([^()]*)\)$", "${1}、${2} ${3} 行目")
            .str.replace(r"^the (\S+) stage \(see its quarantine\)$", "${1} 段階 (その段階の保留一覧を参照)"))


def _maybe_held_head(p: Setainushi, ctx: Context, stages: list[dict[str, pl.Expr]], person_ja: str, rireki_ja: str,
                     setai_ja: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """When a household has no 世帯主 among the rows validated and none known to be held, its 世帯主 may still be
    a held record whose 続柄 (what makes it the head) or whose household is unknown: (1) a held person whose
    current row is in the household with its 続柄 unknown (its mapping failed: a code in no code table), (2) a
    held person with no current household whose row says nothing of it (a record held at extract, its fields
    unread, newer than any row whose state is known; or an active row whose 世帯番号 is unknown, its 続柄 unknown
    or 世帯主), (3) a record held before validation that names no person of this table (a person a multi-table
    source's combine held: `KOJIN_KEY=…`; a record held at extract whose key could not be read: each one counts).
    The legacy data may well have its 世帯主 then: the findings must say so, not that it has none. Adds what it
    reads to `stages`, beside the windows over the same columns (whose groups Polars makes once; no text is made
    per row here: the rule's time at 2M rows is about what it was); returns the mask (on top of `member`) and the
    details (Japanese, English) naming the first candidate and how many there are; `person_ja` … the columns'
    項目名 the Japanese one names them by."""
    zok = _text(p.zokugara)
    zok_unknown = zok.is_null() | (zok.str.strip_chars() == "")
    # (3) from the records held before validation (validators.step: key columns null when the record_key names none)
    keyless_n, keyless_first = 0, None
    hb = ctx.held_before
    if hb is not None and hb.height:
        if p.person in hb.columns:
            hb = hb.filter(pl.col(p.person).cast(pl.String).fill_null("").str.strip_chars() == "")
        if hb.height:
            # records named by another key, once each; those whose key could not be read (null): each one
            keyless_n = hb["record_key"].drop_nulls().n_unique() + hb["record_key"].null_count() \
                if "record_key" in hb.columns else hb.height
            keyless_first = hb[HELD_BY].drop_nulls().first() if HELD_BY in hb.columns else None
    person, rireki = _text(p.person), _text(p.rireki)
    newer = pl.col(p.jotai).is_null() & (pl.col("__latest_rireki").is_null()
                                         | (pl.col(p.rireki) > pl.col("__latest_rireki")))   # than any known state
    first = pl.col("__unplaced") & (person == pl.col("__unplaced_person"))
    stages[2] |= {"__maybe_head": pl.col("__current") & zok_unknown & pl.col("__person_held")}   # (1)
    stages[4] |= {"__maybe_heads": pl.col("__maybe_head").sum().over("__household"),
                  "__unplaced": pl.col("__person_held") & pl.col("__household").is_null()   # (2)
                  & (newer | pl.col("__current") & (zok_unknown | zok.is_in(p.setainushi_codes)))}
    stages[5] |= {"__unplaced_n": person.filter("__unplaced").n_unique() + keyless_n,
                  "__unplaced_person": person.filter("__unplaced").min()}
    stages.append({"__unplaced_rireki": rireki.filter(first).min(),
                   "__unplaced_cause": pl.col("__cause").filter(first).min()})
    mask = (pl.col("__heads") == 0) & (pl.col("__held_heads") == 0) & (
        (pl.col("__maybe_heads") > 0) | (pl.col("__unplaced_n") > 0))
    unplaced_first = pl.when(pl.col("__unplaced_person").is_not_null()).then(pl.format(
        "{}={} {}={} held by {}", pl.lit(p.person), pl.col("__unplaced_person"), pl.lit(p.rireki),
        pl.col("__unplaced_rireki"), pl.col("__unplaced_cause").fill_null("?"))).otherwise(
        pl.lit(f"held by {keyless_first}" if keyless_first else "held", pl.String))
    unplaced_first_ja = pl.when(pl.col("__unplaced_person").is_not_null()).then(pl.format(
        "{} {} {} {} は保留 (理由: {})", pl.lit(person_ja), pl.col("__unplaced_person"), pl.lit(rireki_ja),
        pl.col("__unplaced_rireki"), _cause_ja(pl.col("__unplaced_cause")))).otherwise(
        pl.format("保留 (理由: {})", _cause_ja(pl.lit(keyless_first, pl.String))) if keyless_first
        else pl.lit("保留", pl.String))
    detail_ja = pl.when(pl.col("__maybe_heads") > 0).then(pl.concat_str(
        pl.format("{} {}、現在の世帯主 0 人。世帯主の可能性がある保留記録: {}", pl.lit(setai_ja), pl.col("__household"),
                  pl.col("__held_head_ja")),
        pl.when(pl.col("__maybe_heads") > 1).then(pl.format("、ほか {} 件", pl.col("__maybe_heads") - 1))
        .otherwise(pl.lit("")))).otherwise(pl.format(
            "{} {}、現在の世帯主 0 人。世帯が不明な保留記録 {} 件の中に世帯主がいる可能性があります (最初の記録: {})",
            pl.lit(setai_ja), pl.col("__household"), pl.col("__unplaced_n"), unplaced_first_ja))
    detail = pl.when(pl.col("__maybe_heads") > 0).then(pl.concat_str(
        pl.format("setai_no={} setainushi=0; setainushi maybe {}", pl.col("__household"),
                  pl.col("__held_head").str.strip_chars_start("~")),
        pl.when(pl.col("__maybe_heads") > 1).then(pl.format(" (+{} more)", pl.col("__maybe_heads") - 1))
        .otherwise(pl.lit("")))).otherwise(pl.format(
            "setai_no={} setainushi=0; setainushi maybe among {} held record(s) of unknown household, first {}",
            pl.col("__household"), pl.col("__unplaced_n"), unplaced_first))
    return mask, detail_ja, detail


@kind("held_together", Key, "同じ人の他の記録が保留されたため保留します（全体を保留）",
      "held because another record of the same group is held (the whole group is held)", row_local=False, phase=3)
def _held_together(p: Key, ctx: Context) -> list[Check]:
    """A group (a person's history: 宛名番号) is loaded whole or not at all: when any of its records is
    held — here or before validation — the others are held too. Loading the rest would leave a
    history with a hole, and a derived current row (現在の個人: the highest 履歴番号 loaded) showing a
    state the person has left (a 転出 held, the person still 住登者)."""
    ctx.need(*p.columns)
    key = pl.concat_str([_text(c).fill_null("") for c in p.columns], separator=",")
    before = pl.lit(False)
    if ctx.held_before is not None and ctx.held_before.height and set(p.columns) <= set(ctx.held_before.columns):
        keys = (ctx.held_before.select(pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in p.columns],
                                                     separator=",").alias("k"))
                .filter(pl.col("k").str.replace_all(",", "") != "")["k"].unique())
        before = key.is_in(keys.implode())
    return [Check(",".join(p.columns), ~pl.col(HELD) & (pl.col(HELD).any().over(p.columns) | before), key)]


@kind("referential", Referential, "参照先に存在しない値です", "value not found in the referenced data",
      row_local=False)
def _referential(p: Referential, ctx: Context) -> list[Check]:
    """The other table (a frame or a scan) is read for its key columns only. A composite reference
    (宛名番号 + 課税年度) matches on all its columns together: a 課税 row of 2025 does not find its
    納税義務者 in that person's 2026 row."""
    cols = [p.column] if isinstance(p.column, str) else list(p.column)
    ref = [p.frame_column] if isinstance(p.frame_column, str) else list(p.frame_column)
    if len(cols) != len(ref):
        raise ConfigError(f"validate {ctx.table_name}: referential rule pairs {cols} with {ref}: as many columns each")
    ctx.need(*cols)
    label = ",".join(cols)
    key = pl.concat_str([_text(c) for c in cols], separator=",")   # null when any part is null: not checked
    if p.frame == ctx.table_name:
        return [Check(label, pl.lit(False), key)]   # a table always contains itself
    frames = ctx.source_frames or {}
    if p.optional and p.frame not in frames:
        return []   # not in this run: not checked, and so not listed with a count of 0
    if p.frame not in frames or not set(ref) <= set(frames[p.frame].collect_schema().names()):
        raise ConfigError(f"validate {ctx.table_name}: referential rule needs frame {p.frame!r} "
                          f"with column(s) {ref}")
    known = (frames[p.frame].lazy()
             .select(pl.concat_str([pl.col(c).cast(pl.String) for c in ref], separator=",").alias("k"))
             .drop_nulls().unique().collect().to_series())
    return [Check(label, key.is_not_null() & ~key.is_in(known.implode()), key)]


@kind("moji_identified", Flag, "文字同定できない文字があります", "holds characters not yet identified (文字同定)",
      row_local=True)
def _moji_identified(p: Flag, ctx: Context) -> list[Check]:
    """Reads the Boolean flag set by the 文字同定 stage; absent flag = stage not run or nothing unresolved.

    With the detail column (moji.step: `shimei: U+E1F0 (…) / jusho: U+E1F1 (…)`), one check per `moji`
    column of the table: a finding names the column that holds the unresolved character, its value
    is that column's value (so it is masked by that column's rule wherever it is shown, a name like
    any other name) and its message carries the code points (`shimei: U+E1F0`), never the value. A
    row with unresolved characters in two columns gives two findings. A flagged row whose detail names
    none of them (or no detail column) gives one finding for the row, without a column, as before.
    """
    if p.flag not in ctx.columns:
        return [Check(None, pl.lit(False))]
    flag = pl.col(p.flag).fill_null(False)
    if not (p.detail and p.detail in ctx.columns):
        return [Check(None, flag)]
    detail = _text(p.detail)
    checks, named = [], []
    for col in (c.name for c in ctx.table.columns if c.moji and c.name in ctx.columns):
        points = detail.str.extract(rf"(?:^| / ){re.escape(col)}: (U\+[0-9A-F]+(?: U\+[0-9A-F]+)*)", 1)
        # characters outside MJ (Hangul, emoji) are only counted by moji.step: spelt out they would give a name
        others = detail.str.extract(rf"(?:^| / ){re.escape(col)}\+: ([0-9]+)", 1)
        found = points.is_not_null() | others.is_not_null()
        named.append(found)

        def worded(word: str, points=points, others=others, col=col) -> pl.Expr:
            counted = pl.format(word, others)
            return pl.concat_str(pl.lit(f"{col}: "), pl.concat_str(
                points, pl.when(others.is_not_null()).then(counted), separator=" + ", ignore_nulls=True))
        checks.append(Check(col, flag & found, _text(col), worded("MJ 範囲外の文字 {} 字"),
                            detail_en=worded("{} character(s) outside MJ")))
    rest = flag & ~pl.any_horizontal(named) if named else flag
    return checks + [Check(None, rest, detail)]
