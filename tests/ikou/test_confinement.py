"""A config cannot make a run touch another 団体's data or paste text into SQL or paths: names match
strict patterns, source files lie in the 団体's inbox (symlinks resolved), the target schema is its
own, and a database source may not read another 団体's schema."""
from __future__ import annotations

import os

import pytest
import yaml

from ikou.config import load_config
from ikou.errors import ConfigError


def _write(tmp_path, **changes):
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / "JUMIN.csv").write_text("x\n", encoding="utf-8")
    cfg = {"spec_version": 1, "dantai": {"code": "999997", "name": "架空市"}, "gyomu": ["juki"], "rehearsal": "R1",
           "sources": [{"name": "jumin", "kind": "file", "path": "inbox/JUMIN.csv", "mapping": "m.yaml"}],
           "target": {"url": "duckdb:///t.duckdb"}, "runs_dir": "runs"}
    for key, value in changes.items():
        if key.startswith("source_"):
            cfg["sources"][0][key.removeprefix("source_")] = value
        elif key == "target_schema":
            cfg["target"]["schema"] = value
        else:
            cfg[key] = value
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def test_a_plain_config_loads_with_its_folder_as_inbox(tmp_path):
    cfg = load_config(_write(tmp_path))
    assert cfg.sources[0].path == tmp_path / "inbox" / "JUMIN.csv" and cfg.target_schema == "dantai_999997"


@pytest.mark.parametrize("schema", ['dantai_999997_"; DROP TABLE "dantai_131016"."juki_kojin_rireki"; COMMIT; --',
                                    "dantai_131016", "dantai_999997x", "DANTAI_999997", "public"])
def test_a_target_schema_other_than_the_own_dantai_pattern_is_refused(tmp_path, schema):
    with pytest.raises(ConfigError, match="target.schema|schema"):
        load_config(_write(tmp_path, target_schema=schema))


def test_a_declared_suffix_of_the_own_schema_is_allowed(tmp_path):
    assert load_config(_write(tmp_path, target_schema="dantai_999997_r3")).target_schema == "dantai_999997_r3"


@pytest.mark.parametrize("path", ["../../../dantai_b/JUMIN_131016.csv", "/etc/hostname", "inbox/../../x.csv"])
def test_a_source_file_outside_the_inbox_is_refused(tmp_path, path):
    with pytest.raises(ConfigError, match="outside the 団体's inbox|another 団体"):
        load_config(_write(tmp_path, source_path=path))


def test_a_symlink_in_the_inbox_pointing_out_of_it_is_refused(tmp_path):
    _write(tmp_path)
    os.symlink("/etc/hostname", tmp_path / "inbox" / "link.csv")
    with pytest.raises(ConfigError, match="outside the 団体's inbox"):
        load_config(_write(tmp_path, source_path="inbox/link.csv"))


def test_a_declared_inbox_confines_sources_to_it(tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "A.csv").write_text("x\n", encoding="utf-8")
    assert load_config(_write(tmp_path, inbox=[str(other)], source_path=str(other / "A.csv")))
    with pytest.raises(ConfigError, match="outside the 団体's inbox"):
        load_config(_write(tmp_path, inbox=[str(other)]))   # inbox/JUMIN.csv is no longer in it


def test_runs_dir_in_another_dantai_tree_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="runs_dir .* another 団体"):
        load_config(_write(tmp_path, runs_dir=str(tmp_path / "dantai_131016" / "runs")))


@pytest.mark.parametrize("change", [{"schema": "dantai_131016"}, {"table": "dantai_131016_juki"},
                                    {"table": 'B_JUMIN"; DROP TABLE x; --'}, {"schema": "a.b"}])
def test_a_database_source_may_not_read_another_dantai_or_carry_sql(tmp_path, change):
    source = {"name": "b", "kind": "database", "url": "duckdb:///legacy.duckdb", "table": "B_JUMIN",
              "mapping": "m.yaml", **change}
    with pytest.raises(ConfigError, match="sources.0"):
        load_config(_write(tmp_path, sources=[source]))


@pytest.mark.parametrize("change", [{"source_name": "../../x"}, {"rehearsal": "R1/../../x"}, {"gyomu": ["ju ki"]}])
def test_names_that_become_paths_match_a_strict_pattern(tmp_path, change):
    with pytest.raises(ConfigError):
        load_config(_write(tmp_path, **change))


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Ddantai_131016",
                                 "postgresql://postgres@127.0.0.1:5432/dantai_131016",
                                 "postgresql://u:pw@db.example/legacy?options=-c%20search_path%3Ddantai%5F131016",
                                 # PostgreSQL reads a setting's name in any case
                                 "postgresql://postgres@127.0.0.1:5432/test?options=-c%20SEARCH_PATH%3Ddantai_131016",
                                 "duckdb:///runs/131016/x.duckdb"])
