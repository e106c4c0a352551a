"""Parallel-run diff (並行稼働 比較): two tables on a key, compared cell by cell as text.

The join runs in DuckDB over Parquet, with a memory limit (IKOU_DIFF_MEMORY_LIMIT, default 2GB)
and a spill directory: (1) one grouped pass per side gives rows per key (duplicates) and a
64-bit hash of the compared cells; (2) a narrow full join of (key, hash) picks the keys on one
side only or whose hashes differ; (3) only those rows go through the wide full outer join, where
cells are compared exactly as text, and the differing cells are streamed to Parquet in long form.
Only differences come back to Python, so memory grows with them, not with the tables. DataFrame,
CSV, database and non-text Parquet inputs are first written (streaming) to a temporary Parquet
file as text; rules then run in Polars on the differing cells (reports.rules).

Values compare as TEXT exactly as written (every column, keys included, is read as String:
'00123' and '123' are different keys); an empty field is null and null equals null. A column
declared numeric or date compares by value (with an optional tolerance). Duplicate keys are
reported (count + samples) and left out of the join, never collapsed.

Table sources (`read_table`):
- `path.csv` (UTF-8, header row), `path.parquet`
- `<SQLAlchemy URL>#<table>`, e.g. `sqlite:///old.db#juki_kojin`,
  `postgresql+psycopg://user@host/db#public.juki_kojin`
- a Polars DataFrame / LazyFrame (from code).
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from ikou.errors import TerminalError

if TYPE_CHECKING:
    from reports.rules import RuleSet

LEFT_FLAG = "_in_left"
RIGHT_FLAG = "_in_right"
SAMPLE_ROWS = 20
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


class DiffInputError(TerminalError):
    """An input cannot be compared (missing key column, unreadable file, bad crosswalk)."""


@dataclass
class DiffResult:
    """Everything the reports need; counts are plain ints, details are small frames."""

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
    cells: pl.DataFrame                     # long: key…, column, left, right, rule (null = unexplained)
    only_left_rows: pl.DataFrame            # key + left values
    only_right_rows: pl.DataFrame           # key + right values
    duplicates: dict[str, dict]             # side -> {"keys": n, "rows": n, "sample": DataFrame}
    left_only_columns: list[str] = field(default_factory=list)
    right_only_columns: list[str] = field(default_factory=list)
    control_totals: dict[str, dict] = field(default_factory=dict)   # side -> totals
    rules: list[dict] = field(default_factory=list)                 # rule metadata (name, reason …)
    crosswalk: dict | None = None

    @property
    def has_duplicates(self) -> bool:
        return any(d["keys"] for d in self.duplicates.values())

    @property
    def explained(self) -> dict[str, dict]:
        """Per rule: cells explained, by column (rules only see cells that differ)."""
        out: dict[str, dict] = {r["name"]: {**r, "cells": 0, "by_column": {}} for r in self.rules}
        if not self.rules or self.cells.is_empty():
            return out
        counts = (self.cells.filter(pl.col("rule").is_not_null())
                  .group_by("rule", "column").len().sort("rule", "column"))
        for rule, column, n in counts.iter_rows():
            out[rule]["by_column"][column] = n
            out[rule]["cells"] += n
        return out

    @property
    def unexplained_cells(self) -> dict[str, int]:
        base = {c: 0 for c in self.columns if self.changed_cells.get(c)}
        if self.cells.is_empty():
            return base
        counts = self.cells.filter(pl.col("rule").is_null()).group_by("column").len()
        base.update(dict(counts.iter_rows()))
        return base

    @property
    def unexplained_rows(self) -> int:
        if self.cells.is_empty():
            return 0
        return self.cells.filter(pl.col("rule").is_null()).select(
            pl.struct(self.key).n_unique()).item()


def _blank_to_null(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.with_columns(pl.all().cast(pl.String)).with_columns(
        pl.when(pl.all() == "").then(None).otherwise(pl.all()).name.keep())


def read_table(source, *, name: str | None = None) -> tuple[pl.LazyFrame, str]:
    """Open a table as a LazyFrame of String columns with blanks as null; returns (frame, label)."""
    if isinstance(source, pl.DataFrame):
        return _blank_to_null(source.lazy()), name or "DataFrame"
    if isinstance(source, pl.LazyFrame):
        return _blank_to_null(source), name or "LazyFrame"
    text = str(source)
    if "://" in text:
        url, sep, table = text.rpartition("#")
        if not sep or not _IDENT.match(table):
            raise DiffInputError(f"{text!r}: a database source is written URL#table "
                                 "(e.g. sqlite:///old.db#juki_kojin)")
        import sqlalchemy as sa
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                df = pl.read_database(f"SELECT * FROM {table}", conn,
                                      infer_schema_length=None)
        except sa.exc.SQLAlchemyError as exc:
            raise DiffInputError(f"{table}: cannot read from the database: "
                                 f"{type(exc).__name__}") from None
        finally:
            engine.dispose()
        return _blank_to_null(df.lazy()), name or table
    path = Path(text)
    if not path.is_file():
        raise DiffInputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        lf = pl.scan_parquet(path)
    elif suffix in (".csv", ".txt", ".tsv"):
        lf = pl.scan_csv(path, infer_schema=False, separator="\t" if suffix == ".tsv" else ",")
    else:
        raise DiffInputError(f"{path}: unknown table format (use .csv, .parquet or URL#table)")
    return _blank_to_null(lf), name or path.name


def _schema_names(lf: pl.LazyFrame, label: str) -> list[str]:
    try:
        return lf.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DiffInputError(f"{label}: cannot read: {exc}") from None


def _apply_crosswalk(lf: pl.LazyFrame, key: list[str], path) -> tuple[pl.LazyFrame, dict]:
    """Replace legacy keys by standard keys. The CSV has `legacy_<k>` and `<k>` for every key k.

    A legacy key absent from the crosswalk keeps its value (and will usually show as only-left);
    a legacy key listed twice is a broken crosswalk and stops the diff.
    """
    xw = pl.read_csv(path, infer_schema=False)
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
        return pl.when(ln.is_not_null() & rn.is_not_null()).then(close).otherwise(text_eq)
    if kind == "date":
        ld, rd = _parse_date(l), _parse_date(r)
        return pl.when(ld.is_not_null() & rd.is_not_null()).then(ld == rd).otherwise(text_eq)
    return text_eq


def _q(name: str) -> str:
    """A SQL identifier, quoted (column names come from the inputs)."""
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _direct_parquet(source) -> Path | None:
    """A Parquet file whose columns are all text can be read by DuckDB as it is (no rewrite)."""
    if isinstance(source, (pl.DataFrame, pl.LazyFrame)) or "://" in str(source):
        return None
    path = Path(str(source))
    if path.suffix.lower() not in (".parquet", ".pq"):
        return None
    try:
        schema = pl.read_parquet_schema(path)
    except (pl.exceptions.PolarsError, OSError):
        return None
    return path if all(t == pl.String for t in schema.values()) else None


def _stage(lf: pl.LazyFrame, label: str, out: Path) -> Path:
    """Write a side (text columns, blanks null, crosswalk applied) to Parquet, streaming."""
    try:
        lf.sink_parquet(out, compression="lz4")
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DiffInputError(f"{label}: cannot read: {exc}") from None
    return out


def _x(con, sql: str) -> list[tuple]:
    """Run a statement to completion (DuckDB 2 refuses new work while a result is unfinished)."""
    return con.execute(sql).fetchall()


def _rel(con, sql: str):
    return con.sql(sql)


def _memory_limit() -> str:
    return os.environ.get("IKOU_DIFF_MEMORY_LIMIT", "2GB")


def _key_on(a: str, b: str, key: list[str]) -> str:
    # null keys are key values too (null equals null), as in the Polars join with nulls_equal
    return " AND ".join(f"{a}.{_q(k)} IS NOT DISTINCT FROM {b}.{_q(k)}" for k in key)


def _numeric_sums(lf: pl.LazyFrame, numeric: list[str]) -> dict:
    if not numeric:
        return {}
    row = lf.select([_parse_number(pl.col(c)).sum().alias(c) for c in numeric]).collect(
        engine="streaming").row(0, named=True)
    return {c: row[c] for c in numeric}


def _refine_by_value(cells: pl.LazyFrame, common: list[str], numeric: list[str],
                     dates: list[str], tolerance: dict) -> pl.LazyFrame:
    """DuckDB finds cells whose TEXT differs; numeric/date columns then drop the cells that are
    equal by value. The test runs once per distinct (column, left, right) triple, in Polars."""
    declared = [c for c in common if c in numeric or c in dates]
    if not declared:
        return cells
    eq = pl.lit(False)
    for c in reversed(declared):
        kind = "numeric" if c in numeric else "date"
        eq = pl.when(pl.col("column") == c).then(
            equal_expr(pl.col("left"), pl.col("right"), kind=kind,
                       tolerance=tolerance.get(c, (0.0, 0.0))).fill_null(False)).otherwise(eq)
    same = (cells.filter(pl.col("column").is_in(declared)).select("column", "left", "right")
            .unique().filter(eq).collect(engine="streaming"))
    if same.is_empty():
        return cells
    return cells.join(same.lazy(), on=["column", "left", "right"], how="anti", nulls_equal=True)


def compare(left, right, *, key: list[str] | str, rules: RuleSet | str | Path | None = None,
            columns: list[str] | None = None, crosswalk: str | Path | None = None,
            numeric=(), dates=(), tolerance: dict[str, tuple[float, float]] | None = None,
            left_name: str | None = None, right_name: str | None = None) -> DiffResult:
    """Compare `left` (legacy) with `right` (standard) on `key`; see the module docstring.

    `numeric`/`dates`: columns compared by value; `tolerance`: {column: (abs, rel)} (implies
    numeric); `rules`: expected-difference rules (reports.rules) that explain differing cells.

    The key join, duplicate detection and text inequality run in DuckDB over Parquet with a
    memory limit (IKOU_DIFF_MEMORY_LIMIT, default 2GB) and spill to a temporary directory, so
    memory is bounded by the limit plus the differences brought back, not by the table sizes.
    """
    key = [k.strip() for k in key.split(",")] if isinstance(key, str) else list(key)
    if not key:
        raise DiffInputError("no key column given")
    tolerance = dict(tolerance or {})
    numeric = list(dict.fromkeys([*numeric, *tolerance]))
    dates = list(dates)
    lf, lname = read_table(left, name=left_name)
    rf, rname = read_table(right, name=right_name)
    lcols, rcols = _schema_names(lf, lname), _schema_names(rf, rname)
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

    import duckdb

    with tempfile.TemporaryDirectory(prefix="ikou-diff-") as tmp:
        tmpdir = Path(tmp)
        con = duckdb.connect()
        try:
            _x(con, f"SET memory_limit = {_lit(_memory_limit())}")
            _x(con, f"SET temp_directory = {_lit(str(tmpdir / 'spill'))}")
            _x(con, "SET preserve_insertion_order = false")
            sides = {}
            for side, source, frame, label, cols in (("l", left, lf, lname, lcols),
                                                     ("r", right, rf, rname, rcols)):
                direct = None if (side == "l" and crosswalk is not None) else _direct_parquet(source)
                path = direct or _stage(frame, label, tmpdir / f"{side}.parquet")
                # text as written; an empty field is null (again, for files read directly)
                sel = ", ".join(f"NULLIF({_q(c)}, '') AS {_q(c)}" for c in cols)
                try:
                    _x(con, f"CREATE TEMP VIEW {side} AS SELECT {sel} "
                                f"FROM read_parquet({_lit(str(path))})")
                except duckdb.Error as exc:
                    raise DiffInputError(f"{label}: cannot read: {exc}") from None
                sides[side] = (frame, label, cols)

            kq = ", ".join(_q(k) for k in key)
            row_hash = (f"hash({', '.join(_q(c) for c in common)})" if common
                        else "0::UBIGINT")
            duplicates, totals, usable = {}, {}, {}
            for side, name in (("l", "left"), ("r", "right")):
                frame, label, cols = sides[side]
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

            # 1. a narrow full join of (key, row hash) finds the keys worth looking at: on one
            #    side only, or whose compared cells hash differently (a 64-bit hash: the chance
            #    that a differing row hashes equal is about rows / 2**64). It fits in memory.
            _x(con, "CREATE TEMP TABLE dk AS SELECT "
               + ", ".join(f"coalesce(l.{_q(k)}, r.{_q(k)}) AS {_q(k)}" for k in key)
               + f" FROM l_keys l FULL OUTER JOIN r_keys r ON {_key_on('l', 'r', key)} "
               + "WHERE l.n IS NULL OR r.n IS NULL OR l.n > 1 OR r.n > 1 OR l._h <> r._h")
            _x(con, "DROP TABLE l_keys")
            _x(con, "DROP TABLE r_keys")

            # 2. the wide full outer join, of those keys only: rows on one side only or with
            #    ≥ 1 cell whose text differs (compared exactly, the hash only preselects)
            def side_sel(side, suffix, flag):
                src = usable[side][0]
                return (f"(SELECT {', '.join('s.' + _q(k) for k in key)}, "
                        + "".join(f"s.{_q(c)} AS {_q(c + suffix)}, " for c in common)
                        + f"TRUE AS {flag} FROM {src} s SEMI JOIN dk "
                        + f"ON {_key_on('s', 'dk', key)})")
            differs = " OR ".join(f"l.{_q(c + '__l')} IS DISTINCT FROM r.{_q(c + '__r')}"
                                  for c in common) or "FALSE"
            _x(con,
                "CREATE TEMP TABLE d AS SELECT "
                + ", ".join(f"coalesce(l.{_q(k)}, r.{_q(k)}) AS {_q(k)}" for k in key) + ", "
                + "".join(f"l.{_q(c + '__l')}, r.{_q(c + '__r')}, " for c in common)
                + f"l.{LEFT_FLAG} IS NOT NULL AS {LEFT_FLAG}, "
                + f"r.{RIGHT_FLAG} IS NOT NULL AS {RIGHT_FLAG} "
                + f"FROM {side_sel('l', '__l', LEFT_FLAG)} l FULL OUTER JOIN "
                + f"{side_sel('r', '__r', RIGHT_FLAG)} r ON {_key_on('l', 'r', key)} "
                + f"WHERE l.{LEFT_FLAG} IS NULL OR r.{RIGHT_FLAG} IS NULL OR {differs}")
            only_left, only_right = _x(con,
                f"SELECT count(*) FILTER (WHERE NOT {RIGHT_FLAG}), "
                f"count(*) FILTER (WHERE NOT {LEFT_FLAG}) FROM d")[0]
            only_left_rows = _rel(con,
                f"SELECT {kq}" + "".join(f", {_q(c + '__l')} AS {_q(c)}" for c in common)
                + f" FROM d WHERE NOT {RIGHT_FLAG}").pl()
            only_right_rows = _rel(con,
                f"SELECT {kq}" + "".join(f", {_q(c + '__r')} AS {_q(c)}" for c in common)
                + f" FROM d WHERE NOT {LEFT_FLAG}").pl()

            # differing cells, long, streamed by DuckDB to Parquet (never a wide frame in Python)
            cell_schema = {**{k: pl.String for k in key}, "column": pl.String,
                           "left": pl.String, "right": pl.String}
            if common:
                cells_path = tmpdir / "cells.parquet"
                union = " UNION ALL ".join(
                    f"SELECT {kq}, {_lit(c)} AS \"column\", {_q(c + '__l')} AS \"left\", "
                    f"{_q(c + '__r')} AS \"right\" FROM d WHERE {LEFT_FLAG} AND {RIGHT_FLAG} "
                    f"AND {_q(c + '__l')} IS DISTINCT FROM {_q(c + '__r')}" for c in common)
                _x(con, f"COPY ({union}) TO {_lit(str(cells_path))} "
                            "(FORMAT parquet, COMPRESSION zstd)")
                cells_lf = pl.scan_parquet(cells_path).cast(cell_schema)
                cells_lf = _refine_by_value(cells_lf, common, numeric, dates, tolerance)
                cells = cells_lf.collect(engine="streaming")
            else:
                cells = pl.DataFrame(schema=cell_schema)
        finally:
            con.close()

    cells = cells.with_columns(pl.lit(None, dtype=pl.String).alias("rule"))
    per_col = dict(cells.group_by("column").len().iter_rows()) if cells.height else {}
    changed_rows = cells.select(pl.struct(key).n_unique()).item() if cells.height else 0
    rule_meta: list[dict] = []
    if rules is not None:
        from reports.rules import RuleSet, load_rules
        ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules)
        cells = ruleset.explain(cells)
        rule_meta = ruleset.metadata()

    return DiffResult(
        key=key, columns=common, left_name=lname, right_name=rname,
        # table sizes as read (duplicate-key rows included; they are left out of the join)
        left_rows=totals["left"]["rows"], right_rows=totals["right"]["rows"],
        matched=usable["l"][1] - int(only_left), only_left=int(only_left),
        only_right=int(only_right), changed_rows=int(changed_rows),
        changed_cells={c: int(per_col.get(c, 0)) for c in common},
        cells=cells.sort([*key, "column"]), only_left_rows=only_left_rows.sort(key),
        only_right_rows=only_right_rows.sort(key), duplicates=duplicates,
        left_only_columns=left_only_cols, right_only_columns=right_only_cols,
        control_totals=totals, rules=rule_meta, crosswalk=xw_info,
    )


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
        "duplicates": {s: {"keys": d["keys"], "rows": d["rows"]}
                       for s, d in result.duplicates.items()},
        "left_only_columns": result.left_only_columns,
        "right_only_columns": result.right_only_columns,
        "control_totals": result.control_totals,
        "crosswalk": result.crosswalk,
    }


__all__ = ["DiffInputError", "DiffResult", "compare", "equal_expr", "read_table", "summarize"]
