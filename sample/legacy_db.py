"""Stand up a vendor's legacy table in a real database from a CSV dump.

Vendors keep every column as text (VARCHAR), so the table is created with TEXT columns only and
the CSV is read with no type inference: leading zeros and 和暦 codes survive as they are. Used by
the demo (a DuckDB file) and by tests against MariaDB and PostgreSQL; the pipeline then reads the
table live, as it would read the vendor's production database.

A PostgreSQL database created with ENCODING 'SQL_ASCII' (older vendor systems) stores the application's own
bytes unchecked: the rows go in as the bytes of `encoding` (cp932, euc_jp …), as the vendor's application wrote
them; without `encoding` such a database is refused in one line (a CSV's UTF-8 stored there would be read back
by the extract, with the layout's cp932, as other characters).
"""
from __future__ import annotations

from pathlib import Path

import polars as pl
import sqlalchemy as sa

CHUNK_ROWS = 100_000  # rows read from the CSV at a time
INSERT_ROWS = 1_000  # rows per multi-row INSERT statement (keeps MySQL packets small)


def install_vendor_table(csv_path: Path, url: str, table: str, schema: str | None = None,
                         encoding: str | None = None) -> int:
    """(Re)create `table` with one TEXT column per CSV header column and load the rows.

    Empty CSV fields become NULL. PostgreSQL gets COPY (psycopg), DuckDB an Arrow insert, other
    databases multi-row INSERTs. Returns the number of rows loaded. `encoding`: the bytes the rows are
    stored as in a SQL_ASCII PostgreSQL database (required there; other databases convert text themselves
    and do not use it).
    """
    csv_path = Path(csv_path)
    lf = pl.scan_csv(csv_path, infer_schema=False, encoding="utf8")
    columns = lf.collect_schema().names()
    engine = sa.create_engine(url)
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        from ikou.extractors.database import sql_ascii_strings   # SQLAlchemy's first look at a SQL_ASCII server

        sa.event.listen(engine, "connect", lambda dbapi_conn, _record: sql_ascii_strings(dbapi_conn), insert=True)
    if engine.dialect.name == "duckdb" and engine.url.database not in (None, "", ":memory:"):
        Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)   # a fresh checkout has no runs/
    try:
        md = sa.MetaData(schema=schema)
        tbl = sa.Table(table, md, *(sa.Column(c, sa.Text) for c in columns),
                       mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin")
        dialect = engine.dialect.name
        with engine.begin() as conn:
            stored_as = _sql_ascii(conn, engine, csv_path, [table, schema or "", *columns], encoding)
            if schema and dialect in ("postgresql", "duckdb", "mysql"):   # MariaDB: a schema is a database
                conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            tbl.drop(conn, checkfirst=True)
            tbl.create(conn)
        total = 0
        with engine.begin() as conn:
            for batch in lf.collect_batches(chunk_size=CHUNK_ROWS):
                if dialect == "postgresql":
                    _copy_postgres(conn, tbl, batch, stored_as, csv_path, total)
                elif dialect == "duckdb":
                    _insert_duckdb(conn, tbl, batch)
                else:
                    for start in range(0, batch.height, INSERT_ROWS):
                        part = batch.slice(start, INSERT_ROWS)
                        conn.execute(tbl.insert().values(part.to_dicts()))
                total += batch.height
        return total
    finally:
        engine.dispose()


def _qualified(conn: sa.Connection, tbl: sa.Table) -> str:
    prep = conn.dialect.identifier_preparer
    return prep.format_table(tbl)


def _sql_ascii(conn: sa.Connection, engine: sa.Engine, csv_path: Path, names: list[str],
               encoding: str | None) -> str:
    """The encoding the rows are written in: UTF-8, or `encoding` for a SQL_ASCII PostgreSQL database (which
    stores the bytes it is sent); such a database without `encoding` (or with no Japanese/UTF-8 one), or with
    a table or column name that is not ASCII (its session reads names as ASCII), is refused in one line."""
    from ikou.errors import ConfigError

    if conn.dialect.name != "postgresql" or conn.execute(sa.text(
            "SELECT current_setting('server_encoding')")).scalar() != "SQL_ASCII":
        return "utf-8"
    import codecs

    from ikou.extractors.database import japanese_encoding

    shown = engine.url.render_as_string()   # the password hidden
    try:
        ok = encoding is not None and (japanese_encoding(encoding) or codecs.lookup(encoding).name == "utf-8")
    except LookupError:
        ok = False
    if not ok:
        en, ja = (("no encoding is given", "文字コードの指定がありません") if encoding is None else
                  (f"encoding {encoding!r} is no Japanese legacy encoding", f"文字コード {encoding!r} は日本の旧システムの"
                   "文字コードではありません"))
        raise ConfigError(
            f"{csv_path}: the database {shown} is a SQL_ASCII PostgreSQL database, which stores the bytes it is sent "
            f"unchecked, and {en}: pass encoding='cp932' (or 'euc_jp', 'utf-8') to store the rows as the legacy "
            "application would",
            ja=f"{csv_path}: データベース {shown} は SQL_ASCII の PostgreSQL データベースで、送られたバイト列を検査"
               f"せずに保存しますが、{ja}。encoding='cp932' (または 'euc_jp'、'utf-8') を指定してください")
    bad = [n for n in names if not n.isascii()]
    if bad:
        raise ConfigError(f"{csv_path}: the database {shown} is a SQL_ASCII PostgreSQL database: the table and "
                          f"column names must be ASCII, not {bad}",
                          ja=f"{csv_path}: データベース {shown} は SQL_ASCII の PostgreSQL データベースのため、表名・列名は "
                             f"ASCII にしてください ({bad})")
    return encoding


def _encoded(text: str, batch: pl.DataFrame, encoding: str, csv_path: Path, first_row: int) -> bytes:
    """The batch's CSV text as `encoding`; a character it lacks is a ConfigError naming the CSV's line and column."""
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        pass
    from ikou.errors import ConfigError

    for c in batch.columns:   # only to name the place: the batch is not stored
        for i, v in enumerate(batch[c].to_list()):
            try:
                (v or "").encode(encoding)
            except UnicodeEncodeError as exc:
                line = first_row + i + 2   # the header is line 1
                raise ConfigError(f"{csv_path}: line {line}, column {c}: a character that {encoding} does not "
                                  f"have (character {exc.start + 1} of the value)",
                                  ja=f"{csv_path}: {line} 行目の列 {c} に {encoding} にない文字があります "
                                     f"(値の {exc.start + 1} 文字目)") from None
    raise AssertionError("unreachable")


def _copy_postgres(conn: sa.Connection, tbl: sa.Table, batch: pl.DataFrame, encoding: str = "utf-8",
                   csv_path: Path | None = None, first_row: int = 0) -> None:
    """COPY … FROM STDIN in CSV: an unquoted empty field is NULL, as Polars writes nulls. `encoding`: the bytes
    sent (`_sql_ascii`); CSV's own bytes (, " newline) are ASCII, never part of a CP932/EUC-JP character."""
    prep = conn.dialect.identifier_preparer
    cols = ", ".join(prep.quote(c.name) for c in tbl.columns)
    raw = conn.connection.driver_connection  # psycopg.Connection, same transaction
    data = _encoded(batch.write_csv(include_header=False), batch, encoding, csv_path, first_row)
    with raw.cursor() as cur:
        with cur.copy(f"COPY {_qualified(conn, tbl)} ({cols}) FROM STDIN WITH (FORMAT csv)") as cp:
            cp.write(data)


def _insert_duckdb(conn: sa.Connection, tbl: sa.Table, batch: pl.DataFrame) -> None:
    """DuckDB reads the Arrow batch directly: no per-row parameters."""
    raw = conn.connection.driver_connection
    arrow = batch.to_arrow()
    raw.register("_ikou_batch", arrow)
    try:
        raw.execute(f"INSERT INTO {_qualified(conn, tbl)} SELECT * FROM _ikou_batch")
    finally:
        raw.unregister("_ikou_batch")


def install_vendor_c(folder: Path, url: str, schema: str | None = None) -> dict[str, int]:
    """Vendor C's normalized database: every table of `folder` (vendor_c/<TABLE>.csv) → rows loaded."""
    from ikou.sample.vendor_c import TABLES

    return {t: install_vendor_table(Path(folder) / f"{t}.csv", url, t, schema=schema) for t in TABLES}
