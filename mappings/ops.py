"""The registry of mapping operations. YAML names an op; the op returns Polars expressions.

Each op gives the target value, and optionally an error expression (a rule id where the source
value cannot be mapped: the row is quarantined, the value kept verbatim) and a warning expression
(the row passes, the finding is listed), plus extra target columns (e.g. 不詳 fields).

An op declares everything about itself where it is registered (`@op(...)`): the keys of a mapping
line it cannot do without, whether it may run once per distinct value, the rule ids its
expressions can give with their messages, its load-time checks, and the difference it causes on
purpose as an expected-difference rule for the parallel-run diff (reports.expected). Nothing
elsewhere lists op names.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Literal, Mapping

import polars as pl

from ikou.errors import ConfigError
from ikou.schema import TargetSchema
from ikou.spelling import Normalise, normalised
from ikou.mappings.spec import ColumnMap
from ikou.mappings.wareki import RULE_MESSAGES as WAREKI_RULES, FORMATS as WAREKI_FORMATS
from ikou.mappings.wareki import wareki_stages, wareki_to_iso

# rule id → (日本語, English) for every rule the map stage can give: the engine's own below, each
# op's from its registration (an index of the registry, not a second declaration).
RULE_MESSAGES: dict[str, tuple[str, str]] = {
    "isolation.dantai_mismatch": ("他団体の団体コードです (この移行の対象外)",
                                  "団体コード of another municipality (not part of this run)"),
}


@dataclass
class OpOut:
    value: pl.Expr
    error: pl.Expr | None = None
    warning: pl.Expr | None = None
    extra: dict[str, pl.Expr] = field(default_factory=dict)
    # Columns the engine materialises first (`with_columns`) so that several outputs can share one
    # costly evaluation: expressions above may refer to them by name.
    pre: dict[str, pl.Expr] = field(default_factory=dict)


@dataclass
class OpContext:
    schema: TargetSchema
    # what each line's `prepare` gave, by target column (e.g. new_key: the crosswalk legacy → new)
    prepared: dict[str, object] = field(default_factory=dict)


Problem = tuple[str, str]   # (key of the mapping line, e.g. "table"; what is wrong with it)


@dataclass(frozen=True)
class Op:
    """One mapping operation, as registered."""

    name: str
    build: Callable[[ColumnMap, OpContext], OpOut]
    # keys of the mapping line the op cannot do without, as YAML spells them (from, table, value)
    needs: tuple[str, ...] = ()
    # the result depends only on the value of the one source column: the engine evaluates the op
    # once per distinct value and joins the result back (dates and codes repeat a lot); a line of it with a
    # list `from` (`many`) is evaluated over the whole columns instead
    per_value: bool = False
    # rule id → (日本語, English): every rule the op's error and warning expressions can give
    rules: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # the difference the op causes on purpose, as a rule of the parallel-run diff (reports.rules:
    # name, columns, condition, reason), or None when it changes nothing a diff would see
    expected: Callable[[ColumnMap], dict | None] | None = None
    # load-time checks of the line's options against the target schema, beyond `needs`
    check: Callable[[ColumnMap, TargetSchema], list[Problem]] | None = None
    # runs once per source before the batches, over the whole source (a LazyFrame) and the run
    # context: for what one batch cannot decide alone (new numbers). Returns (what `build` reads
    # from OpContext.prepared, metrics for the summary).
    prepare: Callable[[ColumnMap, pl.LazyFrame, object], tuple[object, dict]] | None = None
    # what the line's `strip:` means to the op: "option" (surrounding spaces are trimmed when
    # `strip: true`, kept otherwise: text, kana_fullwidth), "always" (the op trims every value
    # whatever the line says, as a code, a number or a date has no meaningful padding: `strip: true`
    # is accepted, `strip: false` refused) or "none" (the op has no `strip`: any `strip:` is refused).
    # An option the op would silently ignore is a load-time problem, never a no-op.
    strip: Literal["option", "always", "none"] = "none"
    # the op may read several source columns (`from: [氏, 名]`: concat; kana_fullwidth joins them as concat does,
    # then converts); every other op reads one, and a list is refused at load time (mappings.spec.mapping_problems)
    many: bool = False
    # what the op's value is: "text" (a string: fits a text, date or decimal column, whose schema rules judge
    # it), "integer" (fits integer and decimal: into text it would drop a code's leading zeros, 01 → 1),
    # "date" (YYYY-MM-DD: a date column), "any" (a constant: checked against the column by `fits`)
    gives: Literal["text", "integer", "date", "any"] = "text"

    def problems(self, c: ColumnMap, schema: TargetSchema) -> list[Problem]:
        missing = [(k, f"op {self.name!r} needs {k!r}") for k in self.needs if getattr(c, _FIELDS.get(k, k)) is None]
        return missing or (self._strip_problems(c) + (self.check(c, schema) if self.check else []))

    def _strip_problems(self, c: ColumnMap) -> list[Problem]:
        if "strip" not in c.model_fields_set or self.strip == "option":
            return []
        if self.strip == "always":
            return [] if c.strip else [("strip", f"op {self.name!r} always trims surrounding spaces: "
                                                 "strip: false cannot be honoured")]
        return [("strip", f"op {self.name!r} does not take 'strip'")]

    def expected_rule(self, c: ColumnMap) -> dict | None:
        return self.expected(c) if self.expected else None


_FIELDS = {"from": "from_"}   # YAML key → ColumnMap attribute, where they differ

OPS: dict[str, Op] = {}
PER_VALUE: set[str] = set()   # names of the per-value ops (an index of OPS for the engine)


def declare_rules(owner: str, rules: Mapping[str, tuple[str, str]]) -> None:
    """Add `owner`'s rule ids and messages to RULE_MESSAGES (an op, or a combine step: mappings.combine)."""
    clash = [r for r, m in rules.items() if RULE_MESSAGES.get(r, m) != m]
    if clash:
        raise ValueError(f"{owner} declares rule(s) {clash} with other messages than already registered")
    RULE_MESSAGES.update(rules)


