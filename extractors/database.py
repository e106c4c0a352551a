"""Vendor tables read live through SQLAlchemy, streamed in bounded batches to Parquet.

Every column is staged as text, whatever the vendor's type: identifiers keep their leading zeros,
typed columns are written deliberately by their type (extractors.text), and dates are converted in
the mapping, never by type inference.
"""
from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import codecs
import functools
import logging
import re
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from ikou.extractors.layout import Layout
from ikou.extractors.checks import collapse_not_held, control_findings, not_held, split_unread
from ikou.extractors.csv_file import quarantine_frame, staging_schema, to_staging
from ikou.extractors.keys import key_columns_of, key_expr
from ikou.extractors.text import Column, Rendered, python_values, render
from ikou.staging import row_id_base, sink_batches
from ikou.extractors.result import ExtractResult
from ikou.errors import ConfigError, LayoutError, TransientError

BATCH_ROWS = 100_000
log = logging.getLogger("ikou")

# Connection errors of a legacy database that no retry changes: the database, the login or its password is
# wrong. MariaDB/MySQL driver codes (1044 no access to the database, 1045 access denied, 1049 unknown database,
# 1698 access denied by the auth plugin) and PostgreSQL SQLSTATEs (3D000 no such database, 28000 login refused,
# 28P01 wrong password, 42501 no CONNECT privilege). Refused and timed-out connections stay transient.
_PERMANENT_MYSQL = {1044, 1045, 1049, 1698}
_PERMANENT_SQLSTATE = {"3D000", "28000", "28P01", "42501"}
# libpq gives a failed connection no SQLSTATE (psycopg's `sqlstate` and ADBC's are None): the server's own
# words stand for it, in English and as PostgreSQL's Japanese translation prints them (lc_messages = ja_JP)
_PG_CONNECT_TEXT = [
    ("3D000", re.compile(r'database ".*" does not exist|データベース\s*".*"\s*は存在しません')),
    ("28000", re.compile(r'role ".*" does not exist|ロール\s*".*"\s*は存在しません|role ".*" is not permitted to log in'
                         r'|ロール\s*".*"\s*はログインが許可されません|no pg_hba\.conf entry|pg_hba\.conf rejects'
                         r'|pg_hba\.conf (に|の設定で)|(Peer|Ident) authentication failed|(対向\(peer\)|Ident)認証に失敗')),
    ("28P01", re.compile(r'password authentication failed|パスワード認証に失敗')),
    ("42501", re.compile(r'permission denied for database|データベース\s*".*"\s*へのアクセスが拒否されました')),
]


def permanent_connect_code(exc: BaseException) -> str | None:
    """The driver code or SQLSTATE of a database error that a retry cannot mend (unknown database, login or
    password refused), or None: a refused or timed-out connection may well succeed on retry. `exc`: a
    SQLAlchemy DBAPIError (its driver error is read) or a driver's own error (pymysql, psycopg, ADBC)."""
    orig = getattr(exc, "orig", None) or exc
    code = orig.args[0] if orig.args and isinstance(orig.args[0], int) else None
    if code in _PERMANENT_MYSQL:
        return str(code)
    state = getattr(orig, "sqlstate", None)
    if state in _PERMANENT_SQLSTATE:
        return state
    if code is None and state is None:
        text = str(orig)
        return next((s for s, pattern in _PG_CONNECT_TEXT if pattern.search(text)), None)
    return None


def _adbc_available() -> bool:
    try:
        import adbc_driver_postgresql.dbapi  # noqa: F401
    except ImportError:
        return False
    return True


def _adbc_uri(engine: sa.Engine) -> str:
    from ikou.config import libpq_uri

    return libpq_uri(engine.url)   # not render_as_string: its `+` for a space reaches libpq as a `+`


# the statements that make a session read-only: extraction never writes to the legacy system, whatever the
# url or the login's rights (a vendor's admin login is common); the server refuses any write in the session
_READ_ONLY = {"mysql": "SET SESSION TRANSACTION READ ONLY", "mariadb": "SET SESSION TRANSACTION READ ONLY",
              "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"}


@functools.cache
def _ascii_text():
    """A psycopg loader that makes text of a SQL_ASCII connection a str, strictly ASCII. psycopg hands such
    text over as bytes (it cannot know their encoding): SQLAlchemy then failed on the server's version string
    before anything was read. The server's own words (version, names, dates) are ASCII; a legacy text column
    is never read through it (`sql_ascii_text_columns`: read as bytes), so a byte above 0x7F here is an error,
    never a guess."""
    from psycopg.adapt import Loader

    class AsciiText(Loader):
        def load(self, data) -> str:
            return bytes(data).decode("ascii")

    return AsciiText


def sql_ascii_strings(dbapi_conn) -> None:
    """A psycopg connection whose client encoding is SQL_ASCII (the default with a SQL_ASCII database) reads
    the text types as ASCII str (`_ascii_text`) instead of bytes."""
    info = getattr(dbapi_conn, "info", None)
    if getattr(info, "encoding", None) != "ascii":
        return
    from psycopg.pq import Format

    loader = _ascii_text()
    for t in (0, "text", "varchar", "bpchar", "name", '"char"'):   # 0: a type psycopg has no loader for
        dbapi_conn.adapters.register_loader(t, loader)
    binary = type("AsciiTextBinary", (loader,), {"format": Format.BINARY})
    for t in ("text", "varchar", "bpchar", "name", '"char"'):
        dbapi_conn.adapters.register_loader(t, binary)


