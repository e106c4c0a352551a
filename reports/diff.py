"""Parallel-run diff (並行稼働 比較): two tables on a key, compared cell by cell as text.

The join runs in DuckDB over Parquet (or a DuckDB database file, attached read-only), with a
memory limit (IKOU_DIFF_MEMORY_LIMIT, or sized to the memory budget: `_memory_limit`) and a spill
directory: (1) one grouped pass per side gives rows per key (duplicates) and a 64-bit hash of the
compared cells; (2) a narrow full join of (key, hash) counts the keys on one side only and finds
the keys whose hashes differ;
(3) the full outer join of the rows behind those keys compares the cells exactly as text and
streams the differing ones out, long, to one Arrow file per column. When most keys differ, (3)
joins all rows directly (the semi joins on the keys would cost more than they save). (4) The
cells are counted per distinct (column, left, right) triple: value comparison of numeric/date
columns and the rules (reports.rules) run once per triple, not per cell, since a date or a kana
spelling differs the same way on many rows. The cells stay on disk (`DiffResult.scan_cells`), so
memory grows with the distinct differences, not with the tables or the number of differing
cells. DataFrame, CSV, other database and non-text inputs are first written (streaming) to a
temporary Parquet file as text.

Values compare as TEXT exactly as written (every column, keys included, is read as String:
'00123' and '123' are different keys); an empty field is null and null equals null. A column
declared numeric or date compares by value (with an optional tolerance). Duplicate keys are
reported (count + samples) and left out of the join, never collapsed.

Table sources (`read_table`):
- `path.csv` (UTF-8, header row), `path.parquet`
- `ParquetSource(path, {file column: compared name})`: a Parquet file under other column names,
  read where it lies (e.g. a staged extract under the target's names)
- `<SQLAlchemy URL>#<table>`, e.g. `sqlite:///old.db#juki_kojin`,
  `postgresql+psycopg://user@host/db#public.juki_kojin`; `duckdb:///file#schema.table` is read
  in place (text as Polars would write it; other column types are staged through Polars); a table of a
  SQL_ASCII PostgreSQL database (the legacy application's CP932/EUC-JP bytes stored unchecked) is read as
  extraction reads it, its text as bytes decoded with `encoding` (`ikou diff --encoding cp932`), and refused
  in one line without it (`_read_database`)
- a Polars DataFrame / LazyFrame (from code).
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import polars as pl

from ikou.errors import TerminalError

if TYPE_CHECKING:
    from ikou.reports.rules import RuleSet

SAMPLE_ROWS = 20
# Explained cells kept per rule and column in the detail (differences.parquet): the rest are
# counted only. At 1M persons the rules explain millions of cells that nobody reads one by one.
EXPLAINED_SAMPLE = 100
CELL_BATCH_ROWS = 1 << 17    # differing rows per Arrow batch out of DuckDB (tens of MB)
# The full outer join reads all rows, not only those of the keys the hashes set apart, when more
# than this share of the keys is set apart: at 1M persons with every row differing, the two semi
# joins made the join about twice as slow.
DIRECT_JOIN_SHARE = 0.5
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


SAMPLE_BATCH_ROWS = 500_000   # cells per batch while the explained samples are picked (DiffResult)


class DiffInputError(TerminalError):
    """An input cannot be compared (missing key column, unreadable file, bad crosswalk)."""

    ja = "比較できません (比較する入力を確認してください)"   # not the migration's 「移行を続けられません」: `ikou diff` runs none


@dataclass(frozen=True)
class KeyMap:
    """How to read a legacy key column whose mapping op changes the value on purpose (a vendor code table:
    HAIGU → 04; a code chain's first name; a 和暦 date): as the op mapped it, so that the legacy record meets
    the record the target holds under the mapped key (reports.step.key_reading builds it from the op).

    `read` takes distinct legacy values as written and returns, in the same order, the key the op gave each
    one, or where the op gave none (a code it does not know: the row was held at map) the value as read
    (trimmed), so that the record shows as 旧のみ under its legacy value, never under a blank key."""

    read: Callable[[pl.Series], pl.Series]
    op: str = ""          # the op's name, for the reader of a repr and the messages
    # distinct legacy values → True where the op itself holds the value (its error: an unknown code), so that
    # the map stage held every row of it: those rows are set apart as 旧のみ (`APART`), since a value as read
    # can equal a key the op gives another value (a legacy 04 the vendor table lacks, beside HAIGU → 04)
    held: Callable[[pl.Series], pl.Series] | None = None
    table: str = ""       # the code table the op reads (file name or standard:<name>), for the messages


# A hidden column of the legacy side ('true' / 'false'): the row's key op holds its value (KeyMap.held), so the
# row was held at map and never reached the target. Such rows are 旧のみ whatever their key, never joined: a
# value as read that equals a key the op gives another value would otherwise meet that value's loaded row.
APART = "__ikou_held_at_map"


@dataclass(frozen=True)
class ParquetSource:
    """A Parquet file compared under other column names ({file column: compared name}).

    DuckDB reads it where it lies (no rewrite) when the chosen columns are text, as a staged
    extract's are; the flow's diff uses it for the legacy side under the target's names.
    """

    path: Path
    columns: dict[str, str]
    # key columns (compared name) read as the mapping's op read them: "text" (half- and full-width
    # spaces around it trimmed, the text op with strip), "code" (every surrounding Unicode whitespace
    # trimmed: the ops that always trim) or "integer" (the integer op: ' 01' and '+1' are 1, '1.0' is
    # not an integer and stays as written): a padded legacy key names the record the target holds
    # under its trimmed key, not a record only the legacy side has; or a KeyMap: a key the op maps on
    # purpose (HAIGU → 04), read through a lookup of its distinct legacy values (`key_lookups`)
    keys: dict[str, str | KeyMap] = field(default_factory=dict)
    # compared name → (file columns, strip) of a column the mapping joins from several (concat: 氏 + 名 → 氏名): its
    # value is those columns joined as the standard writes 氏名 (mappings.ops.concat_expr with the standard's 「　」,
    # each part read as the op read it), not the first column alone; `columns` names it by its first file column
    joined: dict[str, tuple[tuple[str, ...], bool]] = field(default_factory=dict)
    # compared name → file column, for a column the mapping fills from a file column `columns` already names
    # for another (ATENA_NO → atena_no and setainushi_atena_no): compared too, not left as a 新のみ column
    copies: dict[str, str] = field(default_factory=dict)

    @functools.cached_property
    def targets(self) -> dict[str, str]:
        """Compared name → the file column it is read from: `columns` turned round, with the `copies`."""
        return {**{t: s for s, t in self.columns.items()}, **self.copies}

    def key_sql(self, name: str, sql: str) -> str:
        if name in self.joined:
            return self.joined_sql(name)
        how = self.keys.get(name)
        if how is None or isinstance(how, KeyMap):   # a KeyMap is joined in (_direct_view)
            return sql
        trimmed = f"trim({sql}, {_lit(' ' + chr(0x3000) if how == 'text' else _WHITESPACE)})"
        if how != "integer":
            return trimmed
        return (f"CASE WHEN regexp_matches({trimmed}, '^[+-]?[0-9]{{1,18}}$') "
                f"THEN CAST(CAST({trimmed} AS BIGINT) AS VARCHAR) ELSE {trimmed} END")

    def key_expr(self, name: str, e: pl.Expr) -> pl.Expr:
        from ikou.mappings.ops import read_code, read_integer

        if name in self.joined:
            return self.joined_expr(name)
        how = self.keys.get(name)
        if how is None:
            return e
        if isinstance(how, KeyMap):
            lk = self.key_lookups[name]
            return e.replace_strict(lk["raw"], lk["key"], default=None, return_dtype=pl.String)
        trimmed = e.str.strip_chars(" \u3000") if how == "text" else read_code(e)
        return trimmed if how != "integer" else pl.coalesce(read_integer(e).cast(pl.String), trimmed)

    def joined_expr(self, name: str) -> pl.Expr:
        """A `joined` column's legacy value in Polars: the op's own expression with the standard's separator."""
        from ikou.mappings.ops import concat_expr

        cols, strip = self.joined[name]
        return concat_expr([pl.col(c) for c in cols], strip=strip)

    def joined_sql(self, name: str) -> str:
        """`joined_expr` in DuckDB over the file read as `s`: each part trimmed with `strip`, blank → NULL, the
        parts joined by 「　」 leaving NULLs out (concat_ws), NULL when every part is blank."""
        from ikou.mappings.ops import CONCAT_SEPARATOR

        cols, strip = self.joined[name]
        pad = _lit(" " + chr(0x3000))
        parts = []
        for c in cols:
            v = f"CAST(s.{_q(c)} AS VARCHAR)"
            parts.append(f"CASE WHEN trim({v}, {pad}) = '' THEN NULL ELSE {f'trim({v}, {pad})' if strip else v} END")
        return f"NULLIF(concat_ws({_lit(CONCAT_SEPARATOR)}, {', '.join(parts)}), '')"

    @functools.cached_property
    def key_lookups(self) -> dict[str, pl.DataFrame]:
        """Compared name → (raw, key, read, held) for each KeyMap key column: every distinct legacy value (as
        written, not null), the key the op gave it, the value as read (trimmed: two spellings of one code are
        one legacy value) and whether the op holds it (KeyMap.held). Read once from the file: a key an op
        maps is a code or a date, with few distinct values, so the lookup is small whatever the size of the
        table."""
        from ikou.mappings.ops import read_code

        source_of = self.targets
        out = {}
        for name, how in self.keys.items():
            if not isinstance(how, KeyMap) or name not in source_of:
                continue
            raw = (pl.scan_parquet(self.path).select(pl.col(source_of[name]).cast(pl.String).alias("raw"))
                   .drop_nulls().unique().collect(engine="streaming")["raw"].sort())
            key = how.read(raw).cast(pl.String)
            held = (how.held(raw) if how.held is not None else pl.Series([False] * raw.len())).cast(pl.Boolean)
            if key.len() != raw.len() or held.len() != raw.len():
                raise DiffInputError(f"{name}: the key reading gave {key.len()} values for {raw.len()}")
            out[name] = pl.DataFrame({"raw": raw, "key": key.rename("key"), "held": held.rename("held")}).with_columns(
                read_code(pl.col("raw")).alias("read"), pl.col("held").fill_null(False))
        return out

    @functools.cached_property
    def held_values(self) -> dict[str, list[str]]:
        """Compared name → the legacy values (as written) its KeyMap's op holds; only names with some."""
        return {n: lk.filter(pl.col("held"))["raw"].to_list() for n, lk in self.key_lookups.items() if lk["held"].any()}

    def apart_expr(self) -> pl.Expr | None:
        """`APART` in Polars ('true' / 'false' as the text the diff reads), or None when no row is set apart."""
        if not self.held_values:
            return None
        source_of = self.targets
        hit = pl.any_horizontal([pl.col(source_of[n]).cast(pl.String).is_in(v) for n, v in self.held_values.items()])
        return pl.when(hit.fill_null(False)).then(pl.lit("true")).otherwise(pl.lit("false")).alias(APART)

    @functools.cached_property
    def shared_keys(self) -> dict[str, pl.DataFrame]:
        """Compared name → (key, legacy) for each KeyMap key column whose op gives one key to several legacy
        values (as read, none of them held): the key and the sorted legacy values that map to it. Empty when
        no op does: then no two legacy rows can meet on a key through the mapping."""
        out = {}
        for name, lk in self.key_lookups.items():
            shared = (lk.filter(~pl.col("held") & pl.col("key").is_not_null() & pl.col("read").is_not_null())
                      .group_by("key").agg(pl.col("read").unique().sort().alias("legacy"))
                      .filter(pl.col("legacy").list.len() > 1).sort("key"))
            if shared.height:
                out[name] = shared
        return out


# what Polars' strip_chars() trims (Unicode White_Space), for the same trim in DuckDB's SQL
_WHITESPACE = "".join(map(chr, [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029,
                               0x202F, 0x205F, 0x3000]))


@dataclass
class DiffResult:
    """Everything the reports need. Counts are plain ints; the differing cells stay on disk.

    `triples` holds each distinct differing (column, left, right) with its number of cells and
    the rule that explains it (null = unexplained); `cell_files` the cells themselves, one Arrow
    file per column, removed with the result (or by `close()`). Read them with `scan_cells`;
    `cells` materialises them all, sorted, for tests and small tables.
    """

    key: list[str]
    columns: list[str]                      # compared columns
    left_name: str
    right_name: str
    left_rows: int
    right_rows: int
    matched: int                            # keys on both sides
    only_left: int
    only_right: int
    changed_rows: int                       # matched rows with ≥ 1 differing cell
    changed_cells: dict[str, int]           # per column, before rules
    unexplained_rows: int                   # matched rows with ≥ 1 cell no rule explains
    triples: pl.DataFrame                   # column, left, right, cells, rule (null = unexplained)
    cell_files: dict[str, Path]             # column -> Arrow IPC of its cells (key…, left, right)
    only_left_rows: pl.DataFrame            # key + left values
    only_right_rows: pl.DataFrame           # key + right values
    # side -> {"keys": n, "rows": n, "sample": DataFrame}; the left side's "mapped" (when some): the duplicated
    # keys the mapping made, several legacy values of a key column mapped to one (_mapped_duplicates)
    duplicates: dict[str, dict]
    left_only_columns: list[str] = field(default_factory=list)
    right_only_columns: list[str] = field(default_factory=list)
    control_totals: dict[str, dict] = field(default_factory=dict)   # side -> totals
    rules: list[dict] = field(default_factory=list)                 # rule metadata (name, reason …)
    crosswalk: dict | None = None
    explained_sample: int = EXPLAINED_SAMPLE                        # explained cells kept per rule and column
    workdir: Path | None = field(default=None, repr=False)          # owns cell_files

    def __post_init__(self):
        self._samples: dict[str, list[pl.DataFrame]] = {}
        # the cell files live as long as the result: no caller has to remember to delete them
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.workdir), True) \
            if self.workdir is not None else None

    def close(self) -> None:
        """Delete the cell files now (they are deleted anyway when the result is collected)."""
        if self._cleanup is not None:
            self._cleanup()

    @property
    def explained(self) -> dict[str, dict]:
        """Per rule: cells explained, by column (rules only see cells that differ)."""
        out: dict[str, dict] = {r["name"]: {**r, "cells": 0, "by_column": {}} for r in self.rules}
        if not self.rules or self.triples.is_empty():
            return out
        counts = (self.triples.filter(pl.col("rule").is_not_null())
                  .group_by("rule", "column").agg(pl.col("cells").sum()).sort("rule", "column"))
        for rule, column, n in counts.iter_rows():
            out[rule]["by_column"][column] = n
            out[rule]["cells"] += n
        return out

    @property
    def unexplained_cells(self) -> dict[str, int]:
        base = {c: 0 for c in self.columns if self.changed_cells.get(c)}
        counts = (self.triples.filter(pl.col("rule").is_null())
                  .group_by("column").agg(pl.col("cells").sum()))
        base.update(dict(counts.iter_rows()))
        return base

    def scan_cells(self, columns: list[str] | None = None, *,
                   unexplained: bool = False) -> pl.LazyFrame:
        """The differing cells, long (key…, column, left, right, rule), read lazily from disk.

        Grouped by column in `columns` order, in no particular order within a column. Cells of
        numeric/date columns that are equal by value are left out (they have no triple).
        """
        parts = []
        for c in (self.columns if columns is None else columns):
            path = self.cell_files.get(c)
            tr = self.triples.filter(pl.col("column") == c)
            if unexplained:
                tr = tr.filter(pl.col("rule").is_null())
            if path is None or tr.is_empty():
                continue
            lf = pl.scan_ipc(path)
            if tr["rule"].n_unique() == 1 and \
                    tr["cells"].sum() == lf.select(pl.len()).collect().item():
                # every cell kept, all with the same rule: no join (the usual case in the flow)
                lf = lf.with_columns(pl.lit(tr["rule"][0], dtype=pl.String).alias("rule"))
            else:
                lf = lf.join(tr.lazy().select("left", "right", "rule"), on=["left", "right"],
                             how="inner", nulls_equal=True)
            parts.append(lf.select(*self.key, pl.lit(c).alias("column"), "left", "right", "rule"))
        schema = {**{k: pl.String for k in self.key}, "column": pl.String, "left": pl.String,
                  "right": pl.String, "rule": pl.String}
        return pl.concat(parts).cast(schema) if parts else pl.LazyFrame(schema=schema)

    def scan_detail(self, columns: list[str] | None = None) -> pl.LazyFrame:
        """What the diff stores (differences.parquet): every unexplained cell, and per rule and
        column the `explained_sample` explained cells of the smallest keys; `kind` says which
        ("unexplained" / "sample"). The explained cells are counted in full in `triples`.

        Columns as `scan_cells` (key…, column, left, right, rule) plus `kind`; grouped by column,
        unexplained first within a column.
        """
        parts = []
        for c in (self.columns if columns is None else columns):
            tr = self.triples.filter(pl.col("column") == c)
            if tr.is_empty():
                continue
            cells = self.scan_cells([c])
            if tr["rule"].null_count() == tr.height:      # nothing explained: every cell stays
                parts.append(cells.with_columns(pl.lit("unexplained").alias("kind")))
                continue
            unexplained = cells.filter(pl.col("rule").is_null()).with_columns(
                pl.lit("unexplained").alias("kind"))
            parts.append(pl.concat([unexplained, *(f.lazy() for f in self._explained_samples(c, cells))]))
        schema = {**{k: pl.String for k in self.key}, "column": pl.String, "left": pl.String,
                  "right": pl.String, "rule": pl.String, "kind": pl.String}
        return pl.concat(parts).cast(schema) if parts else pl.LazyFrame(schema=schema)

    def _explained_samples(self, column: str, cells: pl.LazyFrame) -> list[pl.DataFrame]:
        """Per rule (in rule order), the `explained_sample` explained cells of the smallest keys,
        sorted by key: a running bottom-k over the column's cells read in batches, so memory stays
        at a batch (a bottom-k of the whole column held every cell: 2.5 GB at 3.7M persons).
        Computed once per column (the detail file and the HTML both ask)."""
        if column not in self._samples:
            n, best = self.explained_sample, {}
            for batch in cells.filter(pl.col("rule").is_not_null()).collect_batches(chunk_size=SAMPLE_BATCH_ROWS):
                for (rule,), part in batch.group_by("rule"):
                    kept = best.get(rule)
                    best[rule] = (part if kept is None else pl.concat([kept, part])).bottom_k(n, by=self.key)
            self._samples[column] = [best[r].sort(self.key).with_columns(pl.lit("sample").alias("kind"))
                                     for r in sorted(best)]
        return self._samples[column]

    def column_sample(self, column: str, n: int) -> pl.DataFrame:
        """The first `n` cells of a column as the report shows them: unexplained first, by key.

        Taken from the stored detail (the explained cells' per-rule samples hold each rule's
        smallest keys, so for n ≤ `explained_sample` this is the first n of all the cells)."""
        return (self.scan_detail([column]).sort(pl.col("rule").is_not_null(), *self.key)
                .head(n).drop("kind").collect())

    @functools.cached_property
    def cells(self) -> pl.DataFrame:
        """Every differing cell in memory, sorted by key and column (tests, small tables)."""
        return self.scan_cells().collect(engine="streaming").sort([*self.key, "column"])