def op(name: str, *, needs: tuple[str, ...], per_value: bool = False,
       rules: Mapping[str, tuple[str, str]] | None = None, expected: Callable[[ColumnMap], dict | None] | None = None,
       check: Callable[[ColumnMap, TargetSchema], list[Problem]] | None = None,
       prepare: Callable[[ColumnMap, pl.LazyFrame, object], tuple[object, dict]] | None = None,
       strip: Literal["option", "always", "none"] = "none", many: bool = False,
       gives: Literal["text", "integer", "date", "any"] = "text"):
    """Register the decorated builder as op `name`, with everything else about it."""
    def deco(fn):
        if name in OPS:
            raise ValueError(f"op {name!r} is registered twice")
        entry = Op(name, fn, needs=needs, per_value=per_value, rules=dict(rules or {}), expected=expected,
                   check=check, prepare=prepare, strip=strip, many=many, gives=gives)
        declare_rules(f"op {name!r}", entry.rules)
        OPS[name] = entry
        if per_value:
            PER_VALUE.add(name)
        return fn
    return deco


def _diff_rule(c: ColumnMap, kind: str, condition: dict, reason: str) -> dict:
    """An expected-difference rule on the op's target column (reports.rules)."""
    return {"name": f"{c.target}.{kind}", "columns": [c.target], "condition": condition, "reason": reason}


def _text_rule(c: ColumnMap) -> dict:
    # the text op drops padding (with strip) and turns a field of spaces into null (always)
    if c.strip:
        return _diff_rule(c, "trim", {"type": "text", "trim": True}, "前後の空白を除いたため")
    return _diff_rule(c, "blank", {"type": "text", "trim": False}, "空白だけの値を空 (null) としたため")


def _src(c: ColumnMap) -> pl.Expr:
    if not c.from_:
        raise ValueError(f"op {c.op} for {c.target} needs 'from'")
    if isinstance(c.from_, list):   # load_mapping refuses it; a line built in code too
        raise ValueError(f"op {c.op} for {c.target} reads one source column, not {c.from_}")
    return pl.col(c.from_)


def _blank_to_null(e: pl.Expr) -> pl.Expr:
    return pl.when(e.str.strip_chars(" \u3000") == "").then(None).otherwise(e)


def _strip_option(e: pl.Expr, strip: bool) -> pl.Expr:
    """`e`, its surrounding half- and full-width spaces trimmed when the line says `strip: true`
    (the ops whose `strip` is an "option")."""
    return e.str.strip_chars(" \u3000") if strip else e


def read_code(e: pl.Expr) -> pl.Expr:
    """A value as the ops that always trim read it (codes, numbers, keys): every surrounding Unicode
    whitespace trimmed, blank → null. Public so that the diff's rules (reports.rules) read the legacy
    side exactly as the op did, not by a second definition of "trimmed"."""
    return _blank_to_null(e.str.strip_chars())


def read_integer(e: pl.Expr) -> pl.Expr:
    """A value as the integer op reads it: `read_code`, then ASCII digits with an optional sign
    (' 7229000', '094200', '+99200'); null where that fails. No NFKC: full-width digits are not read
    (the op holds the row as type.integer), so the diff's integer rule does not explain them either."""
    return read_code(e).cast(pl.Int64, strict=False)


def read_text(e: pl.Expr, *, strip: bool) -> pl.Expr:
    """A value as the text op reads it: half- and full-width spaces around it trimmed with `strip`, a
    value of such spaces only → null. Public for the diff's `text` rule (reports.rules)."""
    return _blank_to_null(e.str.strip_chars(" \u3000") if strip else e)


