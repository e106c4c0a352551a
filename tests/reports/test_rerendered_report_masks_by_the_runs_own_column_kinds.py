"""A report re-rendered from a run folder (`ikou run-report RUN_DIR`, which `ikou signoff` runs after every
sign-off, and the evidence pack's quarantine.csv) shows each column by the run's own kinds: a 業務 declared only
in YAML whose code column has a neutral name (`kubun`, a key: no `_code`/`_no` suffix, in no shipped schema) keeps
a name typed into it masked, as the run's own report did. The run records its coded columns in
specs/manifest.json (`coded_columns`); a run folder from before that keeps the shipped fallback."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from ikou.flows.cli import main
from tests.conftest import random_tag
from tests.ikou.test_privacy_name_never_shown_by_bytes_or_in_number_columns import _texts

pytestmark = pytest.mark.usefixtures("prefect_harness")

DANTAI = "999768"
PLANTED = "鵺川鶫丸"   # a name typed into the 区分 column
SCHEMA = """spec_version: 1
gyomu: kubun_f11
ja: 区分 (試験)
tables:
  kubun_f11:
    ja: 区分試験
    primary_key: [atena_no, kubun]
    columns:
      - {name: atena_no, ja: 宛名番号, type: text, required: true}
      - {name: kubun,    ja: 区分,     type: text, required: true}
      - {name: shimei,   ja: 氏名,     type: text, sensitive: true}
"""
RULES = """spec_version: 1
gyomu: kubun_f11
tables:
  kubun_f11:
    - id: kubun.digits
      kind: pattern
      params: {columns: [kubun], regex: '^[0-9]+$'}
      message: {ja: 区分は数字です, en: 区分 is digits}
"""
LAYOUT = """spec_version: 1
name: v.KUBUN
format: csv
encoding: utf-8
header: true
columns:
  - {name: ATENA, ja: 宛名番号}
  - {name: KUBUN, ja: 区分}
  - {name: NAME,  ja: 氏名}
"""
MAPPING = """spec_version: 1
target: kubun_f11
schema: schema.yaml
layout: layout.yaml
columns:
  - {target: atena_no, op: text, from: ATENA}
  - {target: kubun,    op: text, from: KUBUN}
  - {target: shimei,   op: text, from: NAME}
"""
DATA = f"""ATENA,KUBUN,NAME
A1,01,試験一郎
A2,02,試験二郎
A3,{PLANTED},試験三郎
A4,01,試験四郎
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from ikou.flows.migrate import migration_flow

    tmp = tmp_path_factory.mktemp("kubun_rerender")
    for name, text in {"schema.yaml": SCHEMA, "rules.yaml": RULES, "layout.yaml": LAYOUT, "mapping.yaml": MAPPING,
                       "KUBUN.csv": DATA}.items():
        (tmp / name).write_text(text, encoding="utf-8")
    cfg = tmp / "run.yaml"
    cfg.write_text(f"""spec_version: 1
dantai: {{code: "{DANTAI}", name: 試験町}}
gyomu: [kubun_f11]
rehearsal: R1
sources:
  - {{name: kubun_{random_tag()}, kind: file, path: {tmp / 'KUBUN.csv'}, mapping: {tmp / 'mapping.yaml'}}}
target:
  url: duckdb:///{tmp / 't.duckdb'}
  schema: dantai_{DANTAI}
runs_dir: {tmp / 'runs'}
inbox: [{tmp}]
thresholds: {{max_quarantine_rate: 0.9}}
""", encoding="utf-8")
    summary = migration_flow(config_path=str(cfg))
    assert summary["status"] == "succeeded", summary.get("error")
    return tmp / "runs" / summary["dantai"] / summary["run_id"]


def _leaks(path: Path) -> list[str]:
    text = _texts(path)
    return [p for p in (PLANTED, "鵺川", "鶫丸") if p in text]


def test_the_run_records_its_coded_columns(run_dir):
    import polars as pl

    q = pl.read_parquet(run_dir / "quarantine.parquet")
    assert PLANTED in q.filter(pl.col("rule") == "kubun.digits")["value"].to_list()   # the restricted record keeps it
    manifest = json.loads((run_dir / "specs" / "manifest.json").read_text(encoding="utf-8"))
    assert "kubun" in manifest["coded_columns"] and "shimei" not in manifest["coded_columns"]


def test_a_rerendered_report_masks_a_name_in_a_neutrally_named_code_column(run_dir):
    for f in ("report.html", "report.xlsx", "quarantine.csv"):
        assert not _leaks(run_dir / f), f                    # the run's own outputs mask it
    before = (run_dir / "report.html").stat().st_mtime_ns
    assert main(["run-report", str(run_dir)]) == 0
    assert (run_dir / "report.html").stat().st_mtime_ns != before   # re-rendered in place
    for f in ("report.html", "report.xlsx"):
        assert not _leaks(run_dir / f), f
    assert "漢字4字" in _texts(run_dir / "report.html")            # shown by its shape


def test_the_evidence_packs_quarantine_masks_it_too(run_dir, tmp_path):
    from ikou.reports.evidence import build_pack

    pack = build_pack(run_dir, tmp_path / "pack.zip")
    with zipfile.ZipFile(pack) as z:
        text = z.read("quarantine.csv").decode("utf-8-sig")
    assert "漢字4字" in text and PLANTED not in text and "鵺川" not in text


def test_a_run_folder_without_the_record_keeps_the_shipped_fallback():
    from ikou.privacy import RunColumns, recorded_run_columns

    old = recorded_run_columns({"sensitive_columns": ["shimei"]})
    assert old == {"shimei"} and not isinstance(old, RunColumns)
    new = recorded_run_columns({"sensitive_columns": ["shimei"], "coded_columns": ["kubun", "KUBUN"]})
    assert isinstance(new, RunColumns) and new == {"shimei"} and new.coded == {"kubun", "KUBUN"}
