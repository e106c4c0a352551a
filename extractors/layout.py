"""Legacy layouts as data: column order, item names, encoding, header, quoting.

Adding a vendor layout is a YAML file under `specs/vendors/<vendor>/layouts/`, never new Python.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ikou.spec import StrictModel, load_spec, spec_version_field


class LayoutColumn(StrictModel):
    name: str = Field(description="the column's name as the mapping's `from:` names it; with `header: true` the "
                                  "header field, exactly (a Japanese header needs Japanese names); never empty")
    ja: str = Field(description="項目名 in Japanese, shown in reports")
    width: int | None = Field(None, description="fixed: the field's width in bytes of the source encoding (CP932: "
                                                "a 全角 character is 2); required for every column of a fixed layout")
    max_bytes: int | None = Field(None, gt=0, description="longest legal value in bytes of the source encoding; "
                                                         "a longer one is quarantined (extract.overlong)")
    sensitive: bool = Field(False, description="personal data the mapping may leave unmapped (旧氏, 通称): "
                                               "masked wherever its values are shown, like the schema's")
    line_breaks: bool = Field(False, description="table, and csv with quoted_newlines: the value may hold line "
                                                 "breaks (CR, LF, NEL, U+2028, U+2029: a 備考 or an address written "
                                                 "on several lines), kept in the value; otherwise a line break in it "
                                                 "holds the record (extract.control_char). Never on a key column")

    @field_validator("name")
    @classmethod
    def _named(cls, v: str) -> str:
        if not v.strip():   # a csv reader renames an empty header field: no mapping could read it
            raise ValueError("a column name must not be empty (a trailing delimiter on every line: "
                             "trailing_delimiter: true)")
        return v


class TrailerCount(StrictModel):
    column: str = Field(description="the layout column whose place in the trailer record holds its count of data "
                                    "records (digits, blanks around them allowed), e.g. KENSU; a fixed-width trailer "
                                    "reads it at that column's bytes, a csv trailer at that column's field")


class RecordTypes(StrictModel):
    """Header / data / trailer records (レコード区分) in one file: which records are the 業務's records."""

    column: str = Field(description="the layout column whose value says the record's type (レコード区分, e.g. "
                                    "REC_KBN), compared without the blanks around it; a record too short to hold it is "
                                    "read as a data record (and held for its length). When none of the file's first records "
                                    "holds a declared value, the layout is refused")
    data: list[str] = Field(min_length=1, description="the values of data records: the only records staged and "
                                                      "counted as records; a record whose value is none of `data`, "
                                                      "`header` and `trailer` is held (extract.record_type, "
                                                      "without a key: its layout is unknown)")
    header: list[str] = Field([], description="values of header records (ヘッダレコード): read and counted in the "
                                              "extract's metrics (summary.json sources.*.record_types), never "
                                              "staged, their other columns never checked (their layout differs)")
    trailer: list[str] = Field([], description="values of trailer records (トレーラレコード): like header records")
    trailer_count: TrailerCount | None = Field(
        None, description="the trailer's count of data records, checked against the data records read (staged "
                          "and held): a trailer is then required, and a count that differs, a missing trailer or "
                          "data records after the last trailer stop the run (the export is incomplete or damaged: "
                          "export it again). Several trailers (files concatenated): each counts the data records "
                          "since the one before")

    @model_validator(mode="after")
    def _distinct(self) -> RecordTypes:
        seen = self.data + self.header + self.trailer
        dup = sorted({v for v in seen if seen.count(v) > 1})
        if dup:
            raise ValueError(f"record_types: a value names one type only: {dup}")
        if any(v != v.strip(" \u3000") or not v for v in seen):
            raise ValueError("record_types: values are compared without surrounding blanks: write them without")
        if self.trailer_count and not self.trailer:
            raise ValueError("record_types.trailer_count needs the trailer's values (trailer: [...])")
        return self