def test_a_database_source_url_naming_another_dantai_is_refused(tmp_path, url):
    source = {"name": "b", "kind": "database", "url": url, "table": "juki_kojin_rireki", "mapping": "m.yaml"}
    with pytest.raises(ConfigError, match="sources.0.url"):
        load_config(_write(tmp_path, sources=[source]))


def test_a_file_database_source_lies_in_the_inbox(tmp_path):
    source = {"name": "b", "kind": "database", "url": "duckdb:////var/tmp/elsewhere.duckdb", "table": "T",
              "mapping": "m.yaml"}
    with pytest.raises(ConfigError, match="sources.0.url .* outside the 団体's inbox"):
        load_config(_write(tmp_path, sources=[source]))
    ok = {**source, "url": "duckdb:///inbox/legacy.duckdb"}
    assert load_config(_write(tmp_path, sources=[ok])).sources[0].url.endswith("inbox/legacy.duckdb")


def test_a_vendor_table_that_resolves_to_another_dantais_target_is_refused_by_the_database(postgres_url, tmp_path):
    """However the URL reached it (here a search_path the config check cannot see through: a schema
    named like no 団体), the schema PostgreSQL resolves the table to decides."""
    import sqlalchemy as sa

    from ikou.errors import IsolationError
    from ikou.extractors.database import extract_table
    from ikou.extractors.layout import Layout

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS dantai_131016 CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA dantai_131016"))
        conn.execute(sa.text("CREATE TABLE dantai_131016.people (atena_no text)"))
        conn.execute(sa.text("INSERT INTO dantai_131016.people VALUES ('0000000019')"))
    try:
        layout = Layout.model_validate({"spec_version": 1, "name": "x", "format": "table",
                                        "columns": [{"name": "atena_no", "ja": "宛名番号"}]})
        url = postgres_url + ("&" if "?" in postgres_url else "?") + "options=-csearch_path%3Ddantai_131016"
        with pytest.raises(IsolationError, match="131016"):
            extract_table(url, "people", layout, out_path=tmp_path / "x.parquet", source_name="b", source_ordinal=0,
                          run_id="r", dantai_code="999997")
        assert not (tmp_path / "x.parquet").exists()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA dantai_131016 CASCADE"))
        engine.dispose()


@pytest.mark.parametrize("url", ["duckdb:////tmp/runs/999687/target.duckdb", "duckdb:///../999687/t.duckdb",
                                 "postgresql://postgres@127.0.0.1:5432/dantai_999687",
                                 "postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Ddantai_999687"])
def test_a_target_url_naming_another_dantai_is_refused_in_the_file_and_as_an_override(tmp_path, url):
    from ikou.config import with_target_url
    from ikou.errors import IsolationError

    with pytest.raises(ConfigError, match="names 団体 999687"):
        load_config(_write(tmp_path, target={"url": url}))
    with pytest.raises(IsolationError, match="--target-url: target.url names 団体 999687"):
        with_target_url(load_config(_write(tmp_path)), url)



@pytest.mark.parametrize("url", ["duckdb:////tmp/x/t999687.duckdb", "postgresql://postgres@127.0.0.1:5432/db999687",
                                 "postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Ddantai999687"])
def test_a_target_url_carrying_another_dantais_code_inside_a_name_is_refused(tmp_path, url):
    with pytest.raises(ConfigError, match="names 団体 999687"):
        load_config(_write(tmp_path, target={"url": url}))


def test_a_target_file_reached_through_a_symlink_into_another_dantais_folder_is_refused(tmp_path):
    (tmp_path / "999687").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "999687")
    with pytest.raises(ConfigError, match="names 団体 999687"):
        load_config(_write(tmp_path, target={"url": f"duckdb:///{tmp_path / 'link' / 't.duckdb'}"}))


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:5432/test?options=-c%20statement_timeout%3D200000",
                                 "postgresql://postgres@migration-131016.example:5432/test",
                                 "postgresql://postgres@127.0.0.1:5432/test?connect_timeout=131016"])
def test_a_host_port_or_setting_that_happens_to_hold_six_digits_names_no_dantai(tmp_path, url):
    assert load_config(_write(tmp_path, target={"url": url})).target.url == url