def _blank_to_null(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.with_columns(pl.all().cast(pl.String)).with_columns(
        pl.when(pl.all() == "").then(None).otherwise(pl.all()).name.keep())


def read_table(source, *, name: str | None = None, opened: list | None = None,
               encoding: str | None = None) -> tuple[pl.LazyFrame, str]:
    """Open a table as a LazyFrame of String columns with blanks as null; returns (frame, label). A DuckDB
    connection it opens is added to `opened` (the caller closes it: `compare` does, on every path, so a
    failed diff never leaves the target file open read-only, which would stop the run recording its end).
    `encoding`: the legacy application's encoding (cp932, euc_jp …) of a SQL_ASCII PostgreSQL database's text
    (`_read_database`); other sources do not use it."""
    if isinstance(source, pl.DataFrame):
        return _blank_to_null(source.lazy()), name or "DataFrame"
    if isinstance(source, pl.LazyFrame):
        return _blank_to_null(source), name or "LazyFrame"
    if isinstance(source, ParquetSource):
        path = Path(source.path)
        if not path.is_file():
            raise DiffInputError(f"{path}: file not found", ja=f"比較する入力 {path} がありません")
        apart = source.apart_expr()   # the rows the key's op held at map: set apart as 旧のみ (_compare)
        lf = pl.scan_parquet(path).select([source.key_expr(t, pl.col(s)).alias(t) for t, s in source.targets.items()]
                                          + ([apart] if apart is not None else []))
        return _blank_to_null(lf), name or path.name
    text = str(source)
    if "://" in text:
        url, sep, table = text.rpartition("#")
        if not sep or not _IDENT.match(table):
            raise DiffInputError(f"{text!r}: a database source is written URL#table "
                                 "(e.g. sqlite:///old.db#juki_kojin)")
        db = _duckdb_url(text)
        if db is not None:   # lazily, by DuckDB itself: the table is never whole in memory
            import duckdb
            try:
                con = duckdb.connect(db[0], read_only=True)
                if opened is not None:
                    opened.append(con)
                lf = con.sql(f"SELECT * FROM {table}").pl(lazy=True)
            except duckdb.Error as exc:
                raise DiffInputError(f"{table}: cannot read from the database: {exc}") from None
            return _blank_to_null(lf), name or table
        return _blank_to_null(_read_database(url, table, encoding).lazy()), name or table
    path = Path(text)
    if not path.is_file():
        raise DiffInputError(f"{path}: file not found", ja=f"比較する入力 {path} がありません")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        lf = pl.scan_parquet(path)
    elif suffix in (".csv", ".txt", ".tsv"):
        lf = pl.scan_csv(path, infer_schema=False, separator="\t" if suffix == ".tsv" else ",")
    else:
        raise DiffInputError(f"{path}: unknown table format (use .csv, .parquet or URL#table)")
    return _blank_to_null(lf), name or path.name


def check_encoding(encoding: str | None) -> str | None:
    """`--encoding` checked before anything is read: a Japanese legacy encoding (cp932, shift_jis, euc_jp …)
    or UTF-8, as extraction accepts for a SQL_ASCII database's text; a single-byte one (latin-1) would make a
    character of every byte (mojibake that compares as a difference, never as the name it is)."""
    if encoding is None:
        return None
    import codecs

    from ikou.extractors.database import japanese_encoding

    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DiffInputError(f"--encoding {encoding}: no such encoding (give cp932, shift_jis, euc_jp or utf-8)",
                             ja=f"--encoding {encoding}: そのような文字コードはありません "
                                "(cp932・shift_jis・euc_jp・utf-8 のいずれかを指定してください)") from None
    if not (japanese_encoding(encoding) or codecs.lookup(encoding).name == "utf-8"):
        raise DiffInputError(f"--encoding {encoding} is not the encoding of a Japanese legacy system: decoded so, "
                             "a SQL_ASCII database's Japanese text would become other characters (give cp932, "
                             "shift_jis, euc_jp or utf-8)",
                             ja=f"--encoding {encoding} は日本の旧システムの文字コードではありません。これで復号すると "
                                "SQL_ASCII のデータベースの日本語が別の文字になります (cp932・shift_jis・euc_jp・utf-8 "
                                "のいずれかを指定してください)")
    return encoding


def _read_database(url: str, table: str, encoding: str | None) -> pl.DataFrame:
    """`table` of the SQLAlchemy database at `url`, whole. A PostgreSQL database is read as extraction reads it
    (extractors.database: a read-only session, the server's own text of a SQL_ASCII database as ASCII str):
    when its server_encoding is SQL_ASCII, its text columns hold the legacy application's bytes (CP932, EUC-JP)
    stored unchecked, so they are read as those bytes (`as_stored_bytes`) and decoded with `encoding`
    (extractors.text.render, a whole column per call); without `encoding` such a table is refused in one line
    saying what to pass, never read as mojibake. A value the encoding does not decode stops the diff naming
    the column and how many (never the bytes: they are part of a name)."""
    import sqlalchemy as sa

    from ikou.extractors.database import as_stored_bytes, read_only_engine, sql_ascii_text_columns

    try:
        engine = (read_only_engine(url) if sa.engine.make_url(url).get_backend_name() == "postgresql"
                  else sa.create_engine(url))
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        raise DiffInputError(f"{table}: cannot open the database: {type(exc).__name__}",
                             ja=f"{table}: データベースを開けません ({type(exc).__name__})") from None
    shown = engine.url.render_as_string()   # the password hidden
    try:
        with engine.connect() as conn:
            text_cols, tbl = {}, None
            if engine.dialect.name == "postgresql":
                # the table as `SELECT * FROM table` names it: unquoted, folded to lower case by PostgreSQL
                db_schema, _, bare = table.rpartition(".")
                tbl = sa.table(bare.lower(), schema=db_schema.lower() or None)
                text_cols = sql_ascii_text_columns(conn, tbl)
            if not text_cols:
                return pl.read_database(f"SELECT * FROM {table}", conn, infer_schema_length=None)
            if encoding is None:
                raise DiffInputError(
                    f"{table} in {shown} is in a SQL_ASCII PostgreSQL database, whose text is the legacy "
                    "application's own bytes stored unchecked: pass --encoding with the system's encoding "
                    "(--encoding cp932, or euc_jp) to read it",
                    ja=f"{shown} の表 {table} は SQL_ASCII の PostgreSQL データベースにあり、文字列は旧システムの"
                       "バイト列のまま保存されています。旧システムの文字コードを --encoding で指定してください "
                       "(--encoding cp932 または euc_jp)")
            check_encoding(encoding)
            names = list(conn.execute(sa.select(sa.text("*")).select_from(tbl).where(sa.false())).keys())
            df = pl.read_database(
                sa.select(*(as_stored_bytes(sa.column(c)).label(c) if c in text_cols else sa.column(c)
                            for c in names)).select_from(tbl), conn, infer_schema_length=None)
    except UnicodeDecodeError:   # psycopg reads a SQL_ASCII database's column names as ASCII
        raise DiffInputError(
            f"{table} in {shown} is in a SQL_ASCII database and has a column whose name is not ASCII (the legacy "
            "application's own bytes): create a view that gives such columns ASCII names and compare that view",
            ja=f"{shown} の表 {table} は SQL_ASCII のデータベースにあり、列名が ASCII でない列があります。そうした列に "
               "ASCII の別名を付けたビューを作り、そのビューを比較してください") from None
    except sa.exc.SQLAlchemyError as exc:
        raise DiffInputError(f"{table}: cannot read from the database: {type(exc).__name__}") from None
    finally:
        engine.dispose()
    return _decoded(df, text_cols, encoding, table, shown)


def _decoded(df: pl.DataFrame, columns, encoding: str, table: str, shown: str) -> pl.DataFrame:
    """The byte columns of a SQL_ASCII table (`_read_database`) decoded with `encoding`, a column at a time."""
    from ikou.extractors.text import Column, render

    out = []
    for c in df.columns:
        s = df[c]
        if c not in columns or s.dtype != pl.Binary:   # not text, or every value null
            continue
        got = render(s.to_arrow(), Column(c, c, encoding, "Asia/Tokyo"), source_name=shown, table=table, run_id=None)
        if got.held:
            raise DiffInputError(
                f"{table} in {shown}: column {c} holds {len(got.held)} value(s) whose bytes are not valid {encoding} "
                "(check --encoding: cp932, euc_jp …; a value no encoding reads is held by the migration's "
                "extract.decode)",
                ja=f"{shown} の表 {table} の列 {c} に {encoding} として読めない値が {len(got.held)} 件あります "
                   "(--encoding の文字コード cp932・euc_jp などを確認してください)")
        out.append(pl.Series(c, got.text, dtype=pl.String))
    return df.with_columns(out) if out else df


def _schema_names(lf: pl.LazyFrame, label: str) -> list[str]:
    try:
        return lf.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DiffInputError(f"{label}: cannot read: {exc}") from None


def _apply_crosswalk(lf: pl.LazyFrame, key: list[str], path) -> tuple[pl.LazyFrame, dict]:
    """Replace legacy keys by standard keys. The CSV has `legacy_<k>` and `<k>` for the key columns it
    renumbers (at least one; a key column it does not name, e.g. 履歴番号, is compared as it is).

    A legacy key absent from the crosswalk keeps its value (and will usually show as only-left);
    a legacy key listed twice is a broken crosswalk and stops the diff.
    """
    xw = pl.read_csv(path, infer_schema=False)
    key = [k for k in key if f"legacy_{k}" in xw.columns] or key
    need = [f"legacy_{k}" for k in key] + list(key)
    missing = [c for c in need if c not in xw.columns]
    if missing:
        raise DiffInputError(f"{path}: crosswalk lacks column(s) {missing} (needs {need})")
    legacy = [f"legacy_{k}" for k in key]
    dup = xw.group_by(legacy).len().filter(pl.col("len") > 1).height
    if dup:
        raise DiffInputError(f"{path}: {dup} legacy key(s) appear more than once in the crosswalk")
    xw = xw.select(*[pl.col(f"legacy_{k}").alias(k) for k in key],
                   *[pl.col(k).alias(f"_xw_{k}") for k in key])
    mapped = lf.join(xw.lazy(), on=key, how="left", nulls_equal=True)
    hit = pl.col(f"_xw_{key[0]}").is_not_null()
    mapped = mapped.with_columns(
        [pl.when(hit).then(pl.col(f"_xw_{k}")).otherwise(pl.col(k)).alias(k) for k in key]
    ).drop([f"_xw_{k}" for k in key])
    return mapped, {"file": Path(path).name, "entries": xw.height}


def _parse_number(e: pl.Expr) -> pl.Expr:
    return e.str.strip_chars().str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False)


