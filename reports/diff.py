"""Parallel-run diff (並行稼働 比較): two tables on a key, compared cell by cell as text.

The datacompy habit: one full outer join with side indicator columns and one match column per
compared column, evaluated lazily by Polars; only rows that differ are materialised, so memory
grows with the number of differences, not with the size of the tables.

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

import re
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


def _control_totals(lf: pl.LazyFrame, key: list[str], numeric: list[str]) -> pl.LazyFrame:
    return lf.select(
        pl.len().alias("rows"),
        pl.struct(key).n_unique().alias("distinct_keys"),
        *[_parse_number(pl.col(c)).sum().alias(f"sum:{c}") for c in numeric],
    )


def compare(left, right, *, key: list[str] | str, rules: RuleSet | str | Path | None = None,
            columns: list[str] | None = None, crosswalk: str | Path | None = None,
            numeric=(), dates=(), tolerance: dict[str, tuple[float, float]] | None = None,
            left_name: str | None = None, right_name: str | None = None) -> DiffResult:
    """Compare `left` (legacy) with `right` (standard) on `key`; see the module docstring.

    `numeric`/`dates`: columns compared by value; `tolerance`: {column: (abs, rel)} (implies
    numeric); `rules`: expected-difference rules (reports.rules) that explain differing cells.
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
    totals_q = [_control_totals(lf, key, totals_num), _control_totals(rf, key, totals_num)]
    dup_q = [f.group_by(key).agg(pl.len().alias("rows")).filter(pl.col("rows") > 1)
             for f in (lf, rf)]
    ltot, rtot, ldup, rdup = pl.collect_all([*totals_q, *dup_q])
    duplicates = {}
    for side, dup, f in (("left", ldup, lf), ("right", rdup, rf)):
        sample = (f.join(dup.head(SAMPLE_ROWS).lazy().select(key), on=key, how="semi",
                         nulls_equal=True).sort(key).collect()) if dup.height else f.head(0).collect()
        duplicates[side] = {"keys": dup.height, "rows": int(dup["rows"].sum() or 0),
                            "sample": sample}
        if dup.height:  # reported, and kept out of the join (a join would multiply them)
            if side == "left":
                lf = lf.join(dup.lazy().select(key), on=key, how="anti", nulls_equal=True)
            else:
                rf = rf.join(dup.lazy().select(key), on=key, how="anti", nulls_equal=True)

    l_sel = lf.select(*key, *[pl.col(c).alias(f"{c}__l") for c in common],
                      pl.lit(True).alias(LEFT_FLAG))
    r_sel = rf.select(*key, *[pl.col(c).alias(f"{c}__r") for c in common],
                      pl.lit(True).alias(RIGHT_FLAG))
    joined = l_sel.join(r_sel, on=key, how="full", coalesce=True, nulls_equal=True).with_columns(
        pl.col(LEFT_FLAG).fill_null(False), pl.col(RIGHT_FLAG).fill_null(False))
    both = pl.col(LEFT_FLAG) & pl.col(RIGHT_FLAG)

    def kind(c):
        return "numeric" if c in numeric else "date" if c in dates else "text"

    eq = {c: equal_expr(pl.col(f"{c}__l"), pl.col(f"{c}__r"), kind=kind(c),
                        tolerance=tolerance.get(c, (0.0, 0.0))).alias(f"{c}__eq")
          for c in common}
    joined = joined.with_columns(eq.values())
    any_diff = (pl.any_horizontal([~pl.col(f"{c}__eq") for c in common])
                if common else pl.lit(False))
    counts_q = joined.select(
        pl.col(LEFT_FLAG).sum().alias("left_rows"),
        pl.col(RIGHT_FLAG).sum().alias("right_rows"),
        both.sum().alias("matched"),
        (pl.col(LEFT_FLAG) & ~pl.col(RIGHT_FLAG)).sum().alias("only_left"),
        (~pl.col(LEFT_FLAG) & pl.col(RIGHT_FLAG)).sum().alias("only_right"),
        (both & any_diff).sum().alias("changed_rows"),
        *[(both & ~pl.col(f"{c}__eq")).sum().alias(f"cells:{c}") for c in common],
    )
    diff_q = joined.filter(~both | any_diff)
    counts, diffs = pl.collect_all([counts_q, diff_q], engine="streaming")
    row = counts.row(0, named=True)

    changed = diffs.filter(pl.col(LEFT_FLAG) & pl.col(RIGHT_FLAG))
    long_parts = [
        changed.filter(~pl.col(f"{c}__eq")).select(
            *key, pl.lit(c).alias("column"),
            pl.col(f"{c}__l").alias("left"), pl.col(f"{c}__r").alias("right"))
        for c in common
    ]
    cell_schema = {**{k: pl.String for k in key}, "column": pl.String,
                   "left": pl.String, "right": pl.String}
    cells = (pl.concat(long_parts) if long_parts
             else pl.DataFrame(schema=cell_schema)).with_columns(
        pl.lit(None, dtype=pl.String).alias("rule"))
    rule_meta: list[dict] = []
    if rules is not None:
        from reports.rules import RuleSet, load_rules
        ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules)
        cells = ruleset.explain(cells)
        rule_meta = ruleset.metadata()

    only_left_rows = diffs.filter(pl.col(LEFT_FLAG) & ~pl.col(RIGHT_FLAG)).select(
        *key, *[pl.col(f"{c}__l").alias(c) for c in common])
    only_right_rows = diffs.filter(~pl.col(LEFT_FLAG) & pl.col(RIGHT_FLAG)).select(
        *key, *[pl.col(f"{c}__r").alias(c) for c in common])

    def totals(df: pl.DataFrame) -> dict:
        d = df.row(0, named=True)
        return {"rows": d["rows"], "distinct_keys": d["distinct_keys"],
                "sums": {c: d[f"sum:{c}"] for c in totals_num}}

    return DiffResult(
        key=key, columns=common, left_name=lname, right_name=rname,
        # table sizes as read (duplicate-key rows included; they are left out of the join)
        left_rows=int(ltot["rows"][0]), right_rows=int(rtot["rows"][0]),
        matched=int(row["matched"]), only_left=int(row["only_left"]),
        only_right=int(row["only_right"]), changed_rows=int(row["changed_rows"]),
        changed_cells={c: int(row[f"cells:{c}"]) for c in common},
        cells=cells.sort([*key, "column"]), only_left_rows=only_left_rows.sort(key),
        only_right_rows=only_right_rows.sort(key), duplicates=duplicates,
        left_only_columns=left_only_cols, right_only_columns=right_only_cols,
        control_totals={"left": totals(ltot), "right": totals(rtot)},
        rules=rule_meta, crosswalk=xw_info,
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


__all__ = ["DiffResult", "DiffInputError", "compare", "read_table", "summarize", "equal_expr"]
