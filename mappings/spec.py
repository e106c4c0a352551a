"""Mapping specs: one YAML file per (legacy source → target table), one line per target column.

`load_mapping` checks a spec as far as it can before any row is read: its keys (pydantic), each
line against the op registry (a known op, the keys the op needs, the op's own checks: a code
table that exists, a 和暦 format …), against the target schema it names (a source table, and
every column the line produces declared there) and against the layout(s) it names (every `from`
a column the source has: `source_columns`). Every problem is a ConfigError naming the file and the
key path (`columns.3.op: unknown op 'foo'; known: [...]`, `columns.6.from: source column 'SHIMEI_X'
of target column shimei is not …`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ikou.errors import ConfigError
from ikou.schema import TargetSchema, load_schema
from ikou.spec import StrictModel, load_spec, spec_version_field


def _resolve(v, info: ValidationInfo):
    if v is None:
        return None
    base = (info.context or {}).get("path")
    p = Path(v)
    return (Path(base).parent / p).resolve() if base and not p.is_absolute() else p


class Numbering(StrictModel):
    """new_key: numbers issued to legacy keys the 団体's crosswalk does not hold yet, in legacy-key order."""

    digits: int = Field(ge=2, le=15, description="width of the number, check digit included (zero-padded)")
    check_digit: Literal["mod11", "none"] = Field("mod11", description="mod11: modulus 11, weights 2–7 from the right")
    first: int = Field(1, ge=0, description="the first body (number without its check digit) ever issued")


class ColumnMap(StrictModel):
    target: str = Field(description="the target column this line produces (a column of the target table)")
    op: str = Field(description="a name in mappings.ops.OPS (checked by load_mapping)")
    from_: str | list[str] | None = Field(None, alias="from", description="the source column read (a layout column's "
                                                                       "`name`, or `<alias>.<COLUMN>` of a multi-table "
                                                                       "source); a list of them for an op that joins "
                                                                       "several (concat)")
    table: str | None = Field(None, description="code table: a CSV path (source_code,code) or standard:<name>")
    format: str | None = Field(None, description="wareki_date: era2_yymmdd, era1_yymmdd, letter_yymmdd, kanji (昭和45年3月2日), dotted (H05.03.01), seireki_yyyymmdd, seireki_iso (a DB DATE/DATETIME at midnight: 1985-06-01T00:00:00)")
    eras: dict[str, str] | None = Field(None, description="wareki_date: code → era override")
    fumei_flag: str | None = Field(None, description="wareki_date: target column for the 不詳フラグ")
    fumei_hyoki: str | None = Field(None, description="wareki_date: target column for the 不詳表記")
    value: str | None = Field(None, description="constant")
    strip: bool = Field(False, description="text, kana_fullwidth: trim surrounding spaces (fixed-width sources); "
                                           "codes, numbers and dates are always trimmed (strip: false is refused "
                                           "there), and an op without a source (constant) refuses strip")
    numbering: Numbering | None = Field(None, description="new_key: how new numbers are issued")
    chain: list[str] | None = Field(None, description="code_chain: target columns of the 2nd, 3rd … code")
    width: int | None = Field(None, ge=1, le=30, description="zero_pad: the digits the legacy system writes the "
                                                            "number with (the leading zeros a numeric column lost)")
    separator: str | None = Field(None, description="code_chain: what joins the names (続柄: の); concat: what "
                                                    "joins the columns (default 「　」: 氏＋全角空白＋名)")

    @field_validator("from_")
    @classmethod
    def _from(cls, v):
        if isinstance(v, list) and (not v or len(set(v)) != len(v)):
            raise ValueError("a list of source columns names at least one column, each once")
        return v

    @property
    def sources(self) -> tuple[str, ...]:
        """The source columns the line reads: none, its one `from`, or each of a list."""
        if self.from_ is None:
            return ()
        return tuple(self.from_) if isinstance(self.from_, list) else (self.from_,)

    @field_validator("table", mode="before")
    @classmethod
    def _table(cls, v, info: ValidationInfo):
        if v is None or str(v).startswith("standard:"):
            return v
        return str(_resolve(v, info))

    def outputs(self) -> dict[str, str]:
        """key of this line → the target column it names: the target, plus any 不詳 columns."""
        keys = (("target", self.target), ("fumei_flag", self.fumei_flag), ("fumei_hyoki", self.fumei_hyoki),
                *((f"chain.{i}", t) for i, t in enumerate(self.chain or [])))
        return {k: v for k, v in keys if v}


