"""A third vendor for 住民記録 is one new folder of spec files: its layout, its code table and its
mapping (which names the standard 業務 schema by reference). No other spec file, and no Python,
is touched: the run config names the new mapping and the legacy data, nothing else."""
from __future__ import annotations

import polars as pl
import pytest
import yaml

from ikou import SPECS
from ikou.flows.migrate import migration_flow
from ikou.sample.generate import generate
from ikou.loaders import read_table
from ikou.mappings.spec import load_mapping
from tests.flows.conftest import write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")

VENDOR_A = SPECS / "vendors" / "vendor_a"
JUKI_SCHEMA = SPECS / "gyomu" / "juki" / "schema.yaml"
SEIBETSU_C = {"1": "M", "2": "F", "9": "U"}   # vendor A's 性別 codes → vendor C's own


def _c(name: str) -> str:
    return f"C_{name}"


def _vendor_c_folder(root):
    """specs-like folder vendors/vendor_c: vendor A's 住民記録 layout and mapping with vendor C's own
    column names, UTF-8 with a header, and vendor C's 性別 codes in its own code table."""
    vc = root / "vendor_c"
    (vc / "layouts").mkdir(parents=True)
    (vc / "code_tables").mkdir()
    (vc / "mappings" / "juki").mkdir(parents=True)
    layout = yaml.safe_load((VENDOR_A / "layouts" / "jumin.yaml").read_text(encoding="utf-8"))
    layout.update(name="vendor_c.JUMIN_C", description="住民記録 (ベンダーC: UTF-8, 見出し行あり)",
                  encoding="utf-8", header=True)
    layout["columns"] = [{**c, "name": _c(c["name"])} for c in layout["columns"]]
    (vc / "layouts" / "jumin.yaml").write_text(yaml.safe_dump(layout, allow_unicode=True, sort_keys=False),
                                               encoding="utf-8")
    a_codes = pl.read_csv(VENDOR_A / "code_tables" / "seibetsu.csv", infer_schema=False)
    a_codes.with_columns(pl.col("source_code").replace_strict(SEIBETSU_C)).write_csv(
        vc / "code_tables" / "seibetsu.csv")
    mapping = yaml.safe_load((VENDOR_A / "mappings" / "juki" / "jumin.yaml").read_text(encoding="utf-8"))
    mapping["schema"] = str(JUKI_SCHEMA)                 # the standard 業務 schema, by reference
    assert mapping["layout"] == "../../layouts/jumin.yaml"   # inside the vendor's folder
    for col in mapping["columns"]:
        if "from" in col:
            col["from"] = _c(col["from"])
        if col.get("table", "").endswith(".csv"):
            assert col["table"] == "../../code_tables/seibetsu.csv"   # inside the vendor's folder
    (vc / "mappings" / "juki" / "jumin.yaml").write_text(
        yaml.safe_dump(mapping, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return vc


def _vendor_c_data(data, layout_names: list[str]):
    """Vendor A's generated file rewritten as vendor C's export: UTF-8, a header, its own 性別 codes."""
    text = (data / "vendor_a" / "JUMIN.csv").read_bytes().decode("cp932")
    a = pl.read_csv(text.encode("utf-8"), has_header=False, new_columns=[n[2:] for n in layout_names],
                    infer_schema=False)
    c = a.with_columns(pl.col("SEIBETSU").replace_strict(SEIBETSU_C)).rename(_c)
    out = data / "vendor_c" / "JUMIN_C.csv"   # beside the generated vendor C database dump
    out.parent.mkdir(exist_ok=True)
    c.write_csv(out)
    return out, c.height


def _source(name: str, path, encoding: str, gaiji, mapping) -> str:
    return f"""  - name: {name}
    kind: file
    path: {path}
    encoding: {encoding}
    gaiji_table: {gaiji}
    mapping: {mapping}
"""


def test_a_third_vendor_for_juki_is_one_new_folder(tmp_path):
    data = tmp_path / "data"
    generate(data, 300, faults=False)
    vc = _vendor_c_folder(tmp_path / "specs" / "vendors")
    # the new vendor is that one folder: 3 files, and the mapping reaches outside it only for the schema
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "specs").rglob("*") if p.is_file()) == [
        "specs/vendors/vendor_c/code_tables/seibetsu.csv", "specs/vendors/vendor_c/layouts/jumin.yaml",
        "specs/vendors/vendor_c/mappings/juki/jumin.yaml"]
    spec = load_mapping(vc / "mappings" / "juki" / "jumin.yaml")
    assert spec.schema_ == JUKI_SCHEMA and spec.layout.is_relative_to(vc)
    assert all(c.table.startswith(str(vc)) for c in spec.columns if c.table and c.table.endswith(".csv"))
    names = yaml.safe_load(spec.layout.read_text(encoding="utf-8"))["columns"]
    path_c, rows = _vendor_c_data(data, [c["name"] for c in names])
    assert path_c.read_text(encoding="utf-8").startswith("C_DANTAI_CD,C_ATENA_NO,")

    target_c = tmp_path / "c" / "t.duckdb"
    target_c.parent.mkdir()
    cfg = write_config(tmp_path / "c", target_url=f"duckdb:///{target_c}", inbox=[data], source=_source(
        "vendor_c_jumin", path_c, "utf-8", data / "vendor_a" / "gaiji.csv", vc / "mappings" / "juki" / "jumin.yaml"))
    summary = migration_flow(config_path=str(cfg))
    assert summary["status"] == "succeeded"
    t = summary["tables"]["juki_kojin_rireki"]
    assert t["extracted"] == t["loaded"] + t["quarantined"] == rows > 300
    assert t["loaded"] > 300
    loaded_c = read_table(f"duckdb:///{target_c}", "dantai_999997", "juki_kojin_rireki")
    assert loaded_c.height == t["loaded"]
    assert set(loaded_c["seibetsu_code"].unique()) <= {"0", "1", "2"}
    assert summary["tables"]["juki_setai"]["loaded"] > 0

    # the same people through vendor A's own folder land as the same rows
    target_a = tmp_path / "a" / "t.duckdb"
    target_a.parent.mkdir()
    cfg_a = write_config(tmp_path / "a", target_url=f"duckdb:///{target_a}", inbox=[data], source=_source(
        "vendor_a_jumin", data / "vendor_a" / "JUMIN.csv", "cp932", data / "vendor_a" / "gaiji.csv",
        VENDOR_A / "mappings" / "juki" / "jumin.yaml"))
    summary_a = migration_flow(config_path=str(cfg_a))
    assert summary_a["tables"]["juki_kojin_rireki"]["loaded"] == t["loaded"]
    loaded_a = read_table(f"duckdb:///{target_a}", "dantai_999997", "juki_kojin_rireki")
    key = ["atena_no", "rireki_no"]
    assert loaded_c.columns == loaded_a.columns and loaded_c.sort(key).equals(loaded_a.sort(key))
