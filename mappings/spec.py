"""Mapping specs: one YAML file per (legacy source → target table), one line per target column."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ikou.spec import StrictModel, load_spec, spec_version_field


def _resolve(v, info: ValidationInfo):
    if v is None:
        return None
    base = (info.context or {}).get("path")
    p = Path(v)
    return (Path(base).parent / p).resolve() if base and not p.is_absolute() else p


class ColumnMap(StrictModel):
    target: str
    op: str = Field(description="a name in mappings.ops.OPS")
    from_: str | None = Field(None, alias="from", description="source column")
    table: str | None = Field(None, description="code table: a CSV path (source_code,code) or standard:<name>")
    format: str | None = Field(None, description="wareki_date: era2_yymmdd, letter_yymmdd …")
    eras: dict[str, str] | None = Field(None, description="wareki_date: code → era override")
    fumei_flag: str | None = Field(None, description="wareki_date: target column for the 不詳フラグ")
    fumei_hyoki: str | None = Field(None, description="wareki_date: target column for the 不詳表記")
    value: str | None = Field(None, description="constant")
    strip: bool = Field(False, description="text: trim surrounding spaces (fixed-width sources)")

    @field_validator("table", mode="before")
    @classmethod
    def _table(cls, v, info: ValidationInfo):
        if v is None or str(v).startswith("standard:"):
            return v
        return str(_resolve(v, info))


class MappingSpec(StrictModel):
    spec_version: Literal[1] = spec_version_field()
    target: str
    schema_: Path = Field(alias="schema")
    layout: Path | None = None
    columns: list[ColumnMap]

    _paths = field_validator("schema_", "layout", mode="before")(classmethod(lambda cls, v, info: _resolve(v, info)))

    @model_validator(mode="after")
    def _unique_targets(self) -> "MappingSpec":
        seen: set[str] = set()
        for c in self.columns:
            outs = [c.target] + [x for x in (c.fumei_flag, c.fumei_hyoki) if x]
            for o in outs:
                if o in seen:
                    raise ValueError(f"target column {o} is produced twice")
                seen.add(o)
        return self


def load_mapping(path: Path | str) -> MappingSpec:
    return load_spec(path, MappingSpec)
