"""The target schema (標準データ構造): tables, columns, code tables, derived tables, as data.

`specs/gyomu/<業務>/schema.yaml` is parsed into `TargetSchema`; validators, 文字同定 and loaders read
column facts (type, required, length, code table, moji, sensitive) from here, so a new version of
the 基本データリスト is a new YAML file, not new code.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
from pydantic import Field, StringConstraints, ValidationInfo, field_validator, model_validator

from ikou import SPECS
from ikou.spec import StrictModel, line_note, load_spec, spec_version_field, yaml_tree

ColumnType = Literal["text", "integer", "date", "decimal"]

POLARS_TYPES: dict[str, pl.DataType] = {
    "text": pl.String,
    "integer": pl.Int64,
    "date": pl.String,      # dates stay text YYYY-MM-DD (+ 不詳 fields): never coerced
    "decimal": pl.String,
}


# the most digits a decimal may have: DuckDB's DECIMAL holds 38 (PostgreSQL's NUMERIC more), and one
# declaration serves every target
DECIMAL_MAX_PRECISION = 38

# a 業務 id as a run config accepts it (ikou.config's `gyomu:` pattern)
GYOMU_ID = r"^[a-z][a-z0-9_]{0,31}$"

# Table and column names become SQL identifiers: a strict pattern, checked when the schema loads
SqlName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]


class Column(StrictModel):
    name: SqlName = Field(description="romanised column name (see ikou/glossary.csv)")
    ja: str = Field(description="項目名 (the 基本データリスト's name)")
    type: ColumnType = Field("text", description="text, integer, date (YYYY-MM-DD text, 不詳 parts 00) or decimal "
                                                 "(text until loaded, NUMERIC(precision, scale) in the target)")
    precision: int | None = Field(None, ge=1, le=DECIMAL_MAX_PRECISION,
                                  description="decimal: the most digits in all (default 38, the most DuckDB holds)")
    scale: int | None = Field(None, ge=0, le=DECIMAL_MAX_PRECISION,
                              description="decimal (required): the digits after the point (円 0, 円銭 2)")
    required: bool = Field(False, description="必須: an empty value holds the row (rule schema.required)")
    length: int | None = Field(None, description="exact length in characters")
    max_length: int | None = Field(None, description="the most characters allowed (桁数上限)")
    code_table: str | None = Field(None, description="a name in `code_tables`: a value not in it holds the row "
                                                     "(schema.code_value)")
    moji: bool = Field(False, description="goes through 文字同定")
    sensitive: bool = Field(False, description="個人番号/氏名: masked in reports, never logged")
    control_total: bool = Field(False, description="an amount whose sum is a control total (summary.json, report)")
    dantai: bool | None = Field(None, description="holds the 団体コード: a row naming another 団体 is held at map "
                                                  "(isolation.dantai_mismatch); default: the column named dantai_code")

    @model_validator(mode="after")
    def _moji_text_only(self) -> "Column":
        """文字同定 reads characters: on a number or a date it would stop the run mid-way (an integer column
        cannot be looked up in the MJ tables), so the schema is refused when it loads."""
        if self.moji and self.type != "text":
            raise ValueError(f"column {self.name}: moji: true applies to text columns only (this one is "
                             f"type: {self.type}); drop moji or make it type: text")
        return self

    @model_validator(mode="after")
    def _decimal_digits(self) -> "Column":
        """A decimal needs its scale: DuckDB reads a bare NUMERIC as DECIMAL(18,3) and rounds 0.0001 to 0.000
        without a word, and a scale taken from each run's data would change the target's type between
        rehearsals. The 基本データリスト states every number's 桁数, so the author knows it."""
        if self.type != "decimal":
            if self.precision is not None or self.scale is not None:
                raise ValueError(f"column {self.name}: precision/scale apply to type: decimal only "
                                 f"(this one is type: {self.type})")
            return self
        if self.scale is None:
            raise ValueError(f"column {self.name}: type: decimal needs `scale` (digits after the point: 円 0, "
                             f"円銭 2) and may give `precision` (all digits, default {DECIMAL_MAX_PRECISION}): a "
                             f"NUMERIC without them is DECIMAL(18,3) in DuckDB and rounds 0.0001 to 0.000 silently")
        if self.scale > self.digits:
            raise ValueError(f"column {self.name}: scale {self.scale} is more than precision {self.digits}")
        return self

    @model_validator(mode="after")
    def _control_total_amount(self) -> "Column":
        """A control total is a sum: of a text or date column it has none (the report stage would fail after
        the load), so the schema is refused when it loads."""
        if self.control_total and self.type not in ("integer", "decimal"):
            raise ValueError(f"column {self.name}: control_total: true sums an amount: the column must be "
                             f"type: integer or decimal (this one is type: {self.type})")
        return self

    @property
    def digits(self) -> int:
        """A decimal's precision (all digits), its default filled in."""
        return self.precision if self.precision is not None else DECIMAL_MAX_PRECISION

    @property
    def holds_dantai_code(self) -> bool:
        return self.dantai if self.dantai is not None else self.name == "dantai_code"


