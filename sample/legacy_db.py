"""Stand up a vendor's legacy table in a real database from a CSV dump.

Vendors keep every column as text (VARCHAR), so the table is created with TEXT columns only and
the CSV is read with no type inference: leading zeros and 和暦 codes survive as they are. Used by
the demo (a DuckDB file) and by tests against MariaDB and PostgreSQL; the pipeline then reads the
table live, as it would read the vendor's production database.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl
import sqlalchemy as sa

CHUNK_ROWS = 100_000  # rows read from the CSV at a time
INSERT_ROWS = 1_000  # rows per multi-row INSERT statement (keeps MySQL packets small)


def install_vendor_table(csv_path: Path, url: str, table: str, schema: str | None = None) -> int:
    """(Re)create `table` with one TEXT column per CSV header column and load the rows.

    Empty CSV fields become NULL. PostgreSQL gets COPY (psycopg), DuckDB an Arrow insert, other
    databases multi-row INSERTs. Returns the number of rows loaded.
    """
    csv_path = Path(csv_path)
    lf = pl.scan_csv(csv_path, infer_schema=False, encoding="utf8")
    columns = lf.collect_schema().names()
    engine = sa.create_engine(url)
    if engine.dialect.name == "duckdb" and engine.url.database not in (None, "", ":memory:"):
        Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)   # a fresh checkout has no runs/
    try:
        md = sa.MetaData(schema=schema)
        tbl = sa.Table(table, md, *(sa.Column(c, sa.Text) for c in columns),
                       mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin")
        dialect = engine.dialect.name
        with engine.begin() as conn:
            if schema and dialect in ("postgresql", "duckdb", "mysql"):   # MariaDB: a schema is a database
                conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            tbl.drop(conn, checkfirst=True)
            tbl.create(conn)
        total = 0
        with engine.begin() as conn:
            for batch in lf.collect_batches(chunk_size=CHUNK_ROWS):
                if dialect == "postgresql":
                    _copy_postgres(conn, tbl, batch)
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


def _copy_postgres(conn: sa.Connection, tbl: sa.Table, batch: pl.DataFrame) -> None:
    """COPY … FROM STDIN in CSV: an unquoted empty field is NULL, as Polars writes nulls."""
    prep = conn.dialect.identifier_preparer
    cols = ", ".join(prep.quote(c.name) for c in tbl.columns)
    raw = conn.connection.driver_connection  # psycopg.Connection, same transaction
    with raw.cursor() as cur:
        with cur.copy(f"COPY {_qualified(conn, tbl)} ({cols}) FROM STDIN WITH (FORMAT csv)") as cp:
            cp.write(batch.write_csv(include_header=False).encode("utf-8"))


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