_PLAIN_NUMBER = r"^([+-]?)([0-9]*)(?:\.([0-9]*))?$"


def _exact_number(e: pl.Expr) -> pl.Expr:
    """A number written in plain digits as one canonical text, exactly (no float): leading zeros, trailing
    zeros after the point, a + sign and thousands commas dropped, -0 as 0 ('0012.50', '12.5', '+12.500' →
    '12.5'). So a decimal the target writes at its scale (12345.67 → 12345.6700) equals its source, and a
    digit lost (0.0001 → 0.000) or a 17th significant digit changed never does. Null when not such a number."""
    parts = e.str.strip_chars().str.replace_all(",", "", literal=True).str.extract_groups(_PLAIN_NUMBER)
    sign, whole, frac = (parts.struct.field(f) for f in ("1", "2", "3"))
    whole = whole.str.strip_chars_start("0")
    frac = frac.fill_null("").str.strip_chars_end("0")
    digits = pl.concat_str([pl.when(whole == "").then(pl.lit("0")).otherwise(whole),
                            pl.when(frac == "").then(pl.lit("")).otherwise(pl.lit(".") + frac)])
    zero = (whole == "") & (frac == "")
    canonical = pl.concat_str([pl.when((sign == "-") & ~zero).then(pl.lit("-")).otherwise(pl.lit("")), digits])
    has_digit = (parts.struct.field("2").fill_null("") + parts.struct.field("3").fill_null("")) != ""
    return pl.when(has_digit).then(canonical)