def read_only_engine(url: str) -> sa.Engine:
    """The SQLAlchemy engine extraction reads through: each new MariaDB/PostgreSQL session is made read-only
    before anything is read (committed, so the setting outlives the connect's own transaction). A PostgreSQL
    session of a SQL_ASCII database reads the server's text as str (`sql_ascii_strings`), from its first
    statement (SQLAlchemy's own look at the server) on."""
    engine = sa.create_engine(url, **_engine_options(url))
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        sa.event.listen(engine, "connect", lambda dbapi_conn, _record: sql_ascii_strings(dbapi_conn), insert=True)
    statement = _READ_ONLY.get(engine.dialect.name)
    if statement:
        @sa.event.listens_for(engine, "connect")
        def _read_only(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            try:
                cur.execute(statement)
            finally:
                cur.close()
            dbapi_conn.commit()
    return engine


def adbc_connect(engine: sa.Engine, snapshot_id: str | None = None):
    """An ADBC PostgreSQL connection to the engine's database, read-only like `read_only_engine`'s sessions.
    `snapshot_id` (`Snapshot.id`): its transaction (ADBC opens one after each commit) reads that exported snapshot."""
    import adbc_driver_postgresql.dbapi as adbc

    conn = adbc.connect(_adbc_uri(engine))
    try:
        with conn.cursor() as cur:
            cur.execute(_READ_ONLY["postgresql"])
        conn.commit()
        if snapshot_id:
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur.execute(f"SET TRANSACTION SNAPSHOT '{_snapshot_id(snapshot_id)}'")
    except BaseException:
        conn.close()
        raise
    return conn


def _adbc_batches(engine: sa.Engine, sql: str, batch_rows: int, snapshot_id: str | None = None):
    """PostgreSQL rows as Arrow record batches through ADBC (COPY binary under the hood), read-only."""
    with adbc_connect(engine, snapshot_id) as conn, conn.cursor() as cur:
        cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(16 << 20)})
        cur.execute(sql)
        for batch in cur.fetch_record_batch():
            for start in range(0, batch.num_rows, batch_rows):
                yield batch.slice(start, batch_rows)


def _own_data_only(conn, tbl, label: str, dantai_code: str, run_id: str) -> None:
    """Refuse a vendor table that is in fact another 団体's migrated target (`dantai_<code>…`), however it
    was reached: the schema the database itself resolves the name to (PostgreSQL: through the
    connection's search_path, which a URL's `options` can set), not only the name in the config."""
    from ikou.config import other_dantai
    from ikou.errors import IsolationError

    if conn.dialect.name == "postgresql":
        name = conn.dialect.identifier_preparer.format_table(tbl)
        resolved = conn.execute(sa.text("SELECT n.nspname FROM pg_class c JOIN pg_namespace n "
                                        "ON n.oid = c.relnamespace WHERE c.oid = to_regclass(:t)"), {"t": name}).scalar()
    else:
        resolved = tbl.schema or conn.dialect.default_schema_name
    code = other_dantai(resolved, dantai_code) if resolved and dantai_code else None
    if code:
        raise IsolationError(f"{label} is in schema {resolved!r}, 団体 {code}'s data: a run for {dantai_code} "
                             "reads only its own", run_id=run_id)


# MariaDB/MySQL (pymysql, mysqlclient) column type codes → how the values are made text (extractors.text)
_MYSQL_KINDS = {10: "date_text", 14: "date_text", 12: "datetime_text", 7: "datetime_text", 11: "time_text",
                16: "bit", 255: "unsupported"}
_MYSQL_NAMES = {10: "DATE", 14: "DATE", 12: "DATETIME", 7: "TIMESTAMP", 11: "TIME", 16: "BIT", 255: "GEOMETRY"}
# PostgreSQL type oids (psycopg) the same way; bit/varbit arrive as their digits, bytea as bytes
_PG_KINDS = {1082: "date_text", 1114: "datetime_text", 1184: "datetime_text", 1083: "time_text",
             1186: "unsupported", 1266: "unsupported", 790: "unsupported"}
_PG_NAMES = {1082: "date", 1114: "timestamp", 1184: "timestamptz", 1083: "time", 1186: "interval", 1266: "timetz",
             790: "money", 1042: "bpchar"}   # bpchar: CHAR(n), its padding trimmed (extractors.text.render)


def _engine_options(url: str) -> dict:
    """MariaDB through pymysql/mysqlclient: DATE, DATETIME, TIMESTAMP, TIME and DECIMAL arrive as the
    server's text, not as Python objects. Why: a zero date ('0000-00-00') has no Python value (pymysql then
    hands over a str beside the dates of the same column) and a TIME is a timedelta; as text, each column
    is checked and written whole (extractors.text), the zero dates held row by row; a DECIMAL stays the
    server's exact digits."""
    u = sa.engine.make_url(url)
    if u.get_backend_name() not in ("mysql", "mariadb"):
        return {}
    driver = u.get_driver_name()
    if driver == "pymysql":
        from pymysql.converters import conversions
    elif driver == "mysqldb":
        from MySQLdb.converters import conversions
    else:
        return {}
    conv = {k: v for k, v in conversions.items() if k not in (0, 7, 10, 11, 12, 14, 246)}   # + DECIMAL as text
    return {"connect_args": {"conv": conv}}