@op("text", needs=("from",), expected=_text_rule, strip="option")
def _text(c: ColumnMap, ctx: OpContext) -> OpOut:
    return OpOut(read_text(_src(c), strip=bool(c.strip)))


# 氏名 as the standard writes it: 氏＋全角空白＋名 (the sample data's shimei, sample.generate)
CONCAT_SEPARATOR = "\u3000"


def concat_expr(parts: list[pl.Expr], *, separator: str = CONCAT_SEPARATOR, strip: bool = False) -> pl.Expr:
    """The source columns `parts` joined with `separator`, each read as the text op reads it (`read_text`: trimmed
    with `strip`, blank → null) and a blank one left out with its separator (氏 alone: 「藤田」, no trailing 「　」);
    null when every part is blank. Public so that the diff's legacy side joins the legacy columns exactly as the
    op does (reports.diff.ParquetSource `joined`), with the standard's separator whatever the line says."""
    joined = pl.concat_str([read_text(p.cast(pl.String), strip=strip) for p in parts], separator=separator,
                           ignore_nulls=True)
    return pl.when(joined == "").then(None).otherwise(joined)


# no expected-difference rule: the diff's legacy side is the legacy columns joined by concat_expr with the
# standard's separator (「　」) and the line's `strip`, so a correct join shows no difference, and a join with
# another separator shows every joined cell as unexplained (a 氏名 written otherwise than the standard writes it)
@op("concat", needs=("from",), strip="option", many=True)
def _concat(c: ColumnMap, ctx: OpContext) -> OpOut:
    """Several source columns → one target column (氏 + 名 → 氏名), joined column by column."""
    sep = CONCAT_SEPARATOR if c.separator is None else c.separator
    return OpOut(concat_expr([pl.col(s) for s in c.sources], separator=sep, strip=bool(c.strip)))


@op("constant", needs=("value",), gives="any")   # no source value: `strip` is refused
def _constant(c: ColumnMap, ctx: OpContext) -> OpOut:
    return OpOut(pl.lit(c.value, dtype=pl.String))


def _integer_rule(c: ColumnMap) -> dict:
    # the op always trims and reads the text as a number: padding, leading zeros and a + sign go,
    # the integer stays (reports.rules `integer` reads the legacy side with read_integer, as here)
    return _diff_rule(c, "integer", {"type": "integer"},
                      "旧システムの数字の表記 (前後の空白・先頭のゼロ・+ 符号) を整数として読んだため")


@op("integer", needs=("from",), per_value=True, expected=_integer_rule, strip="always", gives="integer",
    rules={"type.integer": ("整数として読めません", "not an integer")})
def _integer(c: ColumnMap, ctx: OpContext) -> OpOut:
    raw = read_code(_src(c))
    val = read_integer(_src(c))
    return OpOut(val, error=pl.when(raw.is_not_null() & val.is_null()).then(pl.lit("type.integer")))


def zero_pad_expr(e: pl.Expr, width: int) -> pl.Expr:
    """`e` read as a code (trimmed, blank → null) and, when it is ASCII digits shorter than `width`, padded with
    leading zeros to `width`: 488120352 → 0488120352. Anything else is left as read (validation's rules judge it)."""
    t = read_code(e)
    return pl.when(t.str.contains(r"^[0-9]+$") & (t.str.len_chars() < width)).then(t.str.zfill(width)).otherwise(t)


def _zero_pad_rule(c: ColumnMap) -> dict:
    # the diff reads the legacy side as the op wrote it (reports.rules `zero_pad`): the zeros put back are explained
    return _diff_rule(c, "zero_pad", {"type": "zero_pad", "width": c.width},
                      f"数値の列が落とした先頭のゼロを {c.width} 桁に補ったため")


@op("zero_pad", needs=("from", "width"), per_value=True, expected=_zero_pad_rule, strip="always")
def _zero_pad(c: ColumnMap, ctx: OpContext) -> OpOut:
    """A number the legacy database keeps in a numeric column (宛名番号 as BIGINT: 0488120352 stored as
    488120352) → the text the legacy system writes, `width` digits with its leading zeros."""
    return OpOut(zero_pad_expr(_src(c), c.width))


# What the digits op drops after NFKC: every blank, and the hyphens and dashes a number is printed with
# (- ‐ ‑ ‒ – — ― −, full-width －) and the prolonged sound mark ー/ｰ typed for a hyphen in a 〒 (999ー0006).
DIGIT_SEPARATORS = r"[\s\-\x{2010}-\x{2015}\x{2212}\x{FF0D}\x{30FC}\x{FF70}]"


