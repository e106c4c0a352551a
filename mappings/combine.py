"""Combine the tables of a multi-table source into one frame of records, before the column ops run.

A normalized legacy database keeps each fact once (a person master, name and address histories with
validity periods, change events, code masters). The mapping's `combine:` section says, as a list of
steps, how those tables become the standard's records; each step kind is registered here with the
rule ids it can give (`@step_kind`), and the YAML only names kinds:

    unpivot  columns → rows (a repeated group 異動1〜4 becomes one row per event)
    lookup   a code through a master table of the legacy database (unknown code: the person is held)
    filter   keep the rows valid at a date; the others are declared not migrated, with the reason
    history  interval tables + events per person → one row per change, numbered in time order;
             overlapping periods, gaps, two current rows are held with their reason
    join     a table onto the records, inner or left, on the person key; unmatched and duplicate
             rows are counted and held

Columns are named `<alias>.<COLUMN>` throughout (`kojin.KOJIN_KEY`), each table's lineage as
`<alias>._row_id`. Whatever a step cannot combine holds its *person* (`combine.person`) in every
table: the offending rows carry the step's rule, the person's other rows `combine.person_held`. At the
end every row of every table is accounted for, exactly once: used (it feeds a record), quarantined,
not migrated (a declared filter), or reference (a code master) — `ledger` — and a row in none of them
stops the run. Everything is whole-column Polars; no Python loop runs over rows.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import polars as pl
from pydantic import Field, ValidationError

from ikou import quarantine as q
from ikou.errors import ConfigError, ConservationError, TerminalError
from ikou.mappings import ops
from ikou.spec import StrictModel
from ikou.staging import ROW_ID, SOURCE, SOURCE_LINE

PERSON_HELD = "combine.person_held"
HELD_AT_EXTRACT = "combine.held_at_extract"


@dataclass(frozen=True)
class StepKind:
    name: str
    options: type[StrictModel]
    run: Callable[["Work", StrictModel], None]
    rules: dict[str, tuple[str, str]]
    # the columns the step adds, from its options alone (checked against a line's `from` when the
    # mapping loads: mappings.spec.source_columns); None: not known before the rows are
    makes: Callable[[StrictModel], set[str]] | None = None


STEP_KINDS: dict[str, StepKind] = {}


def step_kind(name: str, options: type[StrictModel], rules: dict[str, tuple[str, str]] | None = None,
              makes: Callable[[StrictModel], set[str]] | None = None):
    """Register a combine step kind with its options model, the rules it can give and the columns it makes."""
    def deco(fn):
        if name in STEP_KINDS:
            raise ValueError(f"combine step {name!r} is registered twice")
        STEP_KINDS[name] = StepKind(name, options, fn, dict(rules or {}), makes)
        ops.declare_rules(f"combine step {name}", dict(rules or {}))
        return fn
    return deco


ops.declare_rules("combine", {PERSON_HELD: ("同じ個人の他の行が結合できないため保留しました",
                                            "held with its person: another row of the person could not be combined"),
                            HELD_AT_EXTRACT: ("同じ個人の行が抽出で保留されたため、個人ごと保留しました",
                                              "held with its person: a row of the person was held at extract")})


class HeldRowUntied(TerminalError):
    """A row held at extract names no person (its key could not be read): its person cannot be held with it."""

    ja = "抽出で保留した行を個人に結び付けられません (キーが読めません)。移行元の行を直して再実行してください"


def extract_held(quarantine: pl.DataFrame | None, person: str) -> pl.DataFrame:
    """The rows of the source's tables held at extract (the extract StageResult's quarantine: `table` is the
    alias, `record_key` `COL=value,…`), one per row: alias, row_id, person (the `person` value of the
    record_key; "" when the row holds it empty; null when the key could not be read or does not name it)."""
    schema = {"alias": pl.String, "row_id": pl.Int64, "person": pl.String}
    if quarantine is None or not quarantine.height:
        return pl.DataFrame(schema=schema)
    held = quarantine.filter((pl.col("stage") == "extract") & (pl.col("severity") == "error"))
    return held.select(pl.col("table").cast(pl.String).alias("alias"), pl.col("row_id").cast(pl.Int64),
                       pl.col("record_key").cast(pl.String).str.extract(rf"(?:^|,){re.escape(person)}=([^,]*)")
                       .alias("person")).unique(["alias", "row_id"], maintain_order=True)


@dataclass
class Work:
    """The frames being combined and the account of every source row."""

    frames: dict[str, pl.DataFrame]
    person: str
    roles: dict[str, str]
    labels: dict[str, str]                    # alias → the vendor's table name
    findings: list[pl.DataFrame] = field(default_factory=list)   # alias, row_id, rule, column, value
    held: list[pl.Series] = field(default_factory=list)          # person keys held
    not_migrated: list[pl.DataFrame] = field(default_factory=list)   # alias, row_id, reason
    metrics: dict = field(default_factory=dict)
    order: dict[str, list[str]] = field(default_factory=dict)   # records frame → the columns that order it

    def person_col(self, name: str) -> str | None:
        cols = self.frames[name].columns
        for c in (self.person, f"{name}.{self.person}"):
            if c in cols:
                return c
        return next((c for c in cols if c.endswith(f".{self.person}")), None)

    def hold(self, keys: pl.Series, found: pl.DataFrame) -> None:
        """Hold these persons in every frame; `found` names the offending rows and their rule."""
        keys = keys.drop_nulls().unique()
        if found.height:
            self.findings.append(found.select("alias", pl.col("row_id").cast(pl.Int64), "rule",
                                              pl.col("column").cast(pl.String), pl.col("value").cast(pl.String)))
        if not keys.len():
            return
        self.held.append(keys.cast(pl.String))
        for name in list(self.frames):
            col = self.person_col(name)
            if col is not None:
                self.frames[name] = self.frames[name].filter(~pl.col(col).is_in(keys.implode()))


def _qualify(alias: str, df: pl.DataFrame) -> pl.DataFrame:
    return df.rename({c: (f"{alias}.{c}" if c != ROW_ID else f"{alias}._row_id") for c in df.columns
                      if c not in (SOURCE, SOURCE_LINE)}).drop(SOURCE, SOURCE_LINE, strict=False)


def _date(e: pl.Expr) -> pl.Expr:
    s = e.str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s).str.to_date("%Y%m%d", strict=False)


def _found(df: pl.DataFrame, alias: str, rule: str | pl.Expr, column: str, value: pl.Expr) -> pl.DataFrame:
    return df.select(pl.lit(alias).alias("alias"), pl.col(f"{alias}._row_id").alias("row_id"),
                     (pl.lit(rule) if isinstance(rule, str) else rule).alias("rule"), pl.lit(column).alias("column"),
                     value.cast(pl.String).alias("value"))


# ---------------------------------------------------------------- unpivot

class UnpivotOptions(StrictModel):
    table: str
    groups: dict[str, list[str]] = Field(description="output column → the repeated columns, in order")
    number: str = Field(description="output column: the position of the group (1, 2 …)")
    skip_empty: str = Field(description="an output column: a group whose value here is empty is no row")


@step_kind("unpivot", UnpivotOptions, makes=lambda o: {f"{o.table}.{c}" for c in [*o.groups, o.number]})
def _unpivot(w: Work, o: UnpivotOptions) -> None:
    t, df = o.table, w.frames[o.table]
    widths = {len(v) for v in o.groups.values()}
    if len(widths) != 1:
        raise ConfigError(f"unpivot {t}: every group needs the same number of columns")
    repeated = {f"{t}.{c}" for cols in o.groups.values() for c in cols}
    keep = [c for c in df.columns if c not in repeated]
    parts = [df.select(*keep, *[pl.col(f"{t}.{cols[i]}").alias(f"{t}.{out}") for out, cols in o.groups.items()],
                       pl.lit(i + 1, pl.Int64).alias(f"{t}.{o.number}"))
             for i in range(widths.pop())]
    s = pl.col(f"{t}.{o.skip_empty}")
    out = pl.concat(parts).filter(s.is_not_null() & (s.str.strip_chars() != ""))
    empty = df.filter(~pl.col(f"{t}._row_id").is_in(out[f"{t}._row_id"].implode()))
    if empty.height:
        w.not_migrated.append(empty.select(pl.lit(t).alias("alias"), pl.col(f"{t}._row_id").alias("row_id"),
                                           pl.lit("unpivot: no group filled").alias("reason")))
    w.frames[t] = out.sort(f"{t}._row_id", f"{t}.{o.number}")


# ---------------------------------------------------------------- lookup

class LookupOptions(StrictModel):
    table: str
    column: str
    master: str = Field(description="a table of the source (role: reference) holding the codes")
    code: str = Field(description="the master's code column")
    where: dict[str, str] = Field({}, description="master rows to use: column → value (e.g. CODE_KBN: SEIBETSU)")
    values: dict[str, str] = Field(description="master column → the new column it gives the table")


@step_kind("lookup", LookupOptions, makes=lambda o: {f"{o.table}.{c}" for c in o.values.values()}, rules={
    "lookup.unknown": ("ベンダー自身のコードマスタにないコードです (個人ごと保留)",
                       "code not in the vendor's own code master (the person is held)"),
    "lookup.ambiguous": ("コードマスタで同じコードが複数あります", "the code master holds the code more than once")})
def _lookup(w: Work, o: LookupOptions) -> None:
    t, m = o.table, o.master
    master = w.frames[m]
    for col, val in o.where.items():
        master = master.filter(pl.col(f"{m}.{col}") == val)
    dup = master.filter(pl.col(f"{m}.{o.code}").is_duplicated())
    if dup.height:
        raise ConfigError(f"lookup {t}.{o.column}: master {w.labels[m]} holds codes more than once: "
                          f"{sorted(set(dup[f'{m}.{o.code}'].to_list()))[:5]}")
    master = master.select(pl.col(f"{m}.{o.code}").alias("__code"),
                           *[pl.col(f"{m}.{src}").alias(f"{t}.{dst}") for src, dst in o.values.items()])
    df = w.frames[t]
    src = pl.col(f"{t}.{o.column}")
    joined = df.join(master, left_on=src, right_on="__code", how="left", maintain_order="left",
                     coalesce=True)
    if "__code" in joined.columns:
        joined = joined.drop("__code")
    first = f"{t}.{next(iter(o.values.values()))}"
    bad = joined.filter(src.is_not_null() & (src.str.strip_chars() != "") & pl.col(first).is_null())
    w.metrics.setdefault("lookups", {})[f"{t}.{o.column}"] = {"master": w.labels[m], "unknown_rows": bad.height}
    w.frames[t] = joined
    if bad.height:
        w.hold(bad[w.person_col(t)], _found(bad, t, "lookup.unknown", o.column, src))


# ---------------------------------------------------------------- filter

class ValidAt(StrictModel):
    from_: str = Field(alias="from")
    to: str
    date: dt.date


class FilterOptions(StrictModel):
    table: str
    valid_at: ValidAt
    reason: str = Field(description="why the other rows are not migrated (shown in the report)")


@step_kind("filter", FilterOptions, makes=lambda o: set())
def _filter(w: Work, o: FilterOptions) -> None:
    t, v = o.table, o.valid_at
    df = w.frames[t]
    start, end = _date(pl.col(f"{t}.{v.from_}")), _date(pl.col(f"{t}.{v.to}"))
    ok = (start <= pl.lit(v.date)) & (end.is_null() | (end >= pl.lit(v.date)))
    ok = ok.fill_null(False)
    out = df.filter(~ok)
    w.not_migrated.append(out.select(pl.lit(t).alias("alias"), pl.col(f"{t}._row_id").alias("row_id"),
                                     pl.lit(o.reason).alias("reason")))
    w.frames[t] = df.filter(ok)


# ---------------------------------------------------------------- history

class Period(StrictModel):
    from_: str = Field(alias="from")
    to: str


class Events(StrictModel):
    table: str
    date: str
    order: str | None = None


class HistoryOptions(StrictModel):
    as_: str = Field(alias="as", description="name of the records frame it makes")
    events: Events | None = None
    intervals: dict[str, Period]
    number: str = Field(description="output column: 履歴番号, 1 … in time order per person")
    date: str = Field("HENKO_YMD", description="output column: the day the row starts (YYYYMMDD)")


HISTORY_RULES = {
    "history.overlap": ("有効期間が次の期間と重なっています (個人ごと保留)",
                        "validity period overlaps the next one (the person is held)"),
    "history.gap": ("有効期間と次の期間の間に空白があります (個人ごと保留)",
                    "gap between this validity period and the next one (the person is held)"),
    "history.two_current": ("現在の (終了日のない) 行が2件以上あります (個人ごと保留)",
                            "two or more current rows (no end date) for one person (the person is held)"),
    "history.bad_period": ("有効期間の日付が読めないか、終了日が開始日より前です (個人ごと保留)",
                           "validity period unreadable or ending before it starts (the person is held)"),
    "history.bad_date": ("異動年月日が読めません (個人ごと保留)", "event date unreadable (the person is held)"),
}


@step_kind("history", HistoryOptions, rules=HISTORY_RULES, makes=lambda o: {o.number, o.date})
def _history(w: Work, o: HistoryOptions) -> None:
    key, day = w.person, "__day"
    # 1. periods that do not chain: hold the person
    for t, p in o.intervals.items():
        df = w.frames[t]
        k = pl.col(w.person_col(t))
        frm, to = _date(pl.col(f"{t}.{p.from_}")), _date(pl.col(f"{t}.{p.to}"))
        chk = df.with_columns(__f=frm, __t=to, __raw_to=pl.col(f"{t}.{p.to}")).sort(k, "__f", nulls_last=True)
        chk = chk.with_columns(__next=pl.col("__f").shift(-1).over(k),
                               __open=(pl.col("__t").is_null() & pl.col("__raw_to").fill_null("").str.strip_chars()
                                       .eq("")).sum().over(k))
        is_open = pl.col("__t").is_null()
        has_next = pl.col("__next").is_not_null()
        rule = (pl.when(pl.col("__f").is_null() | (pl.col("__raw_to").fill_null("").str.strip_chars() != "")
                        & (is_open | (pl.col("__t") < pl.col("__f")))).then(pl.lit("history.bad_period"))
                .when(is_open & (pl.col("__open") > 1)).then(pl.lit("history.two_current"))
                .when(has_next & (is_open | (pl.col("__t") >= pl.col("__next")))).then(pl.lit("history.overlap"))
                .when(has_next & (pl.col("__t") + pl.duration(days=1) < pl.col("__next"))).then(pl.lit("history.gap")))
        bad = chk.with_columns(__rule=rule).filter(pl.col("__rule").is_not_null())
        w.metrics.setdefault("history", {}).setdefault(t, {})
        for r, n in bad.group_by("__rule").len().iter_rows():
            w.metrics["history"][t][r] = n
        if bad.height:
            col = pl.when(pl.col("__rule") == "history.bad_period").then(pl.lit(p.from_)).otherwise(pl.lit(p.to))
            found = bad.select(pl.lit(t).alias("alias"), pl.col(f"{t}._row_id").alias("row_id"),
                               pl.col("__rule").alias("rule"), col.alias("column"),
                               pl.col(f"{t}.{p.to}").alias("value"))
            w.hold(bad[w.person_col(t)], found)
    # 2. the change points: every event, and every period start no event falls on
    points = []
    if o.events is not None:
        e = o.events.table
        ev = w.frames[e].with_columns(pl.col(w.person_col(e)).alias(key), _date(pl.col(f"{e}.{o.events.date}")).alias(day))
        bad = ev.filter(pl.col(day).is_null())
        if bad.height:
            w.hold(bad[key], _found(bad, e, "history.bad_date", o.events.date, pl.col(f"{e}.{o.events.date}")))
            ev = ev.filter(~pl.col(key).is_in(bad[key].implode()))
        order = pl.col(f"{e}.{o.events.order}").cast(pl.Int64, strict=False) if o.events.order else pl.lit(0)
        points.append(ev.with_columns(order.alias("__order")))
    starts = pl.concat([w.frames[t].select(pl.col(w.person_col(t)).alias(key),
                                           _date(pl.col(f"{t}.{p.from_}")).alias(day))
                        for t, p in o.intervals.items()]).unique()
    if points:
        starts = starts.join(points[0].select(key, day), on=[key, day], how="anti")
    points.append(starts.with_columns(pl.lit(None, pl.Int64).alias("__order")))
    rows = pl.concat(points, how="diagonal_relaxed").sort(day, key, "__order", nulls_last=False)
    # 3. the state of each interval table on each change day (as-of join, then the period must still run)
    for t, p in o.intervals.items():
        iv = (w.frames[t].with_columns(pl.col(w.person_col(t)).alias("__k"), _date(pl.col(f"{t}.{p.from_}")).alias("__f"),
                                       _date(pl.col(f"{t}.{p.to}")).alias("__t"))
              .sort("__f"))
        rows = rows.join_asof(iv, left_on=day, right_on="__f", by_left=key, by_right="__k", strategy="backward",
                              check_sortedness=False)
        ended = pl.col("__t").is_not_null() & (pl.col("__t") < pl.col(day))
        rows = rows.with_columns([pl.when(ended).then(None).otherwise(pl.col(c)).alias(c) for c in iv.columns
                                  if c not in ("__k", "__f", "__t") and c in rows.columns]).drop(
            "__f", "__t", "__k", strict=False)
    rows = rows.sort(key, day, "__order", nulls_last=False).with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(key).alias(o.number),
        pl.col(day).dt.strftime("%Y%m%d").alias(o.date)).drop(day, "__order")
    w.frames[o.as_] = rows
    w.order[o.as_] = [key, o.number]
    w.metrics.setdefault("history", {})["records"] = rows.height


# ---------------------------------------------------------------- join

class JoinOptions(StrictModel):
    table: str
    into: str = Field(description="the records frame (a history's `as`)")
    how: Literal["inner", "left"]


JOIN_RULES = {
    "join.unmatched": ("結合で相手の行がありません (個人ごと保留)",
                       "no matching row on the other side of a join (the person is held)"),
    "join.duplicate": ("結合の相手が1行に決まりません (個人ごと保留)",
                       "more than one row to join for one person (the person is held)"),
}


@step_kind("join", JoinOptions, rules=JOIN_RULES, makes=lambda o: set())
def _join(w: Work, o: JoinOptions) -> None:
    t, rec = o.table, o.into
    tk, rk = w.person_col(t), w.person_col(rec)
    df = w.frames[t]
    dup = df.filter(pl.col(tk).is_duplicated())
    if dup.height:
        w.hold(dup[tk], _found(dup, t, "join.duplicate", w.person, pl.col(tk)))
        df = w.frames[t]
    records = w.frames[rec]
    lone_rows = df.join(records.select(pl.col(rk).alias(tk)).unique(), on=tk, how="anti")   # table rows, no record
    stats = {"table": w.labels[t], "how": o.how, "unmatched_table_rows": lone_rows.height}
    found = [_found(lone_rows, t, "join.unmatched", w.person, pl.col(tk))]
    keys = [lone_rows[tk]]
    if o.how == "inner":
        lone_recs = records.join(df.select(pl.col(tk).alias(rk)), on=rk, how="anti")
        stats["unmatched_records"] = lone_recs.height
        sources = [c[: -len("._row_id")] for c in lone_recs.columns if c.endswith("._row_id")]
        found += [_found(lone_recs.filter(pl.col(f"{a}._row_id").is_not_null()), a, "join.unmatched", w.person,
                         pl.col(rk)).unique() for a in sources]
        keys.append(lone_recs[rk])
    w.metrics.setdefault("joins", []).append(stats)
    w.hold(pl.concat(keys), pl.concat(found))
    w.frames[rec] = w.frames[rec].join(w.frames[t], left_on=rk, right_on=tk, how=o.how, maintain_order="left",
                                       coalesce=False)


# ---------------------------------------------------------------- engine

def combine_problems(spec) -> list[tuple[str, str]]:
    """Load-time check of the `combine:` steps: known kinds, their options, the tables they name."""
    found = []
    names = set(spec.tables or {})
    for i, step in enumerate(spec.combine.steps):
        (kind, opts), = step.items()
        where = f"combine.steps.{i}.{kind}"
        if kind not in STEP_KINDS:
            found.append((where, f"unknown combine step {kind!r}; known: {sorted(STEP_KINDS)}"))
            continue
        try:
            o = STEP_KINDS[kind].options.model_validate(opts)
        except ValidationError as exc:
            found += [(f"{where}.{'.'.join(str(x) for x in e['loc'])}", e["msg"]) for e in exc.errors()]
            continue
        refs = [getattr(o, a) for a in ("table", "master") if hasattr(o, a)]
        refs += list(getattr(o, "intervals", {}) or {}) + ([o.events.table] if getattr(o, "events", None) else [])
        found += [(where, f"no table {r!r} in `tables` (known: {sorted(names)})") for r in refs if r not in names]
        names |= {o.as_} if kind == "history" else set()
    return found


@dataclass
class CombineResult:
    frame: pl.DataFrame            # the records: qualified source columns, <alias>._row_id, + lineage
    quarantine: pl.DataFrame       # every held source row, ikou.quarantine schema
    ledger: dict[str, dict]        # alias → extracted, used, quarantined, not_migrated, reference
    metrics: dict


def combine(spec, tables: dict[str, pl.DataFrame], *, source_name: str, row_id_base: int, run_id: str,
            dantai_code: str, held_at_extract: pl.DataFrame | None = None) -> CombineResult:
    """Run `spec.combine` over the staged tables (alias → staged frame with lineage).

    `held_at_extract`: the extract's quarantine of these tables. A row held there is not staged; its person
    (read from its `record_key`) is held in every table, as a person whose rows cannot be combined, and
    the ledger counts the row as quarantined at extract. A held row of a table with the person key whose
    key cannot be read (`record_key` null, or naming no person) stops the run (HeldRowUntied): its
    person could not be held, and would be loaded with the row missing."""
    labels = {a: t.table for a, t in spec.tables.items()}
    roles = {a: t.role for a, t in spec.tables.items()}
    person = spec.combine.person
    ex = extract_held(held_at_extract, person).filter(pl.col("alias").is_in(list(tables)))
    untied = ex.filter(pl.col("alias").is_in([a for a in tables if person in tables[a].columns])
                       & pl.col("person").is_null())
    if untied.height:
        where = ", ".join(f"{labels[a]}: {n}" for a, n in untied.group_by("alias", maintain_order=True).len().iter_rows())
        raise HeldRowUntied(f"{source_name}: row(s) held at extract could not be tied to a person ({where}): their "
                            f"key could not be read, so the person ({person}) cannot be held with them and would be "
                            "loaded with the row missing; fix the row in the legacy table (the extract quarantine "
                            "names it by row number) and rerun", run_id=run_id)
    w = Work(frames={a: _qualify(a, df) for a, df in tables.items()}, person=person, roles=roles,
             labels=labels)
    originals = {a: tables[a].select(ROW_ID, SOURCE, SOURCE_LINE,
                                     *([pl.col(person).alias("__key")] if person in
                                       tables[a].columns else [pl.lit(None, pl.String).alias("__key")]))
                 for a in tables}
    ex_keys = ex["person"].filter(ex["person"].is_not_null() & (ex["person"] != "")).unique()
    if ex_keys.len():   # a row held at extract: its person is held in every table, before any step
        w.hold(ex_keys, pl.concat([orig.filter(pl.col("__key").is_in(ex_keys.implode())).select(
            pl.lit(a).alias("alias"), pl.col(ROW_ID).alias("row_id"), pl.lit(HELD_AT_EXTRACT).alias("rule"),
            pl.lit(person).alias("column"), pl.col("__key").alias("value")) for a, orig in originals.items()]))
    last = None
    for step in spec.combine.steps:
        (kind, opts), = step.items()
        sk = STEP_KINDS[kind]
        o = sk.options.model_validate(opts)
        sk.run(w, o)
        last = o.as_ if kind == "history" else getattr(o, "into", last)
    if last is None:
        raise ConfigError(f"{source_name}: combine makes no records frame (a `history` step names it)")
    records = w.frames[last]
    records = records.sort(w.order.get(last) or [w.person_col(last)])
    records = records.with_columns([pl.col(c).cast(pl.String) for c in records.columns   # as staged: text
                                    if not c.endswith("._row_id")])
    # lineage: a record of its own (_row_id), named by the first table in the mapping's order that gives it a row
    # (the person master …): its name and that row's line, so any finding on the record points into the legacy data
    # (`trace` names the table of the finding's own column, and the person's key)
    rows = [f"{a}._row_id" for a in tables if f"{a}._row_id" in records.columns]
    lines = pl.concat([o.select(pl.col(ROW_ID).alias("__first"), pl.col(SOURCE_LINE).cast(pl.Int64))
                       for o in originals.values()])
    records = records.with_columns((pl.coalesce(rows) if rows else pl.lit(None, pl.Int64)).alias("__first"))
    records = records.join(lines, on="__first", how="left", maintain_order="left").with_columns(
        (pl.int_range(1, pl.len() + 1, dtype=pl.Int64) + row_id_base).alias(ROW_ID),
        pl.coalesce([pl.when(pl.col(r).is_not_null()).then(pl.lit(labels[r[: -len("._row_id")]])) for r in rows]
                    + [pl.lit(source_name)]).alias(SOURCE)).drop("__first")
    held = pl.concat(w.held).unique() if w.held else pl.Series([], dtype=pl.String)
    findings = pl.concat(w.findings) if w.findings else pl.DataFrame(
        schema={"alias": pl.String, "row_id": pl.Int64, "rule": pl.String, "column": pl.String, "value": pl.String})
    nm = pl.concat(w.not_migrated) if w.not_migrated else pl.DataFrame(
        schema={"alias": pl.String, "row_id": pl.Int64, "reason": pl.String})
    ledger, qparts = {}, []
    for a, orig in originals.items():
        used = records[f"{a}._row_id"].drop_nulls().unique() if f"{a}._row_id" in records.columns else pl.Series([], dtype=pl.Int64)
        f = findings.filter(pl.col("alias") == a).unique(["row_id", "rule"])
        held_rows = orig.filter(pl.col("__key").is_in(held.implode()) | pl.col(ROW_ID).is_in(f["row_id"].implode()))
        held_rows = held_rows.filter(~pl.col(ROW_ID).is_in(used.implode()))
        specific = held_rows.join(f.rename({"row_id": ROW_ID}), on=ROW_ID, how="left")
        qparts.append(specific.select(
            pl.col(ROW_ID).alias("row_id"), pl.lit(labels[a]).alias("source"), pl.col(SOURCE_LINE).alias("source_line"),
            pl.format(f"{spec.combine.person}={{}}", pl.col("__key").fill_null("")).alias("record_key"),
            pl.col("column").fill_null(spec.combine.person).alias("column"),
            pl.col("rule").fill_null(PERSON_HELD).alias("rule"),
            pl.col("value").fill_null(pl.col("__key")).alias("value")))
        n_q = held_rows.height
        rest = orig.filter(~pl.col(ROW_ID).is_in(used.implode()) & ~pl.col(ROW_ID).is_in(held_rows[ROW_ID].implode()))
        n_nm = rest.filter(pl.col(ROW_ID).is_in(nm.filter(pl.col("alias") == a)["row_id"].implode())).height
        n_ref = rest.height - n_nm if roles[a] == "reference" else 0
        n_ex = ex.filter(pl.col("alias") == a).height   # held at extract: not staged, counted here
        entry = {"table": labels[a], "extracted": orig.height + n_ex, "used": used.len(), "quarantined": n_q + n_ex,
                 "quarantined_at_extract": n_ex, "not_migrated": n_nm, "reference": n_ref}
        unaccounted = orig.height - (entry["used"] + n_q + n_nm + n_ref)
        if unaccounted:
            raise ConservationError(f"{source_name}: {unaccounted} row(s) of {labels[a]} are neither used, "
                                    "quarantined, not migrated nor reference", run_id=run_id)
        reasons = nm.filter(pl.col("alias") == a).group_by("reason").len()
        if reasons.height:
            entry["not_migrated_reasons"] = {r: n for r, n in reasons.iter_rows()}
        ledger[a] = entry
    quarantine = q.concat(qparts)
    if quarantine.height:
        msgs = pl.DataFrame([(r, *ops.message(r)) for r in quarantine["rule"].unique().to_list()],
                            schema={"rule": pl.String, "message_ja": pl.String, "message_en": pl.String}, orient="row")
        quarantine = q.conform(quarantine.drop("message_ja", "message_en").join(msgs, on="rule", how="left"))
    quarantine = q.conform(quarantine.with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(dantai_code).alias("dantai_code"), pl.lit("map").alias("stage"),
        pl.col("source").alias("table"), pl.lit("error").alias("severity")))
    w.metrics["held_persons"] = held.len()
    return CombineResult(frame=records, quarantine=quarantine, ledger=ledger, metrics=w.metrics)


# ---------------------------------------------------------------- findings on the records, named by the legacy rows

def lineage(spec) -> dict:
    """What `trace` needs of a multi-table source's mapping: the person key, the table (alias) each target
    column is read from (its line's `from: <alias>.<COLUMN>`), and the vendor's name of each table, in order."""
    columns = {}
    for c in spec.columns:
        first = c.sources[0] if c.sources else ""   # a line joining columns (concat): its first column's table
        alias = first.split(".", 1)[0]
        if "." in first and alias in spec.tables:
            columns |= {t: alias for t in c.outputs().values()}
    return {"person": spec.combine.person, "columns": columns,
            "tables": {a: t.table for a, t in spec.tables.items()}}


def trace(quarantine: pl.DataFrame, combined: Path, lineage: dict) -> pl.DataFrame:
    """Findings on combined records (their `row_id` one of `combined`'s: map/<source>.combined.parquet), named
    by the legacy data rather than by the records ikou made: `source` the vendor table the finding's column
    was read from (its mapping line's table; a column no single table gives, such as 履歴番号 or a key made
    of several: the first table giving the record a row), `source_line` that table row's line (the row's
    position in key order: extractors.database), and `record_key` followed by the vendor's person key
    (`…,KOJIN_KEY=10000145`: the record's new numbers alone lead nowhere in the legacy database). Other rows
    are returned as they are, in the same order."""
    from ikou.staging import ROW_ID_SHIFT

    if not quarantine.height or not Path(combined).is_file():
        return quarantine
    names = pl.read_parquet_schema(combined)
    person = lineage["person"] if lineage["person"] in names else next(
        (c for c in names if c.endswith("." + lineage["person"])), None)
    tables = {a: t for a, t in lineage["tables"].items() if f"{a}._row_id" in names}
    ids = quarantine["row_id"].drop_nulls().unique()
    rec = (pl.scan_parquet(combined).filter(pl.col(ROW_ID).is_in(ids.implode()))
           .select(pl.col(ROW_ID).alias("row_id"), *(pl.col(f"{a}._row_id").alias(f"__{a}") for a in tables),
                   (pl.col(person) if person else pl.lit(None, pl.String)).alias("__person"))
           .collect().with_columns(pl.lit(True).alias("__combined")))
    if not rec.height:
        return quarantine
    own = pl.col("column").str.split(",").list.first().replace_strict(lineage["columns"], default=None,
                                                                       return_dtype=pl.String)
    theirs = [pl.col(f"__{a}").is_not_null() & (own == a) for a in tables]
    given = [pl.col(f"__{a}").is_not_null() for a in tables]
    row = pl.coalesce([pl.when(w).then(pl.col(f"__{a}")) for w, a in zip(theirs + given, [*tables, *tables])])
    label = pl.coalesce([pl.when(w).then(pl.lit(t))
                         for w, t in zip(theirs + given, [*tables.values(), *tables.values()])])
    hit = pl.col("__combined").fill_null(False)
    key = pl.format(f"{lineage['person']}={{}}", pl.col("__person"))
    named = pl.col("record_key").fill_null("").str.contains(rf"(?:^|,){re.escape(lineage['person'])}=")   # traced
    out = quarantine.join(rec, on="row_id", how="left", maintain_order="left").with_columns(
        pl.when(hit & row.is_not_null()).then(label).otherwise(pl.col("source")).alias("source"),
        pl.when(hit & row.is_not_null()).then(row % ROW_ID_SHIFT).otherwise(pl.col("source_line")).alias("source_line"),
        pl.when(hit & pl.col("__person").is_not_null() & ~named)
        .then(pl.concat_str([pl.col("record_key"), key], separator=",", ignore_nulls=True))
        .otherwise(pl.col("record_key")).alias("record_key"))
    return out.select(quarantine.columns)


# ---------------------------------------------------------------- bounded: one range of persons at a time

COMBINE_RANGE_PERSONS = 100_000   # persons combined at a time: bounds memory whatever the source size


def combine_staged(spec, files: dict[str, Path], out: Path, *, source_name: str, row_id_base: int, run_id: str,
                   dantai_code: str, range_persons: int = COMBINE_RANGE_PERSONS,
                   held_at_extract: pl.DataFrame | None = None) -> CombineResult:
    """`combine` over staged Parquet files (alias → file), one range of person keys at a time, the records
    streamed to `out`; the result's `frame` is empty (the records are in `out`).

    Every step works within one person (a hold, a history, a join on the person key), so the records,
    the quarantine, the ledger and the metrics are those of one `combine` over the whole tables: the
    ranges follow the keys' sort order (the records' order), rows without a key go with the first range,
    and a table without the person key (a code master) is read whole for each range and counted once.
    Should such a table feed the records or be held, the ranges could not count it alone: the source is
    then combined in one piece, as before. The rows held at extract (`held_at_extract`, as `combine`
    takes them) go with their person's range; those of a table without the person key, or naming no
    person, with the first range (where `combine` stops the run on a row it cannot tie to a person).
    """
    from ikou.staging import sink_batches

    person = spec.combine.person
    keyed = {a: f for a, f in files.items() if person in pl.read_parquet_schema(f)}
    keys = (pl.concat([pl.scan_parquet(f).select(pl.col(person)) for f in keyed.values()]).drop_nulls().unique()
            .sort(person).collect()[person]) if keyed else pl.Series(person, [], pl.String)
    bounds = keys.gather_every(range_persons).to_list()[1:]   # the first key of every range but the first
    ranges = list(zip([None, *bounds], [*bounds, None]))

    def table(a: str, lo, hi) -> pl.DataFrame:
        lf = pl.scan_parquet(files[a])
        if a in keyed:
            k = pl.col(person)
            upper = pl.lit(True) if hi is None else (k < hi)
            lf = lf.filter(k.is_null() | upper if lo is None else (k >= lo) & upper)   # no key: the first range
        return lf.collect()

    results: list[CombineResult] = []
    shared = [a for a in files if a not in keyed]
    held = extract_held(held_at_extract, person)
    held = held.with_columns(pl.when(pl.col("alias").is_in(list(keyed)) & (pl.col("person") != ""))
                             .then(pl.col("person")).alias("__k"))

    def held_in(lo, hi) -> pl.DataFrame:
        """The extract's quarantine rows of the persons in [lo, hi) (the first range: also those of no person)."""
        if held_at_extract is None or not held.height:
            return held_at_extract
        k = pl.col("__k")
        upper = pl.lit(True) if hi is None else (k < hi)
        ids = held.filter(k.is_null() | upper if lo is None else (k >= lo) & upper)
        return held_at_extract.join(ids.select(pl.col("alias").alias("table"), "row_id"), on=["table", "row_id"],
                                    how="semi")

    def parts():
        done = 0
        for lo, hi in ranges:
            r = combine(spec, {a: table(a, lo, hi) for a in files}, source_name=source_name,
                        row_id_base=row_id_base + done, run_id=run_id, dantai_code=dantai_code,
                        held_at_extract=held_in(lo, hi))
            if len(ranges) > 1 and any(r.ledger[a]["used"] or r.ledger[a]["quarantined"]
                                       - r.ledger[a]["quarantined_at_extract"] for a in shared):
                raise _Unsplittable
            frame = r.frame
            done += frame.height
            results.append(CombineResult(frame.clear(), r.quarantine, r.ledger, r.metrics))
            yield frame

    it = parts()
    try:
        first = next(it)
        sink_batches(_chain_first(first, it), first.schema, out)
    except _Unsplittable:
        return combine_staged(spec, files, out, source_name=source_name, row_id_base=row_id_base, run_id=run_id,
                              dantai_code=dantai_code, range_persons=max(len(keys), 1) + 1,
                              held_at_extract=held_at_extract)
    ledger = {a: (results[0].ledger[a] if a in shared else _summed([r.ledger[a] for r in results]))
              for a in files}
    return CombineResult(frame=results[0].frame, quarantine=q.concat([r.quarantine for r in results]),
                         ledger=ledger, metrics=_summed([r.metrics for r in results]))


class _Unsplittable(Exception):
    """A table without the person key feeds the records or is held: combine the source in one piece."""


def _chain_first(first: pl.DataFrame, rest):
    yield first
    yield from rest


def _summed(parts: list):
    """Counts of several ranges added up, key by key and item by item; names (text) are the same in each."""
    head = parts[0]
    if isinstance(head, dict):
        return {k: _summed([p[k] for p in parts if k in p]) for k in dict.fromkeys(k for p in parts for k in p)}
    if isinstance(head, list):
        if len({len(p) for p in parts}) != 1:
            raise ValueError("combine ranges gave lists of different lengths")
        return [_summed(list(items)) for items in zip(*parts)]
    if isinstance(head, bool) or not isinstance(head, (int, float)):
        if any(p != head for p in parts):
            raise ValueError(f"combine ranges disagree on {head!r}")
        return head
    return sum(parts)
