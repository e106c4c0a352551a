"""A vendor whose layout holds 氏 and 名 in two columns (and a filler column no line reads), migrated with YAML
alone: `op: concat` loads 氏＋全角空白＋名 (氏 alone where 名 is blank), the parallel-run diff joins the legacy
columns the same way (no unexplained difference), a separator other than the standard's shows every joined
cell as an unexplained difference, and the unread filler is reported (run.log, summary.json) until the
mapping declares it `not_migrated`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from ikou import REPO_ROOT
from ikou.flows.migrate import migration_flow
from ikou.loaders import read_table
from ikou.sample.generate import generate
from tests.flows.conftest import write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")

DANTAI = "999776"
VENDOR_A = REPO_ROOT / "specs" / "vendors" / "vendor_a"
SOURCE = "vendor_d_jumin"


@pytest.fixture(scope="module")
def legacy(tmp_path_factory) -> tuple[Path, pl.DataFrame]:
    """Vendor A's generated 住民記録 rewritten as vendor D's export: UTF-8 with a header, SHIMEI split at its
    全角空白 into SHI and MEI, the half-width SHIMEI_KANA at its blank into KANA_SHI and KANA_MEI (MEI and KANA_MEI
    blank on every 7th row), and a trailing filler YOBI."""
    data = tmp_path_factory.mktemp("concat_data")
    generate(data, 120, faults=False, dantai=DANTAI)
    names = [c["name"] for c in _layout_a()["columns"]]
    a = pl.read_csv((data / "vendor_a" / "JUMIN.csv").read_bytes().decode("cp932").encode("utf-8"),
                    has_header=False, new_columns=names, infer_schema=False)
    assert a["SHIMEI"].str.contains("\u3000").all()
    assert a["SHIMEI_KANA"].str.contains(" ").all()
    parts, kana = pl.col("SHIMEI").str.split_exact("\u3000", 1), pl.col("SHIMEI_KANA").str.split_exact(" ", 1)
    no_mei = pl.col("_i") % 7 == 3
    split = {"SHIMEI": ("SHI", "MEI"), "SHIMEI_KANA": ("KANA_SHI", "KANA_MEI")}
    d = (a.with_row_index("_i")
         .with_columns(SHI=parts.struct.field("field_0"),
                       MEI=pl.when(no_mei).then(pl.lit(None, pl.String)).otherwise(parts.struct.field("field_1")),
                       KANA_SHI=kana.struct.field("field_0"),
                       KANA_MEI=pl.when(no_mei).then(pl.lit(None, pl.String)).otherwise(kana.struct.field("field_1")),
                       YOBI=pl.lit("0000"))
         .select(*[x for n in names for x in split.get(n, (n,))], "YOBI"))
    path = data / "vendor_d" / "JUMIN_D.csv"
    path.parent.mkdir()
    d.write_csv(path)
    return data, d


def _layout_a() -> dict:
    return yaml.safe_load((VENDOR_A / "layouts" / "jumin.yaml").read_text(encoding="utf-8"))


def _vendor_d(root: Path, *, separator: str | None = None, not_migrated: dict | None = None) -> Path:
    """Vendor D's layout (vendor A's with SHI, MEI for SHIMEI and YOBI at the end) and its mapping: vendor A's
    with `shimei` joined from [SHI, MEI]. Returns the mapping."""
    layout = _layout_a()
    cols = []
    split = {"SHIMEI": [{"name": "SHI", "ja": "氏"}, {"name": "MEI", "ja": "名"}],
             "SHIMEI_KANA": [{"name": "KANA_SHI", "ja": "カナ氏 (半角)"}, {"name": "KANA_MEI", "ja": "カナ名 (半角)"}]}
    for c in layout["columns"]:
        cols += split.get(c["name"], [c])
    layout.update(name="vendor_d.JUMIN_D", description="住民記録 (氏と名が別の列)", encoding="utf-8", header=True,
                  columns=[*cols, {"name": "YOBI", "ja": "予備"}])
    (root / "layouts").mkdir(parents=True)
    (root / "layouts" / "jumin_d.yaml").write_text(yaml.safe_dump(layout, allow_unicode=True, sort_keys=False),
                                                   encoding="utf-8")
    spec = yaml.safe_load((VENDOR_A / "mappings" / "juki" / "jumin.yaml").read_text(encoding="utf-8"))
    spec.update(schema="gyomu:juki", layout="../layouts/jumin_d.yaml")
    for c in spec["columns"]:
        if c.get("table", "").endswith(".csv"):
            c["table"] = str((VENDOR_A / "mappings" / "juki" / c["table"]).resolve())
        if c["target"] == "shimei":
            c.update(op="concat", **{"from": ["SHI", "MEI"]})
            if separator is not None:
                c["separator"] = separator
        if c["target"] == "shimei_kana":   # kana_fullwidth joins as concat does, then converts
            c["from"] = ["KANA_SHI", "KANA_MEI"]
    if not_migrated:
        spec["not_migrated"] = not_migrated
    (root / "mappings").mkdir()
    mapping = root / "mappings" / "jumin_d.yaml"
    mapping.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return mapping


def _config(tmp: Path, data: Path, mapping: Path) -> Path:
    source = f"""  - name: {SOURCE}
    kind: file
    path: {data / 'vendor_d' / 'JUMIN_D.csv'}
    encoding: utf-8
    gaiji_table: {data / 'vendor_a' / 'gaiji.csv'}
    mapping: {mapping}
