"""Vendor tables read live through SQLAlchemy, streamed in bounded batches to Parquet.

Every column is staged as text, whatever the vendor's type: identifiers keep their leading zeros
and dates are converted deliberately in the mapping, never by type inference.
"""
from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from ikou.extractors.layout import Layout
from ikou.extractors.checks import control_findings
from ikou.extractors.csv_file import quarantine_frame, staging_schema, to_staging
from ikou.staging import row_id_base, sink_batches
from ikou.extractors.result import ExtractResult
from ikou.errors import LayoutError, TransientError

BATCH_ROWS = 100_000


def _adbc_available() -> bool:
    try:
        import adbc_driver_postgresql.dbapi  # noqa: F401
    except ImportError:
        return False
    return True


def _adbc_uri(engine: sa.Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _adbc_batches(engine: sa.Engine, sql: str, batch_rows: int):
    """PostgreSQL rows as Arrow record batches through ADBC (COPY binary under the hood)."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(_adbc_uri(engine)) as conn, conn.cursor() as cur:
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


def _as_text(values: list, name: str) -> pa.Array:
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pc.cast(pa.array(values), pa.string())


def extract_table(url: str, table: str, layout: Layout, *, out_path: Path, source_name: str,
                  source_ordinal: int, run_id: str, schema: str | None = None,
                  batch_rows: int = BATCH_ROWS, method: str = "auto", dantai_code: str = "",
                  target_table: str = "") -> ExtractResult:
    """Stream a vendor table to staging. method: "auto" (ADBC for PostgreSQL when installed,
    measured faster: bench/bench_extract.py), "adbc", or "dbapi" (SQLAlchemy, every dialect).

    A value holding a character that is not text (a C0/C1 control other than a line break, NUL) is
    held with its row number and column (extract.control_char …), as the file extractors do."""
    t0 = time.perf_counter()
    engine = sa.create_engine(url)
    label = f"{schema}.{table}" if schema else table
    try:
        with engine.connect() as conn:
            # No reflection: it is not portable (duckdb_engine cannot reflect); a zero-row probe
            # tells which columns the vendor table really has, matched case-insensitively.
            probe_tbl = sa.table(table, schema=schema)
            try:
                actual = list(conn.execute(sa.select(sa.text("*")).select_from(probe_tbl).where(sa.false())).keys())
            except sa.exc.ProgrammingError as exc:
                raise LayoutError(f"{source_name}: table {label} not readable in "
                                  f"{engine.url.render_as_string()}: {str(exc.orig).splitlines()[0]}",
                                  run_id=run_id) from None
            _own_data_only(conn, probe_tbl, label, dantai_code, run_id)
            conn.rollback()
            by_lower = {c.lower(): c for c in actual}
            missing = [n for n in layout.names if n.lower() not in by_lower]
            if missing:
                raise LayoutError(f"{source_name}: table {label} lacks layout columns {missing}", run_id=run_id)
            tbl = sa.table(table, *[sa.column(by_lower[n.lower()]) for n in layout.names], schema=schema)
            cols = [tbl.c[by_lower[n.lower()]] for n in layout.names]
            order = [tbl.c[by_lower[k.lower()]] for k in layout.key] or cols[:1]
            stmt = sa.select(*cols).order_by(*order)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            base = row_id_base(source_ordinal)
            rows = 0
            use_adbc = method == "adbc" or (method == "auto" and engine.dialect.name == "postgresql"
                                            and _adbc_available())
            if use_adbc:
                conn.rollback()
                sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
                parts = ([pc.cast(b.column(i), pa.string()) for i in range(len(layout.names))]
                         for b in _adbc_batches(engine, sql, batch_rows))
            else:
                result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(stmt)
                parts = ([_as_text(list(c), name) for c, name in zip(zip(*part), layout.names)]
                         for part in result.partitions(batch_rows))

            def staged():
                """Text columns of each batch + their row numbers → staging rows, as the file extractors write them."""
                nonlocal rows
                for texts in parts:
                    n = len(texts[0])
                    df = pl.from_arrow(pa.Table.from_arrays(texts, names=layout.names)).with_columns(
                        pl.int_range(rows + 1, rows + n + 1, dtype=pl.Int64).alias("_line"))
                    rows += n
                    df, found = control_findings(df, layout, "utf-8", line_breaks=True)
                    held.extend(found)
                    yield to_staging(df, layout, label, base)

            held: list[dict] = []

            sink_batches(staged(), staging_schema(layout), out_path)
    except OperationalError as exc:
        raise TransientError(f"{source_name}: cannot read {label}: {exc.orig}", run_id=run_id) from exc
    finally:
        engine.dispose()
    quarantine = quarantine_frame(held, run_id=run_id, dantai_code=dantai_code, target_table=target_table,
                                    origin=label, base=base)
    return ExtractResult(source=source_name, origin=label, staging=out_path, rows_read=rows,
                         rows_ok=rows - quarantine["row_id"].n_unique(), quarantine=quarantine, sha256=None,
                         seconds=time.perf_counter() - t0,
                         extra={"reader": "adbc" if use_adbc else "sqlalchemy"})
