"""Every path a run config names, whatever the source kind, gets the inbox and other-団体 checks a file
source's path gets: the 外字 table and font of a database source lie in the 団体's inbox, no mapping or
layout lies in another 団体's tree, and a name carrying another 団体's code inside a word (`inbox999741x`,
`legacy999741`) is refused for sources as for targets. A spec file a mapping names that fails the check
is never copied into the run's specs/ (probe D3, D6), and vendor C's snapshot holds its table layouts."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from ikou import REPO_ROOT
from ikou.config import load_config
from ikou.errors import ConfigError, IsolationError

OTHER = "999741"
VENDOR_A = REPO_ROOT / "specs" / "vendors" / "vendor_a"


def _write(tmp_path: Path, source: dict, **top) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / "JUMIN.csv").write_text("x\n", encoding="utf-8")
    (inbox / "gaiji.csv").write_text("code,mj\n", encoding="utf-8")
    cfg = {"spec_version": 1, "dantai": {"code": "999997", "name": "架空市"}, "gyomu": ["juki"], "rehearsal": "R1",
           "sources": [source], "target": {"url": "duckdb:///t.duckdb"}, "runs_dir": "runs", **top}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def _db(**changes) -> dict:
    return {"name": "b", "kind": "database", "url": "duckdb:///inbox/legacy.duckdb", "table": "B_JUMIN",
            "mapping": "m.yaml", **changes}


def _file(**changes) -> dict:
    return {"name": "a", "kind": "file", "path": "inbox/JUMIN.csv", "mapping": "m.yaml", **changes}


def _others_file(tmp_path: Path, name: str = "B_JUMIN.csv") -> Path:
    """A file in another 団体's data folder (its legacy export: 個人番号, 氏名)."""
    p = tmp_path / f"in_{OTHER}" / name
    p.parent.mkdir(exist_ok=True)
    p.write_text("KOJIN_NO,SHIMEI\n123456789018,架空 太郎\n", encoding="utf-8")
    return p


