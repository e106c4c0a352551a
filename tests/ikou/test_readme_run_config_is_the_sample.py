"""README's run-configuration example is the sample file it names (`data/sample/demo_vendor_a.yaml`), key for key:
a newcomer who ran the snippet after `make demo` met a target the snippet did not say was shared, and no
`runs_dir`."""
from __future__ import annotations

import re

import yaml

from ikou import REPO_ROOT as ROOT


def test_the_readme_run_config_snippet_equals_the_sample_it_names():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    intro = "A run configuration (`data/sample/demo_vendor_a.yaml`"
    assert intro in text
    snippet = re.search(r"```yaml\n(.*?)```", text[text.index(intro):], re.S).group(1)
    sample = (ROOT / "data" / "sample" / "demo_vendor_a.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(snippet) == yaml.safe_load(sample)
