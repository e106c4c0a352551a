"""A PostgreSQL URL's query values reach libpq (ADBC) as written: SQLAlchemy renders a space as `+`, which libpq
keeps, so `options=-c%20statement_timeout%3D5000` reached the server as `-c+statement_timeout=5000` and the
target was reported unreachable. Every `-c` setting the config allows must work written with a space."""
from __future__ import annotations

from urllib.parse import quote

import adbc_driver_postgresql.dbapi as adbc
import pytest

from ikou.config import _PG_OPTION_SETTINGS, libpq_uri, url_parameter_problem

# a value each allowed setting takes, and what current_setting() then says
SETTINGS = {"search_path": ("public", "public"), "statement_timeout": ("5000", "5s"), "lock_timeout": ("100", "100ms"),
            "idle_in_transaction_session_timeout": ("60000", "1min"), "idle_session_timeout": ("60000", "1min"),
            "work_mem": ("8MB", "8MB"), "maintenance_work_mem": ("16MB", "16MB"),
            "default_transaction_read_only": ("on", "on")}


def _setting(uri: str, name: str) -> str:
    with adbc.connect(uri) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT current_setting('{name}')")
        return cur.fetchone()[0]


def test_every_allowed_setting_has_a_value_here():
    assert set(SETTINGS) == set(_PG_OPTION_SETTINGS)


@pytest.mark.parametrize("name", sorted(SETTINGS))
@pytest.mark.parametrize("spelling", ["%20", "+", " "])
def test_an_allowed_option_written_with_a_space_reaches_the_server(postgres_url, name, spelling):
    value, shown = SETTINGS[name]
    url = f"{postgres_url}?options=-c{spelling}{name}%3D{quote(value)}"
    assert url_parameter_problem(url) is None
    assert _setting(libpq_uri(url), name) == shown


def test_a_plus_and_a_space_in_a_value_stay_what_they_are(postgres_url):
    assert _setting(libpq_uri(f"{postgres_url}?application_name=ikou%2Bops%20a"),
                    "application_name") == "ikou+ops a"   # PostgreSQL keeps ASCII only here


def test_user_password_and_database_are_percent_encoded():
    assert libpq_uri("postgresql://u:pw@h:5/db") == "postgresql://u:pw@h:5/db"
    assert libpq_uri("postgresql+psycopg://u%40x:p%40w%20%2B%25@[::1]:5/d%20b") == \
        "postgresql://u%40x:p%40w%20%2B%25@[::1]:5/d%20b"
    assert libpq_uri("postgresql://u@h/db?options=-c%20lock_timeout%3D1&sslmode=prefer") == \
        "postgresql://u@h/db?options=-c%20lock_timeout%3D1&sslmode=prefer"