@pytest.mark.parametrize("key", ["gaiji_table", "gaiji_font"])
def test_a_database_sources_gaiji_files_outside_the_inbox_are_refused(tmp_path, key):
    elsewhere = tmp_path.parent / f"{tmp_path.name}_elsewhere"
    elsewhere.mkdir()
    (elsewhere / "B_JUMIN.csv").write_text("x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"sources.0.{key} .* outside the 団体's inbox"):
        load_config(_write(tmp_path, _db(**{key: str(elsewhere / "B_JUMIN.csv")})))


@pytest.mark.parametrize("key", ["gaiji_table", "gaiji_font"])
def test_a_database_sources_gaiji_files_in_another_dantais_tree_are_refused(tmp_path, key):
    """The probe's D3: another 団体's legacy export as this 団体's 外字 table was accepted and copied."""
    theirs = _others_file(tmp_path)
    with pytest.raises(ConfigError, match=f"sources.0.{key} .*(another 団体|outside the 団体's inbox)"):
        load_config(_write(tmp_path, _db(**{key: str(theirs)}), inbox=[str(tmp_path)]))


@pytest.mark.parametrize("make", [_file, _db])
def test_a_mapping_in_another_dantais_tree_is_refused_for_any_source_kind(tmp_path, make):
    theirs = _others_file(tmp_path, "m999741.yaml")
    with pytest.raises(ConfigError, match="sources.0.mapping .* another 団体's tree"):
        load_config(_write(tmp_path, make(mapping=str(theirs))))


def test_a_layout_override_in_another_dantais_tree_is_refused(tmp_path):
    theirs = _others_file(tmp_path, "layout.yaml")
    with pytest.raises(ConfigError, match="sources.0.layout .* another 団体's tree"):
        load_config(_write(tmp_path, _file(layout=str(theirs))))


def test_a_mapping_reached_through_a_symlink_into_another_dantais_tree_is_refused(tmp_path):
    theirs = _others_file(tmp_path, "m.yaml")
    os.symlink(theirs, tmp_path / "m.yaml")
    with pytest.raises(ConfigError, match="sources.0.mapping .* another 団体's tree"):
        load_config(_write(tmp_path, _file()))


# ---------------------------------------------------------------- D6: a code inside a word

def test_an_inbox_carrying_another_dantais_code_inside_a_word_is_refused(tmp_path):
    inbox = tmp_path / f"inbox{OTHER}x"
    inbox.mkdir()
    (inbox / "JUMIN.csv").write_text("x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"inbox.0 .* another 団体's tree \\(inbox{OTHER}x\\)"):
        load_config(_write(tmp_path, _file(path=str(inbox / "JUMIN.csv")), inbox=[str(inbox)]))


def test_a_source_file_carrying_another_dantais_code_inside_its_name_is_refused(tmp_path):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / f"JUMIN{OTHER}.csv").write_text("x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="sources.0.path .* another 団体's tree"):
        load_config(_write(tmp_path, _file(path=f"inbox/JUMIN{OTHER}.csv")))


@pytest.mark.parametrize("change", [{"url": f"postgresql+psycopg://postgres@127.0.0.1:5432/legacy{OTHER}"},
                                    {"schema": f"legacy{OTHER}"}, {"table": f"JUMIN{OTHER}"}])
def test_a_database_source_carrying_another_dantais_code_inside_a_word_is_refused(tmp_path, change):
    with pytest.raises(ConfigError, match=f"belongs to 団体 {OTHER}|names 団体 {OTHER}"):
        load_config(_write(tmp_path, _db(**change)))


def test_a_port_or_plain_own_names_still_pass(tmp_path):
    cfg = load_config(_write(tmp_path, _db(url="postgresql+psycopg://postgres@127.0.0.1:5432/legacy_999997",
                                           gaiji_table="inbox/gaiji.csv")))
    assert cfg.sources[0].gaiji_table == tmp_path / "inbox" / "gaiji.csv"


# ---------------------------------------------------------------- spec files the mapping names

def _mapping_with_layout_in(tmp_path: Path, folder: Path) -> Path:
    """Vendor A's mapping, copied, naming a copy of its layout that lies in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(VENDOR_A / "layouts" / "jumin.yaml", folder / "jumin.yaml")
    doc = yaml.safe_load((VENDOR_A / "mappings" / "juki" / "jumin.yaml").read_text(encoding="utf-8"))
    doc["schema"] = str(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")
    doc["layout"] = str(folder / "jumin.yaml")
    for c in doc["columns"]:
        if c.get("table") and not str(c["table"]).startswith("standard:"):
            c["table"] = str((VENDOR_A / "mappings" / "juki" / c["table"]).resolve())
    out = tmp_path / "specs" / "jumin.yaml"
    out.parent.mkdir(exist_ok=True)
    out.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def _config_with(tmp_path: Path, mapping: Path) -> Path:
    from tests.flows.conftest import vendor_a_source, write_config

    source = vendor_a_source().replace(str(VENDOR_A / "mappings" / "juki" / "jumin.yaml"), str(mapping))
    return write_config(tmp_path, source=source, target_url=f"duckdb:///{tmp_path / 't.duckdb'}")


def test_a_layout_a_mapping_names_in_another_dantais_tree_is_never_copied_into_specs(tmp_path):
    from ikou.flows.pipeline import plan
    from ikou.reports.evidence import snapshot_specs

    mapping = _mapping_with_layout_in(tmp_path, tmp_path / f"in_{OTHER}")
    cfg = load_config(_config_with(tmp_path, mapping))   # the mapping itself is in no other 団体's tree
    with pytest.raises(IsolationError, match=f"layout .*in_{OTHER}.* another 団体's tree"):
        snapshot_specs(cfg, plan(cfg), tmp_path / "run", sensitive=set())
    assert not list((tmp_path / "run").rglob("*.yaml")) and not list((tmp_path / "run").rglob("*.csv"))


def test_run_refuses_a_mapping_whose_layout_lies_in_another_dantais_tree_before_the_flow(tmp_path, capsys):
    from ikou.flows.run_cli import execute

    cfg = _config_with(tmp_path, _mapping_with_layout_in(tmp_path, tmp_path / f"in_{OTHER}"))
    assert execute(cfg, quiet=True) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "他団体のデータには触れられません" in err[0] and "another 団体's tree" in err[0]
    assert not list((tmp_path / "runs").rglob("specs")) and not list((tmp_path / "runs").rglob("extract"))


def test_a_campaign_refuses_an_entry_whose_mapping_names_a_layout_in_another_dantais_tree(tmp_path):
    from ikou.campaign import load_campaign

    cfg = _config_with(tmp_path, _mapping_with_layout_in(tmp_path, tmp_path / f"in_{OTHER}"))
    camp = tmp_path / "campaign.yaml"
    camp.write_text(f"spec_version: 1\ncampaign: r3\nrehearsals:\n  - config: {cfg}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="another 団体's tree"):
        load_campaign(camp)


def test_vendor_c_spec_snapshot_holds_the_layouts_of_every_table(tmp_path):
    """The side note: a multi-table source's specs/ held its mapping but none of its 8 table layouts."""
    from ikou.flows.pipeline import plan
    from ikou.reports.evidence import snapshot_specs

    cfg = load_config(REPO_ROOT / "data" / "sample" / "demo_vendor_c.yaml")
    plans = plan(cfg)
    tables = plans[0].mapping.tables
    assert len(tables) == 8
    import json

    base = snapshot_specs(cfg, plans, tmp_path / "run", sensitive=set())
    manifest = json.loads((base / "manifest.json").read_text(encoding="utf-8"))
    layouts = {Path(f["origin"]) for f in manifest["files"] if f["kind"] == "layout"}
    assert layouts == {Path(t.layout).resolve() for t in tables.values()}
    assert all((base / f["path"]).is_file() for f in manifest["files"])


def test_the_repositorys_own_specs_pass_whatever_folder_the_checkout_lies_in(tmp_path, monkeypatch):
    """A checkout under a folder named like a date (202401 is also a valid 団体コード) still runs."""
    from ikou.checkdigit import is_valid_dantai_code
    from ikou.config import path_names_dantai

    assert is_valid_dantai_code("202401")
    fake_root = tmp_path / "202401" / "ikou"
    (fake_root / "specs" / "vendors").mkdir(parents=True)
    mapping = fake_root / "specs" / "vendors" / "m.yaml"
    mapping.write_text("x", encoding="utf-8")
    monkeypatch.setattr("ikou.REPO_ROOT", fake_root)
    assert path_names_dantai(mapping, "999997", spec=True) is None
    assert path_names_dantai(mapping, "999997") == ("202401", "202401")   # data paths: the rule as before
    outside = tmp_path / "202401" / "vendor_x" / "m.yaml"
    outside.parent.mkdir()
    outside.write_text("x", encoding="utf-8")
    assert path_names_dantai(outside, "999997", spec=True) == ("202401", "202401")   # not the repository's
