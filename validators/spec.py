"""Rule files (`specs/gyomu/<業務>/rules.yaml`, named by the schema): what is checked, separate from how
(validators.kinds)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from ikou.spec import StrictModel, load_spec, spec_version_field
from ikou.validators.kinds import KINDS, Outcome

Severity = Literal["error", "warning"]


class Message(StrictModel):
    ja: str
    en: str


class Rule(StrictModel):
    id: str = Field(description="stable rule id, written to quarantine.rule, e.g. checkdigit.kojin_no")
    kind: str = Field(description="name of a registered check kind (validators.kinds.KINDS)")
    severity: Severity = "error"
    params: dict[str, Any] = {}
    message: Message | None = Field(None, description="defaults to the kind's message")

    @model_validator(mode="after")
    def _known_kind(self) -> "Rule":
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; known: {sorted(KINDS)}")
        try:
            KINDS[self.kind].params.model_validate(self.params)
        except ValidationError as exc:
            # a misspelt key first (`regx`: not allowed), then what it left missing (`regex`: required)
            errs = sorted(exc.errors(), key=lambda e: e.get("type") != "extra_forbidden")
            said = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '-'}: {e['msg']}" for e in errs[:3])
            raise ValueError(f"params of kind {self.kind}: {said}") from None
        return self

    def parsed_params(self) -> StrictModel:
        return KINDS[self.kind].params.model_validate(self.params)

    def outcomes(self) -> list[Outcome]:
        """The rule ids and messages the rule's parameters give findings of their own (kinds.Outcome: e.g.
        setai.setainushi_held, a household held because its 世帯主 is), besides its own id and message."""
        p = self.parsed_params()
        return [v for v in (getattr(p, f) for f in type(p).model_fields) if isinstance(v, Outcome)]

    def messages(self) -> tuple[str, str]:
        return (self.message.ja, self.message.en) if self.message else KINDS[self.kind].message


class RuleSet(StrictModel):
    spec_version: Literal[1] = spec_version_field("rules_version")
    gyomu: str
    schema_rules: bool = Field(True, description="add the rules implied by the target schema")
    tables: dict[str, list[Rule]] = {}

    @model_validator(mode="after")
    def _unique_ids(self) -> "RuleSet":
        for table, rules in self.tables.items():
            ids = [i for r in rules for i in (r.id, *(o.id for o in r.outcomes()))]
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                raise ValueError(f"tables.{table}: duplicate rule ids {dup}")
        return self


def load_rules(path: Path | str) -> RuleSet:
    return load_spec(path, RuleSet)


# The parameters of the check kinds that name a column of the rule's table (validators.kinds).
_COLUMN_PARAMS = ("columns", "column", "fumei_flag", "earlier", "later", "person", "rireki", "setai", "jotai",
                  "zokugara", "flag", "detail")


# The columns the pipeline adds to a table's rows before validation: lineage (ikou.staging) and 文字同定's
# flags (moji.step), which a rule may name besides the schema's.
_PIPELINE_COLUMNS = frozenset({"_row_id", "_source", "_source_line", "_moji_unresolved", "_moji_unresolved_chars"})


def _names(v) -> list[str]:
    return [v] if isinstance(v, str) else [x for x in v if isinstance(x, str)] if isinstance(v, list) else []


class Problem(str):
    """A problem of a rules file (English, as before), with its Japanese half (`ja`) for the failure line."""

    ja: str

    def __new__(cls, en: str, ja: str | None = None) -> "Problem":
        self = super().__new__(cls, en)
        self.ja = ja or en
        return self


def shipped_schemas() -> list:
    """The schemas of the 業務 shipped under specs/gyomu: an optional reference may name one of their tables
    while the run does not migrate it."""
    from ikou import SPECS
    from ikou.schema import load_schema

    return [load_schema(f) for f in sorted((SPECS / "gyomu").glob("*/schema.yaml"))]


def rule_frames(rules: RuleSet):
    """(table, rule index, rule, frame, optional) of every rule reading another table (`frame`: referential,
    spelled_otherwise_in …), in file order."""
    for table, rs in rules.tables.items():
        for i, r in enumerate(rs):
            p = r.parsed_params().model_dump()
            if isinstance(p.get("frame"), str):
                yield table, i, r, p["frame"], bool(p.get("optional"))


def rule_problems(rules: RuleSet, schema, run_schemas: list | None = None, *, path=None) -> list[str]:
    """What a rules file names that its schema does not have: another 業務 (`gyomu`), a table (or a derived
    one: rules apply to loaded tables), a column of a rule's table (a column the pipeline adds itself: lineage,
    文字同定's flags), a referenced table (`frame`) or column. `run_schemas`: the schemas of the run's 業務,
    where a `frame` must be, or for an `optional` rule in a shipped 業務 (default, no run known: any shipped
    業務). Checked when the run is planned, so a misspelt column stops the run before anything is read, naming
    the rule (and its line, given the file's `path`)."""
    from ikou.spec import line_note, yaml_tree

    tree = yaml_tree(path) if path else None
    out = []
    if rules.gyomu != schema.gyomu:
        out.append(Problem(f"gyomu: {rules.gyomu} is not its schema's 業務 {schema.gyomu}: a rules file belongs to "
                           f"the 業務 whose schema names it (write gyomu: {schema.gyomu}){line_note(tree, 'gyomu')}",
                           f"gyomu: {rules.gyomu} はスキーマの業務 {schema.gyomu} と異なります (gyomu: {schema.gyomu} "
                           f"と書いてください){line_note(tree, 'gyomu')}"))
    for table, rs in rules.tables.items():
        if table not in schema.tables:
            out.append(Problem(f"tables.{table}: not a table of the schema ({sorted(schema.tables)})",
                               f"tables.{table}: スキーマにないテーブルです (スキーマのテーブル: {sorted(schema.tables)})"))
            continue
        if schema.tables[table].derive is not None:
            src = schema.tables[table].derive.from_
            out.append(Problem(
                f"tables.{table}: {table} is a derived table (derive from {src}), built after the load: rules "
                f"apply to the loaded source tables only; put the rules on {src} or drop them{line_note(tree, f'tables.{table}')}",
                f"tables.{table}: {table} は投入後に作る派生テーブル ({src} から) のため、ルールは適用されません。"
                f"ルールは投入するテーブル ({src} など) に書いてください{line_note(tree, f'tables.{table}')}"))
            continue
        have = {c.name for c in schema.resolved_table(table).columns}
        for r in rs:
            p = r.parsed_params().model_dump()
            named = [n for k in _COLUMN_PARAMS if k in p for n in _names(p[k])]
            missing = [n for n in named if n not in have and n not in _PIPELINE_COLUMNS]
            if missing:
                out.append(Problem(f"tables.{table}: rule {r.id}: columns {missing} are not columns of {table}",
                                   f"tables.{table}: ルール {r.id}: 列 {missing} はテーブル {table} にありません"))
    known = [schema, *[s for s in run_schemas or [] if s.gyomu != schema.gyomu]]
    shipped = None
    for table, i, r, frame, optional in rule_frames(rules):
        if table not in schema.tables or schema.tables[table].derive is not None:
            continue
        at = line_note(tree, f"tables.{table}.{i}.params.frame")
        owner = next((s for s in known if frame in s.tables), None)
        if owner is None:   # another 業務's table: a shipped one (not migrated by the run: optional only, below)
            shipped = shipped if shipped is not None else shipped_schemas()
            owner = next((s for s in shipped if frame in s.tables), None)
        if owner is None:
            import difflib

            shipped = shipped if shipped is not None else shipped_schemas()
            names = {t for s in [*known, *shipped] for t, tt in s.tables.items() if tt.derive is None}
            close = difflib.get_close_matches(frame, sorted(names), n=1)
            hint = f"; did you mean {close[0]}?" if close else f" (tables: {sorted(names)})"
            hint_ja = f" ({close[0]} の誤りではありませんか)" if close else ""
            where = "the run's 業務" + (" or a shipped 業務 (specs/gyomu)" if optional else "")
            out.append(Problem(f"tables.{table}: rule {r.id}: frame {frame!r} is not a table of {where}{hint}{at}",
                               f"tables.{table}: ルール {r.id}: frame {frame!r} はどの業務のテーブルでもありません"
                               f"{hint_ja}{at}"))
            continue
        if owner.tables[frame].derive is not None:
            out.append(Problem(f"tables.{table}: rule {r.id}: frame {frame!r} is a derived table, built after the "
                               f"load: a rule can refer to a loaded table only ({owner.tables[frame].derive.from_}){at}",
                               f"tables.{table}: ルール {r.id}: frame {frame!r} は投入後に作る派生テーブルのため参照"
                               f"できません (投入するテーブル {owner.tables[frame].derive.from_} を指定してください){at}"))
            continue
        if run_schemas is not None and not optional and not any(owner is s for s in known):
            out.append(Problem(f"tables.{table}: rule {r.id}: frame {frame!r} is a table of 業務 {owner.gyomu}, "
                               f"which this run does not migrate: add {owner.gyomu} to the run's gyomu, or set "
                               f"optional: true{at}",
                               f"tables.{table}: ルール {r.id}: frame {frame!r} は業務 {owner.gyomu} のテーブルですが、"
                               f"この実行は {owner.gyomu} を移行しません (gyomu に加えるか optional: true にしてください){at}"))
            continue
        fhave = {c.name for c in owner.resolved_table(frame).columns}
        gone = [n for n in _names(r.parsed_params().model_dump().get("frame_column")) if n not in fhave]
        if gone:
            out.append(Problem(f"tables.{table}: rule {r.id}: frame_column {gone} are not columns of {frame}",
                               f"tables.{table}: ルール {r.id}: frame_column {gone} はテーブル {frame} にありません"))
    return out
