"""A mapping names its 業務's shipped schema as `gyomu:<業務>`, so a vendor folder kept anywhere (outside the
repository too) needs no path into the repository's specs."""
from __future__ import annotations

import pytest

from ikou import SPECS
from ikou.errors import ConfigError
from ikou.mappings.spec import load_mapping


def test_gyomu_shorthand_names_the_shipped_schema_from_a_folder_anywhere(tmp_path):
    text = (SPECS / "vendors" / "vendor_a" / "mappings" / "juki" / "jumin.yaml").read_text(encoding="utf-8")
    layout = SPECS / "vendors" / "vendor_a" / "layouts" / "jumin.yaml"
    text = text.replace("schema: ../../../../gyomu/juki/schema.yaml", "schema: gyomu:juki")
    text = "\n".join(f"layout: {layout}" if ln.startswith("layout:") else ln for ln in text.splitlines()) + "\n"
    text = text.replace("table: ../../code_tables/", f"table: {SPECS / 'vendors' / 'vendor_a' / 'code_tables'}/")
    (tmp_path / "m.yaml").write_text(text, encoding="utf-8")
    spec = load_mapping(tmp_path / "m.yaml")
    assert spec.schema_ == SPECS / "gyomu" / "juki" / "schema.yaml"


@pytest.mark.parametrize("name", ["gyomu:nothing", "gyomu:../juki", "gyomu:"])
def test_an_unknown_or_unsafe_gyomu_is_refused_naming_the_known_ones(tmp_path, name):
    (tmp_path / "m.yaml").write_text(f"spec_version: 1\ntarget: t\nschema: '{name}'\ncolumns: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"(?s)no shipped 業務 of that name \(known: \[.*'juki'"):
        load_mapping(tmp_path / "m.yaml")