class SourceTable(StrictModel):
    """One table of a multi-table source: where it is in the legacy database and its layout."""

    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", description="the vendor's table name")
    layout: Path = Field(description="the table's layout file, relative to this mapping")
    role: Literal["records", "reference"] = Field(
        "records", description="reference: a code master read for lookups; its rows are not records to migrate")

    _paths = field_validator("layout", mode="before")(classmethod(lambda cls, v, info: _resolve(v, info)))


class Combine(StrictModel):
    """How the tables of a multi-table source become one frame of records before the column ops run."""

    person: str = Field(description="the person key every records table carries: a row that cannot be combined "
                                    "holds its person in every table")
    steps: list[dict[str, dict]] = Field(description="each a one-key mapping {kind: options}, kinds registered in "
                                                     "mappings.combine (unpivot, lookup, filter, history, join)")

    @field_validator("steps")
    @classmethod
    def _one_kind(cls, v):
        for i, step in enumerate(v):
            if len(step) != 1:
                raise ValueError(f"steps.{i}: one kind per step, got {sorted(step)}")
        return v


class MappingSpec(StrictModel):
    spec_version: Literal[1] = spec_version_field()
    target: str = Field(description="the target table (a source table of the schema) this mapping fills")
    schema_: Path = Field(alias="schema", description="the target schema: `gyomu:<業務>` for a shipped one, or a "
                                                      "path relative to this mapping")
    layout: Path | None = Field(None, description="a one-table source: its layout file, relative to this mapping")
    tables: dict[str, SourceTable] | None = Field(None, description="a multi-table source: alias → table")
    combine: Combine | None = Field(None, description="a multi-table source: how its tables become one frame")
    columns: list[ColumnMap] = Field(description="one line per target column produced")
    # layout columns the mapping leaves behind on purpose, each with why (予備: filler): every other column no line
    # reads is reported by the run (`unread_columns`), never dropped silently
    not_migrated: dict[str, str] = Field(default_factory=dict, description="layout column → why it is not migrated")

    _paths = field_validator("layout", mode="before")(classmethod(lambda cls, v, info: _resolve(v, info)))

    @field_validator("schema_", mode="before")
    @classmethod
    def _schema(cls, v, info: ValidationInfo):
        """`gyomu:<業務>` is the shipped standard schema of that 業務 (specs/gyomu/<業務>/schema.yaml), so a
        vendor's folder kept outside the repository needs no path into it; anything else is a path."""
        if isinstance(v, str) and v.startswith("gyomu:"):
            import re

            from ikou import SPECS

            name = v.split(":", 1)[1]
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", name) or not (SPECS / "gyomu" / name / "schema.yaml").is_file():
                known = sorted(p.parent.name for p in (SPECS / "gyomu").glob("*/schema.yaml"))
                raise ValueError(f"schema {v!r}: no shipped 業務 of that name (known: {known})")
            return SPECS / "gyomu" / name / "schema.yaml"
        return _resolve(v, info)

    @model_validator(mode="after")
    def _combined(self) -> "MappingSpec":
        if (self.tables is None) != (self.combine is None):
            raise ValueError("a multi-table source needs both `tables` and `combine`")
        if self.tables is not None and self.layout is not None:
            raise ValueError("`layout` is for a one-table source; a multi-table source names a layout per table")
        return self

    @field_validator("not_migrated")
    @classmethod
    def _reasons(cls, v):
        blank = [k for k, why in v.items() if not str(why).strip()]
        if blank:
            raise ValueError(f"columns {blank}: say why each is not migrated")
        return v

    @model_validator(mode="after")
    def _unique_targets(self) -> "MappingSpec":
        seen: set[str] = set()
        for c in self.columns:
            for o in c.outputs().values():
                if o in seen:
                    raise ValueError(f"target column {o} is produced twice")
                seen.add(o)
        return self


