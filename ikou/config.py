"""The run configuration: one 団体 × 業務 × rehearsal, as a YAML file checked by a schema.

Relative paths in the file resolve against the file's own directory, so a config can travel
with its data.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ikou.checkdigit import is_valid_dantai_code
from ikou.spec import StrictModel, load_spec


def _resolve(value: str | Path | None, info: ValidationInfo) -> Path | None:
    if value is None:
        return None
    p = Path(value)
    base = (info.context or {}).get("path")
    if not p.is_absolute() and base is not None:
        p = (Path(base).parent / p).resolve()
    return p


class Dantai(StrictModel):
    code: str = Field(description="団体コード (6 digits with check digit)")
    name: str = Field(description="団体名")

    @field_validator("code")
    @classmethod
    def _check(cls, v: str) -> str:
        if not is_valid_dantai_code(v):
            raise ValueError(f"団体コード {v!r} is not 6 digits with a valid check digit")
        return v


class FileSource(StrictModel):
    """A legacy file described by a layout (中間標準レイアウト CSV, fixed width …)."""

    name: str = Field(description="source table name, unique in the run")
    kind: Literal["file"]
    layout: Path | None = Field(None, description="overrides the mapping's layout")
    path: Path
    encoding: str | None = Field(None, description="overrides the layout's encoding")
    gaiji_table: Path | None = Field(None, description="団体's 外字 table: code,mj")
    mapping: Path

    _resolve_paths = field_validator("layout", "path", "gaiji_table", "mapping", mode="before")(
        classmethod(lambda cls, v, info: _resolve(v, info))
    )


class DatabaseSource(StrictModel):
    """A vendor table read live through SQLAlchemy."""

    name: str
    kind: Literal["database"]
    url: str = Field(description="SQLAlchemy URL of the legacy database")
    table: str
    schema_: str | None = Field(None, alias="schema")
    gaiji_table: Path | None = None
    mapping: Path

    _resolve_paths = field_validator("gaiji_table", "mapping", mode="before")(
        classmethod(lambda cls, v, info: _resolve(v, info))
    )

    @field_validator("url", mode="before")
    @classmethod
    def _relative_sqlite_like(cls, v: str, info: ValidationInfo) -> str:
        # duckdb:///relative/path.duckdb → relative to the config file, like every other path.
        m = re.match(r"^(duckdb|sqlite)(\+\w+)?:///(?!/)(.+)$", v)
        if m and not m.group(3).startswith(":memory:"):
            return f"{m.group(1)}{m.group(2) or ''}:///{_resolve(m.group(3), info)}"
        return v


class Target(StrictModel):
    url: str = Field(description="SQLAlchemy URL: duckdb:///path (default) or postgresql://…")
    schema_: str | None = Field(None, alias="schema", description="default: dantai_<団体コード>")

    @field_validator("url", mode="before")
    @classmethod
    def _relative(cls, v: str, info: ValidationInfo) -> str:
        return DatabaseSource._relative_sqlite_like(v, info)


class Thresholds(StrictModel):
    max_quarantine_rate: float = Field(0.05, ge=0, le=1, description="per target table")


class RunConfig(StrictModel):
    config_version: Literal[1]
    dantai: Dantai
    gyomu: list[str] = Field(description="業務 ids, e.g. [juki, kojin_juminzei]")
    rehearsal: str = Field(description="rehearsal label, e.g. R1")
    sources: list[Annotated[FileSource | DatabaseSource, Field(discriminator="kind")]]
    target: Target
    runs_dir: Path = Path("runs")
    thresholds: Thresholds = Thresholds()
    reveal_personal: bool = Field(False, description="show 個人番号/氏名 unmasked in reports")

    _resolve_runs = field_validator("runs_dir", mode="before")(
        classmethod(lambda cls, v, info: _resolve(v, info))
    )

    @model_validator(mode="after")
    def _unique_sources(self) -> "RunConfig":
        names = [s.name for s in self.sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"source names must be unique: {sorted(dup)}")
        return self

    @property
    def target_schema(self) -> str:
        return self.target.schema_ or f"dantai_{self.dantai.code}"


def load_config(path: Path | str) -> RunConfig:
    return load_spec(path, RunConfig)
