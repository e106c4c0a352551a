"""Masking of 個人番号 and names: one rule for everything shown outside the run's complete Parquet —
quarantine.csv, report.html, the diff's outputs (`ikou diff`, a run's diff/) and `ikou run-report`.

個人番号 shows no digit at all (not even the last four): it is 特定個人情報. A column whose name says
個人番号 (kojin_no, MYNUMBER, 個人番号, in any case) is masked that way whether or not it is declared
sensitive, and so is a value that is all digits in any sensitive column. Other sensitive text (names)
shows as ＊＊ with no character of it: a one-character 氏 or 名 (林, 環) would otherwise be shown whole,
and the first character of a rare name (鬮) is nearly as identifying; a row is told apart by its
record key. Only an explicit `reveal` (an authorised review) shows values.

Columns that are not sensitive are guarded by content too: a value shaped like an identifier, a free text holding a
valid 個人番号 among other words (備考), and kanji, kana or other letters a code never holds in a column that holds
a code, a date, a number or a key (a name typed into 郵便番号 or 性別, a whole file with 氏名 and 性別 swapped)
are not shown as written (guard_expr, name_letters_guard). Which column holds what comes from the run's schemas
(`sensitive_columns` carries their types, `coded_columns_of`), else from the shipped ones and the column's name;
`shown_expr` is the one place that decides what of a value may be shown.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import polars as pl

from ikou.errors import TerminalError
from ikou.schema import TargetSchema, load_schema

FULL_MASK = "************"
NAME_MASK = "＊＊"
MYNUMBER_PATTERN = (r"(?i)kojin_?no|kojin_?bang|my_?number|mynum|my_?no\b|myno_|個人番号|マイナンバー|ﾏｲﾅﾝﾊﾞｰ"
                    r"|kojin_?bango")
# A value that is a whole record (no column: a line that could not be parsed) holds every column at
# once, names and 個人番号 included: it is never shown, only its length.
WHOLE_RECORD_MASK = "＊＊＊ (レコード全体 {} 文字 / whole record, not shown)"   # a column holding 個人番号, by its name


def schema_sensitive_columns(schema: TargetSchema | Path | str, table: str | None = None) -> set[str]:
    """Columns a target schema (or its YAML file) marks `sensitive: true`: of one table, or of all."""
    if not isinstance(schema, TargetSchema):
        schema = load_schema(schema)
    tables = [schema.tables[table]] if table else schema.tables.values()
    return {c.name for t in tables for c in t.columns if c.sensitive}


def sensitive_columns(plans) -> set[str]:
    """A run's sensitive columns: the target columns its sources map to, the source columns that feed
    them (a quarantined value may carry either name; a multi-table source's `shimei.SHIMEI` is also
    `SHIMEI` in its table's extract findings), the layout columns declared `sensitive`, and every target
    column a line fills from a sensitive or 個人番号-named source column, or from a source column a sensitive
    target column reads: a mapping mistake (`yubin_no ← KOJIN_NO`, `seinengappi ← SHIMEI`) must not print every
    resident's 個人番号 or name under the wrong column's name (a date rule quotes the value it cannot read)."""
    from ikou.extractors.layout import load_layout

    out: set[str] = set()
    coded: set[str] = set()
    for p in plans:
        schema = p.schema if isinstance(p.schema, TargetSchema) else load_schema(p.schema)
        coded |= schema_coded_columns(schema) | mapped_coded_columns(p.mapping, schema)
        sens = schema_sensitive_columns(schema, p.mapping.target)
        out |= sens
        layouts = [p.mapping.layout] if p.mapping.layout else [t.layout for t in (p.mapping.tables or {}).values()]
        declared = {c.name for path in layouts for c in load_layout(path).columns if c.sensitive}
        out |= declared
        reads = [(c, {n for s in c.sources for n in (s, s.rsplit(".", 1)[-1])}) for c in p.mapping.columns]
        # every column a line of a sensitive target reads (concat: 氏 and 名) is personal wherever it goes
        personal = declared | {n for c, read in reads if c.target in sens for n in read}
        out |= personal
        for c, read in reads:
            if read & personal or any(is_mynumber_column(n) for n in read):   # and its 不詳/chain columns
                out |= set(c.outputs().values()) if hasattr(c, "outputs") else {c.target}
    return RunColumns(out, coded=coded - out)


class RunColumns(set):
    """A run's sensitive columns (a set, as every caller reads it) carrying `coded`: the columns its schemas type as
    a code, a date, a number or a key (schema_coded_columns, mapped_coded_columns), so that whatever is handed the
    sensitive columns (the quarantine, the report, the workbook, the diff step) also knows which columns never hold
    a name's letters. A union with another set is a plain set: `coded_columns_of` then falls back on the shipped
    schemas and the column's name."""

    def __init__(self, columns=(), *, coded=frozenset()):
        super().__init__(columns)
        self.coded = frozenset(coded)


def recorded_run_columns(record: dict) -> set[str]:
    """The columns a run recorded for what is rendered later from its folder (specs/manifest.json: its
    `sensitive_columns` and, since they are recorded, its `coded_columns`): a RunColumns, so that a re-rendered
    report or the evidence pack shows each column by exactly the run's kinds; a plain set for a run folder from
    before the coded columns were recorded (coded_columns_of then falls back on the shipped schemas)."""
    sensitive = set(record.get("sensitive_columns") or [])
    if "coded_columns" not in record:
        return sensitive
    return RunColumns(sensitive, coded=set(record.get("coded_columns") or []) - sensitive)


# A column whose name says it holds a code, a date, a number or a key (番号 `_no`, legacy `_bango`, `_code`/`_cd`,
# 区分 `_kbn`, `_date`/`_ymd`, 年度 `_nendo`, 額 `_gaku`, in any case: ATENA_NO, IDO_YMD): known without a schema
# (a legacy export compared by `ikou diff`, a report re-rendered from a run folder)
CODED_NAME_PATTERN = r"(?i)(?:_no|_bango|_code|_cd|_kbn|_date|_ymd|_nendo|_gaku)$"


def schema_coded_columns(schema: TargetSchema | Path | str, table: str | None = None) -> set[str]:
    """Columns of a target schema (of one table, or of all; derived tables too) whose values are a code, a date, a
    number or a key: type integer, date or decimal, a `code_table`, a primary key column. Never a sensitive one
    (masked whole)."""
    if not isinstance(schema, TargetSchema):
        schema = load_schema(schema)
    names = [table] if table else list(schema.tables)
    out: set[str] = set()
    for n in names:
        t = schema.resolved_table(n)
        key = set(t.primary_key) | set(t.derive.key if t.derive else ())
        out |= {c.name for c in t.columns if not c.sensitive
                and (c.type != "text" or c.code_table or c.name in key)}
    return out


def mapped_coded_columns(mapping, schema: TargetSchema) -> set[str]:
    """The source columns of a mapping that feed only coded target columns (SEIBETSU → seibetsu_code, IDO_YMD →
    ido_date): an extract or map finding names them by the vendor's name."""
    coded = schema_coded_columns(schema) | {c.name for c in schema.resolved_table(mapping.target).columns
                                            if re.search(CODED_NAME_PATTERN, c.name) and not c.sensitive}
    feeds: dict[str, set[str]] = {}
    for c in mapping.columns:
        for s in c.sources:
            for n in (s, s.rsplit(".", 1)[-1]):
                feeds.setdefault(n, set()).add(c.target)
    return {n for n, targets in feeds.items() if targets <= coded}


@lru_cache(maxsize=1)
def _shipped_coded() -> frozenset[str]:
    """The coded columns of the shipped 業務 schemas and the shipped vendors' source columns feeding them: what a
    set without `coded` (a report re-rendered, `ikou diff`) is masked by, besides the column's name."""
    from ikou import REPO_ROOT
    from ikou.mappings.spec import load_mapping

    out: set[str] = set()
    schemas = {}
    for f in sorted((REPO_ROOT / "specs" / "gyomu").glob("*/schema.yaml")):
        schemas[f.resolve()] = load_schema(f)
        out |= schema_coded_columns(schemas[f.resolve()])
    for f in sorted((REPO_ROOT / "specs" / "vendors").glob("*/mappings/*/*.yaml")):
        m = load_mapping(f)
        schema = schemas.get(Path(m.schema_).resolve())
        if schema is not None and m.target in schema.tables:
            out |= mapped_coded_columns(m, schema)
    return frozenset(out)


def coded_columns_of(sensitive) -> frozenset[str]:
    """The coded columns `sensitive` carries (a run's: RunColumns), else the shipped schemas' (_shipped_coded)."""
    return getattr(sensitive, "coded", None) or _shipped_coded()


def is_coded_column(name: str | None, coded) -> bool:
    """True for a column (or a `col,col` of a key finding) in `coded` (any case) or named as a code, a date, a
    number or a key (CODED_NAME_PATTERN)."""
    if not name:
        return False
    folded = {c.casefold() for c in coded}
    return all(p.casefold() in folded or re.search(CODED_NAME_PATTERN, p)
               for p in (part.strip() for part in name.split(",")))


def is_mynumber_column(name: str) -> bool:
    return re.search(MYNUMBER_PATTERN, name) is not None


def mask_expr(e: pl.Expr, *, mynumber: bool = False) -> pl.Expr:
    """Masked text of `e` (null stays null). A value already masked stays as it is (a diff's cells masked
    when the diff was written are masked again by the report that shows them)."""
    digits = e.str.contains(r"^[0-9０-９\s\-]+$")
    full = pl.lit(FULL_MASK)
    if mynumber:
        return pl.when(e.is_null()).then(None).otherwise(full)
    return (pl.when(e.is_null()).then(None)
            .when(digits | (e == FULL_MASK)).then(full)
            .otherwise(pl.lit(NAME_MASK)))


# A value shaped like a 住民票コード (11 digits) or a 個人番号 (12) once blanks and hyphens (half- and
# full-width) are taken out: masked in whatever column it stands, since a rule's finding quotes the value
# of any column (a 住民票コード typed into 生年月日) and a mapping may route one anywhere.
_ID_SEPARATORS = r"[\s\-‐‑‒–—―−－]"
_ID_SHAPE = r"^[0-9０-９]{11,12}$"


def id_shaped(e: pl.Expr) -> pl.Expr:
    """True where the text of `e` is 11 or 12 digits apart from blanks and hyphens (null stays null)."""
    return e.str.replace_all(_ID_SEPARATORS, "").str.contains(_ID_SHAPE)


# A free-text column (備考) of a legacy system often carries a 個人番号 among other words (「纐纈鵺丸 735190462838」),
# which no column rule sees: a value holding a run of exactly 12 digits whose last is a valid 個人番号 check digit
# is not shown at all (the words around the number are most often its holder's name).
NUMBER_IN_TEXT_MASK = "＊＊ (個人番号らしき12桁を含むため表示しません / holds a 12-digit number with a valid 個人番号 check digit)"
_FULLWIDTH_DIGITS = [chr(0xFF10 + i) for i in range(10)]


def holds_kojin_no(e: pl.Expr) -> pl.Expr:
    """True where the text of `e` holds a digit run (ASCII or full-width) that is a valid 個人番号 (12 digits,
    check digit): column-wise, the runs extracted and checked as a list (null stays null)."""
    from ikou.checkdigit import kojin_no_valid

    # only the values with 12 digits in a row are taken apart (the others go on as null): a tenth of the cost
    few = pl.when(e.str.contains(r"[0-9０-９]{12}")).then(e)
    runs = few.str.replace_many(_FULLWIDTH_DIGITS, [str(i) for i in range(10)]).str.extract_all(r"[0-9]+")
    return runs.list.eval(kojin_no_valid(pl.element())).list.any().fill_null(False) & e.is_not_null()


def guard_expr(e: pl.Expr) -> pl.Expr:
    """`e` (String) with an identifier-shaped value replaced by the full mask, and a text holding a valid
    個人番号 among other words by NUMBER_IN_TEXT_MASK: the shape guard of a column that is not sensitive."""
    return _guarded(e, e)


def _guarded(e: pl.Expr, otherwise: pl.Expr) -> pl.Expr:
    """guard_expr's masks where `e` is identifier-shaped or holds a valid 個人番号, else `otherwise`."""
    return (pl.when(id_shaped(e)).then(pl.lit(FULL_MASK))
            .when(holds_kojin_no(e)).then(pl.lit(NUMBER_IN_TEXT_MASK))
            .otherwise(otherwise))


# A name typed into a column that holds a code, a date, a number or a key (山田花子 in 郵便番号 or 性別, a vendor file with
# 氏名 and 性別 swapped on every line, 「監査参」 as a 履歴番号) fails its rule and would be quoted by every finding, diff
# cell and record key, since masking goes by column. Such a value is shown by its shape (「漢字4字」) when it holds a
# letter a code, a date or a number never holds: kanji, kana (full or half width), any other letter than ASCII
# (Ａ, é) and a private-use 外字. A legacy code written in words (続柄 「長男の妻」) or a 和暦 date in kanji (平成30年2月30日)
# is masked too: it may as well be a name. ASCII (H30.02.30, 77, ABC) stays shown: what an engineer fixes a code by.
# A coded column is told by the schemas' types (coded_columns_of, is_coded_column), a quarantined value also by the
# rule it failed (format.*, checkdigit.*, placeholder.*, code_table.*, wareki.*, type.*, schema.length/integer/date/
# decimal/code_value).
SHAPE_RULE_PATTERN = (r"^(?:format\.|checkdigit\.|placeholder\.|code_table\.|wareki\.|type\.|key\."
                      r"|schema\.(?:length|integer|date|decimal|code_value)$)")
_NAME_LETTERS = r"(?:[^\P{L}A-Za-z]|\p{Co})"
# what masking itself writes (a diff cell masked when written, shown again by the report): left as it is
_ALREADY_MASKED = ("^(?:" + "|".join(re.escape(m) for m in (FULL_MASK, NAME_MASK, "＊＊＊ (レコード全体 ")) + ")"
                   + r"(?:$| \(漢字[0-9]+字・かな[0-9]+字・計[0-9]+字(?: / [0-9]+ kanji, [0-9]+ kana, [0-9]+ in all)?\)$"
                   + r"|[0-9]+ 文字 / whole record, not shown\)$|" + re.escape(NUMBER_IN_TEXT_MASK[len(NAME_MASK):]) + "$)")


def shape_expr(e: pl.Expr) -> pl.Expr:
    """「＊＊ (漢字4字・かな0字・計4字 / 4 kanji, 0 kana, 4 in all)」: how many kanji and kana `e` holds, not which
    (one format: each count is computed once per language, not once per part)."""
    kanji = e.str.count_matches(r"\p{Han}")
    kana = e.str.count_matches(r"[\p{Hiragana}\p{Katakana}]")
    n = e.str.len_chars()
    return pl.format(NAME_MASK + " (漢字{}字・かな{}字・計{}字 / {} kanji, {} kana, {} in all)", kanji, kana, n, kanji, kana, n)


def holds_name_letters(e: pl.Expr) -> pl.Expr:
    """True where `e` holds a letter no code, date or number holds (_NAME_LETTERS) and is not a mask itself."""
    return e.str.contains(_NAME_LETTERS) & ~e.str.contains(_ALREADY_MASKED)


# A 和暦 date as written (平成30年2月30日, 昭和45年3月頃, 令和元年5月1日, 昭和年不詳): kanji, but no name's; shown in a
# date or code column so a reviewer can fix it. It needs a digit (or 元) and 年/月/日: a name has no digit.
DATE_WORDS = r"^[\s0-9０-９元年月日明治大正昭和平成令和頃推定上中下旬不詳.\-/・．／－]+$"


def _written_date(e: pl.Expr) -> pl.Expr:
    return (e.str.contains(DATE_WORDS) & e.str.contains(r"[0-9０-９元]") & e.str.contains(r"[年月日]"))


def name_letters_guard(e: pl.Expr, *, dates: bool = False) -> pl.Expr:
    """`e` (String) with a value holding kanji, kana or another letter no code holds shown by its shape (shape_expr);
    a value already masked (a diff cell masked when it was written, shown again by the report) stays as it is.
    `dates`: a 和暦 date as written (DATE_WORDS) is no name and stays shown."""
    letters = holds_name_letters(e)
    if dates:
        letters = letters & ~_written_date(e).fill_null(False)
    return pl.when(letters).then(shape_expr(pl.when(letters).then(e))).otherwise(e)   # counted where shown only


# How a column's values are shown (shown_expr): a 個人番号 column, a sensitive one, a coded one (a code, a date, a number
# or a key), free text (住所: shown, policy), or a key of the record (traceable: its digits stay, a name never).
MYNUMBER, SENSITIVE, CODED, FREE = "mynumber", "sensitive", "coded", "free"


def column_kind(name: str | None, sensitive, coded=None) -> str:
    """What `name` holds, for shown_expr: MYNUMBER by its name, SENSITIVE, CODED (is_coded_column), else FREE."""
    if name is not None and is_mynumber_column(name):
        return MYNUMBER
    if name in sensitive:
        return SENSITIVE
    return CODED if is_coded_column(name, coded_columns_of(sensitive) if coded is None else coded) else FREE


def shown_expr(e: pl.Expr, kind: str, *, key: bool = False) -> pl.Expr:
    """The one decision what of a value (String) may be shown to people, by its column's kind (column_kind): a
    個人番号 no digit, a sensitive value ＊＊, a record's key as written unless it holds a name's letters (a 宛名番号 that
    looks like a 個人番号 is still the handle a reviewer finds the record by), a coded value nor an identifier's
    shape nor a name's letters, free text no identifier's shape (guard_expr)."""
    if kind == MYNUMBER:
        return mask_expr(e, mynumber=True)
    if kind == SENSITIVE:
        return mask_expr(e)
    if key:
        return name_letters_guard(e)
    if kind == CODED:
        # guard_expr's branches first, each on `e` itself: nesting guard_expr(e) inside name_letters_guard copied
        # its tree two dozen times (160,000 characters of plan per column: 2.9 s to mask 9 rows of 33 columns, 20 s
        # of a 1M-person diff's outputs). The same values: the guard's masks are ones name_letters_guard keeps.
        return _guarded(e, name_letters_guard(e, dates=True))
    return guard_expr(e)


def _nothing_to_mask(df: pl.DataFrame | pl.LazyFrame, reveal: bool) -> bool:
    # a LazyFrame (the diff's cells, streamed to a file) is masked without being looked at
    return reveal or (isinstance(df, pl.DataFrame) and df.is_empty())


def _mask_named(df: pl.DataFrame | pl.LazyFrame, sensitive) -> pl.DataFrame | pl.LazyFrame:
    """Mask the columns of `df` that are in `sensitive` or named like 個人番号; nothing else."""
    cols = [c for c in df.collect_schema().names() if c in sensitive or is_mynumber_column(c)]
    return df.with_columns(
        [mask_expr(pl.col(c).cast(pl.String), mynumber=is_mynumber_column(c)).alias(c)
         for c in cols])


def _mask_keys(df: pl.DataFrame | pl.LazyFrame, keys, sensitive) -> pl.DataFrame | pl.LazyFrame:
    """The record's key columns of `df` as shown (shown_expr with key=True): masked whole when sensitive, else as
    written unless they hold a name's letters; and every 個人番号-named column of `df` masked (_mask_named)."""
    df = _mask_named(df, {k for k in keys if k in sensitive})
    schema = df.collect_schema()
    plain = [k for k in keys if k in schema and schema[k] == pl.String
             and column_kind(k, sensitive, ()) not in (MYNUMBER, SENSITIVE)]
    return df.with_columns([shown_expr(pl.col(k), FREE, key=True).alias(k) for k in plain])


def mask_frame(df: pl.DataFrame | pl.LazyFrame, sensitive: set[str] | frozenset[str], *,
               reveal: bool = False, keys: tuple[str, ...] | list[str] = ()) -> pl.DataFrame | pl.LazyFrame:
    """Mask a wide frame (a diff's one-side or duplicate rows): each text column as shown_expr says for its kind
    (column_kind: sensitive, a code/date/number/key, free text), the record's `keys` kept traceable (shown as
    written unless sensitive or holding a name's letters: a 宛名番号 that looks like a 個人番号 is still the handle
    a reviewer finds the record by)."""
    if _nothing_to_mask(df, reveal):
        return df
    out = _mask_named(df, sensitive)
    schema = df.collect_schema()
    coded = coded_columns_of(sensitive)
    kinds = {c: column_kind(c, sensitive, coded) for c, t in schema.items()
             if t == pl.String and c not in keys and not (c in sensitive or is_mynumber_column(c))}
    out = out.with_columns([shown_expr(pl.col(c), kind).alias(c) for c, kind in kinds.items()])
    return _mask_keys(out, keys, sensitive)


def mask_long(df: pl.DataFrame, sensitive: set[str] | frozenset[str], *, reveal: bool = False,
              column_col: str = "column", value_cols: tuple[str, ...] = ("left", "right"),
              key_cols: tuple[str, ...] = ()) -> pl.DataFrame:
    """Mask a long frame whose `column_col` names the column each value came from (the diff's cells,
    the quarantine's `value`), as shown_expr says for that column's kind; a value of a column that is not
    sensitive is coded also by the rule it failed (SHAPE_RULE_PATTERN). The frame's other columns (`record_key`,
    `key_cols`) are keys: masked when sensitive or holding a name's letters, never by an identifier's shape, so
    that a record stays traceable."""
    if reveal or df.is_empty():
        return df
    is_mn = pl.col(column_col).str.contains(MYNUMBER_PATTERN)
    is_sens = pl.col(column_col).is_in(sorted(sensitive)) | is_mn
    # a value expected to be a code, a date, a number or a key: by its column (each name decided once), or by the
    # rule it failed (a finding)
    coded = coded_columns_of(sensitive)
    names = df.get_column(column_col).drop_nulls().unique().to_list() if column_col in df.columns else []
    is_code = pl.col(column_col).is_in([n for n in names if is_coded_column(n, coded)]).fill_null(False)
    if "rule" in df.columns:
        is_code = is_code | pl.col("rule").str.contains(SHAPE_RULE_PATTERN).fill_null(False)
    exprs = []
    for v in value_cols:
        if v not in df.columns:
            continue
        c = pl.col(v).cast(pl.String)
        exprs.append(pl.when(pl.col(column_col).is_null() & c.is_not_null())   # a whole record (a raw line)
                     .then(pl.format(WHOLE_RECORD_MASK, c.str.len_chars()))
                     .when(is_mn).then(shown_expr(c, MYNUMBER))
                     .when(is_sens).then(shown_expr(c, SENSITIVE))
                     .when(is_code).then(shown_expr(c, CODED))
                     .otherwise(shown_expr(c, FREE)).alias(v))
    out = df.with_columns(exprs)
    if "record_key" in out.columns:
        out = out.with_columns(mask_record_key(pl.col("record_key"), sensitive).alias("record_key"))
    return _mask_keys(out, key_cols, sensitive)


def _key_shape(e: pl.Expr) -> pl.Expr:
    """shape_expr without a comma (a record key is `COL=value,COL=value`)."""
    kanji = e.str.count_matches(r"\p{Han}")
    kana = e.str.count_matches(r"[\p{Hiragana}\p{Katakana}]")
    return pl.format(NAME_MASK + " (漢字{}字・かな{}字・計{}字)", kanji, kana, e.str.len_chars())


def mask_record_key(e: pl.Expr, sensitive: set[str] | frozenset[str]) -> pl.Expr:
    """`COL=value,COL=value` with the value of a sensitive or 個人番号-named COL masked: a schema may put a
    sensitive column (被保険者証番号) in a table's key; the other parts, the row id and the line still trace it.
    A value holding a name's letters (「監査参」 as a 履歴番号, a file with 宛名番号 and 氏名 swapped) is shown by its
    shape (shown_expr's rule for a key), whatever its column."""
    for col in sorted(sensitive):
        e = e.str.replace_all(rf"((?:^|,){re.escape(col)}=)[^,]*", f"${{1}}{FULL_MASK}")
    inner = MYNUMBER_PATTERN.removeprefix("(?i)")
    e = e.str.replace_all(rf"(?i)((?:^|,)[^=,]*(?:{inner})[^=,]*=)[^,]*", f"${{1}}{FULL_MASK}")
    part = pl.element()
    value = part.str.replace(r"^[^=]*=", "")
    guarded = (pl.when(holds_name_letters(value))
               .then(pl.concat_str([part.str.extract(r"^([^=]*=)", 1).fill_null(""), _key_shape(value)]))
               .otherwise(part))
    # only the keys holding such a letter are taken apart
    return (pl.when(e.str.contains(_NAME_LETTERS))
            .then(e.str.split(",").list.eval(guarded).list.join(","))
            .otherwise(e))


def mask_cells_of(df: pl.DataFrame | pl.LazyFrame, column: str,
                  sensitive: set[str] | frozenset[str], *, reveal: bool = False,
                  value_cols: tuple[str, ...] = ("left", "right"),
                  key_cols: tuple[str, ...] = ()) -> pl.DataFrame | pl.LazyFrame:
    """`mask_long` for a frame whose values all come from `column`: the masking is decided once
    for the column instead of per row (the diff's millions of cells are read column by column)."""
    if _nothing_to_mask(df, reveal):
        return df
    kind = column_kind(column, sensitive)
    df = df.with_columns([shown_expr(pl.col(v).cast(pl.String), kind).alias(v) for v in value_cols])
    return _mask_keys(df, key_cols, sensitive)


# 11 or 12 digits in a row (ASCII or full-width, a space or hyphen between them allowed: 1234-5678-9012),
# not part of a longer number: the shape of a 住民票コード (11) or a 個人番号 (12)
_ID_DIGITS = re.compile(r"(?<![0-9０-９])(?:[0-9０-９][ 　\-－‐]?){10,11}[0-9０-９](?![0-9０-９])")


class PersonalDataInNote(TerminalError):
    """Free text a person writes (a 外字 decision's note, a sign-off's override reason) is kept in ledgers,
    reports and evidence packs as written, so it must not carry an identifier: refused, not masked."""

    ja = "メモに個人番号・住民票コードらしき数字があります (書き直してください)"


def check_free_text(text: str | None, what: str) -> None:
    """Refuse `text` when it holds what looks like a 個人番号 or 住民票コード (11–12 digits). Names cannot be
    told from other words: what the note says is the writer's responsibility."""
    if text and _ID_DIGITS.search(text):
        raise PersonalDataInNote(f"{what} holds 11–12 digits in a row, the shape of a 個人番号 or 住民票コード: "
                                 "it would be kept and shown as written; refer to the record by its row or "
                                 "宛名番号 instead (not shown here)")