"""
    cfg = write_config(tmp, source=source, target_url=f"duckdb:///{tmp / 't.duckdb'}", inbox=[data])
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('code: "999997"', f'code: "{DANTAI}"'), encoding="utf-8")
    return cfg


def _unexplained(summary: dict) -> dict:
    cells = summary["diff"][SOURCE].get("unexplained_cells") or {}
    return {c: n for c, n in cells.items() if n} if isinstance(cells, dict) else cells


def test_split_names_load_as_shi_fullwidth_space_mei_and_the_diff_finds_nothing_unexplained(tmp_path, legacy):
    from prefect.settings import PREFECT_API_URL

    data, d = legacy
    cfg = _config(tmp_path, data, _vendor_d(tmp_path / "vendor_d"))
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    proc = subprocess.run([sys.executable, "-m", "ikou.flows.cli", "run", "--config", str(cfg), "--quiet"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    run_dir = Path(proc.stdout.rstrip("\n").splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "succeeded"
    t = summary["tables"]["juki_kojin_rireki"]
    assert t["extracted"] == t["loaded"] == d.height   # no fault planted: every record loaded

    loaded = read_table(f"duckdb:///{tmp_path / 't.duckdb'}", f"dantai_{DANTAI}", "juki_kojin_rireki")
    got = loaded.select("atena_no", pl.col("rireki_no").cast(pl.String), "shimei").join(
        d.select("ATENA_NO", "RIREKI_NO", "SHI", "MEI").rename({"ATENA_NO": "atena_no", "RIREKI_NO": "rireki_no"}),
        on=["atena_no", "rireki_no"])
    assert got.height == d.height
    plain = got.filter(~pl.col("SHI").str.contains(r"[\ue000-\uf8ff]"))   # 外字 go through 文字同定 to MJ
    both, alone = plain.filter(pl.col("MEI").is_not_null()), plain.filter(pl.col("MEI").is_null())
    assert both.height > 50 and alone.height > 5
    assert (both["shimei"] == both["SHI"] + "\u3000" + both["MEI"]).all()
    assert (alone["shimei"] == alone["SHI"]).all()   # 氏 alone: no trailing separator
    kana = loaded.with_columns(pl.col("rireki_no").cast(pl.String)).join(
        d.select(pl.col("ATENA_NO").alias("atena_no"), pl.col("RIREKI_NO").alias("rireki_no"), "KANA_MEI"),
        on=["atena_no", "rireki_no"]).select("shimei_kana", "KANA_MEI")
    assert kana.height == d.height
    assert kana.filter(pl.col("KANA_MEI").is_not_null())["shimei_kana"].str.contains("^[ァ-ヶー]+\u3000[ァ-ヶー]+$").all()
    assert kana.filter(pl.col("KANA_MEI").is_null())["shimei_kana"].str.contains("^[ァ-ヶー]+$").all()

    assert _unexplained(summary) == {}
    assert not [b for b in summary["sign_off_blockers"] if "differ" in b or "差" in b]
    # the filler no line reads is reported, by name only
    assert summary["sources"][SOURCE]["unread_columns"] == ["YOBI"]
    assert summary["sources"][SOURCE]["not_migrated"] == {}
    log = (run_dir / "run.log").read_text(encoding="utf-8")
    assert "['YOBI']" in log and "not declared `not_migrated`" in log
    assert "未宣言 (どの行も読まない): YOBI" in (run_dir / "report.html").read_text(encoding="utf-8")   # what a PM reads


def test_a_separator_other_than_the_standards_shows_every_joined_name_as_an_unexplained_difference(tmp_path, legacy):
    data, d = legacy
    mapping = _vendor_d(tmp_path / "vendor_d", separator=" ", not_migrated={"YOBI": "予備 (常に 0000、意味なし)"})
    summary = migration_flow(config_path=str(_config(tmp_path, data, mapping)))
    assert summary["tables"]["juki_kojin_rireki"]["loaded"] == d.height
    joined = d.filter(pl.col("MEI").is_not_null()).height
    assert _unexplained(summary) == {"shimei": joined}   # 氏 alone has no separator: the same on both sides
    assert summary["sign_off_blockers"]
    assert summary["sources"][SOURCE]["unread_columns"] == []
    assert summary["sources"][SOURCE]["not_migrated"] == {"YOBI": "予備 (常に 0000、意味なし)"}