class Aggregate(StrictModel):
    name: str = Field(description="the derived column's name")
    ja: str = Field(description="項目名")
    agg: Literal["first", "count", "sum", "min", "max"] = Field(description="how a group's rows give the value")
    from_: str | None = Field(None, alias="from", description="the column aggregated (none for count)")
    where: dict[str, list[str]] | None = Field(None, description="only rows whose column holds one of the values")
    type: ColumnType = Field("text", description="the derived column's type (count: always integer)")
    precision: int | None = Field(None, ge=1, le=DECIMAL_MAX_PRECISION,
                                  description="decimal: all digits (default: the aggregated column's; sum: 38)")
    scale: int | None = Field(None, ge=0, le=DECIMAL_MAX_PRECISION,
                              description="decimal: digits after the point (default: the aggregated column's)")


class Derive(StrictModel):
    op: Literal["latest", "group"] = Field(description="latest: each key's last row by `order_by` (現在の個人); "
                                                       "group: one row per key with `aggregates` (世帯)")
    from_: str = Field(alias="from", description="the table derived from")
    key: list[str] = Field(description="the columns that make a row of the derived table")
    order_by: str | None = Field(None, description="latest: the column whose highest value is the latest row")
    where: dict[str, list[str]] | None = Field(None, description="only rows whose column holds one of the values")
    aggregates: list[Aggregate] = Field([], description="group: the derived columns besides the key")


class CodeTableRef(StrictModel):
    ja: str = Field(description="the code table's Japanese name")
    path: Path = Field(description="a CSV (code,name), relative to the schema file")

    @field_validator("path", mode="before")
    @classmethod
    def _resolve(cls, v: str, info: ValidationInfo) -> Path:
        base = (info.context or {}).get("path")
        p = Path(v)
        return (Path(base).parent / p).resolve() if base and not p.is_absolute() else p


class Table(StrictModel):
    ja: str = Field(description="the table's Japanese name")
    primary_key: list[str] = Field(description="the table's key columns (宛名番号 + 履歴番号 …); they name a row in findings")
    columns: list[Column] = Field([], description="a loaded table's columns (a derived table takes its own)")
    derive: Derive | None = Field(None, description="a table built from another after load, not fed by a mapping")

    @model_validator(mode="after")
    def _shape(self) -> "Table":
        if self.derive is None and not self.columns:
            raise ValueError("a table needs columns or a derive rule")
        if self.derive is None:
            names = {c.name for c in self.columns}
            missing = [k for k in self.primary_key if k not in names]
            if missing:
                raise ValueError(f"primary_key columns not declared: {missing}")
        return self

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


RULES_FILE = "rules.yaml"


