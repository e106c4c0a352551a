"""Run configuration (ikou/config.py): strict keys, paths relative to the file, valid 団体コード."""
from __future__ import annotations

from pathlib import Path

import pytest

from ikou import REPO_ROOT
from ikou.checkdigit import is_valid_dantai_code, lgcode_check_digit
from ikou.config import load_config, with_target_url
from ikou.errors import ConfigError

BASE = """\
spec_version: 1
dantai: {{code: "{code}", name: 架空市}}
gyomu: [juki]
rehearsal: R1
sources:
  - name: {name1}
    kind: file
    path: data/jumin.csv
    gaiji_table: gaiji/gaiji.csv
    mapping: ../maps/vendor_a.yaml
  - name: {name2}
    kind: database
    url: {src_url}
    table: B_JUMIN
    mapping: maps/b.yaml
target:
  url: {target_url}
runs_dir: runs
"""


def write(tmp_path: Path, *, code="999997", name1="a", name2="b", src_url="duckdb:///legacy/b.duckdb",
          target_url="duckdb:///out/target.duckdb", extra: str = "") -> Path:
    folder = tmp_path / "conf"
    folder.mkdir(exist_ok=True)
    p = folder / "run.yaml"
    p.write_text(BASE.format(code=code, name1=name1, name2=name2, src_url=src_url, target_url=target_url) + extra,
                 encoding="utf-8")
    return p


def test_relative_paths_resolve_against_the_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)   # the process directory must not matter
    cfg = load_config(write(tmp_path))
    folder = (tmp_path / "conf").resolve()
    a, b = cfg.sources
    assert a.path == folder / "data" / "jumin.csv"
    assert a.gaiji_table == folder / "gaiji" / "gaiji.csv"
    assert a.mapping == (tmp_path / "maps" / "vendor_a.yaml").resolve()
    assert b.mapping == folder / "maps" / "b.yaml"
    assert cfg.runs_dir == folder / "runs"


def test_relative_duckdb_urls_resolve_against_the_config_file(tmp_path):
    cfg = load_config(write(tmp_path))
    folder = (tmp_path / "conf").resolve()
    assert cfg.sources[1].url == f"duckdb:///{folder / 'legacy' / 'b.duckdb'}"
    assert cfg.target.url == f"duckdb:///{folder / 'out' / 'target.duckdb'}"


def test_absolute_memory_and_server_urls_are_left_alone(tmp_path):
    cfg = load_config(write(tmp_path, src_url="duckdb:////abs/b.duckdb",   # a declared inbox may hold it
                            target_url="postgresql://postgres@127.0.0.1:5432/test", extra="inbox: [/abs, .]\n"))
    assert cfg.sources[1].url == "duckdb:////abs/b.duckdb"
    assert cfg.target.url == "postgresql://postgres@127.0.0.1:5432/test"
    mem = load_config(write(tmp_path, target_url="\"duckdb:///:memory:\""))
    assert mem.target.url == "duckdb:///:memory:"


def test_target_schema_defaults_to_the_dantai_code(tmp_path):
    assert load_config(write(tmp_path)).target_schema == "dantai_999997"


@pytest.mark.parametrize("code", ["131016", "011002", "999997"])
def test_valid_dantai_codes_pass(code):
    assert is_valid_dantai_code(code)


@pytest.mark.parametrize("code", ["131017", "999990", "13101", "1310160", "13101X", "１３１０１６"])
def test_invalid_dantai_codes_are_refused(code):
    assert not is_valid_dantai_code(code)


def test_check_digit_matches_published_codes():
    # 東京都千代田区 131016, 北海道札幌市 011002, 大阪府大阪市 271004
    assert [lgcode_check_digit(c) for c in ("13101", "01100", "27100")] == [6, 2, 4]


def test_config_with_a_wrong_check_digit_is_a_config_error(tmp_path):
    p = write(tmp_path, code="131017")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert str(p) in str(exc.value) and "dantai.code" in str(exc.value) and "131017" in str(exc.value)


def test_duplicate_source_names_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="unique.*'jumin'"):
        load_config(write(tmp_path, name1="jumin", name2="jumin"))


def test_misspelled_key_names_file_and_key_path(tmp_path):
    p = write(tmp_path, extra="thresholds: {max_quarantine_rat: 0.1}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert str(p) in str(exc.value)
    assert "thresholds.max_quarantine_rat" in str(exc.value)


def test_misspelled_key_inside_a_source_names_its_path(tmp_path):
    p = write(tmp_path)
    p.write_text(p.read_text(encoding="utf-8").replace("table: B_JUMIN", "tabel: B_JUMIN"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\.1\.database\.tabel"):
        load_config(p)


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec_version: [1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize("name", ["demo_vendor_a.yaml", "demo_vendor_b.yaml", "demo_vendor_a_all.yaml"])
def test_shipped_demo_configs_load(name):
    cfg = load_config(REPO_ROOT / "data" / "sample" / name)
    assert cfg.dantai.code == "999997"
    for s in cfg.sources:
        assert s.mapping.is_file()


def test_a_key_given_twice_in_a_yaml_spec_is_an_error_naming_file_and_key(tmp_path):
    from ikou.config import load_config
    from ikou.errors import ConfigError

    cfg = tmp_path / "dup.yaml"
    cfg.write_text('config_version: 1\ndantai: {code: "999997", name: 架空市}\ngyomu: [juki]\nrehearsal: R1\n'
                   'sources: []\ntarget: {url: "duckdb:///t.duckdb"}\nrehearsal: R2\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"dup\.yaml.*'rehearsal' is given twice \(line 7\)"):
        load_config(cfg)


# --- the target database is checked against the registry (loaders.targets) when the config loads ---

@pytest.mark.parametrize("url", ["sqlite:///x.db", "\"mysql://root:s3cret@127.0.0.1/db\"", "out/target.duckdb"])
def test_a_target_url_no_registered_database_serves_names_file_and_key(tmp_path, url):
    p = write(tmp_path, target_url=url)
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    msg = str(exc.value)
    assert str(p) in msg and "target.url: no target database for" in msg
    assert "known schemes: ['duckdb', 'postgres', 'postgresql']" in msg and "s3cret" not in msg


def test_the_target_url_override_is_checked_too(tmp_path):
    cfg = load_config(write(tmp_path))
    pg = with_target_url(cfg, "postgresql://postgres@127.0.0.1:5432/test")
    assert pg.target.url == "postgresql://postgres@127.0.0.1:5432/test" and pg.target_schema == cfg.target_schema
    assert cfg.target.url.startswith("duckdb:///")   # the loaded config is left as it was
    with pytest.raises(ConfigError) as exc:
        with_target_url(cfg, "sqlite:///x.db")
    assert str(exc.value).startswith("--target-url: target.url: no target database for URL scheme 'sqlite'")


def test_the_override_keeps_the_configured_schema(tmp_path):
    p = write(tmp_path)
    p.write_text(p.read_text(encoding="utf-8").replace("target:\n", "target:\n  schema: dantai_999997_r2\n"),
                 encoding="utf-8")
    cfg = with_target_url(load_config(p), "duckdb:///:memory:")
    assert (cfg.target.url, cfg.target_schema) == ("duckdb:///:memory:", "dantai_999997_r2")
