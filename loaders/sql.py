"""Names reach SQL only validated and quoted: a strict pattern first, then the dialect's own quoting.

Every schema, table and column name the loaders put into a statement goes through `ident`; a name
that does not match the pattern (quotes, semicolons, dots, spaces …) is refused before any SQL is
built, whatever checks came before it.
"""
from __future__ import annotations

import re

from sqlalchemy.dialects import postgresql

from ikou.errors import IsolationError

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_QUOTE = postgresql.dialect().identifier_preparer.quote_identifier   # DuckDB quotes the same way


def ident(name: str) -> str:
    """`name` quoted as an SQL identifier, after checking it against the strict pattern."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise IsolationError(f"refused SQL name {name!r}: names must match {NAME.pattern}")
    return _QUOTE(name)


def qualified(schema: str, name: str) -> str:
    return f"{ident(schema)}.{ident(name)}"


def role_of(db_schema: str) -> str:
    """The PostgreSQL role owning a 団体's schemas: `ikou_dantai_<code>` for `dantai_<code>[_…]`."""
    m = re.fullmatch(r"dantai_([0-9]{6})(?:_[a-z0-9_]*)?", db_schema)
    if not m:
        raise IsolationError(f"refused target schema {db_schema!r}: not dantai_<団体コード>")
    return f"ikou_dantai_{m.group(1)}"
