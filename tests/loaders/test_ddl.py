"""Target DDL (loaders/ddl.py) comes from the schema YAML: keys and required columns are NOT NULL."""
from __future__ import annotations

import sqlalchemy as sa

from ikou import REPO_ROOT
from ikou.loaders.ddl import sa_tables
from ikou.schema import load_schema

SCHEMA = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")


def test_tables_follow_the_schema_with_primary_key_and_not_null():
    tables = sa_tables(SCHEMA, "dantai_999997", ["juki_kojin_rireki", "juki_setai"])
    assert set(tables) == {"juki_kojin_rireki", "juki_setai", "ikou_load_log"}
    t = tables["juki_kojin_rireki"]
    assert t.schema == "dantai_999997"
    assert [c.name for c in t.primary_key.columns] == ["atena_no", "rireki_no"]
    assert [c.name for c in t.columns] == [c.name for c in SCHEMA.tables["juki_kojin_rireki"].columns]
    assert t.c.shimei.nullable is False          # required
    assert t.c.kojin_no.nullable is True         # optional
    assert isinstance(t.c.rireki_no.type, sa.BigInteger)
    assert isinstance(t.c.seinengappi.type, sa.Text)   # dates stay text (不詳 00)
    assert t.c.atena_no.comment == "宛名番号"
    setai = tables["juki_setai"]
    assert [c.name for c in setai.primary_key.columns] == ["setai_no"]
    assert isinstance(setai.c.setaiin_su.type, sa.BigInteger)