def digits_expr(e: pl.Expr) -> pl.Expr:
    """`e` read as a code (trimmed, blank → null), NFKC-folded (full-width digits → ASCII) and its separators
    (DIGIT_SEPARATORS) dropped: 999-0006, ９９９０００６, 1234 5678 9012 → digits. Anything else stays for the rules to
    judge (a letter, a dot); a value of separators only is kept as read, never made null. Public so that the
    diff's `digits` rule (reports.rules) reads the legacy side exactly as the op did."""
    t = read_code(e)
    folded = t.str.normalize("NFKC").str.replace_all(DIGIT_SEPARATORS, "")
    return pl.when(folded == "").then(t).otherwise(folded)


def _digits_rule(c: ColumnMap) -> dict:
    # the diff reads the legacy side through digits_expr (reports.rules `digits`): 999-0006 → 9990006 is explained
    return _diff_rule(c, "digits", {"type": "digits"}, "区切り文字 (ハイフン・空白) を除き、全角を半角にしたため")


@op("digits", needs=("from",), per_value=True, expected=_digits_rule, strip="always")
def _digits(c: ColumnMap, ctx: OpContext) -> OpOut:
    """A number the legacy system prints with separators or in full width (〒 999-0006, 個人番号 1234-5678-9012,
    ９９９０００６) → its digits, by configuration: NFKC, blanks and hyphen-like characters dropped. Anything else
    stays, so the target's rules (length, format.digits, check digit) still hold what is not a number."""
    return OpOut(digits_expr(_src(c)))


