"""Masking of 個人番号 and names: one rule for everything shown outside the run's complete Parquet —
quarantine.csv, report.html, the diff's outputs (`ikou diff`, a run's diff/) and `ikou run-report`.

個人番号 shows no digit at all (not even the last four): it is 特定個人情報. A column whose name says
個人番号 (kojin_no, MYNUMBER, 個人番号, in any case) is masked that way whether or not it is declared
sensitive, and so is a value that is all digits in any sensitive column. Other sensitive text (names)
shows as ＊＊ with no character of it: a one-character 氏 or 名 (林, 環) would otherwise be shown whole,
and the first character of a rare name (鬮) is nearly as identifying; a row is told apart by its
record key. Only an explicit `reveal` (an authorised review) shows values.

Columns that are not sensitive are guarded by content too: a value shaped like an identifier, a free text holding a
valid 個人番号 among other words (備考), and kanji or kana in a number column (a name typed into 郵便番号) are not
shown as written (guard_expr, name_letters_guard).
"""
from __future__ import annotations

import re
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
    for p in plans:
        sens = schema_sensitive_columns(p.schema, p.mapping.target)
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
    return out


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
    return (pl.when(id_shaped(e)).then(pl.lit(FULL_MASK))
            .when(holds_kojin_no(e)).then(pl.lit(NUMBER_IN_TEXT_MASK))
            .otherwise(e))


# A name typed into a column that holds a number or a code (山田花子 in 郵便番号) fails its digits, format or length
# rule and would be quoted by every finding and diff cell, since masking goes by column. Such a value is shown by
# its shape (「漢字4字」) when it holds kanji or kana, the letters a name is made of: a number column is told by its
# romanised suffix (番号 `_no`, legacy `_bango`) wherever its values are shown (a diff has no rules), a quarantined
# value also by the rule it failed (format.*, checkdigit.*, placeholder.*, schema.length, schema.integer). Left
# out: code-table findings (a legacy 続柄 may be written 「長男の妻」, the value a mapping fix needs) and dates (a
# legacy 和暦 date, 平成30年2月30日, is written in kanji and its value is what a reviewer needs to see).
NUMBER_COLUMN_PATTERN = r"(?i)(?:_no|_bango)$"
SHAPE_RULE_PATTERN = r"^(?:format\.|checkdigit\.|placeholder\.|schema\.length$|schema\.integer$)"
_NAME_LETTERS = r"[\p{Han}\p{Hiragana}\p{Katakana}]"


def is_number_column(name: str | None) -> bool:
    """True for a column whose name says it holds a number (NUMBER_COLUMN_PATTERN)."""
    return name is not None and re.search(NUMBER_COLUMN_PATTERN, name) is not None


def shape_expr(e: pl.Expr) -> pl.Expr:
    """「＊＊ (漢字4字・かな0字・計4字 / 4 kanji, 0 kana, 4 in all)」: how many kanji and kana `e` holds, not which
    (one format: each count is computed once per language, not once per part)."""
    kanji = e.str.count_matches(r"\p{Han}")
    kana = e.str.count_matches(r"[\p{Hiragana}\p{Katakana}]")
    n = e.str.len_chars()
    return pl.format(NAME_MASK + " (漢字{}字・かな{}字・計{}字 / {} kanji, {} kana, {} in all)", kanji, kana, n, kanji, kana, n)


def name_letters_guard(e: pl.Expr) -> pl.Expr:
    """`e` (String) with a value holding kanji or kana shown by its shape (shape_expr); a value already masked
    (starting with ＊＊: a diff cell masked when it was written, shown again by the report) stays as it is."""
    letters = e.str.contains(_NAME_LETTERS) & ~e.str.starts_with(NAME_MASK)
    return pl.when(letters).then(shape_expr(pl.when(letters).then(e))).otherwise(e)   # counted where shown only


def _nothing_to_mask(df: pl.DataFrame | pl.LazyFrame, reveal: bool) -> bool:
    # a LazyFrame (the diff's cells, streamed to a file) is masked without being looked at
    return reveal or (isinstance(df, pl.DataFrame) and df.is_empty())


def _mask_named(df: pl.DataFrame | pl.LazyFrame, sensitive) -> pl.DataFrame | pl.LazyFrame:
    """Mask the columns of `df` that are in `sensitive` or named like 個人番号; nothing else."""
    cols = [c for c in df.collect_schema().names() if c in sensitive or is_mynumber_column(c)]
    return df.with_columns(
        [mask_expr(pl.col(c).cast(pl.String), mynumber=is_mynumber_column(c)).alias(c)
         for c in cols])