def _session(conn, layout: Layout) -> None:
    """The SQLAlchemy reader's session: MariaDB TIMESTAMPs in UTC (made the layout's wall time by `_wall_time`),
    PostgreSQL time stamps with a zone in the layout's time zone, PostgreSQL's dates, times and numerics as
    the server's text (psycopg cannot make 'infinity' a Python date and rejects the whole read; a Decimal
    column would be given one scale by Arrow: '1.5' read as '1.50').

    Why UTC for MariaDB: a named zone needs the server's time zone tables, which most installations lack; a
    fixed offset in their place (the zone's offset today) put every value of the other DST half an hour off."""
    dialect = conn.dialect.name
    if dialect in ("mysql", "mariadb"):
        conn.execute(sa.text("SET time_zone = '+00:00'"))
    elif dialect == "postgresql" and conn.dialect.driver == "psycopg":
        from psycopg.types.string import TextLoader

        conn.execute(sa.text("SELECT set_config('TimeZone', :tz, false), set_config('DateStyle', 'ISO, YMD', false)"),
                     {"tz": layout.time_zone})
        driver_conn = conn.connection.driver_connection
        # a SQL_ASCII session: TextLoader gives bytes there, and a date must reach its checks as text
        loader = _ascii_text() if driver_conn.info.encoding == "ascii" else TextLoader
        for t in ("date", "timestamp", "timestamptz", "time", "numeric"):
            driver_conn.adapters.register_loader(t, loader)


def _wall_time(arr: pa.Array, zone: str) -> pa.Array:
    """MariaDB TIMESTAMP text in UTC ('2020-07-01 12:00:00[.ffffff]') → the wall time in `zone` by the zone's
    own rules (DST included), column-wise; a value that is no time stamp (the zero '0000-00-00 00:00:00')
    is kept as the server wrote it, for extractors.text to hold."""
    s = pl.from_arrow(arr)
    if s.dtype != pl.String:   # all null
        return arr
    utc = s.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S%.f", strict=False)
    local = (utc.dt.replace_time_zone("UTC").dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d %H:%M:%S")
             + s.str.extract(r"(\.\d+)$", 1).fill_null(""))
    out = pl.select(pl.when(utc.is_null()).then(s).otherwise(local)).to_series()
    return out.to_arrow().cast(pa.string())


def _declared(dialect: str, description, layout: Layout) -> list[tuple[str | None, int, str]]:
    """(kind, bits, type name) of each selected column, from the DB-API cursor description."""
    out = []
    for d in description or []:
        code = d[1]
        if dialect in ("mysql", "mariadb") and isinstance(code, int):
            out.append((_MYSQL_KINDS.get(code), int(d[3] or 0) if code == 16 else 0, _MYSQL_NAMES.get(code, "")))
        elif dialect == "postgresql" and isinstance(code, int):
            out.append((_PG_KINDS.get(code), 0, _PG_NAMES.get(code) or getattr(d, "type_display", None) or ""))
        else:
            out.append((None, 0, ""))
    return out + [(None, 0, "")] * (len(layout.names) - len(out))


# numeric column types: MariaDB/MySQL type codes (DECIMAL, TINY, SHORT, LONG, FLOAT, DOUBLE, LONGLONG, INT24,
# YEAR, NEWDECIMAL) and PostgreSQL oids (int8, int2, int4, oid, float4, float8, numeric)
_MYSQL_NUMERIC = {0, 1, 2, 3, 4, 5, 8, 9, 13, 246}
_PG_NUMERIC = {20, 21, 23, 26, 700, 701, 1700}


def _numeric(dialect: str, description) -> set[str]:
    """The columns a vendor table holds as numbers (DB-API cursor description): a number kept as one lost
    the leading zeros a fixed-width identifier had (宛名番号 0001234 → 1234), which the staged text cannot
    show; the flow warns when such a column is a key not read through `zero_pad` (flows.pipeline)."""
    codes = _MYSQL_NUMERIC if dialect in ("mysql", "mariadb") else _PG_NUMERIC if dialect == "postgresql" else set()
    return {d[0] for d in description or [] if isinstance(d[1], int) and d[1] in codes}


def japanese_encoding(encoding: str) -> bool:
    """A Japanese multi-byte encoding (CP932, Shift_JIS, EUC-JP, ISO-2022-JP and their variants)."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return name.startswith(("cp932", "shift_jis", "euc_j", "iso2022_jp"))


def single_byte_columns(conn, table: str, schema: str | None) -> dict[str, str]:
    """MariaDB/MySQL: the table's text columns whose character set is single-byte (latin1, ascii …) or binary,
    → that character set. Such a column of a Japanese system holds CP932/EUC-JP bytes the server never knew
    as such (the classic vendor trap): read as text it arrives as mojibake (横浜市 → ‰¡•lŽs), every character
    of which is a valid JIS character, so nothing later could tell. {} for other dialects."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        return {}
    rows = conn.execute(sa.text(
        "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.CHARACTER_SET_NAME FROM information_schema.COLUMNS c "
        "JOIN information_schema.CHARACTER_SETS s ON s.CHARACTER_SET_NAME = c.CHARACTER_SET_NAME "
        "WHERE c.TABLE_SCHEMA = COALESCE(:s, DATABASE()) AND c.TABLE_NAME = :t AND s.MAXLEN = 1"),
        {"s": schema, "t": table}).all()
    exact = [r for r in rows if r[0] == table] or rows   # information_schema compares names without case
    return {r[1]: r[2] for r in exact}