def mapping_problems(spec: MappingSpec, schema: TargetSchema) -> list[tuple[str, str]]:
    """What is wrong with `spec` against the op registry and `schema`, as (key path,
    problem): every problem, not just the first."""
    from ikou.mappings.ops import OPS

    if spec.target not in schema.source_tables():
        return [("target", f"table {spec.target!r} is not a source table of the schema {schema.gyomu}; "
                           f"known: {schema.source_tables()}")]
    declared = {c.name for c in schema.tables[spec.target].columns}
    found: list[tuple[str, str]] = []
    if spec.combine is not None:
        from ikou.mappings.combine import combine_problems
        found += combine_problems(spec)
    for i, c in enumerate(spec.columns):
        op = OPS.get(c.op)
        if op is None:
            found.append((f"columns.{i}.op", f"unknown op {c.op!r}; known: {sorted(OPS)}"))
        else:
            found += [(f"columns.{i}.{key}", what) for key, what in op.problems(c, schema)]
            if isinstance(c.from_, list) and not op.many:
                joins = sorted(n for n, o in OPS.items() if o.many)
                found.append((f"columns.{i}.from", f"op {c.op!r} reads one source column; `from` lists {len(c.from_)} "
                                                   f"({c.from_}): only {joins} join several"))
            elif isinstance(c.from_, list) and c.target in schema.tables[spec.target].primary_key:
                found.append((f"columns.{i}.from", f"target column {c.target} is a key column: a key is read from one "
                                                   "source column, not joined from several"))
        found += [(f"columns.{i}.{key}", f"column {name!r} is not in the target table {spec.target}")
                  for key, name in c.outputs().items() if name not in declared]
        if op is not None and c.target in declared:   # an op whose value the column's type cannot hold
            from ikou.mappings.ops import fits

            wrong = fits(c, schema.tables[spec.target].column(c.target).type)
            if wrong:
                found.append((f"columns.{i}.op", wrong))
            from ikou.mappings.ops import unknown_standard_codes

            unknown = unknown_standard_codes(c, schema, schema.tables[spec.target].column(c.target))
            if unknown:
                found.append((f"columns.{i}.table", unknown))
    return found + source_problems(spec)


def unmapped_required(spec: MappingSpec, schema: TargetSchema) -> list[tuple[str, str]]:
    """A `required: true` target column no line produces: every row would be held by schema.required and the
    run stop on the threshold after extract, map and validate; a mapping file is refused for it at plan."""
    if spec.target not in schema.source_tables():
        return []
    produced = {o for c in spec.columns for o in c.outputs().values()}
    return [("columns", f"required target column {col.name} ({col.ja}) has no mapping line: every row would be "
                        f"held by schema.required; map it, or make it not required in the schema")
            for col in schema.tables[spec.target].columns if col.required and col.name not in produced]


