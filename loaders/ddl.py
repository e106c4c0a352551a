"""Target DDL from the schema YAML, through SQLAlchemy, so one declaration serves every database."""
from __future__ import annotations

import sqlalchemy as sa

from ikou.schema import Column, TargetSchema

SA_TYPES = {"text": sa.Text, "integer": sa.BigInteger, "date": sa.Text, "decimal": sa.Numeric}


def sa_type(column: Column) -> sa.types.TypeEngine:
    """A column's SQL type: a decimal as NUMERIC(precision, scale), never a bare NUMERIC (DuckDB's
    DECIMAL(18,3), which rounds 0.0001 to 0.000); ikou.schema makes every decimal declare its scale."""
    if column.type == "decimal":
        return sa.Numeric(column.digits, column.scale)
    return SA_TYPES[column.type]()


def sa_tables(schema: TargetSchema, db_schema: str, names: list[str]) -> dict[str, sa.Table]:
    md = sa.MetaData(schema=db_schema)
    out = {}
    for name in names:
        t = schema.resolved_table(name)
        cols = [sa.Column(c.name, sa_type(c), nullable=not (c.required or c.name in t.primary_key),
                          comment=c.ja)
                for c in t.columns]
        out[name] = sa.Table(name, md, *cols, sa.PrimaryKeyConstraint(*t.primary_key), comment=t.ja)
    out["ikou_load_log"] = sa.Table(
        "ikou_load_log", md,
        sa.Column("run_id", sa.Text, nullable=False), sa.Column("table_name", sa.Text, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False), sa.Column("loaded_at", sa.Text, nullable=False),
        comment="ikou 移行ロード記録",
    )
    return out