def sql_ascii_text_columns(conn, tbl) -> dict[str, str]:
    """PostgreSQL: when the database's server_encoding is SQL_ASCII, the text columns of table `tbl` (strings of
    any kind: text, varchar, char, name, a domain over them, enums, json, xml) → their type. Such a database
    stores whatever bytes the vendor's application sent (CP932, EUC-JP) unchecked and unconverted: read as text
    they are no UTF-8 at all (psycopg hands them over as bytes, ADBC as Arrow strings that are not UTF-8), so
    they are read as bytes and decoded with the layout's encoding, like a MariaDB latin1 column
    (`single_byte_columns`). {} for other databases and dialects."""
    if conn.dialect.name != "postgresql" or conn.execute(sa.text(   # not SHOW: a snapshot's connection streams
            "SELECT current_setting('server_encoding')")).scalar() != "SQL_ASCII":   # (a server-side cursor)
        return {}
    rows = conn.execute(sa.text(
        "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE a.attrelid = to_regclass(:t) AND a.attnum > 0 AND NOT a.attisdropped "
        "AND (t.typcategory IN ('S', 'E') OR t.typname IN ('char', 'json', 'jsonb', 'xml'))"),
        {"t": conn.dialect.identifier_preparer.format_table(tbl)}).all()
    return {r[0]: r[1] for r in rows}


def as_stored_bytes(col: sa.ColumnElement) -> sa.ColumnElement:
    """A text column of a SQL_ASCII database as the bytes it stores, exactly: convert_to(…, 'SQL_ASCII') only
    checks for NUL there. Not `col::bytea`: that reads the text as bytea's own input syntax, where the byte
    0x5C (the second byte of CP932 ソ 表 能 …) starts an escape (`invalid input syntax for type bytea`). A
    CHAR(n) loses the blanks that pad it on the way to text, as it does when read as text."""
    return sa.func.convert_to(sa.cast(col, sa.Text), sa.literal_column("'SQL_ASCII'"), type_=sa.LargeBinary)


def _sql_ascii_encoding(layout: Layout, label: str, source_name: str, run_id: str) -> None:
    """A SQL_ASCII database's text is decoded with the layout's encoding: a Japanese one (cp932, euc_jp …)
    as meant; UTF-8 (an application that wrote UTF-8) with a warning, its bytes checked (a CP932 value is held,
    never garbled); any other encoding is refused: a single-byte one (latin-1, cp1252) makes a character of
    every byte, CP932 bytes become mojibake that passes every later check."""
    try:
        name = codecs.lookup(layout.encoding).name
    except LookupError:
        name = layout.encoding
    if japanese_encoding(name):
        return
    if name in ("utf-8", "utf-8-sig"):
        log.warning("source %s: table %s is in a SQL_ASCII database (the server stores the application's bytes "
                    "unchecked) and layout %s says %s: its text is read as bytes and decoded as UTF-8, a value "
                    "that is not UTF-8 held (extract.decode); if the legacy system wrote CP932 or EUC-JP, set the "
                    "layout's encoding to cp932 or euc_jp / 表 %s は SQL_ASCII のデータベース (サーバーはアプリ"
                    "ケーションのバイト列を検査せずに保存します) にあり、レイアウト %s の文字コードは %s です: "
                    "文字列はバイト列として読み UTF-8 で復号し、UTF-8 でない値は保留します。旧システムが CP932 "
                    "や EUC-JP で書いていたなら、レイアウトの encoding を cp932 または euc_jp にしてください",
                    source_name, label, layout.name, layout.encoding, label, layout.name, layout.encoding)
        return
    raise LayoutError(
        f"{source_name}: table {label} is in a SQL_ASCII PostgreSQL database, whose text is the legacy application's "
        f"own bytes (CP932, EUC-JP …) stored unchecked, and layout {layout.name} says encoding {layout.encoding}, "
        "which is not the encoding of a Japanese legacy system: decoded so, its Japanese text would become other "
        "characters that no later check can tell (set the layout's encoding to the system's: cp932, shift_jis, "
        "euc_jp, or utf-8)", run_id=run_id,
        ja=f"{source_name}: 表 {label} は SQL_ASCII の PostgreSQL データベースにあり、その文字列は旧システムの"
           f"アプリケーションが書いたバイト列 (CP932、EUC-JP など) のまま検査されずに保存されています。レイアウト "
           f"{layout.name} の文字コード {layout.encoding} は日本の旧システムの文字コードではなく、これで復号すると"
           "日本語が別の文字になり、後の検査でも見分けられません (レイアウトの encoding を旧システムの文字コード "
           "cp932・shift_jis・euc_jp・utf-8 のいずれかにしてください)")


# a legacy database connection cut while it is read, as the drivers word it (libpq through ADBC gives no
# SQLSTATE on a stream it lost): a retry reads the table again from the start
_CONNECTION_LOST = re.compile(
    r"terminating connection|server closed the connection|connection to server .*\b(lost|closed)\b"
    r"|no connection to the server|could not receive data from server|connection reset|broken pipe"
    r"|SSL SYSCALL error|SSL connection has been closed|lost connection to (MySQL|MariaDB) server"
    r"|MySQL server has gone away|接続を終了|サーバとの接続が(切れ|予期せず)|サーバーとの接続が(切れ|予期せず)"
    r"|connection refused|timeout expired|the database system is (starting up|shutting down|in recovery mode)",
    re.IGNORECASE)