class TargetSchema(StrictModel):
    spec_version: Literal[1] = spec_version_field("schema_version")
    gyomu: str = Field(description="the 業務 id (juki, kojin_juminzei …): the runs' `gyomu:` names it")
    ja: str = Field(description="the 業務's Japanese name")
    rules: Path | None = Field(None, validate_default=True,
                               description="the 業務's validation rules file, relative to this file; default: "
                                           "rules.yaml beside it (else the repository's specs/gyomu/<業務>/rules.yaml)")
    code_tables: dict[str, CodeTableRef] = Field({}, description="standard code tables by name")
    tables: dict[SqlName, Table] = Field(description="the 標準データ構造's tables by name")

    @field_validator("gyomu")
    @classmethod
    def _gyomu_id(cls, v: str) -> str:
        """A run config names its 業務 by this id and accepts only GYOMU_ID (ikou.config): an id it refuses
        would make a 業務 no run can name."""
        if not re.fullmatch(GYOMU_ID, v):
            raise ValueError(f"gyomu {v!r}: a 業務 id is romanised lower case ({GYOMU_ID}: kokuho_shikaku, not "
                             f"国保資格), as a run config's `gyomu:` must name it; put the Japanese name in `ja:`")
        return v

    @field_validator("rules", mode="before")
    @classmethod
    def _rules(cls, v, info: ValidationInfo) -> Path | None:
        base = (info.context or {}).get("path")
        if v is not None:
            p = Path(v)
            return (Path(base).parent / p).resolve() if base and not p.is_absolute() else p
        beside = Path(base).resolve().parent / RULES_FILE if base else None
        if beside is not None and beside.is_file():
            return beside
        # a schema kept outside the spec tree without a rules file beside it: the 業務's own rules
        gyomu = info.data.get("gyomu")
        standard = SPECS / "gyomu" / gyomu / RULES_FILE if gyomu else None
        if standard is not None and (beside is None or standard.is_file()):
            return standard
        return beside

    @model_validator(mode="after")
    def _refs(self, info: ValidationInfo) -> "TargetSchema":
        for tname, t in self.tables.items():
            for c in t.columns:
                if c.code_table and c.code_table not in self.code_tables:
                    raise ValueError(f"tables.{tname}: column {c.name} names unknown code table {c.code_table}")
            if t.derive and t.derive.from_ not in self.tables:
                raise ValueError(f"tables.{tname}: derive.from {t.derive.from_} is not a table")
        for tname, t in self.tables.items():   # a table derived from itself, or a ring, has no order to load in
            seen, cur = [tname], t
            while cur.derive is not None:
                nxt = cur.derive.from_
                if nxt in seen:
                    raise ValueError(f"tables.{tname}: derive.from goes round in a circle "
                                     f"({' → '.join(seen + [nxt])}): a derived table must come from a loaded one")
                seen.append(nxt)
                cur = self.tables[nxt]
        problems = self._derive_problems()
        if problems:
            path = (info.context or {}).get("path")
            tree = yaml_tree(path) if path else None
            raise ValueError("; ".join(f"{loc}: {said}{line_note(tree, loc)}" for loc, said in problems))
        for name, ref in self.code_tables.items():
            _check_code_table(name, ref.path)
        return self

    def _derive_problems(self) -> list[tuple[str, str]]:
        """(key path, what is wrong) for each column a derived table's `derive` (key, order_by, where, an
        aggregate's from/where) or its primary_key names that its source table (derived too, in a chain) does
        not have: found when the schema loads, not as a column error at load after the whole run."""
        out: list[tuple[str, str]] = []
        unknown: set[str] = set()   # derived tables whose key is wrong: their columns cannot be told
        for name in self.derived_tables():   # sources first: a derived source's columns are checked already
            t = self.tables[name]
            d, base = t.derive, f"tables.{name}.derive"
            if d.from_ in unknown:
                unknown.add(name)
                continue
            have = [c.name for c in self.resolved_table(d.from_).columns]

            def check(loc: str, col: str | None) -> None:
                if col is not None and col not in have:
                    out.append((loc, f"{col} is not a column of {d.from_}{_did_you_mean(col, have)}"))

            for i, k in enumerate(d.key):
                check(f"{base}.key.{i}", k)
            if d.op == "latest" and d.order_by is None:
                out.append((base, "op latest needs order_by (the column whose highest value is the latest row)"))
            check(f"{base}.order_by", d.order_by)
            for col in d.where or {}:
                check(f"{base}.where.{col}", col)
            for i, a in enumerate(d.aggregates):
                if a.agg != "count" and a.from_ is None:
                    out.append((f"{base}.aggregates.{i}", f"agg {a.agg} needs from (the column aggregated)"))
                check(f"{base}.aggregates.{i}.from", a.from_)
                for col in a.where or {}:
                    check(f"{base}.aggregates.{i}.where.{col}", col)
            if any(loc.startswith(f"{base}.key.") for loc, _ in out):
                unknown.add(name)   # its columns are not known: its primary_key (and what derives from it) wait
                continue
            own = [c.name for c in self.resolved_table(name).columns]
            for i, k in enumerate(t.primary_key):
                if k not in own:
                    out.append((f"tables.{name}.primary_key.{i}",
                                f"{k} is not a column of derived table {name}{_did_you_mean(k, own)}"))
        return out

    def resolved_table(self, name: str) -> Table:
        """A table with its columns filled in for derived tables (latest: same as source)."""
        t = self.tables[name]
        if t.derive is None:
            return t
        src = self.resolved_table(t.derive.from_)
        if t.derive.op == "latest":
            return t.model_copy(update={"columns": list(src.columns)})
        cols = [src.column(k) for k in t.derive.key]
        cols += [_aggregate_column(a, src) for a in t.derive.aggregates]
        return t.model_copy(update={"columns": cols})

    def source_tables(self) -> list[str]:
        return [n for n, t in self.tables.items() if t.derive is None]

    def derived_tables(self) -> list[str]:
        """Derived tables in dependency order."""
        out: list[str] = []
        pending = [n for n, t in self.tables.items() if t.derive is not None]
        while pending:
            for n in list(pending):
                if self.tables[n].derive.from_ not in pending:
                    out.append(n)
                    pending.remove(n)
        return out

    def code_values(self, name: str) -> pl.DataFrame:
        """The code table as a frame (code, name), all text."""
        ref = self.code_tables[name]
        return pl.read_csv(ref.path, infer_schema=False)