def _parse_date(e: pl.Expr) -> pl.Expr:
    s = e.str.strip_chars()
    return pl.coalesce(s.str.to_date("%Y-%m-%d", strict=False),
                       s.str.to_date("%Y%m%d", strict=False),
                       s.str.to_date("%Y/%m/%d", strict=False))


def equal_expr(l: pl.Expr, r: pl.Expr, *, kind: str = "text",
               tolerance: tuple[float, float] = (0.0, 0.0)) -> pl.Expr:
    """Cell equality: text as written (null == null); numbers/dates by value when both parse."""
    text_eq = l.eq_missing(r)
    if kind == "numeric":
        ln, rn = _parse_number(l), _parse_number(r)
        abs_tol, rel_tol = tolerance
        close = (ln - rn).abs() <= (abs_tol + rel_tol * rn.abs())
        by_float = pl.when(ln.is_not_null() & rn.is_not_null()).then(close).otherwise(text_eq)
        if tolerance != (0.0, 0.0):
            return by_float
        # no tolerance: equal means the same number exactly, compared as text (a float has 15-17 digits)
        le, re_ = _exact_number(l), _exact_number(r)
        return pl.when(le.is_not_null() & re_.is_not_null()).then(le == re_).otherwise(by_float)
    if kind == "date":
        ld, rd = _parse_date(l), _parse_date(r)
        return pl.when(ld.is_not_null() & rd.is_not_null()).then(ld == rd).otherwise(text_eq)
    return text_eq