def mask_frame(df: pl.DataFrame | pl.LazyFrame, sensitive: set[str] | frozenset[str], *,
               reveal: bool = False, keys: tuple[str, ...] | list[str] = ()) -> pl.DataFrame | pl.LazyFrame:
    """Mask the sensitive columns of a wide frame, and an identifier-shaped value (id_shaped) in any other
    text column except the record's `keys`: a key stays traceable (a 宛名番号 that looks like a 個人番号
    is still the handle a reviewer finds the record by), unless the key column itself is sensitive."""
    if _nothing_to_mask(df, reveal):
        return df
    out = _mask_named(df, sensitive)
    schema = df.collect_schema()
    guarded = [c for c, t in schema.items()
               if t == pl.String and c not in keys and not (c in sensitive or is_mynumber_column(c))]
    return out.with_columns([(name_letters_guard(guard_expr(pl.col(c))) if is_number_column(c)
                              else guard_expr(pl.col(c))).alias(c) for c in guarded])


def mask_long(df: pl.DataFrame, sensitive: set[str] | frozenset[str], *, reveal: bool = False,
              column_col: str = "column", value_cols: tuple[str, ...] = ("left", "right"),
              key_cols: tuple[str, ...] = ()) -> pl.DataFrame:
    """Mask a long frame whose `column_col` names the column each value came from (the diff's cells,
    the quarantine's `value`): a value of a column that is not sensitive is still masked when it is
    shaped like an identifier (id_shaped). The frame's other columns (`record_key`, `key_cols`) are keys:
    masked only when sensitive, never by shape, so that a record stays traceable."""
    if reveal or df.is_empty():
        return df
    is_mn = pl.col(column_col).str.contains(MYNUMBER_PATTERN)
    is_sens = pl.col(column_col).is_in(sorted(sensitive)) | is_mn
    # a value expected to be a number or a code: by its column's name, or by the rule it failed (a finding)
    is_code = pl.col(column_col).str.contains(NUMBER_COLUMN_PATTERN).fill_null(False)
    if "rule" in df.columns:
        is_code = is_code | pl.col("rule").str.contains(SHAPE_RULE_PATTERN).fill_null(False)
    exprs = []
    for v in value_cols:
        if v not in df.columns:
            continue
        c = pl.col(v).cast(pl.String)
        exprs.append(pl.when(pl.col(column_col).is_null() & c.is_not_null())   # a whole record (a raw line)
                     .then(pl.format(WHOLE_RECORD_MASK, c.str.len_chars()))
                     .when(is_mn).then(mask_expr(c, mynumber=True))
                     .when(is_sens).then(mask_expr(c))
                     .when(is_code).then(name_letters_guard(guard_expr(c)))
                     .otherwise(guard_expr(c)).alias(v))
    out = df.with_columns(exprs)
    if "record_key" in out.columns:
        out = out.with_columns(mask_record_key(pl.col("record_key"), sensitive).alias("record_key"))
    return _mask_named(out, {k for k in key_cols if k in sensitive})   # keys: no shape guard (traceable)


def mask_record_key(e: pl.Expr, sensitive: set[str] | frozenset[str]) -> pl.Expr:
    """`COL=value,COL=value` with the value of a sensitive or 個人番号-named COL masked: a schema may put a
    sensitive column (被保険者証番号) in a table's key; the other parts, the row id and the line still trace it."""
    for col in sorted(sensitive):
        e = e.str.replace_all(rf"((?:^|,){re.escape(col)}=)[^,]*", f"${{1}}{FULL_MASK}")
    inner = MYNUMBER_PATTERN.removeprefix("(?i)")
    return e.str.replace_all(rf"(?i)((?:^|,)[^=,]*(?:{inner})[^=,]*=)[^,]*", f"${{1}}{FULL_MASK}")


def mask_cells_of(df: pl.DataFrame | pl.LazyFrame, column: str,
                  sensitive: set[str] | frozenset[str], *, reveal: bool = False,
                  value_cols: tuple[str, ...] = ("left", "right"),
                  key_cols: tuple[str, ...] = ()) -> pl.DataFrame | pl.LazyFrame:
    """`mask_long` for a frame whose values all come from `column`: the masking is decided once
    for the column instead of per row (the diff's millions of cells are read column by column)."""
    if _nothing_to_mask(df, reveal):
        return df
    if column in sensitive or is_mynumber_column(column):
        mynumber = is_mynumber_column(column)
        df = df.with_columns([mask_expr(pl.col(v).cast(pl.String), mynumber=mynumber).alias(v)
                              for v in value_cols])
    else:
        guard = name_letters_guard if is_number_column(column) else (lambda e: e)
        df = df.with_columns([guard(guard_expr(pl.col(v).cast(pl.String))).alias(v) for v in value_cols])
    return _mask_named(df, {k for k in key_cols if k in sensitive})   # keys: no shape guard (traceable)


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