def connection_lost(exc: BaseException) -> bool:
    """An ADBC/Arrow error (OSError, adbc_driver_manager.Error) that says the connection was cut mid-read
    (pg_terminate_backend, a server restart, a network drop) or the server is not there for now, not that
    the statement or the data is wrong."""
    return bool(_CONNECTION_LOST.search(str(exc)))


def _adbc_errors() -> tuple[type[BaseException], ...]:
    """The errors the ADBC reader raises besides OSError (the Arrow stream's), when ADBC is installed."""
    try:
        import adbc_driver_manager
    except ImportError:
        return ()
    return (adbc_driver_manager.Error,)


def _forget_unbuffered(cur) -> None:
    """pymysql's unbuffered (SSCursor) result of a connection that was cut, marked finished: otherwise its
    cursor's close and the garbage collector (after the task's retry) try to read the rest of the rows from
    the dead socket, and Python prints 'Exception ignored in MySQLResult.__del__ / SSCursor.close' with two
    tracebacks on stderr, outside --debug. Nothing for other drivers."""
    if cur is None or not type(cur).__module__.startswith("pymysql"):
        return
    res = getattr(cur, "_result", None)
    if res is not None and hasattr(res, "unbuffered_active"):
        res.unbuffered_active = False
        res.connection = None
    cur.connection = None


def _lost(source_name: str, label: str, detail: str, run_id: str) -> TransientError:
    """The one bilingual line of a legacy database that could not be reached or dropped the connection, for
    every reader (SQLAlchemy, ADBC): the extract task retries it."""
    return TransientError(f"{source_name}: cannot read {label}: the connection to the legacy database failed or "
                          f"was lost ({detail}); the extract is retried — if it keeps failing, check that the "
                          "database is up and reachable, then run again", run_id=run_id,
                          ja=f"{source_name}: 旧システムのデータベースに接続できないか、接続が切れました (表 {label}: "
                             f"{detail})。抽出は再試行されます。失敗が続く場合はデータベースの稼働とネットワークを"
                             "確認してから再実行してください")


def _database_error(exc: OperationalError, engine: sa.Engine, source_name: str, label: str,
                    run_id: str) -> ConfigError | TransientError:
    """What a SQLAlchemy OperationalError of a legacy database read becomes: a ConfigError when no retry can mend
    it (a wrong database, user or password), else the retried TransientError of a lost connection."""
    code = permanent_connect_code(exc)
    first = (str(exc.orig).strip().splitlines() or [""])[0]
    if code is None:
        return _lost(source_name, label, first, run_id)
    shown = engine.url.render_as_string()   # the password hidden
    return ConfigError(f"{source_name}: the legacy database {shown} refuses the connection "
                       f"({first if code in first else f'{code}: {first}'}): "
                       f"the database name, user or password in the url of source {source_name} is wrong "
                       "(retrying will not help; fix the url in the run config, or the login's rights)",
                       run_id=run_id,
                       ja=f"{source_name}: 旧システムのデータベース {shown} に接続できません ({code}: データベース名・"
                          "ユーザー・パスワードのいずれかが誤っています)。再試行しても直りません。実行設定のソース "
                          f"{source_name} の url (データベース名・ユーザー) とパスワード、ログインの権限を確認して"
                          "ください")


def _near_table(conn, table: str, schema: str | None) -> str | None:
    """A table whose name differs from `table` only in case (PostgreSQL folds an unquoted B_JUMIN to b_jumin
    when it is created; the extractor quotes the layout's name exactly), if the database has one."""
    try:
        names = sa.inspect(conn).get_table_names(schema=schema)
    except Exception:   # noqa: BLE001  (a hint only: a database that cannot list its tables gives none)
        return None
    near = sorted(n for n in names if n.lower() == table.lower() and n != table)
    return near[0] if near else None


def match_columns(names: list[str], actual: list[str], *, label: str, source_name: str, run_id: str) -> dict[str, str]:
    """Layout column → the table's column: the one of exactly that name, else the one that differs only in
    case when it is the only one (PostgreSQL folds unquoted names to lower case, MariaDB keeps them);
    several such and none exact is a LayoutError, never a guess that reads the wrong column."""
    exact = set(actual)
    folded: dict[str, list[str]] = {}
    for c in actual:
        folded.setdefault(c.lower(), []).append(c)
    out: dict[str, str] = {}
    missing, ambiguous = [], []
    for n in names:
        if n in exact:
            out[n] = n
        elif len(folded.get(n.lower(), [])) == 1:
            out[n] = folded[n.lower()][0]
        elif n.lower() in folded:
            ambiguous.append(f"{n} → {folded[n.lower()]}")
        else:
            missing.append(n)
    if missing:
        raise LayoutError(f"{source_name}: table {label} lacks layout columns {missing}", run_id=run_id,
                          ja=f"{source_name}: 表 {label} にレイアウトの列 {missing} がありません "
                             "(表の列名とレイアウトの列名を確認してください)")
    if ambiguous:
        raise LayoutError(f"{source_name}: table {label} has several columns that differ from a layout column only "
                          f"in case, none of exactly its name: {'; '.join(ambiguous)} (name the column exactly "
                          "in the layout)", run_id=run_id,
                          ja=f"{source_name}: 表 {label} に、レイアウトの列と大文字・小文字だけが異なる列が複数あり、"
                             f"名前が完全に一致する列がありません: {'; '.join(ambiguous)} "
                             "(レイアウトに列名を正確に書いてください)")
    return out