def _q(name: str) -> str:
    """A SQL identifier, quoted (column names come from the inputs)."""
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# DuckDB types whose text (CAST AS VARCHAR) is exactly what Polars' cast to String writes
_DUCKDB_TEXT_AS_POLARS = re.compile(
    r"^(VARCHAR|U?(BIG|SMALL|TINY|HUGE)?INT(EGER)?|DATE|BOOLEAN|DECIMAL\(\d+,\d+\))$")


def _duckdb_url(source) -> tuple[str, str] | None:
    """(database file, table) of a `duckdb:///file#schema.table` source."""
    url, sep, table = str(source).rpartition("#")
    if not (sep and url.startswith("duckdb:///") and _IDENT.match(table)):
        return None
    path = url.split(":///", 1)[1]
    return (path, table) if path and path != ":memory:" else None


def recorded_sensitive(source) -> set[str]:
    """The columns of a target table (`URL#schema.table`) that the ikou run holding it recorded as sensitive
    (`ikou_run.sensitive`, read through the target: loaders.held_runs, names checked and quoted there): masked
    by `ikou diff` whatever --schema or --sensitive say, so that a 業務 whose schema lives outside the
    repository is masked too. Empty for a file, a frame, or a table no ikou run recorded (a legacy database,
    a schema not named for a 団体, a target an earlier ikou loaded). A record that cannot be read stops the
    diff: the columns to mask would be unknown."""
    text = str(source) if isinstance(source, (str, Path)) else ""
    url, sep, table = text.rpartition("#")
    if "://" not in url or not sep or not _IDENT.match(table):
        return set()
    from ikou.errors import ConfigError, IkouError, IsolationError
    from ikou.loaders import held_runs, target_for
    from ikou.loaders.targets import PREV

    db_schema, _, name = table.rpartition(".")
    duckdb_file = _duckdb_url(text) is not None
    if not db_schema and not duckdb_file:
        return set()   # a target table is always read as dantai_<code>….table
    try:
        target_for(url)
    except ConfigError:
        return set()   # no kind of ikou target (sqlite, mysql …): a legacy database
    which = "current"
    if duckdb_file and name.endswith(PREV):   # DuckDB keeps the previous state beside it: <table>__prev
        which, name = "previous", name[:-len(PREV)]
    try:
        record = held_runs(url, db_schema or "main")[which]
    except IsolationError:
        return set()   # not a 団体's schema: ikou loads none other
    except IkouError:
        raise
    except Exception as exc:   # noqa: BLE001 - only its kind: a driver's text may repeat the URL
        raise DiffInputError(f"{table}: cannot read the ikou_run record of its schema ({type(exc).__name__}): the "
                             "columns its run marked sensitive are unknown, so nothing is written",
                             ja=f"{table}: スキーマの ikou_run を読めません。マスクすべき項目が不明なため出力しません") from None
    return set(((record or {}).get("sensitive") or {}).get(name) or [])


def _direct_view(con, side: str, source) -> tuple[str, dict[str, str]] | None:
    """Read `source` where it lies: a Parquet file whose compared columns are text, or a DuckDB
    database table (attached read-only) whose types DuckDB writes as Polars would.

    Returns the FROM clause and {compared name: SQL of its text}, or None when the source must
    first be staged as text (DataFrames, CSV, other databases, other types).
    """
    if isinstance(source, (pl.DataFrame, pl.LazyFrame)):
        return None
    db = _duckdb_url(source)
    if db is not None:
        import duckdb
        try:
            _x(con, f"ATTACH {_lit(db[0])} AS {side}_db (READ_ONLY)")
            types = {c: t for c, t, *_ in _x(con, f"DESCRIBE {side}_db.{db[1]}")}
        except duckdb.Error:
            return None
        if not all(_DUCKDB_TEXT_AS_POLARS.match(t) for t in types.values()):
            return None
        return f"{side}_db.{db[1]}", {c: f"CAST({_q(c)} AS VARCHAR)" for c in types}
    if isinstance(source, ParquetSource):
        path, names = Path(source.path), dict(source.targets)
    elif Path(str(source)).suffix.lower() in (".parquet", ".pq") and "://" not in str(source):
        path, names = Path(str(source)), None
    else:
        return None
    try:
        schema = pl.read_parquet_schema(path)
    except (pl.exceptions.PolarsError, OSError):
        return None
    names = names if names is not None else {c: c for c in schema}
    if not all(schema.get(s) == pl.String for s in names.values()):
        return None
    text = {t: f"s.{_q(s)}" for t, s in names.items()}
    from_sql = f"read_parquet({_lit(str(path))}) AS s"
    if isinstance(source, ParquetSource):
        text = {t: source.key_sql(t, sql) for t, sql in text.items()}
        # a key the op mapped (HAIGU → 04): the lookup of its distinct legacy values, joined in
        for i, (t, lk) in enumerate(source.key_lookups.items()):
            table = f"{side}_key{i}"
            con.register(f"_{table}", lk.to_arrow())
            try:
                _x(con, f"CREATE TEMP TABLE {table} AS SELECT raw, key, held FROM _{table}")
            finally:
                con.unregister(f"_{table}")
            from_sql += f" LEFT JOIN {table} ON s.{_q(names[t])} = {table}.raw"
            text[t] = f"{table}.key"
        held = [f"{side}_key{i}.held" for i, t in enumerate(source.key_lookups) if t in source.held_values]
        if held:
            text[APART] = f"CASE WHEN coalesce({' OR '.join(held)}, false) THEN 'true' ELSE 'false' END"
    return from_sql, text


def _stage(lf: pl.LazyFrame, label: str, out: Path) -> Path:
    """Write a side (text columns, blanks null, crosswalk applied) to Parquet, streaming."""
    import errno

    try:
        lf.sink_parquet(out, compression="lz4")
    except (pl.exceptions.PolarsError, OSError) as exc:
        # the scratch file could not be written (a full disk, a read-only folder): the disk's error, naming the
        # file, which ikou.errors says in Japanese — not "cannot read" the input
        code = getattr(exc, "errno", None) or next(
            (n for n, words in ((errno.ENOSPC, "No space left"), (errno.EDQUOT, "quota exceeded"),
                                (errno.EROFS, "Read-only file system")) if words in str(exc)), None)
        if code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            out.unlink(missing_ok=True)
            raise OSError(code, os.strerror(code), str(out)) from None
        raise DiffInputError(f"{label}: cannot read: {exc}") from None
    return out


def _x(con, sql: str) -> list[tuple]:
    """Run a statement to completion (DuckDB 2 refuses new work while a result is unfinished)."""
    return con.execute(sql).fetchall()


def _rel(con, sql: str):
    return con.sql(sql)


DIFF_MEMORY_MAX_MB, DIFF_MEMORY_MIN_MB = 2048, 1024


def _memory_limit() -> str:
    """DuckDB's memory limit for the diff: IKOU_DIFF_MEMORY_LIMIT when set; otherwise three quarters
    of what the memory budget (ikou.memory.budget_mb, 3GB) leaves beside what this process holds
    now, between 1GB and 2GB. The diff runs last, after stages whose memory is not all handed
    back, and the joins' own Python side comes on top of DuckDB's: at 3.7M persons a fixed 2GB
    took the flow to 3.2 GB, 1GB cost the diff 20 % more time than 2GB (spilling)."""
    if os.environ.get("IKOU_DIFF_MEMORY_LIMIT"):
        return os.environ["IKOU_DIFF_MEMORY_LIMIT"]
    from ikou import memory

    held = memory.rss_mb() or 0.0
    mb = min(DIFF_MEMORY_MAX_MB, max(DIFF_MEMORY_MIN_MB, 0.75 * (memory.budget_mb() - held)))
    return f"{int(mb)}MB"