@lru_cache(maxsize=64)
def _code_pairs(path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    df = pl.read_csv(path, infer_schema=False)
    if not {"source_code", "code"} <= set(df.columns):
        raise ValueError(f"{path}: a code mapping needs columns source_code,code")
    dup = df.filter(pl.col("source_code").is_duplicated())
    if dup.height:
        raise ValueError(f"{path}: source_code repeated: {dup['source_code'].unique().to_list()}")
    return tuple(df["source_code"].to_list()), tuple(df["code"].to_list())


def _code_table_check(c: ColumnMap, schema: TargetSchema) -> list[Problem]:
    if c.table.startswith("standard:"):
        name = c.table.split(":", 1)[1]
        if name not in schema.code_tables:
            return [("table", f"no standard code table {name!r} in the schema {schema.gyomu}; "
                              f"known: {sorted(schema.code_tables)}")]
        return []
    if not Path(c.table).is_file():
        return [("table", f"code table file not found: {c.table}")]
    try:
        _code_pairs(c.table)
    except ValueError as exc:
        return [("table", str(exc))]
    return []


def unknown_standard_codes(c: ColumnMap, schema: TargetSchema, column) -> str | None:
    """A vendor code table (legacy code → standard code) into a column the schema checks against a standard code
    table: a standard code it gives that the standard table lacks would hold every record with that legacy code
    at validation (schema.code_value), one finding per row; said once at plan instead, naming the file and codes."""
    if c.op != "code_table" or not c.table or c.table.startswith("standard:") or not column.code_table:
        return None
    if column.code_table not in schema.code_tables or not Path(c.table).is_file():
        return None   # the schema's own check and _code_table_check say these
    try:
        old, new = _code_pairs(c.table)
    except ValueError:
        return None   # _code_table_check says it
    known = set(schema.code_values(column.code_table)["code"].to_list())
    bad = sorted({(n, o) for o, n in zip(old, new) if n is not None and n not in known})
    if not bad:
        return None
    shown = ", ".join(f"{o}→{n}" for n, o in bad[:10]) + (f" … ({len(bad)} in all)" if len(bad) > 10 else "")
    return (f"code table {c.table} gives code(s) not in the standard code table {column.code_table} of column "
            f"{column.name}: {shown} (source_code→code); every record with such a source code would be held")


def _code_table_rule(c: ColumnMap) -> dict | None:
    # the op looks up the trimmed code (read_code), so the rule does too (`trim`): " 1" → "1" is the op's
    if not c.table:
        return None
    if c.table.startswith("standard:"):   # standard codes in, the same codes out, only trimmed
        return _diff_rule(c, "trim", {"type": "trimmed"}, "コードの前後の空白を除いたため")
    return _diff_rule(c, "code_table", {"type": "code_table", "table": str(c.table), "trim": True},
                      f"旧コード ({c.from_}) を標準コードに置き換えたため")


@op("code_table", needs=("from", "table"), per_value=True, check=_code_table_check, expected=_code_table_rule,
    strip="always",
    rules={"code_table.unknown": ("コード表にない値です", "value not in the code table")})
def _code_table(c: ColumnMap, ctx: OpContext) -> OpOut:
    if not c.table:
        raise ValueError(f"op code_table for {c.target} needs 'table'")
    if c.table.startswith("standard:"):
        codes = ctx.schema.code_values(c.table.split(":", 1)[1])["code"].to_list()
        old, new = codes, codes
    else:
        old, new = _code_pairs(c.table)
    raw = read_code(_src(c))
    val = raw.replace_strict(list(old), list(new), default=None, return_dtype=pl.String)
    return OpOut(val, error=pl.when(raw.is_not_null() & val.is_null()).then(pl.lit("code_table.unknown")))


@lru_cache(maxsize=1)
def _kana_table() -> tuple[list[str], list[str]]:
    """Patterns → replacements for one `replace_many`, pairs first (they win where they start).

    jaconv.h2z alone left ﾜﾞ ｦﾞ as ワﾞ ヲﾞ (a half-width ﾞ in the full-width field) and a combining
    mark as it was (カ\u3099). So: a kana (half- or full-width) followed by ﾞ ﾟ or a combining
    U+3099/U+309A becomes its precomposed letter wherever Unicode has one (NFC decides: ｶﾞ ガ, ﾜﾞ ヷ,
    ｦﾞ ヺ, ｳﾞ ヴ, カ\u3099 ガ); every other half-width form becomes jaconv's full width, and a ﾞ ﾟ
    left over (ｲﾞ: no precomposed letter) the full-width ゛ ゜. A combining mark that composes with
    nothing stays, and the op's warning shows it.
    """
    import unicodedata

    import jaconv

    half = [chr(c) for c in range(0xFF61, 0xFFA0)]
    single = {ch: jaconv.h2z(ch, kana=True, ascii=False, digit=False) for ch in half} | {"ﾞ": "゛", "ﾟ": "゜"}
    full = [chr(c) for c in (*range(0x3041, 0x3097), 0x309D, *range(0x30A1, 0x30FB), 0x30FD)]
    bases = {ch: single[ch] for ch in half if ch not in "ﾞﾟ"} | {ch: ch for ch in full}
    marks = {"ﾞ": "\u3099", "ﾟ": "\u309a", "\u3099": "\u3099", "\u309a": "\u309a"}
    pairs = [(b + m, z) for b, fw in bases.items() for m, comb in marks.items()
             if len(z := unicodedata.normalize("NFC", fw + comb)) == 1]
    pairs += [(ch, z) for ch, z in single.items() if z != ch]
    return [a for a, _ in pairs], [b for _, b in pairs]


# what may stay in a full-width フリガナ: katakana and hiragana (ヷ ヺ ヴ, ・ ー, iteration marks), the
# spacing ゛ ゜, and spaces (vendors separate 氏 and 名 with either width); anything else is shown
# what a フリガナ may hold besides kana: Latin letters and digits, half- and full-width (a 外国人住民's
# name is often written in them), so only what no reading is written in (kanji, symbols, marks) warns
KANA_OTHER = r"[^ \u3000\u3041-\u3096\u309B-\u309E\u30A1-\u30FEA-Za-z0-9\uFF10-\uFF19\uFF21-\uFF3A\uFF41-\uFF5A]"


def kana_fullwidth_expr(e: pl.Expr, *, strip: bool) -> pl.Expr:
    """What the kana_fullwidth op loads for `e`. Public so that the diff's rule (reports.rules,
    `kana_fullwidth`) converts the legacy side exactly as the op did."""
    old, new = _kana_table()
    return _blank_to_null(_strip_option(e, strip)).str.replace_many(old, new, leftmost=True)


def _kana_rule(c: ColumnMap) -> dict:
    reason = "半角カナを全角カナにし、前後の空白を除いたため" if c.strip else "半角カナを全角カナにしたため"
    return _diff_rule(c, "kana_width", {"type": "kana_fullwidth", "trim": bool(c.strip)}, reason)


# a ﾞ ﾟ that composed with nothing (ｱﾞ, a lone ﾞ) is left as the spacing ゛ ゜: allowed in a フリガナ, but
# what the legacy system meant (ｱﾞ: a typo for ｶﾞ? ﾞ alone?) is for a human to say
KANA_LONE_MARK = r"[\u309B\u309C]"


# invisible format characters (U+200B, U+202E …), line/paragraph separators, controls and U+FFFD: as in a 文字同定
# column (moji.invalid_char), they hold the record — a zero-width space in a フリガナ breaks search and sorting
KANA_INVISIBLE = r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\x{FFFD}]"