_LINE_BREAK_HINT = (" (この項目が改行を含んでよいなら、レイアウトの項目に line_breaks: true を指定してください)",
                    " (if the column may hold line breaks, set line_breaks: true on it in the layout)")


_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")   # pg_export_snapshot(): '00000003-0000001B-1'


def _snapshot_id(sid: str) -> str:
    """An exported snapshot id checked for its form before it is written into SET TRANSACTION SNAPSHOT."""
    if not _SNAPSHOT_ID.fullmatch(sid):
        raise ValueError(f"not a PostgreSQL snapshot id: {sid!r}")
    return sid


@dataclass
class Snapshot:
    """A legacy database as it was at one moment: the open read-only transaction of `conn`, on which each table
    of a source is probed and read by SQLAlchemy, and for PostgreSQL `id`, the snapshot that transaction
    exported, which each ADBC reader imports (its own connection: the COPY fast path is kept)."""
    engine: sa.Engine
    conn: sa.Connection
    id: str | None = None

    @property
    def label(self) -> str:
        """How the run's record names it (the source's extract metrics `snapshot`, run.log)."""
        return f"consistent snapshot {self.id}" if self.id else "consistent snapshot"


@contextmanager
def consistent_snapshot(url: str, *, source_name: str, label: str, run_id: str) -> Iterator[Snapshot | None]:
    """One snapshot of the legacy database at `url` for all the tables of a source, held until the block ends:
    a row committed by someone else after it began is in none of them, never in one table and not in the next
    (a 住民 row without its 異動 row). Each entry is a new snapshot (a retried extract reads all its tables anew).

    PostgreSQL: a REPEATABLE READ, READ ONLY transaction that exports its snapshot (pg_export_snapshot); it is
    idle while ADBC streams a table, so the session's idle_in_transaction_session_timeout is lifted for it.
    MariaDB/MySQL: START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY, every table read on its connection
    (consistent for InnoDB tables; a MyISAM table has no transactions and is read as it is at its own read).
    Other dialects (a DuckDB or SQLite file nobody writes during the run): None, each table read as before.
    A refused or lost connection is the ConfigError / TransientError of `extract_table`, naming `label`."""
    engine = read_only_engine(url)
    dialect = engine.dialect.name
    try:
        if dialect not in ("postgresql", "mysql", "mariadb"):
            yield None
            return
        try:
            conn = engine.connect()
            try:
                if dialect == "postgresql":
                    conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    sid = _snapshot_id(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar())
                    conn.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = 0")
                else:
                    conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    sid = None
            except BaseException:
                conn.close()
                raise
        except OperationalError as exc:
            raise _database_error(exc, engine, source_name, label, run_id) from exc
        try:
            yield Snapshot(engine, conn, sid)
        finally:
            conn.close()   # rolled back: nothing was written
    finally:
        engine.dispose()


