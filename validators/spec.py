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


def rule_problems(rules: RuleSet, schema) -> list[str]:
    """What a rules file names that its schema does not have: a table, or a column of a rule's table (a
    column the pipeline adds itself: lineage, 文字同定's flags), a referenced table or column. Checked
    when the run is planned, so a misspelt column stops the run before anything is read, naming the rule."""
    out = []
    for table, rs in rules.tables.items():
        if table not in schema.tables:
            out.append(f"tables.{table}: not a table of the schema ({sorted(schema.tables)})")
            continue
        have = {c.name for c in schema.resolved_table(table).columns}
        for r in rs:
            p = r.parsed_params().model_dump()
            named = [n for k in _COLUMN_PARAMS if k in p for n in _names(p[k])]
            missing = [n for n in named if n not in have and n not in _PIPELINE_COLUMNS]
            if missing:
                out.append(f"tables.{table}: rule {r.id}: columns {missing} are not columns of {table}")
            frame = p.get("frame")
            if isinstance(frame, str) and frame in schema.tables:   # (another 業務's table: checked when it runs)
                fhave = {c.name for c in schema.resolved_table(frame).columns}
                gone = [n for n in _names(p.get("frame_column")) if n not in fhave]
                if gone:
                    out.append(f"tables.{table}: rule {r.id}: frame_column {gone} are not columns of {frame}")
    return out
