"""Another 団体's code written in full-width digits (`９９９７２５`) names that 団体 as much as `999725` does:
the path, name and URL checks NFKC-fold before the code match (security probe 3: a 999776 run read
999792's JUMIN.csv from `inbox/９９９７９２/`)."""
from __future__ import annotations

from urllib.parse import quote

import pytest
import yaml

from ikou.config import load_config, other_dantai, path_names_dantai
from ikou.errors import ConfigError

OWN, OTHER = "999717", "999725"
WIDE = "９９９７２５"


def _write(tmp_path, source: dict, **top):
    cfg = {"spec_version": 1, "dantai": {"code": OWN, "name": "架空市"}, "gyomu": ["juki"], "rehearsal": "R1",
           "sources": [source], "target": {"url": "duckdb:///t.duckdb"}, "runs_dir": "runs", **top}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("folder", [WIDE, f"in_{WIDE}", f"ｄａｎｔａｉ＿{WIDE}", f"x{WIDE}x"])
def test_a_source_file_in_a_folder_named_by_another_dantais_full_width_code_is_refused(tmp_path, folder):
    theirs = tmp_path / "inbox" / folder / "JUMIN.csv"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("x\n", encoding="utf-8")
    source = {"name": "a", "kind": "file", "path": f"inbox/{folder}/JUMIN.csv", "mapping": "m.yaml"}
    with pytest.raises(ConfigError, match=f"sources.0.path .* another 団体's tree .*団体 {OTHER}"):
        load_config(_write(tmp_path, source))


def test_an_inbox_or_runs_dir_under_a_full_width_code_is_refused(tmp_path):
    source = {"name": "a", "kind": "file", "path": "JUMIN.csv", "mapping": "m.yaml"}
    with pytest.raises(ConfigError, match="inbox.0 .* another 団体's tree"):
        load_config(_write(tmp_path, source, inbox=[str(tmp_path / WIDE)]))
    with pytest.raises(ConfigError, match="runs_dir .* another 団体's tree"):
        load_config(_write(tmp_path, source, runs_dir=str(tmp_path / WIDE / "runs")))


@pytest.mark.parametrize("url", [f"mysql+pymysql://root@127.0.0.1:3306/legacy_{quote(WIDE)}",
                                 f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Ddantai_{quote(WIDE)}"])
def test_a_source_url_naming_another_dantai_in_full_width_digits_is_refused(tmp_path, url):
    source = {"name": "b", "kind": "database", "url": url, "table": "B_JUMIN", "mapping": "m.yaml"}
    with pytest.raises(ConfigError, match=f"sources.0.url names 団体 {OTHER}"):
        load_config(_write(tmp_path, source))


def test_the_name_checks_fold_full_width_digits_and_keep_the_own_code():
    assert other_dantai(WIDE, OWN) == OTHER and other_dantai("９９９７１７", OWN) is None
    assert path_names_dantai(f"/srv/inbox/x{WIDE}/JUMIN.csv", OWN) == (f"x{WIDE}", OTHER)