@op("kana_fullwidth", needs=("from",), per_value=True, expected=_kana_rule, strip="option", many=True, rules={
    "kana.invalid_char": ("見えない書式文字・区切り文字・制御文字、または置換文字 U+FFFD があり、取り込めません (フリガナを直してください)",
                          "an invisible format, separator or control character or U+FFFD: not loaded (fix the "
                          "furigana)"),
    "kana.not_fullwidth": ("全角カナにできない文字が残っています (フリガナを確認してください)",
                           "characters other than full-width kana remain (check the furigana)"),
    "kana.lone_voiced_mark": ("濁点・半濁点が前のカナと合成できず ゛゜ として残っています (フリガナを確認してください)",
                              "a voiced sound mark composes with no kana and stays as ゛/゜ (check the furigana)")})
def _kana(c: ColumnMap, ctx: OpContext) -> OpOut:
    """Half-width カナ → full width. `from: [カナ氏, カナ名]`: the columns joined first as concat joins them
    (「　」 or `separator`, each part trimmed with `strip`, a blank part left out), then converted."""
    if isinstance(c.from_, list):
        sep = CONCAT_SEPARATOR if c.separator is None else c.separator
        value = kana_fullwidth_expr(concat_expr([pl.col(s) for s in c.sources], separator=sep, strip=bool(c.strip)),
                                    strip=False)
    else:
        value = kana_fullwidth_expr(_src(c), strip=c.strip)
    # an invisible character is KANA_OTHER too: the held record gets the error alone, one finding per cell
    invisible = value.str.contains(KANA_INVISIBLE)
    return OpOut(value, error=pl.when(invisible).then(pl.lit("kana.invalid_char")),
                 warning=pl.when(invisible).then(pl.lit(None, pl.String))
                 .when(value.str.contains(KANA_OTHER)).then(pl.lit("kana.not_fullwidth"))
                 .when(value.str.contains(KANA_LONE_MARK)).then(pl.lit("kana.lone_voiced_mark")))


WAREKI_DEFAULT_FORMAT = "era2_yymmdd"


def _wareki_check(c: ColumnMap, schema: TargetSchema) -> list[Problem]:
    fmt = c.format or WAREKI_DEFAULT_FORMAT
    try:
        wareki_stages(fmt, c.eras)   # expressions only: no data is read
    except ConfigError as exc:
        return [("format" if fmt not in WAREKI_FORMATS else "eras", str(exc))]
    return []


def _wareki_rule(c: ColumnMap) -> dict:
    # wareki_to_iso trims as the op does; the line's own era codes, where it has them, read as the op read
    fmt = c.format or WAREKI_DEFAULT_FORMAT
    cond = {"type": "wareki", "format": fmt} | ({"eras": dict(c.eras)} if c.eras is not None else {})
    held = {"seireki_yyyymmdd": "西暦 YYYYMMDD (区切りなし) ", "seireki_iso": "日付型 (日時の 00:00:00 を含む) "}.get(
        fmt, f"和暦 ({fmt}) ")   # a 西暦 source is not 和暦: the PM reads this reason in the workbook
    return _diff_rule(c, "wareki", cond, f"旧システムは{held}で保持、標準は西暦 YYYY-MM-DD のため")


@op("wareki_date", needs=("from",), per_value=True, rules=WAREKI_RULES, check=_wareki_check, expected=_wareki_rule,
    strip="always", gives="date")
def _wareki(c: ColumnMap, ctx: OpContext) -> OpOut:
    w = wareki_to_iso(_src(c), c.format or WAREKI_DEFAULT_FORMAT, c.eras, hyoki_column=bool(c.fumei_hyoki))
    # Up to five outputs are fields of one struct: convert once, not once per field.
    parsed = f"__parsed_{c.target}"
    f = pl.col(parsed).struct.field
    extra = {}
    if c.fumei_flag:
        extra[c.fumei_flag] = f("fumei_flag")
    if c.fumei_hyoki:
        extra[c.fumei_hyoki] = f("fumei_hyoki")
    return OpOut(f("iso"), error=f("error"), warning=f("warning"), extra=extra, pre={parsed: w.parsed})


# ---------------------------------------------------------------- code chains (続柄 子の妻)