def source_columns(spec: MappingSpec) -> set[str] | None:
    """The columns a line's `from` may name, read from the layout(s) the mapping names, or None when
    they cannot be known before the rows are (no layout named, or a combine step whose kind does not
    say what it `makes`, or whose options are wrong: combine_problems reports those): then `from` is
    checked when the rows are mapped, as before.

    A one-table source: its layout's columns and the lineage columns every staging carries.
    A multi-table source: each table's layout columns as `<alias>.<COLUMN>` (and `<alias>._row_id`),
    the person key, and what each combine step makes from its options (mappings.combine: unpivot its
    groups and number, lookup its values, history its number and date). Columns an unpivot folds
    away stay accepted (a line naming `ido.IDO_CD_1` fails at map time, as before): the check is for
    names no table or step has. It is the mapping's own layout that is read: a run config's
    `layout:` override (ikou.config) is expected to keep the column names the mapping reads.
    """
    from pydantic import ValidationError

    from ikou.extractors.layout import load_layout
    from ikou.mappings.combine import STEP_KINDS
    from ikou.staging import LINEAGE

    if spec.tables is None:
        return None if spec.layout is None else set(load_layout(spec.layout).names) | set(LINEAGE)
    cols = {f"{a}.{c}" for a, t in spec.tables.items() for c in [*load_layout(t.layout).names, "_row_id"]}
    cols |= set(LINEAGE) | {spec.combine.person}
    for step in spec.combine.steps:
        (kind, opts), = step.items()
        made = STEP_KINDS.get(kind)
        if made is None or made.makes is None:
            return None
        try:
            cols |= made.makes(made.options.model_validate(opts))
        except ValidationError:
            return None
    return cols


def source_problems(spec: MappingSpec) -> list[tuple[str, str]]:
    """Every line whose `from` names a column the source has not (see `source_columns`), and every
    table of a multi-table source that holds the person column without it in its layout's `key`."""
    try:
        known = source_columns(spec)
        untied = _untied_tables(spec)
    except (OSError, ValueError, ConfigError) as exc:   # a layout missing or invalid
        return [("layout" if spec.tables is None else "tables", f"layout cannot be read: {exc}")]
    if known is None:
        return untied + _not_migrated_problems(spec)
    where = (f"layout {spec.layout.name}" if spec.tables is None
             else "the tables' layouts (as <alias>.<COLUMN>) or the columns the combine steps make")
    missing = [(f"columns.{i}.from", f"source column {s!r} of target column {c.target} is not in {where}"
                                     + _near(s, known))
               for i, c in enumerate(spec.columns) for s in c.sources if s not in known]
    return untied + missing + _not_migrated_problems(spec)


def layout_columns(spec: MappingSpec) -> list[str]:
    """The columns of the records the mapping's layout(s) describe, in layout order, as a line's `from` names them:
    a one-table source's layout columns, a multi-table source's `<alias>.<COLUMN>` of its records tables (a
    reference table is a code master: its rows are read for lookups, not migrated)."""
    from ikou.extractors.layout import load_layout

    if spec.tables is None:
        return [] if spec.layout is None else list(load_layout(spec.layout).names)
    return [f"{a}.{c}" for a, t in spec.tables.items() if t.role == "records" for c in load_layout(t.layout).names]


def read_columns(spec: MappingSpec) -> set[str]:
    """The layout columns (as `layout_columns` names them) something of the mapping reads: a line's `from`, and for a
    multi-table source the person key and every column a combine step names (any name in its options counts: a
    column is never called unread because the check cannot tell which table a step's option means)."""
    read = {s for c in spec.columns for s in c.sources}
    if spec.tables is None:
        return read
    named: set[str] = {spec.combine.person}

    def walk(v) -> None:
        if isinstance(v, str):
            named.add(v)
        elif isinstance(v, dict):
            for k, x in v.items():
                named.add(str(k))
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(spec.combine.steps)
    return read | {col for col in layout_columns(spec) if col.split(".", 1)[1] in named}


def unread_columns(spec: MappingSpec) -> list[str]:
    """Layout columns no line of the mapping reads and that it does not declare `not_migrated`, in layout order:
    what a run would otherwise leave behind without anyone deciding so (names only, never values)."""
    read = read_columns(spec)
    return [c for c in layout_columns(spec) if c not in read and c not in spec.not_migrated]