class Layout(StrictModel):
    spec_version: Literal[1] = spec_version_field("layout_version")
    name: str = Field(description="the layout's name, shown in messages")
    description: str = Field("", description="free text for the reader (which export, which system)")
    format: Literal["csv", "table", "fixed"] = Field(
        description="csv: delimited text file; table: a legacy database table (database source); fixed: "
                    "fixed-width records, each column's `width` in bytes")
    encoding: str = Field("utf-8", description="the source's text encoding (cp932 for most Japanese legacy "
                                               "exports); a run config's source may override it")
    header: bool = Field(False, description="csv: the first line is a header; its fields, trimmed, must equal the "
                                            "columns' `name`s exactly and in order, or the file is refused; a "
                                            "record equal to it further on (files concatenated) is held "
                                            "(extract.repeated_header)")
    delimiter: str = Field(",", description="csv: the field separator, one ASCII character")
    quote: str | None = Field('"', description="csv: the quote character, or null for none")
    quoted_newlines: bool = Field(
        False, description="csv: a quoted field may hold line breaks (CR LF, LF or CR): the record runs on to "
                           "the next line, and the break is kept in a column marked `line_breaks: true` (in any "
                           "other it holds the record, extract.control_char); otherwise a record is one line, and "
                           "a quoted line break quarantines its record (extract.quoted_newline)")
    trailing_delimiter: bool = Field(
        False, description="csv: every line, the header too, ends with one more delimiter; the empty field after "
                           "it is dropped. A line whose field after it is not empty, or without it, is held "
                           "(extract.field_count)")
    key: list[str] = Field([], description="columns that order a table read and name a record")
    record_terminator: Literal["line", "none"] = Field(
        "line", description="fixed-width: each record ends with a line break (CR LF or LF), or records "
                            "follow each other with nothing between them (many host exports)")
    pad: Literal["trim", "keep"] = Field(
        "trim", description="fixed-width: the blanks that pad a field to its width (half-width ' ', and the "
                            "full-width '　' a double-byte field is padded with) are format, not data: trailing "
                            "ones are trimmed at extract (leading ones are kept); `keep` keeps every field's "
                            "bytes whole")
    time_zone: str = Field(
        "Asia/Tokyo", description="table: the zone a time stamp with a time zone (PostgreSQL timestamptz, "
                                  "MariaDB TIMESTAMP) is written in, as the legacy system showed it; the "
                                  "default is JST because the legacy systems are Japanese")
    record_types: RecordTypes | None = Field(
        None, description="fixed and csv: the file holds header / trailer records beside its data records, told "
                          "apart by a column (レコード区分): see RecordTypes. Without it every record is a data record")
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
        if "pad" in self.model_fields_set and self.format != "fixed":
            raise ValueError("pad applies to fixed-width layouts only (a csv field's blanks are in its value)")
        if self.format == "csv":
            if len(self.delimiter) != 1 or not self.delimiter.isascii() or self.delimiter in "\r\n":
                raise ValueError(f"delimiter must be one ASCII character other than CR/LF, not {self.delimiter!r}")
            if self.quote is not None and (len(self.quote) != 1 or not self.quote.isascii()
                                           or self.quote in "\r\n" or self.quote == self.delimiter):
                raise ValueError(f"quote must be one ASCII character other than CR/LF and the delimiter, "
                                 f"not {self.quote!r}")
        if self.quoted_newlines and (self.format != "csv" or self.quote is None):
            raise ValueError("quoted_newlines applies to csv layouts with a quote character only")
        if self.trailing_delimiter and self.format != "csv":
            raise ValueError("trailing_delimiter applies to csv layouts only")
        breaks = [c.name for c in self.columns if c.line_breaks]
        if breaks and not (self.format == "table" or self.quoted_newlines):
            raise ValueError("line_breaks applies to table layouts only, and to csv layouts with quoted_newlines: "
                             f"true (without it a line break ends the record): {breaks}")
        if set(breaks) & set(self.key):
            raise ValueError("a key column never holds a line break: line_breaks on "
                             f"{sorted(set(breaks) & set(self.key))}")
        if self.record_types is not None:
            rt = self.record_types
            if self.format == "table":
                raise ValueError("record_types applies to fixed and csv layouts only (select a table's rows in SQL)")
            unknown = [c for c in (rt.column, rt.trailer_count and rt.trailer_count.column) if c and c not in names]
            if unknown:
                raise ValueError(f"record_types names columns the layout does not have: {unknown}")
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(self.time_zone)
        except (ValueError, KeyError, OSError):
            raise ValueError(f"time_zone {self.time_zone!r} is not an IANA time zone (e.g. Asia/Tokyo)") from None
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
