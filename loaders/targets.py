"""Target databases: one class per kind of database, registered by URL scheme.

`TargetDatabase` is what every target does: replace a 団体's tables in one transaction
(`load_tables`), read a table back (`read_table`) and hand the parallel-run diff a table it can
read without holding it in memory (`diff_input`). Each kind lives in its own module
(`loaders.duckdb_target`, `loaders.postgres_target`) and registers itself with
`@register_target` under its URL schemes; `target_for(url)` picks it, and an unknown scheme is a
ConfigError listing the known ones (the run config checks its target URL this way when it loads).
"""
from __future__ import annotations

import datetime as dt
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import polars as pl
from sqlalchemy.schema import CreateTable, DropTable

from ikou.errors import ConfigError, IsolationError, TerminalError
from ikou.loaders.ddl import sa_tables
from ikou.schema import TargetSchema


class LoadRejected(TerminalError):
    """The target refused the rows (key or NOT NULL violation); nothing was changed."""

    ja = "移行先がデータを拒否しました (ロールバック済み)"


def check_isolation(db_schema: str, dantai_code: str, run_id: str) -> None:
    """A 団体's data goes only to `dantai_<code>` (or `dantai_<code>_<suffix>`, e.g. a rehearsal copy)."""
    own = f"dantai_{dantai_code}"
    if db_schema != own and not db_schema.startswith(own + "_"):
        raise IsolationError(f"target schema {db_schema!r} does not belong to 団体 {dantai_code} (expected {own})",
                             run_id=run_id)


class TargetDatabase(ABC):
    """One kind of target database, bound to one URL."""

    schemes: ClassVar[tuple[str, ...]] = ()   # URL schemes it serves, without the driver (`postgresql`)

    def __init__(self, url: str):
        self.url = self.normalise_url(url)

    @classmethod
    def normalise_url(cls, url: str) -> str:
        """The URL as this target's drivers want it."""
        return url

    @abstractmethod
    def load_tables(self, frames: dict[str, pl.DataFrame | Path], schema: TargetSchema, db_schema: str, *,
                    run_id: str) -> dict[str, int]:
        """Replace `frames`' tables in `db_schema` in one transaction; return the rows now in each.
        A frame may be a Parquet path, streamed so that memory does not grow with the table."""

    @abstractmethod
    def read_table(self, db_schema: str, name: str) -> pl.DataFrame:
        """A loaded table, whole (for tests and small tables)."""

    @abstractmethod
    def diff_input(self, db_schema: str, name: str, out: Path) -> str | Path:
        """A loaded table as the parallel-run diff reads it (reports.diff.read_table), never whole in
        memory: a `URL#schema.table` it reads in place, or a Parquet file written at `out`."""


TARGETS: dict[str, type[TargetDatabase]] = {}   # URL scheme → its class


def register_target(cls: type[TargetDatabase]) -> type[TargetDatabase]:
    """Class decorator: serve `cls.schemes` with `cls`."""
    if not cls.schemes:
        raise ValueError(f"{cls.__name__} declares no URL schemes")
    for scheme in cls.schemes:
        if TARGETS.get(scheme, cls) is not cls:
            raise ValueError(f"URL scheme {scheme!r} is served by {TARGETS[scheme].__name__} already")
        TARGETS[scheme] = cls
    return cls


def url_scheme(url: str) -> str:
    """`postgresql+psycopg://…` → `postgresql`; '' when the text is not a URL."""
    return url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""


def target_for(url: str) -> TargetDatabase:
    """The target database for `url`. The message never repeats the URL (it may hold a password)."""
    cls = TARGETS.get(url_scheme(url))
    if cls is None:
        scheme = url_scheme(url)
        what = f"URL scheme {scheme!r}" if scheme else "a text that is not a URL (scheme://…)"
        raise ConfigError(f"no target database for {what}; known schemes: {sorted(TARGETS)}")
    return cls(url)


# What the SQL targets share: the DDL (compiled by SQLAlchemy) and the load log's time stamp.

def create_statements(schema: TargetSchema, db_schema: str, names: list[str], dialect, *,
                      keys_after: bool = False) -> list[str]:
    """DROP/CREATE for each table (CREATE IF NOT EXISTS for the load log). With keys_after, primary
    keys are left out, for the target to add once the rows are in."""
    tables = sa_tables(schema, db_schema, names)
    stmts = []
    for t in tables.values():
        if t.name == "ikou_load_log":
            stmts.append(str(CreateTable(t, if_not_exists=True).compile(dialect=dialect)))
        else:
            stmts.append(str(DropTable(t, if_exists=True).compile(dialect=dialect)))
            create = CreateTable(t, include_foreign_key_constraints=[])
            sql = str(create.compile(dialect=dialect))
            if keys_after and t.primary_key.columns:
                sql = re.sub(r",\s*PRIMARY KEY \([^)]*\)", "", sql)
            stmts.append(sql)
    return stmts


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