@lru_cache(maxsize=16)
def _names(path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    df = pl.read_csv(path, infer_schema=False)
    if not {"code", "name"} <= set(df.columns):
        raise ValueError(f"{path}: a code_chain table needs columns code,name")
    if df["name"].is_duplicated().any():
        raise ValueError(f"{path}: a name appears twice")
    return tuple(df["name"].to_list()), tuple(df["code"].to_list())


def _chain_check(c: ColumnMap, schema: TargetSchema) -> list[Problem]:
    if c.table.startswith("standard:"):   # a known name was resolved to its file when the mapping loaded
        return [("table", f"no standard code table {c.table.split(':', 1)[1]!r} in the schema {schema.gyomu}; "
                          f"known: {sorted(schema.code_tables)}")]
    if not Path(c.table).is_file():
        return [("table", f"code table file not found: {c.table} (code_chain reads a standard table code,name)")]
    try:
        _names(c.table)
    except ValueError as exc:
        return [("table", str(exc))]
    if len([c.target, *(c.chain or [])]) > CHAIN_MAX:
        return [("chain", f"at most {CHAIN_MAX} codes in all (the target and {CHAIN_MAX - 1} more)")]
    return []


def _chain_rule(c: ColumnMap) -> dict:
    # the legacy side holds the names chained (子の妻), the target the first one's code (20) in this column;
    # the further codes (12) go to columns the legacy side has not, so the diff does not see them
    return _diff_rule(c, "code_chain", {"type": "code_chain", "table": str(c.table), "separator": c.separator,
                                        "columns": ["name", "code"], "trim": True},
                      f"旧システムは{c.from_}を名称 (「{c.separator}」で連結) で保持、標準はコードのため")


CHAIN_MAX = 4   # the standard carries 続柄 as up to four codes (続柄1〜4)


@op("code_chain", needs=("from", "table", "separator", "chain"), per_value=True, check=_chain_check,
    expected=_chain_rule, strip="always", rules={
        "code_chain.unknown": ("連結された名称に標準コード表にないものがあります", "a name of the chain is not in the standard's closed set"),
        "code_chain.too_long": ("連結できるのは4つまでです", "more names chained than the standard allows (four)")})
def _code_chain(c: ColumnMap, ctx: OpContext) -> OpOut:
    """Names chained with a separator (子の妻) → one standard code per name: target, chain[0], chain[1] …"""
    names, codes = (list(x) for x in _names(c.table))
    slots = [c.target, *(c.chain or [])]
    raw = read_code(_src(c))
    parts = raw.str.split(c.separator)
    n = parts.list.len()
    code_at = [parts.list.get(i, null_on_oob=True).replace_strict(names, codes, default=None, return_dtype=pl.String)
               for i in range(CHAIN_MAX + 1)]
    unknown = pl.any_horizontal([(n > i) & code_at[i].is_null() for i in range(CHAIN_MAX)])
    error = (pl.when(raw.is_null()).then(None)
             .when(n > len(slots)).then(pl.lit("code_chain.too_long"))
             .when(unknown).then(pl.lit("code_chain.unknown")))
    return OpOut(code_at[0], error=error, extra={t: code_at[i + 1] for i, t in enumerate(slots[1:])})


# ---------------------------------------------------------------- new keys with a crosswalk

def crosswalk_path(dantai_dir: Path, name: str) -> Path:
    """The 団体's crosswalk of `name` (legacy key → new key), kept across rehearsals."""
    return Path(dantai_dir) / "crosswalk" / f"{name}.csv"


def _issue(c: ColumnMap, source: pl.LazyFrame, ctx) -> tuple[pl.DataFrame, dict]:
    """Extend the 団体's crosswalk with a new number for every legacy key it does not hold yet."""
    from ikou.checkdigit import atena_check_digit_expr

    name, rule = c.target, c.numbering
    path = crosswalk_path(ctx.dantai_dir, name)
    legacy, new = f"legacy_{name}", name
    cols = {legacy: pl.String, new: pl.String, "rehearsal": pl.String, "run_id": pl.String}
    held = pl.read_csv(path, schema=cols) if path.is_file() else pl.DataFrame(schema=cols)
    if held[legacy].is_duplicated().any() or held[new].is_duplicated().any():
        raise ConfigError(f"{path}: a legacy key or a new number appears twice: the crosswalk is broken")
    seen = (source.select(read_code(pl.col(c.from_)).alias(legacy)).drop_nulls().unique()
            .collect())
    fresh = seen.join(held.select(legacy), on=legacy, how="anti").sort(legacy)
    width = rule.digits - (1 if rule.check_digit == "mod11" else 0)
    top = held.select(pl.col(new).str.slice(0, width).cast(pl.Int64, strict=False).max()).item() if held.height else None
    start = max(rule.first, (top or 0) + 1)
    body = pl.int_range(start, start + fresh.height, dtype=pl.Int64)
    if start + fresh.height - 1 >= 10 ** width:
        raise ConfigError(f"new_key {name}: {width}-digit numbers are exhausted")
    text = body.cast(pl.String).str.zfill(width)
    number = (text + atena_check_digit_expr(text, width).cast(pl.String)) if rule.check_digit == "mod11" else text
    issued = fresh.with_columns(number.alias(new), pl.lit(ctx.rehearsal).alias("rehearsal"),
                                pl.lit(ctx.run_id).alias("run_id"))
    if issued.height:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".csv.tmp")
        pl.concat([held, issued.select(list(cols))]).write_csv(tmp)
        tmp.replace(path)
    table = pl.concat([held, issued.select(list(cols))]).select(legacy, new)
    return table, {"crosswalk": str(path.name), "kept": seen.height - fresh.height, "issued": issued.height,
                   "held_total": table.height}


