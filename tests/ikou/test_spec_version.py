"""One version key, `spec_version`, in every spec file; the former key names still load."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from ikou import REPO_ROOT, SPECS
from ikou.config import load_config
from ikou.errors import ConfigError
from ikou.extractors import load_layout
from ikou.schema import load_schema
from ikou.mappings.spec import load_mapping
from ikou.moji.shrink import ShrinkPolicy
from ikou.reports.rules import RulesFile
from ikou.spec import load_spec
from ikou.validators.spec import load_rules

OLD_KEYS = ("config_version", "layout_version", "schema_version", "rules_version", "version")
SKIP = {"runs", "build", "bench/out", "data/generated"}


def _repo_yaml_files() -> list[Path]:
    out = []
    for p in sorted(REPO_ROOT.rglob("*.y*ml")):
        rel = p.relative_to(REPO_ROOT)
        if any(part.startswith(".") or part.endswith(".egg-info") for part in rel.parts):
            continue
        if any(rel.as_posix().startswith(s + "/") for s in SKIP):
            continue
        out.append(p)
    return out


def _kind(path: Path):
    """(loader, the key this kind used before spec_version) of a spec file in the repository."""
    rel = path.relative_to(REPO_ROOT).as_posix()
    if rel.startswith("data/sample/"):
        return load_config, "config_version"
    if re.fullmatch(r"specs/gyomu/[^/]+/schema\.yaml", rel):
        return load_schema, "schema_version"
    if re.fullmatch(r"specs/gyomu/[^/]+/rules\.yaml", rel):
        return load_rules, "rules_version"
    if re.fullmatch(r"specs/vendors/[^/]+/layouts/[^/]+\.yaml", rel):
        return load_layout, "layout_version"
    if re.fullmatch(r"specs/vendors/[^/]+/mappings/[^/]+/[^/]+\.yaml", rel):
        return load_mapping, "spec_version"   # mappings were spec_version already
    if re.fullmatch(r"specs/vendors/[^/]+/diff_rules/[^/]+\.yaml", rel):
        return (lambda p: load_spec(p, RulesFile)), "version"
    raise AssertionError(f"{rel}: a YAML file of no known spec kind")


def test_every_spec_file_of_the_repository_uses_spec_version():
    files = _repo_yaml_files()
    assert len(files) >= 20 and any(f.parent.name == "layouts" for f in files)
    for path in files:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict) and data.get("spec_version") == 1, path
        assert not set(OLD_KEYS) & set(data), f"{path}: an old version key"
        _kind(path)[0](path)   # and it loads as its kind


def test_generated_spec_files_use_spec_version(tmp_path):
    from ikou.reports.expected import rules_from_mapping

    spec = load_mapping(SPECS / "vendors" / "vendor_b" / "mappings" / "juki" / "jumin.yaml")
    out = yaml.safe_load(rules_from_mapping(spec, tmp_path).read_text(encoding="utf-8"))
    assert out["spec_version"] == 1 and "version" not in out


def _dump(model, root: Path) -> str:
    return model.model_dump_json().replace(str(root), "ROOT")


def test_files_with_the_former_version_keys_still_load(tmp_path):
    """Every spec file of the repository, copied with its kind's former key, loads to the same model."""
    shutil.copytree(SPECS, tmp_path / "specs")
    (tmp_path / "data" / "sample").mkdir(parents=True)
    for cfg in (REPO_ROOT / "data" / "sample").glob("*.yaml"):
        shutil.copy(cfg, tmp_path / "data" / "sample" / cfg.name)
    renamed = 0
    for path in _repo_yaml_files():
        loader, old = _kind(path)
        copy = tmp_path / path.relative_to(REPO_ROOT)
        text = copy.read_text(encoding="utf-8")
        assert text.count("\nspec_version: 1\n") == 1, path
        copy.write_text(text.replace("\nspec_version: 1\n", f"\n{old}: 1\n"), encoding="utf-8")
        renamed += old != "spec_version"
        assert _dump(loader(copy), tmp_path) == _dump(loader(path), REPO_ROOT), path
    assert renamed >= 15


@pytest.mark.parametrize("old", ["config_version", "spec_version"])
def test_a_run_config_reads_either_key_and_still_refuses_unknown_keys(tmp_path, old):
    text = (REPO_ROOT / "data" / "sample" / "demo_vendor_a.yaml").read_text(encoding="utf-8")
    p = tmp_path / "run.yaml"
    p.write_text(text.replace("spec_version: 1", f"{old}: 1"), encoding="utf-8")
    assert load_config(p).spec_version == 1
    p.write_text(text.replace("spec_version: 1", "spec_versoin: 1"), encoding="utf-8")
    with pytest.raises(ConfigError, match="spec_versoin"):
        load_config(p)
    p.write_text(text.replace("spec_version: 1", "spec_version: 2"), encoding="utf-8")
    with pytest.raises(ConfigError, match="spec_version"):
        load_config(p)


def test_old_keys_in_python_and_in_the_shrink_policy(tmp_path):
    from ikou.validators.spec import RuleSet

    assert RuleSet(rules_version=1, gyomu="juki") == RuleSet(spec_version=1, gyomu="juki")
    p = tmp_path / "policy.yaml"
    p.write_text("version: 1\nkeep_if_in_target: true\n", encoding="utf-8")
    assert ShrinkPolicy.load(p) == ShrinkPolicy(spec_version=1, keep_if_in_target=True)
