"""Legacy layouts as data: column order, item names, encoding, header, quoting.

Adding a vendor layout is a YAML file under `specs/vendors/<vendor>/layouts/`, never new Python.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ikou.spec import StrictModel, load_spec, spec_version_field


class LayoutColumn(StrictModel):
    name: str
    ja: str
    width: int | None = Field(None, description="bytes, for fixed-width records")
    max_bytes: int | None = Field(None, gt=0, description="longest legal value in bytes of the source encoding; "
                                                         "a longer one is quarantined (extract.overlong)")
    sensitive: bool = Field(False, description="personal data the mapping may leave unmapped (旧氏, 通称): "
                                               "masked wherever its values are shown, like the schema's")


class Layout(StrictModel):
    spec_version: Literal[1] = spec_version_field("layout_version")
    name: str
    description: str = ""
    format: Literal["csv", "table", "fixed"]
    encoding: str = "utf-8"
    header: bool = False
    delimiter: str = ","
    quote: str | None = '"'
    quoted_newlines: bool = Field(
        False, description="csv: a quoted field may hold line breaks (CR LF, LF or CR), kept in the value; "
                           "otherwise a record is one line, and a quoted line break quarantines its record "
                           "(extract.quoted_newline)")
    key: list[str] = Field([], description="columns that order a table read and name a record")
    record_terminator: Literal["line", "none"] = Field(
        "line", description="fixed-width: each record ends with a line break (CR LF or LF), or records "
                            "follow each other with nothing between them (many host exports)")
    columns: list[LayoutColumn]

    @model_validator(mode="after")
    def _unique(self) -> Layout:
        names = [c.name for c in self.columns]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate column names: {dup}")
        if self.format == "fixed" and any(c.width is None for c in self.columns):
            raise ValueError("fixed-width layouts need a width for every column")
        if self.record_terminator != "line" and self.format != "fixed":
            raise ValueError("record_terminator applies to fixed-width layouts only")
        if self.format == "csv":
            if len(self.delimiter) != 1 or not self.delimiter.isascii() or self.delimiter in "\r\n":
                raise ValueError(f"delimiter must be one ASCII character other than CR/LF, not {self.delimiter!r}")
            if self.quote is not None and (len(self.quote) != 1 or not self.quote.isascii()
                                           or self.quote in "\r\n" or self.quote == self.delimiter):
                raise ValueError(f"quote must be one ASCII character other than CR/LF and the delimiter, "
                                 f"not {self.quote!r}")
        if self.quoted_newlines and (self.format != "csv" or self.quote is None):
            raise ValueError("quoted_newlines applies to csv layouts with a quote character only")
        return self

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def record_bytes(self) -> int:
        """Bytes of one fixed-width record, without its line break."""
        return sum(c.width or 0 for c in self.columns)


def load_layout(path: Path | str) -> Layout:
    return load_spec(path, Layout)
