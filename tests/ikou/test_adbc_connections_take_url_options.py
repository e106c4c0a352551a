"""The target's and the extraction's ADBC connections take a URL's `options=-c%20…` (libpq_uri): rendered by
SQLAlchemy the space became `+` and both failed, the target as "unreachable" (a transient error, retried)."""
from __future__ import annotations

from ikou.extractors.database import adbc_connect, read_only_engine
from ikou.loaders.postgres_target import PostgresTarget

OPTIONS = "?options=-c%20statement_timeout%3D5000%20-c%20lock_timeout%3D100&application_name=ikou%2Bops%20t"
WANT = [("5s", "100ms", "ikou+ops t")]
SHOW = "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), current_setting('application_name')"


def test_the_target_connects_with_the_urls_session_settings(postgres_url):
    conn = PostgresTarget(postgres_url + OPTIONS)._connect("R1-999750")
    try:
        with conn.cursor() as cur:
            cur.execute(SHOW)
            assert cur.fetchall() == WANT
    finally:
        conn.close()


def test_extraction_connects_with_the_urls_session_settings(postgres_url):
    engine = read_only_engine(postgres_url + OPTIONS)
    try:
        with adbc_connect(engine) as conn, conn.cursor() as cur:
            cur.execute(SHOW)
            assert cur.fetchall() == WANT
    finally:
        engine.dispose()
