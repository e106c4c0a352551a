"""install_vendor_table puts vendor B's dump into real databases with every value intact."""
from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from ikou.sample.legacy_db import install_vendor_table
from tests.conftest import random_tag

SERVERS = {
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
    "postgres": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
}


def _engine_or_skip(name: str) -> sa.Engine:
    engine = sa.create_engine(SERVERS[name])
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        reason = f"{name} at {SERVERS[name]} is unreachable: {exc.orig}"
        if os.environ.get("IKOU_REQUIRE_SERVICES") == "1":
            pytest.fail(f"IKOU_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    return engine


def _roundtrip(engine: sa.Engine, url: str, sample, table: str) -> None:
    csv_path = sample.root / "vendor_b" / "B_JUMIN.csv"
    q = engine.dialect.identifier_preparer.quote
    try:
        assert install_vendor_table(csv_path, url, table) == sample.b.height
        # a second install replaces the table instead of appending
        assert install_vendor_table(csv_path, url, table) == sample.b.height
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {q(table)}")).scalar() == sample.b.height
            names = conn.execute(sa.text(
                f"SELECT {q('NAME_KANJI')} FROM {q(table)} WHERE {q('KOJIN_ID')} IN :ids"
            ).bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": sample.b.filter(sample.b["NAME_KANJI"].str.contains("邉\U000e0119|\U00020bb7|[\uf100-\uf109]"))
                 ["KOJIN_ID"].unique().to_list()}).scalars().all()
            ids = conn.execute(sa.text(f"SELECT {q('KOJIN_ID')} FROM {q(table)}")).scalars().all()
            nulls = conn.execute(sa.text(f"SELECT COUNT(*) FROM {q(table)} WHERE {q('KATAGAKI')} IS NULL")).scalar()
            empties = conn.execute(sa.text(f"SELECT COUNT(*) FROM {q(table)} WHERE {q('KATAGAKI')} = ''")).scalar()
        joined = "".join(n for n in names if n)
        assert "邉\U000e0119" in joined  # IVS kept with its base
        assert "\U00020bb7" in joined  # Extension B (4 bytes in UTF-8)
        assert any("\uf100" <= c <= "\uf109" for c in joined)  # vendor B's 外字 (PUA)
        assert sorted(ids) == sorted(sample.b["KOJIN_ID"].to_list())  # leading zeros intact
        assert any(i.startswith("0") for i in ids)
        assert nulls == sample.b["KATAGAKI"].null_count() > 0 and empties == 0
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {q(table)}"))
        engine.dispose()


@pytest.mark.mariadb
def test_install_vendor_table_roundtrips_into_mariadb(sample):
    engine = _engine_or_skip("mariadb")
    _roundtrip(engine, SERVERS["mariadb"], sample, f"b_jumin_{random_tag(10)}")


@pytest.mark.postgres
def test_install_vendor_table_roundtrips_into_postgres(sample):
    engine = _engine_or_skip("postgres")
    _roundtrip(engine, SERVERS["postgres"], sample, f"b_jumin_{random_tag(10)}")


def test_install_vendor_table_roundtrips_into_a_duckdb_file(sample, tmp_path):
    url = f"duckdb:///{tmp_path / 'legacy.duckdb'}"
    _roundtrip(sa.create_engine(url), url, sample, "B_JUMIN")


def test_install_vendor_table_creates_only_text_columns(sample, tmp_path):
    url = f"duckdb:///{tmp_path / 'types.duckdb'}"
    install_vendor_table(sample.root / "vendor_b" / "B_JUMIN.csv", url, "B_JUMIN", schema="legacy")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        types = conn.execute(sa.text(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'legacy' AND table_name = 'B_JUMIN' ORDER BY ordinal_position")).all()
    engine.dispose()
    assert [c for c, _ in types] == sample.cols_b
    assert {t for _, t in types} == {"VARCHAR"}