def extract_table(url: str, table: str, layout: Layout, *, out_path: Path, source_name: str,
                  source_ordinal: int, run_id: str, schema: str | None = None,
                  batch_rows: int = BATCH_ROWS, method: str = "auto", dantai_code: str = "",
                  target_table: str = "", key_columns: list[str] | None = None,
                  unread_columns: Collection[str] = (), snapshot: Snapshot | None = None) -> ExtractResult:
    """Stream a vendor table to staging. method: "auto" (ADBC for PostgreSQL when installed,
    measured faster: bench/bench_extract.py), "adbc", or "dbapi" (SQLAlchemy, every dialect).

    Every value becomes text by its column's type (extractors.text); a value that is no valid date or
    whose bytes do not decode is held with its row number and column, as is a value holding a character
    that is not text (a C0/C1 control, NUL, and a line break: CR, LF, NEL, U+2028, U+2029, unless the
    layout column says `line_breaks`),
    as the file extractors do. Held rows carry `record_key` from `key_columns` (default: the layout's key).
    A table has no lines: `_source_line` is the row's position in the layout's key order (1-based).

    `unread_columns`: layout columns no mapping line reads (`not_migrated`, or unread): a table's columns are
    read one by one, so a value there that is no date or not text (a 備考 holding a line break) is listed as
    a warning and its row staged, never held: the person is not kept out of the target for a value that is
    not migrated. A key column is always checked.

    `snapshot` (`consistent_snapshot`): the table is probed and read in that snapshot of the database, with the
    source's other tables; its connection stays open (None: a connection of its own, closed at the end)."""
    t0 = time.perf_counter()
    keys = key_columns_of(layout, key_columns, source_name=source_name, run_id=run_id)
    engine = snapshot.engine if snapshot else read_only_engine(url)
    label = f"{schema}.{table}" if schema else table
    names = layout.names
    breaks = {c.name for c in layout.columns if c.line_breaks}
    unread = set(unread_columns) - set(keys or ()) - set(layout.key)
    checked, unchecked = split_unread(layout, unread)
    dbapi_cursor = None   # the SQLAlchemy reader's DB-API cursor, for `_forget_unbuffered`
    try:
        with nullcontext(snapshot.conn) if snapshot else engine.connect() as conn:
            # No reflection: it is not portable (duckdb_engine cannot reflect); a zero-row probe
            # tells which columns the vendor table really has.
            probe_tbl = sa.table(table, schema=schema)
            try:
                probed = conn.execute(sa.select(sa.text("*")).select_from(probe_tbl).where(sa.false()))
                actual = list(probed.keys())
                numeric_actual = _numeric(engine.dialect.name, probed.cursor.description if probed.cursor else None)
            except UnicodeDecodeError:   # psycopg reads a SQL_ASCII database's column names as ASCII
                raise LayoutError(
                    f"{source_name}: table {label} is in a SQL_ASCII database and has a column whose name is not "
                    "ASCII (the legacy application's own bytes): ikou cannot name it in its query; create a view "
                    "that gives such columns ASCII names (SELECT \"…\" AS SHIMEI …) and read that view",
                    run_id=run_id,
                    ja=f"{source_name}: 表 {label} は SQL_ASCII のデータベースにあり、列名が ASCII でない列 (旧シス"
                       "テムのバイト列のままの列名) があるため、その列を指定して読めません。そうした列に ASCII の別名"
                       "を付けたビュー (SELECT \"…\" AS SHIMEI …) を作り、そのビューを読んでください") from None
            except sa.exc.ProgrammingError as exc:
                conn.rollback()
                near = _near_table(conn, table, schema)
                hint = f"; did you mean {near!r}? (a table name is matched exactly, case included)" if near else ""
                raise LayoutError(f"{source_name}: table {label} not readable in "
                                  f"{engine.url.render_as_string()}: {str(exc.orig).splitlines()[0]}"
                                  f"{hint}", run_id=run_id,
                                  ja=f"{source_name}: 表 {label} を {engine.url.render_as_string()} で読めません "
                                     f"({str(exc.orig).splitlines()[0]})"
                                     + (f"; 大文字・小文字だけが異なる表 {near!r} があります (表名は大文字・小文字を"
                                        "含めて一致させます)" if near else "")
                                     + ": 表名・スキーマと接続先、読み取り権限を確認してください") from None
            _own_data_only(conn, probe_tbl, label, dantai_code, run_id)
            single_byte = single_byte_columns(conn, table, schema) if japanese_encoding(layout.encoding) else {}
            ascii_text = sql_ascii_text_columns(conn, probe_tbl)
            if ascii_text:
                _sql_ascii_encoding(layout, label, source_name, run_id)
            if snapshot is None:   # a snapshot's transaction lasts until the source's last table is read
                conn.rollback()
            real = match_columns(names, actual, label=label, source_name=source_name, run_id=run_id)
            numeric = [n for n in names if real[n] in numeric_actual]
            tbl = sa.table(table, *[sa.column(real[n]) for n in names], schema=schema)
            # a single-byte (latin1 …) column of a Japanese system is read as its bytes and decoded with the
            # layout's encoding like a binary column (undecodable bytes held, extract.decode), never as the
            # server's latin1 → UTF-8 conversion of CP932 bytes (mojibake that passes every later check)
            # so is every text column of a SQL_ASCII database (PostgreSQL): `as_stored_bytes`
            as_bytes = [n for n in names if real[n] in single_byte or real[n] in ascii_text]

            def read_as(n: str) -> sa.ColumnElement:
                c = tbl.c[real[n]]
                if real[n] in ascii_text:
                    return as_stored_bytes(c).label(real[n])
                return sa.cast(c, sa.LargeBinary).label(real[n]) if n in as_bytes else c

            cols = [read_as(n) for n in names]
            if ascii_text and as_bytes:
                listed = ", ".join(as_bytes)
                log.warning("source %s: table %s is in a SQL_ASCII database (the server stores the application's "
                            "bytes unchecked): its text column(s) %s are read as bytes and decoded as %s, the "
                            "layout's encoding / 表 %s は SQL_ASCII のデータベースにあります (サーバーはアプリケー"
                            "ションのバイト列を検査せずに保存します): 文字列の列 %s はバイト列として読み、レイアウト"
                            "の文字コード %s で復号します", source_name, label, listed, layout.encoding, label,
                            listed, layout.encoding)
            elif as_bytes:
                listed = ", ".join(f"{n} ({single_byte[real[n]]})" for n in as_bytes)
                log.warning("source %s: column(s) %s of table %s have a single-byte character set in the legacy "
                            "database: read as bytes and decoded as %s, the layout's encoding / 表 %s の列 %s は旧シス"
                            "テムで 1 バイト文字コードの列です: バイト列として読み、レイアウトの文字コード %s で"
                            "復号します", source_name, listed, label, layout.encoding, label, listed, layout.encoding)
            # read in the layout's key order: a row's `_source_line` (and a finding's source_line) is its position
            # in that order, 1-based, not a line of any file: the reports label it so (行（表はキー順の番号）) and a
            # held row names its key too (record_key)
            order = [tbl.c[real[k]] for k in layout.key if k in real] or cols[:1]
            stmt = sa.select(*cols).order_by(*order)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            base = row_id_base(source_ordinal)
            rows = 0
            use_adbc = method == "adbc" or (method == "auto" and engine.dialect.name == "postgresql"
                                            and _adbc_available())
            batches = None
            spec = [Column(c.name, c.ja, layout.encoding, layout.time_zone) for c in layout.columns]
            common = {"source_name": source_name, "table": label, "run_id": run_id}
            if use_adbc:
                if snapshot is None:
                    conn.rollback()
                sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))

                def typed(b: pa.RecordBatch) -> list[Rendered]:
                    out = []
                    for i, c in enumerate(spec):
                        pg_type = (b.schema.field(i).metadata or {}).get(b"POSTGRESQL:type", b"").decode() or None
                        c.type_name = pg_type or ""
                        out.append(render(b.column(i), c, pg_type=pg_type, **common))
                    return out

                batches = _adbc_batches(engine, sql, batch_rows, snapshot.id if snapshot else None)
                parts = (typed(b) for b in batches)
            else:
                _session(conn, layout)
                result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(stmt)
                dbapi_cursor = result.cursor
                for c, (kind, bits, type_name) in zip(spec, _declared(engine.dialect.name, result.cursor.description,
                                                                     layout)):
                    c.declared, c.bits, c.type_name = kind, bits, type_name
                # MariaDB TIMESTAMPs arrive in UTC (_session): the layout's wall time by the zone's rules
                zoned = {c.name for c in spec if c.type_name == "TIMESTAMP"} if engine.dialect.name in (
                    "mysql", "mariadb") else set()

                def values(v, c: Column) -> pa.Array:
                    arr = python_values(list(v), c, **common)
                    return _wall_time(arr, layout.time_zone) if c.name in zoned else arr

                parts = ([render(values(v, c), c, **common) for v, c in zip(zip(*part), spec)]
                         for part in result.partitions(batch_rows))

            def staged():
                """Each batch's columns made text → staging rows, the rows held out with their record_key."""
                nonlocal rows
                for texts in parts:
                    n = len(texts[0].text)
                    df = pl.from_arrow(pa.Table.from_arrays([t.text for t in texts], names=names)).with_columns(
                        pl.int_range(rows + 1, rows + n + 1, dtype=pl.Int64).alias("_line"))
                    found = [{"source_line": rows + 1 + h["index"], "column": c.name, **{k: v for k, v in h.items()
                                                                                        if k != "index"}}
                             for t, c in zip(texts, spec) for h in t.held]
                    noted = [not_held(f) for f in found if f["column"] in unread]
                    found = [f for f in found if f["column"] not in unread]
                    no_key = {rows + 1 + int(i) for k, t in zip(names, texts) if k in keys and t.unreadable is not None
                              for i in np.flatnonzero(t.unreadable)}
                    rows += n
                    ok = df.filter(~pl.col("_line").is_in([f["source_line"] for f in found])) if found else df
                    encodings = {c: t.decoded_as for c, t in zip(names, texts) if t.decoded_as}
                    likely.extend(t.likely_encoding for t in texts if t.likely_encoding)
                    ok, ctl = control_findings(ok, checked, "utf-8", line_breaks=breaks,
                                               line_break_hint=_LINE_BREAK_HINT, column_encodings=encodings)
                    found += ctl
                    if unread:   # the columns not migrated: what they hold is listed, the row stays
                        _, ctl = control_findings(ok, unchecked, "utf-8", line_breaks=breaks,
                                                  line_break_hint=_LINE_BREAK_HINT, column_encodings=encodings)
                        noted += [not_held(f) for f in ctl]
                    noted = collapse_not_held(noted)
                    if found or noted:
                        lines = [f["source_line"] for f in found + noted]
                        key_of = dict(df.filter(pl.col("_line").is_in(lines)).select(
                            "_line", key_expr(keys)).iter_rows()) if keys else {}
                        for f in found + noted:
                            line = f["source_line"]
                            f["record_key"] = None if line in no_key else key_of.get(line)
                        held.extend(found + noted)
                    yield to_staging(ok, layout, label, base)

            held: list[dict] = []
            likely: list[str] = []   # the encoding undecodable values read in (checks.likely_encoding), by batch
            try:
                sink_batches(staged(), staging_schema(layout), out_path)
            finally:
                if batches is not None:   # a run stopped mid-read (ColumnTypeError) closes its ADBC connection now
                    batches.close()
    except OperationalError as exc:   # a wrong database, user or password is not retried; a lost connection is
        _forget_unbuffered(dbapi_cursor)
        raise _database_error(exc, engine, source_name, label, run_id) from exc
    except (OSError, *_adbc_errors()) as exc:   # the ADBC reader (PostgreSQL): its connection cut mid-read
        if not connection_lost(exc):
            raise
        raise _lost(source_name, label, (str(exc).strip().splitlines() or [""])[0], run_id) from exc
    finally:
        if snapshot is None:   # a snapshot's engine serves the source's other tables
            engine.dispose()
    quarantine = quarantine_frame(held, run_id=run_id, dantai_code=dantai_code, target_table=target_table,
                                    origin=label, base=base)
    errors = quarantine.filter(pl.col("severity") == "error")
    return ExtractResult(source=source_name, origin=label, staging=out_path, rows_read=rows,
                         rows_ok=rows - errors["row_id"].n_unique(), quarantine=quarantine, sha256=None,
                         seconds=time.perf_counter() - t0,
                         extra={"reader": "adbc" if use_adbc else "sqlalchemy", "numeric_columns": numeric,
                                "byte_columns": as_bytes,
                                **({"likely_encoding": max(set(likely), key=likely.count)} if likely else {})})
