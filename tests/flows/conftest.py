from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ikou import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample"

# How each planted fault must surface: (severity, rule prefix). Warnings keep the row.
EXPECTED = {
    "undecodable_bytes": ("error", "extract.decode"),
    "wrong_field_count": ("error", "extract.field_count"),
    "impossible_date": ("error", "wareki."),
    "calendar_date_kept": ("warning", "wareki.not_in_calendar"),
    "unknown_code": ("error", "code_table.unknown"),
    "duplicate_key": ("error", ""),
    "unknown_gaiji": ("warning", "moji.unresolved"),
    "no_setainushi": ("error", ""),
    "bad_kojin_no": ("error", ""),
    "missing_required": ("error", ""),
}


def write_config(tmp: Path, *, source: str, target_url: str, rehearsal: str = "R1", extra_source: str = "",
                 inbox: list[Path] = (), target_schema: str | None = None) -> Path:
    cfg = tmp / "run.yaml"
    cfg.write_text(f"""spec_version: 1
dantai: {{code: "999997", name: 架空市}}
gyomu: [juki]
rehearsal: {rehearsal}
sources:
{source}{extra_source}
target:
  url: {target_url}
{f"  schema: {target_schema}" + chr(10) if target_schema else ""}runs_dir: {tmp / 'runs'}
inbox: [{", ".join(str(p) for p in (SAMPLE, tmp, *inbox))}]
thresholds: {{max_quarantine_rate: 0.05}}
""", encoding="utf-8")
    return cfg


def vendor_a_source(path: Path | None = None, gaiji: Path | None = None) -> str:
    return f"""  - name: vendor_a_jumin
    kind: file
    path: {path or SAMPLE / 'vendor_a' / 'JUMIN.csv'}
    encoding: cp932
    gaiji_table: {gaiji or SAMPLE / 'vendor_a' / 'gaiji.csv'}
    mapping: {REPO_ROOT / 'specs' / 'vendors' / 'vendor_a' / 'mappings' / 'juki' / 'jumin.yaml'}
"""


def vendor_b_source(url: str, schema: str | None = None) -> str:
    return f"""  - name: vendor_b_jumin
    kind: database
    url: {url}
    table: B_JUMIN
{f'    schema: {schema}' + chr(10) if schema else ''}    gaiji_table: {SAMPLE / 'vendor_b' / 'gaiji.csv'}
    mapping: {REPO_ROOT / 'specs' / 'vendors' / 'vendor_b' / 'mappings' / 'juki' / 'jumin.yaml'}
"""


def faults(vendor: str) -> pl.DataFrame:
    return pl.read_csv(SAMPLE / "faults.csv", infer_schema=False).filter(pl.col("vendor") == vendor)


@pytest.fixture
def run_dir_of():
    def _f(tmp: Path, summary: dict) -> Path:
        return tmp / "runs" / summary["dantai"] / summary["run_id"]
    return _f
