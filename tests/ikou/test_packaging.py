"""Installing ikou puts one top-level package in site-packages: the stage folders live under `ikou.`."""
import tomllib

from ikou import REPO_ROOT


def test_every_installed_package_is_under_the_ikou_namespace():
    cfg = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert cfg["packages"] and all(p == "ikou" or p.startswith("ikou.") for p in cfg["packages"])
    for package, folder in cfg["package-dir"].items():
        assert package in cfg["packages"] and (REPO_ROOT / folder / "__init__.py").is_file()


def test_stage_packages_import_from_their_repository_folders():
    import ikou.flows
    import ikou.reports
    import ikou.validators

    for mod, folder in ((ikou.flows, "flows"), (ikou.reports, "reports"), (ikou.validators, "validators")):
        assert mod.__file__ == str(REPO_ROOT / folder / "__init__.py")