def _new_key_rule(c: ColumnMap) -> dict:
    # the diff reads the 団体's crosswalk from diff/<source>/: runs/<団体>/<run>/diff/<source>/ → runs/<団体>/
    # the crosswalk holds the trimmed legacy key (read_code), as the op looks it up
    return _diff_rule(c, "new_key", {"type": "code_table", "table": f"../../../crosswalk/{c.target}.csv",
                                     "columns": [f"legacy_{c.target}", c.target], "trim": True},
                      f"旧キー ({c.from_}) に新しい番号を払い出したため (団体の対応表 crosswalk/{c.target}.csv)")


# How new_key tells one legacy number written two ways (050000009 / ０５００００００９ / 50000009): full width, a
# surrounding space, the leading zeros Excel strips (ikou.spelling, the normalisation the validation rules name too)
KEY_SPELLINGS: tuple[Normalise, ...] = ("width", "strip", "leading_zeros")


@op("new_key", needs=("from", "numbering"), per_value=True, prepare=_issue, expected=_new_key_rule, strip="always",
    rules={"new_key.unissued": ("新しい番号が払い出されていません", "no new number was issued for this legacy key"),
           "new_key.spelled_twice": ("同じ旧番号が別の表記でも現れ、別々の新番号になります (先頭のゼロ・全角など)",
                                     "the same legacy number also appears written otherwise (leading zeros, full "
                                     "width …) and would get a second new number: one person or household split")})
def _new_key(c: ColumnMap, ctx: OpContext) -> OpOut:
    """A legacy key → the new number the 団体's crosswalk holds for it (issued by `prepare` when new). A
    legacy key the crosswalk also holds in another spelling (050000009 / 50000009) is held: the two would
    be two new numbers, one household split in two."""
    table = ctx.prepared.get(c.target)
    if table is None:
        raise ValueError(f"new_key {c.target}: the crosswalk was not prepared (mappings.step runs `prepare`)")
    raw = read_code(_src(c))
    legacy = table[f"legacy_{c.target}"]
    val = raw.replace_strict(legacy, table[c.target], default=None, return_dtype=pl.String)
    # an all-zero key ('0', '000': normalised '0') is no number, and a blank one (null) none: never held for them
    spellings = legacy.to_frame("k").with_columns(n=normalised(pl.col("k"), KEY_SPELLINGS))
    twice = spellings.filter((pl.col("n") != "0") & (pl.col("k").n_unique().over("n") > 1))["k"]
    return OpOut(val, error=pl.when(raw.is_not_null() & val.is_null()).then(pl.lit("new_key.unissued"))
                 .when(raw.is_in(twice.implode())).then(pl.lit("new_key.spelled_twice")))


# column type → what an op's value may be to go into it (Op.gives); the engine casts the value to the
# column's type strictly (mappings.engine), so a string into an integer column would stop the map stage
FITS: dict[str, tuple[str, ...]] = {"text": ("text",), "date": ("text", "date"), "decimal": ("text", "integer"),
                                    "integer": ("integer",)}


def fits(c: ColumnMap, column_type: str) -> str | None:
    """Why the line's op cannot fill a target column of `column_type` (its `target`), or None when it can."""
    op_ = OPS.get(c.op)
    if op_ is None:
        return None
    if op_.gives == "any":   # a constant: its value must be one the column holds
        if column_type == "integer" and c.value is not None and read_integer_value(c.value) is None:
            return f"constant {c.value!r} is not an integer, and column {c.target} is type: integer"
        return None
    if op_.gives in FITS[column_type]:
        return None
    instead = {"text": "text, code_table or zero_pad (they keep a code's leading zeros)",
               "integer": "integer", "date": "wareki_date or text", "decimal": "text (schema.decimal checks it)"}
    return (f"op {c.op!r} gives {'an integer' if op_.gives == 'integer' else 'a ' + op_.gives}, but target column "
            f"{c.target} is type: {column_type}" + (" (01 would be loaded as 1)" if op_.gives == "integer" else "")
            + f": use op {instead[column_type]}, or declare the column's type to match")


def read_integer_value(v: str) -> int | None:
    try:
        return int(str(v).strip())
    except ValueError:
        return None


def build(c: ColumnMap, ctx: OpContext) -> OpOut:
    if c.op not in OPS:
        raise ValueError(f"unknown op {c.op!r} for {c.target}; known: {sorted(OPS)}")
    return OPS[c.op].build(c, ctx)


def message(rule: str) -> tuple[str, str]:
    return RULE_MESSAGES.get(rule, (rule, rule))


from ikou.mappings import combine as _combine  # noqa: E402,F401  (registers the combine steps and their rules)
