"""A legacy database that does not exist, or a login it refuses, is a configuration error naming the source
(JP + EN), not a transient one retried for nothing; a refused connection (server down) stays transient."""
from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from ikou.errors import ConfigError, TransientError, message_ja
from ikou.extractors import load_layout
from ikou.extractors.database import extract_table, permanent_connect_code
from ikou.flows.server import free_port
from ikou import REPO_ROOT
from tests.conftest import random_tag

LAYOUT = REPO_ROOT / "specs" / "vendors" / "vendor_b" / "layouts" / "b_zei_kojo.yaml"


def _extract(url: str, tmp_path):
    return extract_table(url, "B_ZEI_KOJO", load_layout(LAYOUT), out_path=tmp_path / "x.parquet",
                         source_name="vendor_b_kojo", source_ordinal=1, run_id="r")


def _refused(url: str, tmp_path) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        _extract(url, tmp_path)
    assert not isinstance(e.value, TransientError)
    assert "vendor_b_kojo" in str(e.value) and "retrying will not help" in str(e.value)
    ja = message_ja(e.value)
    assert "vendor_b_kojo" in ja and "再試行しても直りません" in ja and "url" in ja, ja
    return e.value


def test_an_unknown_mariadb_database_is_a_config_error_naming_the_source(mariadb_url, tmp_path):
    err = _refused(make_url(mariadb_url).set(database=f"nodb_{random_tag()}").render_as_string(False), tmp_path)
    assert "1049" in str(err) and "1049" in message_ja(err)


def test_a_mariadb_login_refused_is_a_config_error_and_hides_the_password(mariadb_url, tmp_path):
    url = make_url(mariadb_url).set(username=f"nouser_{random_tag()}", password="s3cretfx")
    err = _refused(url.render_as_string(False), tmp_path)
    # MariaDB answers an unknown user with 1045 (access denied) or, by its auth plugin, 1698
    assert ("1045" in str(err) or "1698" in str(err)) and "s3cretfx" not in str(err) + message_ja(err)


def test_an_unknown_postgres_database_or_role_is_a_config_error(postgres_url, tmp_path):
    err = _refused(make_url(postgres_url).set(database=f"nodb_{random_tag()}").render_as_string(False), tmp_path)
    assert "3D000" in str(err)
    err = _refused(make_url(postgres_url).set(username=f"nouser_{random_tag()}").render_as_string(False), tmp_path)
    assert "28000" in str(err)


@pytest.mark.parametrize("which", ["postgres", "mariadb"])
def test_a_refused_connection_stays_transient(which, postgres_url, mariadb_url, tmp_path):
    url = make_url(postgres_url if which == "postgres" else mariadb_url).set(host="127.0.0.1", port=free_port())
    with pytest.raises(TransientError):
        _extract(url.render_as_string(False), tmp_path)


class _PgError(Exception):
    sqlstate = None


@pytest.mark.parametrize("text,code", [
    ('connection failed: connection to server at "h", port 5432 failed: FATAL:  password authentication failed '
     'for user "u"', "28P01"),
    ('connection to server at "h", port 5432 failed: FATAL:  データベース"legacy"は存在しません', "3D000"),
    ('connection to server at "h", port 5432 failed: FATAL:  ロール"u"は存在しません', "28000"),
    ('connection to server at "h", port 5432 failed: FATAL:  ユーザー"u"のパスワード認証に失敗しました', "28P01"),
    ('connection to server at "h", port 5432 failed: FATAL:  no pg_hba.conf entry for host "1.2.3.4"', "28000"),
    ('connection to server at "h", port 5432 failed: Connection refused', None),
    ('connection to server at "h", port 5432 failed: timeout expired', None),
    ('connection to server at "h", port 5432 failed: FATAL:  the database system is starting up', None),
])
def test_libpq_connection_failures_without_sqlstate_are_classified_by_the_servers_words(text, code):
    """libpq gives a failed connection no SQLSTATE; a server printing Japanese (lc_messages) is read too."""
    assert permanent_connect_code(_PgError(text)) == code


def test_a_sqlstate_or_driver_code_decides_when_the_driver_gives_one():
    e = _PgError("whatever the words")
    e.sqlstate = "28P01"
    assert permanent_connect_code(e) == "28P01"
    assert permanent_connect_code(Exception(2003, "Can't connect to MySQL server ([Errno 111] Connection refused)")) \
        is None
    assert permanent_connect_code(Exception(1049, "Unknown database 'x'")) == "1049"