def _key_on(a: str, b: str, key: list[str]) -> str:
    # null keys are key values too (null equals null), as in the Polars join with nulls_equal
    return " AND ".join(f"{a}.{_q(k)} IS NOT DISTINCT FROM {b}.{_q(k)}" for k in key)


def _numeric_sums(lf: pl.LazyFrame, numeric: list[str]) -> dict:
    if not numeric:
        return {}
    row = lf.select([_parse_number(pl.col(c)).sum().alias(c) for c in numeric]).collect(
        engine="streaming").row(0, named=True)
    return {c: row[c] for c in numeric}


def _differences_sql(l_src: str, r_src: str, key: list[str], common: list[str]) -> str:
    """The full outer join of the sides' rows `l_src`/`r_src`, keeping the rows on one side only
    or with ≥ 1 differing cell: key…, _inl/_inr (the row is on that side), and per column i a
    flag _d{i} (a matched cell that differs) with the values _l{i}/_r{i}, null where the cell is
    equal (equal text is never copied out of DuckDB); one-side rows keep all their values."""
    cols = []
    for i, c in enumerate(common):
        differs = f"l.{_q(c)} IS DISTINCT FROM r.{_q(c)}"
        cols += [f"l._in IS NOT NULL AND r._in IS NOT NULL AND {differs} AS _d{i}",
                 f"CASE WHEN r._in IS NULL OR {differs} THEN l.{_q(c)} END AS _l{i}",
                 f"CASE WHEN l._in IS NULL OR {differs} THEN r.{_q(c)} END AS _r{i}"]
    where = " OR ".join(["l._in IS NULL", "r._in IS NULL",
                         *(f"l.{_q(c)} IS DISTINCT FROM r.{_q(c)}" for c in common)])
    cols = [*(f"coalesce(l.{_q(k)}, r.{_q(k)}) AS {_q(k)}" for k in key),
            "l._in IS NOT NULL AS _inl", "r._in IS NOT NULL AS _inr", *cols]
    return (f"SELECT {', '.join(cols)} FROM {l_src} l FULL OUTER JOIN {r_src} r "
            f"ON {_key_on('l', 'r', key)} WHERE {where}")