def _not_migrated_problems(spec: MappingSpec) -> list[tuple[str, str]]:
    """`not_migrated` names columns of the layout, none of which a line reads (a column both migrated and declared
    left behind is a contradiction)."""
    if not spec.not_migrated or (spec.tables is None and spec.layout is None):
        return []
    cols = layout_columns(spec)
    read = read_columns(spec)
    where = (f"layout {spec.layout.name}" if spec.tables is None
             else "the records tables' layouts (as <alias>.<COLUMN>)")
    found = [(f"not_migrated.{c}", f"column {c!r} is not in {where}" + _near(c, set(cols)))
             for c in spec.not_migrated if c not in cols]
    found += [(f"not_migrated.{c}", f"column {c!r} is read by a mapping line: it is migrated, not left behind")
              for c in spec.not_migrated if c in cols and c in read]
    return found


def _untied_tables(spec: MappingSpec) -> list[tuple[str, str]]:
    """A row held at extract names its record by the layout's `key` (`record_key`), and the combine holds
    that record's person in every table: a table holding the person column whose key lacks it would stop
    the run (HeldRowUntied) at its first broken row instead of holding the person."""
    from ikou.extractors.layout import load_layout

    if spec.tables is None:
        return []
    person, found = spec.combine.person, []
    for alias, t in spec.tables.items():
        layout = load_layout(t.layout)
        if person in layout.names and person not in layout.key:
            found.append((f"tables.{alias}.layout",
                          f"layout {layout.name} (table {t.table}) holds the person column {person} but its `key` "
                          f"{list(layout.key)} does not name it: a row held at extract could not be tied to its "
                          f"person; add {person} to the key"))
    return found


def _near(name: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=3)
    return f"; did you mean {close}?" if close else ""


def check_mapping(spec: MappingSpec, schema: TargetSchema, where: str, *, path: Path | None = None,
                  whole: bool = False) -> None:
    """Raise a ConfigError listing every problem of `spec` (see `mapping_problems`), `where` naming the spec;
    with the spec's `path`, each problem names its line in the file too. `whole`: the spec is what a run migrates
    (its plan), so a required column it leaves unmapped is a problem too (`unmapped_required`; a spec loaded or
    built for a few columns, as tests and tools do, is not checked for it)."""
    from ikou.spec import key_line, line_note, spec_error_ja, yaml_tree

    found = mapping_problems(spec, schema) + (unmapped_required(spec, schema) if whole else [])
    if found:
        tree = yaml_tree(path) if path is not None else None
        # the line goes after the problem's first line: a nested file's error (a layout) follows with its own
        noted = [(k, m.split("\n", 1)) for k, m in found]
        raise ConfigError(f"{where}: invalid MappingSpec:\n" + "\n".join(
            f"  {k}: {m[0]}{line_note(tree, k)}" + "".join(f"\n{r}" for r in m[1:]) for k, m in noted),
            ja=spec_error_ja(where, [(k, key_line(tree, k) if tree is not None else None) for k, _ in noted]))


def standard_chains(spec: MappingSpec, schema: TargetSchema) -> MappingSpec:
    """A `code_chain` line's `table: standard:<name>` as the path of the schema's code table (code,name): a
    vendor tree kept outside the repository names the standard's 続柄 without knowing where ikou is installed.
    An unknown name is left as written for the op's check to name."""
    def resolved(c: ColumnMap) -> ColumnMap:
        name = c.table.split(":", 1)[1] if c.op == "code_chain" and (c.table or "").startswith("standard:") else None
        if name is None or name not in schema.code_tables:
            return c
        return c.model_copy(update={"table": str(schema.code_tables[name].path)})

    columns = [resolved(c) for c in spec.columns]
    return spec if columns == spec.columns else spec.model_copy(update={"columns": columns})


def load_mapping(path: Path | str) -> MappingSpec:
    """Parse and check a mapping spec (see the module's docstring), loading the schema it names."""
    spec = load_spec(path, MappingSpec)
    schema = load_schema(spec.schema_)
    spec = standard_chains(spec, schema)
    check_mapping(spec, schema, str(path), path=Path(path))
    return spec
