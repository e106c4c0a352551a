"""A database URL's query reaches the driver as written, so only an allow-list of harmless keys per dialect
passes the config check (security probe 1/3, legacydb probe 3): pymysql's `init_command` runs SQL,
`read_default_file`/`read_default_group` read a my.cnf the config names, libpq's `service` picks the
database from pg_service.conf, `options=-c role=…` changes whose rights the session has. The refusal names
the key and where it is, in Japanese and English."""
from __future__ import annotations

import pytest
import yaml

from ikou.config import load_config, with_target_url
from ikou.errors import ConfigError, message_ja, one_line

OWN = "999717"


def _write(tmp_path, *, source_url: str | None = None, target_url: str = "duckdb:///t.duckdb"):
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / "JUMIN.csv").write_text("x\n", encoding="utf-8")
    source = ({"name": "b", "kind": "database", "url": source_url, "table": "B_JUMIN", "mapping": "m.yaml"}
              if source_url else {"name": "a", "kind": "file", "path": "inbox/JUMIN.csv", "mapping": "m.yaml"})
    cfg = {"spec_version": 1, "dantai": {"code": OWN, "name": "架空市"}, "gyomu": ["juki"], "rehearsal": "R1",
           "sources": [source], "target": {"url": target_url}, "runs_dir": "runs"}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


MYSQL = "mysql+pymysql://root@127.0.0.1:3306/legacy_own"
PG = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.mark.parametrize("url, key", [
    (MYSQL + "?init_command=CREATE%20TABLE%20legacy_own.pwned%20(x%20int)", "init_command"),
    (MYSQL + "?charset=utf8mb4&init%5Fcommand=SELECT%201", "init_command"),   # percent-encoded key, after a good one
    (MYSQL + "?read_default_file=/tmp/security/my.cnf", "read_default_file"),
    (MYSQL + "?init_command=" + "SELECT%201%3B" * 40, "init_command"),   # named as such, not as an over-long path
    (MYSQL + "?read_default_group=client", "read_default_group"),
    (MYSQL + "?local_infile=1", "local_infile"),
    (MYSQL + "?client_flag=65536", "client_flag"),
    ("mariadb+pymysql://root@127.0.0.1:3306/legacy_own?autocommit=true", "autocommit"),
    (PG + "?service=legacy_own", "service"),
    ("duckdb:///inbox/legacy.duckdb?allow_unsigned_extensions=true", "allow_unsigned_extensions"),
])
def test_a_source_url_parameter_not_on_the_allow_list_is_refused_naming_key_and_source(tmp_path, url, key):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, source_url=url))
    en, ja = one_line(e.value), message_ja(e.value)
    assert "sources.0.url" in en and repr(key) in en, en
    assert "sources.0.url" in ja and f"パラメータ {key} は使えません" in ja and "SQL の実行" in ja, ja


@pytest.mark.parametrize("url, key", [(PG + "?service=legacy_own", "service"),
                                      (PG + "?options=-c%20role%3Dikou_dantai_other", "role"),
                                      (PG + "?options=-csession_authorization%3Dpostgres", "session_authorization"),
                                      ("duckdb:///t.duckdb?access_mode=read_only", "access_mode")])
def test_a_target_url_parameter_not_on_the_allow_list_is_refused_in_the_file_and_as_an_override(tmp_path, url, key):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, target_url=url))
    assert "target.url" in one_line(e.value) and key in one_line(e.value) and key in message_ja(e.value)
    with pytest.raises(ConfigError) as e:
        with_target_url(load_config(_write(tmp_path)), url)
    assert one_line(e.value).startswith("--target-url") and key in message_ja(e.value), message_ja(e.value)


@pytest.mark.parametrize("url", [MYSQL + "?charset=utf8mb4", MYSQL + "?password=pw",
                                 MYSQL + "?charset=utf8mb4&connect_timeout=10&ssl_ca=/etc/ca.pem",
                                 PG + "?sslmode=require&application_name=ikou&connect_timeout=5",
                                 PG + "?options=-c%20statement_timeout%3D200000",
                                 PG + "?options=-csearch_path%3Dlegacy%20-c%20lock_timeout%3D5s",
                                 "postgresql://postgres@/test?host=/var/run/postgresql",
                                 PG + "?password=pw&sslmode=disable", "duckdb:///inbox/legacy.duckdb?access_mode=read_only"])
def test_harmless_connection_parameters_still_load(tmp_path, url):
    assert load_config(_write(tmp_path, source_url=url)).sources[0].url.endswith(url.split("?", 1)[1])


def test_a_refusal_never_repeats_a_parameters_value(tmp_path):
    url = MYSQL + "?init_command=SET%20PASSWORD%20%3D%20%27S3cretPW%27"
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, source_url=url))
    assert "S3cretPW" not in one_line(e.value) and "S3cretPW" not in message_ja(e.value)