def _write_differences(con, sql: str, key: list[str], common: list[str],
                       out_dir: Path) -> tuple[dict[str, Path], int, dict[str, pl.DataFrame]]:
    """Stream the rows of `_differences_sql` out of DuckDB: each column's differing cells (key…,
    left, right) go to its own Arrow IPC file (cheap to write, memory-mapped when read, and a
    column is read without the others); rows on one side only are kept as frames (key…, values).

    Returns the files, the number of matched rows with a differing cell, and the one-side rows.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    writers, files, rows = {}, {}, 0
    one_side: dict[str, list] = {"l": [], "r": []}
    try:
        for batch in con.sql(sql).to_arrow_reader(CELL_BATCH_ROWS):
            inl, inr = batch.column("_inl"), batch.column("_inr")
            rows += pc.sum(pc.and_(inl, inr)).as_py() or 0
            for side, alone in (("l", pc.invert(inr)), ("r", pc.invert(inl))):
                if pc.any(alone).as_py():
                    one_side[side].append(pa.record_batch(
                        [pc.filter(batch.column(a), alone)
                         for a in (*key, *(f"_{side}{i}" for i in range(len(common))))],
                        names=[*key, *common]))
            for i, c in enumerate(common):
                differs = batch.column(f"_d{i}")
                if not pc.any(differs).as_py():
                    continue
                part = pa.record_batch(
                    [pc.filter(batch.column(a), differs) for a in (*key, f"_l{i}", f"_r{i}")],
                    names=[*key, "left", "right"])
                if c not in writers:
                    files[c] = out_dir / f"{i}.arrow"
                    writers[c] = pa.ipc.new_file(str(files[c]), part.schema)
                writers[c].write_batch(part)
    finally:
        for w in writers.values():
            w.close()
    schema = {c: pl.String for c in (*key, *common)}
    frames = {side: (pl.from_arrow(pa.Table.from_batches(b)).cast(schema).sort(key) if b
                     else pl.DataFrame(schema=schema)) for side, b in one_side.items()}
    return {c: files[c] for c in common if c in files}, rows, frames


def _triples(files: dict[str, Path]) -> pl.DataFrame:
    """Distinct differing (column, left, right) with their number of cells."""
    schema = {"column": pl.String, "left": pl.String, "right": pl.String, "cells": pl.Int64}
    parts = [pl.scan_ipc(f).group_by("left", "right").agg(pl.len().alias("cells"))
             .select(pl.lit(c).alias("column"), "left", "right", "cells")
             for c, f in files.items()]
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts).cast(schema).collect(engine="streaming")


def _drop_equal_by_value(triples: pl.DataFrame, common: list[str], numeric: list[str],
                         dates: list[str], tolerance: dict) -> pl.DataFrame:
    """DuckDB finds cells whose TEXT differs; numeric/date columns then drop the triples that
    are equal by value (the test runs once per distinct triple)."""
    declared = [c for c in common if c in numeric or c in dates]
    if not declared or triples.is_empty():
        return triples
    eq = pl.lit(False)
    for c in reversed(declared):
        kind = "numeric" if c in numeric else "date"
        eq = pl.when(pl.col("column") == c).then(
            equal_expr(pl.col("left"), pl.col("right"), kind=kind,
                       tolerance=tolerance.get(c, (0.0, 0.0))).fill_null(False)).otherwise(eq)
    return triples.filter(~eq)


SHARED_CODES_SHOWN = 5   # per column, the mapped codes (and their legacy codes) a summary names


def _shared_keys(source, key: list[str], crosswalk) -> pl.DataFrame | None:
    """The keys of `source` (legacy) that rows with different legacy values of a KeyMap key column share only
    through its op (a vendor code table mapping HAIGU and HAIGU2 to 04): key… plus, per such column, how many
    legacy values (as read) meet on the key (`_shared<i>`, in `source.shared_keys` order). None when no op
    gives one key to several values (the usual case: nothing is read).

    One streaming pass over the key columns alone, keeping the rows of a shared mapped value (a code: few),
    keys read as `read_table` reads them (crosswalk included), the rows held at map set apart; DuckDB's own
    count of each key (l_keys) then decides (`_mapped_duplicates`)."""
    from ikou.mappings.ops import read_code

    if not isinstance(source, ParquetSource):
        return None
    shared = source.shared_keys
    if not shared:
        return None
    source_of = source.targets
    col = {k: pl.col(source_of[k]).cast(pl.String) for k in key}
    lf = pl.scan_parquet(source.path)
    if (apart := source.apart_expr()) is not None:
        lf = lf.filter(apart != "true")
    lf = lf.filter(pl.any_horizontal([source.key_expr(n, col[n]).is_in(v["key"].implode())
                                      for n, v in shared.items()]).fill_null(False))
    keys = [source.key_expr(k, col[k]) for k in key]
    lf = lf.select(*[pl.when(e == "").then(None).otherwise(e).alias(k) for e, k in zip(keys, key)],
                   *[read_code(col[n]).alias(f"_shared{i}") for i, n in enumerate(shared)])
    if crosswalk is not None:
        lf, _ = _apply_crosswalk(lf, key, crosswalk)
    reads = [f"_shared{i}" for i in range(len(shared))]
    return (lf.group_by(key).agg([pl.col(r).n_unique() for r in reads])
            .filter(pl.any_horizontal([pl.col(r) > 1 for r in reads])).collect(engine="streaming"))


def _mapped_duplicates(con, shared: pl.DataFrame, key: list[str], source: ParquetSource) -> dict:
    """Of the legacy side's duplicated keys (l_keys, n > 1), those that are duplicated because the op of a key
    column maps different legacy values to one (`_shared_keys`): keys, legacy rows, and the target rows under
    them (r_keys, a key held once there: the rows the join counts as 新のみ), in total and per column with the
    op, its legacy column and code table, and for a code table the shared codes (codes, never a person's
    values: a date or a kana reading is not listed)."""
    names = list(source.shared_keys)
    con.register("_shared", shared.to_arrow())
    try:
        _x(con, "CREATE TEMP TABLE l_shared AS SELECT * FROM _shared")
    finally:
        con.unregister("_shared")

    def counts(where: str) -> tuple[int, int, int]:
        k, rows, right = _x(con,
            "SELECT count(*), coalesce(sum(l.n), 0), coalesce(sum(r.n) FILTER (WHERE r.n = 1), 0) "
            f"FROM l_shared m JOIN l_keys l ON {_key_on('m', 'l', key)} AND l.n > 1 "
            f"LEFT JOIN r_keys r ON {_key_on('m', 'r', key)} WHERE {where}")[0]
        return int(k), int(rows), int(right)

    n_keys, n_rows, n_right = counts("TRUE")
    out = {"keys": n_keys, "rows": n_rows, "right_rows": n_right, "columns": {}}
    source_of = source.targets
    for i, name in enumerate(names):
        k, rows, right = counts(f"m._shared{i} > 1")
        if not k:
            continue
        how = source.keys[name]
        col = {"keys": k, "rows": rows, "right_rows": right, "op": how.op, "from": source_of[name],
               "table": how.table}
        if how.table:   # a code table's codes: what the PM reviews in it
            met = {v for (v,) in _x(con, f"SELECT DISTINCT m.{_q(name)} FROM l_shared m JOIN l_keys l "
                                         f"ON {_key_on('m', 'l', key)} AND l.n > 1 WHERE m._shared{i} > 1")}
            codes = source.shared_keys[name].filter(pl.col("key").is_in(list(met)))
            col["codes"] = [{"code": c, "legacy": legacy} for c, legacy in codes.head(SHARED_CODES_SHOWN).iter_rows()]
            col["codes_more"] = max(0, codes.height - SHARED_CODES_SHOWN)
        out["columns"][name] = col
    return out


def _distinct_keys(lf: pl.LazyFrame, key: list[str]) -> int:
    return lf.select(pl.struct(key).n_unique()).collect(engine="streaming").item()


def compare(left, right, *, key: list[str] | str, rules: RuleSet | str | Path | None = None,
            columns: list[str] | None = None, crosswalk: str | Path | None = None,
            numeric=(), dates=(), tolerance: dict[str, tuple[float, float]] | None = None,
            left_name: str | None = None, right_name: str | None = None,
            explained_sample: int = EXPLAINED_SAMPLE, encoding: str | None = None) -> DiffResult:
    """Compare `left` (legacy) with `right` (standard) on `key`; see the module docstring.

    `numeric`/`dates`: columns compared by value; `tolerance`: {column: (abs, rel)} (implies
    numeric); `rules`: expected-difference rules (reports.rules) that explain differing cells;
    `explained_sample`: explained cells kept per rule and column in the detail (`scan_detail`,
    differences.parquet): explained cells are counted, unexplained ones kept in full; `encoding`: the legacy
    application's encoding of a SQL_ASCII PostgreSQL side (`read_table`; such a side is refused without it).

    The key join, duplicate detection and text inequality run in DuckDB over Parquet with a
    memory limit (IKOU_DIFF_MEMORY_LIMIT, or sized to the memory budget) and spill to a temporary
    directory; the differing cells go to temporary files owned by the result. Memory is bounded by the limit
    plus the distinct differences, not by the table sizes.
    """
    opened: list = []
    try:
        return _compare(left, right, key=key, rules=rules, columns=columns, crosswalk=crosswalk, numeric=numeric,
                        dates=dates, tolerance=tolerance, left_name=left_name, right_name=right_name,
                        explained_sample=explained_sample, opened=opened, encoding=encoding)
    finally:
        for con in opened:
            con.close()


def _compare(left, right, *, key, rules, columns, crosswalk, numeric, dates, tolerance, left_name, right_name,
             explained_sample, opened: list, encoding: str | None = None) -> DiffResult:
    key = [k.strip() for k in key.split(",")] if isinstance(key, str) else list(key)
    if not key:
        raise DiffInputError("no key column given")
    tolerance = dict(tolerance or {})
    numeric = list(dict.fromkeys([*numeric, *tolerance]))
    dates = list(dates)
    encoding = check_encoding(encoding)
    lf, lname = read_table(left, name=left_name, opened=opened, encoding=encoding)
    rf, rname = read_table(right, name=right_name, opened=opened, encoding=encoding)
    lcols, rcols = _schema_names(lf, lname), _schema_names(rf, rname)
    has_apart = APART in lcols          # rows the key's op held at map (KeyMap.held): 旧のみ, never joined
    lcols = [c for c in lcols if c != APART]
    for label, cols in ((lname, lcols), (rname, rcols)):
        missing = [k for k in key if k not in cols]
        if missing:
            raise DiffInputError(f"{label}: key column(s) {missing} not found "
                                 f"(columns: {', '.join(cols[:40])})")
    xw_info = None
    if crosswalk is not None:
        lf, xw_info = _apply_crosswalk(lf, key, crosswalk)
    common = [c for c in lcols if c in rcols and c not in key]
    if columns is not None:
        bad = [c for c in columns if c not in common]
        if bad:
            raise DiffInputError(f"column(s) {bad} are not on both sides")
        common = [c for c in columns if c not in key]
    left_only_cols = [c for c in lcols if c not in rcols]
    right_only_cols = [c for c in rcols if c not in lcols]
    for c in [*numeric, *dates]:
        if c not in common:
            raise DiffInputError(f"declared column {c!r} is not a compared column")
    totals_num = [c for c in numeric if c in common]
    ruleset = None
    if rules is not None:   # a bad rules file stops the diff before the tables are read
        from ikou.reports.rules import RuleSet, load_rules
        ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules)

    shared = _shared_keys(left, key, crosswalk)   # keys several legacy values share through the mapping

    import duckdb

    workdir = Path(tempfile.mkdtemp(prefix="ikou-diff-"))
    try:
        scratch = workdir / "scratch"        # staged sides and spill, gone with the connection
        scratch.mkdir()
        con = duckdb.connect()
        try:
            _x(con, f"SET memory_limit = {_lit(_memory_limit())}")
            _x(con, f"SET temp_directory = {_lit(str(scratch / 'spill'))}")
            _x(con, "SET preserve_insertion_order = false")
            for side, source, frame, label, cols in (("l", left, lf, lname, lcols),
                                                     ("r", right, rf, rname, rcols)):
                direct = None if (side == "l" and crosswalk is not None) else \
                    _direct_view(con, side, source)
                if direct is None:
                    staged = _stage(frame, label, scratch / f"{side}.parquet")
                    direct = f"read_parquet({_lit(str(staged))})", {
                        **{c: _q(c) for c in cols}, **({APART: _q(APART)} if side == "l" and has_apart else {})}
                source_sql, text = direct
                # text as written; an empty field is null (again, for sources read directly)
                sel = ", ".join(f"NULLIF({text[c]}, '') AS {_q(c)}" for c in cols)
                held = text.get(APART) if side == "l" and has_apart else None
                try:
                    if held is None:
                        _x(con, f"CREATE TEMP VIEW {side} AS SELECT {sel} FROM {source_sql}")
                    else:   # the rows held at map by the key's op: apart (l_apart), counted as 旧のみ below
                        _x(con, f"CREATE TEMP VIEW {side} AS SELECT {sel} FROM {source_sql} "
                                f"WHERE {held} IS DISTINCT FROM 'true'")
                        _x(con, f"CREATE TEMP VIEW {side}_apart AS SELECT {sel} FROM {source_sql} "
                                f"WHERE {held} = 'true'")
                except duckdb.Error as exc:
                    raise DiffInputError(f"{label}: cannot read: {exc}") from None

            kq = ", ".join(_q(k) for k in key)
            row_hash = (f"hash({', '.join(_q(c) for c in common)})" if common
                        else "0::UBIGINT")
            duplicates, totals, usable = {}, {}, {}
            for side, name, frame in (("l", "left", lf), ("r", "right", rf)):
                # one pass per side: rows per key (duplicates) and the row hash (step 1 below)
                _x(con, f"CREATE TEMP TABLE {side}_keys AS SELECT {kq}, count(*) AS n, "
                        f"min({row_hash}) AS _h FROM {side} GROUP BY {kq}")
                rows, distinct, dup_keys, dup_rows = _x(con,
                    f"SELECT coalesce(sum(n), 0), count(*), count(*) FILTER (WHERE n > 1), "
                    f"coalesce(sum(n) FILTER (WHERE n > 1), 0) FROM {side}_keys")[0]
                totals[name] = {"rows": int(rows), "distinct_keys": int(distinct),
                                "sums": _numeric_sums(frame, totals_num)}
                if dup_keys:  # reported, and kept out of the join (a join would multiply them)
                    _x(con, f"CREATE TEMP TABLE {side}_dup AS SELECT {kq} FROM {side}_keys "
                                f"WHERE n > 1")
                    sample = _rel(con,
                        f"SELECT s.* FROM {side} s SEMI JOIN (SELECT {kq} FROM {side}_dup "
                        f"ORDER BY {kq} LIMIT {SAMPLE_ROWS}) d ON {_key_on('s', 'd', key)}"
                    ).pl().sort(key)
                    src = (f"(SELECT * FROM {side} s ANTI JOIN {side}_dup d "
                           f"ON {_key_on('s', 'd', key)})")
                else:
                    sample = _rel(con, f"SELECT * FROM {side} LIMIT 0").pl()
                    src = side
                duplicates[name] = {"keys": int(dup_keys), "rows": int(dup_rows), "sample": sample}
                usable[side] = (src, int(rows) - int(dup_rows))
            if shared is not None and duplicates["left"]["keys"]:
                mapped = _mapped_duplicates(con, shared, key, left)
                if mapped["keys"]:
                    duplicates["left"]["mapped"] = mapped
            apart_rows = None
            if has_apart:
                n_apart = _x(con, "SELECT count(*) FROM l_apart")[0][0]
                if n_apart:
                    totals["left"]["rows"] += int(n_apart)
                    totals["left"]["distinct_keys"] = int(_x(
                        con, f"SELECT count(*) FROM (SELECT {kq} FROM l UNION SELECT {kq} FROM l_apart)")[0][0])
                    apart_rows = _rel(con, f"SELECT {', '.join(_q(c) for c in (*key, *common))} FROM l_apart").pl()

            # 1. a narrow full join of (key, row hash) keeps the keys worth looking at: on one
            #    side only, duplicated, or whose compared cells hash differently (a 64-bit hash:
            #    the chance that a differing row hashes equal is about rows / 2**64)
            _x(con, "CREATE TEMP TABLE dk AS SELECT "
               + ", ".join(f"coalesce(l.{_q(k)}, r.{_q(k)}) AS {_q(k)}" for k in key)
               + ", l.n AS ln, r.n AS rn FROM l_keys l FULL OUTER JOIN r_keys r "
               + f"ON {_key_on('l', 'r', key)} "
               + "WHERE l.n IS NULL OR r.n IS NULL OR l.n > 1 OR r.n > 1 OR l._h <> r._h")
            _x(con, "DROP TABLE l_keys")
            _x(con, "DROP TABLE r_keys")
            only_left, only_right, apart = _x(con,
                "SELECT count(*) FILTER (WHERE ln = 1 AND (rn IS NULL OR rn > 1)), "
                "count(*) FILTER (WHERE rn = 1 AND (ln IS NULL OR ln > 1)), count(*) FROM dk")[0]
            matched = usable["l"][1] - int(only_left)

            # 2. the full outer join of the rows behind those keys, cells compared exactly as text
            def rows_of(side: str, direct: bool) -> str:
                keys = "" if direct else f" SEMI JOIN dk ON {_key_on('s', 'dk', key)}"
                return f"(SELECT s.*, TRUE AS _in FROM {usable[side][0]} s{keys})"

            direct = apart > DIRECT_JOIN_SHARE * (matched + int(only_left) + int(only_right))
            cell_files, rows_with_cells, one_side = ({}, 0, None) if not apart else \
                _write_differences(con, _differences_sql(rows_of("l", direct), rows_of("r", direct),
                                                         key, common), key, common, workdir)
            if one_side is None:
                empty = pl.DataFrame(schema={c: pl.String for c in (*key, *common)})
                one_side = {"l": empty, "r": empty}
            if apart_rows is not None:   # held at map by the key's op: 旧のみ, beside the join's
                one_side["l"] = pl.concat([one_side["l"], apart_rows.cast({c: pl.String for c in apart_rows.columns})]
                                          ).sort(key)
                only_left = int(only_left) + apart_rows.height
        finally:
            con.close()
        shutil.rmtree(scratch, ignore_errors=True)

        # 3. per distinct triple: value comparison (numeric/date), counts, rules
        triples = _triples(cell_files)
        kept = _drop_equal_by_value(triples, common, numeric, dates, tolerance)
        kept = kept.with_columns(pl.lit(None, dtype=pl.String).alias("rule"))
        rule_meta: list[dict] = []
        if ruleset is not None:
            kept = ruleset.explain(kept)
            rule_meta = ruleset.metadata()
        per_col = dict(kept.group_by("column").agg(pl.col("cells").sum()).iter_rows())
        result = DiffResult(
            key=key, columns=common, left_name=lname, right_name=rname,
            # table sizes as read (duplicate-key rows included; they are left out of the join)
            left_rows=totals["left"]["rows"], right_rows=totals["right"]["rows"],
            matched=matched, only_left=int(only_left), only_right=int(only_right),
            changed_rows=rows_with_cells, unexplained_rows=0,
            changed_cells={c: int(per_col.get(c, 0)) for c in common},
            triples=kept, cell_files=cell_files, only_left_rows=one_side["l"],
            only_right_rows=one_side["r"], duplicates=duplicates,
            left_only_columns=left_only_cols, right_only_columns=right_only_cols,
            control_totals=totals, rules=rule_meta, crosswalk=xw_info,
            explained_sample=explained_sample, workdir=workdir)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    # rows counted again only where the triples no longer hold every cell
    if kept.height < triples.height:
        result.changed_rows = _distinct_keys(result.scan_cells(), key)
    unexplained = kept.filter(pl.col("rule").is_null())
    result.unexplained_rows = (result.changed_rows if unexplained.height == kept.height else
                               _distinct_keys(result.scan_cells(unexplained=True), key)
                               if unexplained.height else 0)
    return result


def summarize(result: DiffResult) -> dict:
    """The machine summary (summary.json of `ikou diff`)."""
    explained = result.explained
    return {
        "left": result.left_name, "right": result.right_name, "key": result.key,
        "left_rows": result.left_rows, "right_rows": result.right_rows,
        "matched": result.matched, "only_left": result.only_left,
        "only_right": result.only_right, "changed_rows": result.changed_rows,
        "changed_cells": result.changed_cells,
        "explained": {n: {"cells": e["cells"], "by_column": e["by_column"],
                          "reason": e.get("reason"), "owner": e.get("owner"),
                          "condition": e.get("condition"), "columns": e.get("columns")}
                      for n, e in explained.items()},
        "explained_cells": sum(e["cells"] for e in explained.values()),
        "unexplained_cells": result.unexplained_cells,
        "unexplained_rows": result.unexplained_rows,
        "duplicates": {s: {"keys": d["keys"], "rows": d["rows"], **({"mapped": d["mapped"]} if d.get("mapped") else {})}
                       for s, d in result.duplicates.items()},
        "left_only_columns": result.left_only_columns,
        "right_only_columns": result.right_only_columns,
        "control_totals": result.control_totals,
        "crosswalk": result.crosswalk,
    }


__all__ = ["DiffInputError", "DiffResult", "KeyMap", "ParquetSource", "check_encoding", "compare", "equal_expr",
           "read_table", "summarize"]