def _aggregate_column(a: Aggregate, src: Table) -> Column:
    """A derived table's aggregate as a column; a decimal one takes its digits from the column aggregated
    where it does not give them (a sum may grow: all 38 digits)."""
    kind = "integer" if a.agg == "count" else a.type
    if kind != "decimal":
        return Column(name=a.name, ja=a.ja, type=kind)
    base = next((c for c in src.columns if c.name == a.from_ and c.type == "decimal"), None)
    scale = a.scale if a.scale is not None else (base.scale if base is not None else None)
    precision = a.precision if a.precision is not None else (
        base.precision if base is not None and a.agg != "sum" else None)
    return Column(name=a.name, ja=a.ja, type="decimal", precision=precision, scale=scale)


def _did_you_mean(name: str, candidates) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean {close[0]}?" if close else f" (columns: {sorted(candidates)})"


def _check_code_table(name: str, path: Path) -> None:
    """A standard code table must be readable and list each code once: a code listed twice has no one
    meaning (the lookup would fail mid-run, naming neither the file nor the code). A file not there is left
    to the step that reads it (a schema is also read from a run's specs/ snapshot, for its columns only)."""
    if not Path(path).is_file():
        return
    try:
        df = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ValueError(f"code_tables.{name}: {path}: cannot read the code table ({type(exc).__name__})") from None
    if "code" not in df.columns:
        raise ValueError(f"code_tables.{name}: {path}: a code table needs a column `code` (has {df.columns[:6]})")
    dup = df.filter(pl.col("code").is_duplicated())["code"].unique(maintain_order=True)
    if dup.len():
        raise ValueError(f"code_tables.{name}: {path}: code(s) listed more than once: {dup.head(10).to_list()}")


def load_schema(path: Path | str) -> TargetSchema:
    return load_spec(path, TargetSchema)
