"""Sample data for a campaign: several fictional 団体, each with its own generated files, run config,
and one campaign file naming them all (used by the campaign tests and bench/bench_campaign.py).

    out/<code>/vendor_a/…     generated 住民記録 (records carry the 団体's own code)
    out/<code>/run.yaml       its run config (target schema dantai_<code>, runs in out/runs)
    out/campaign.yaml         the campaign
"""
from __future__ import annotations

from pathlib import Path

from ikou import SPECS
from ikou.checkdigit import lgcode_check_digit
from ikou.sample.generate import generate


def fictional_codes(n: int) -> list[str]:
    """n valid 団体コード that no real 団体 has (prefix 9999x, 9998x …, check digit computed)."""
    out = []
    for body in range(99990, 99000, -1):
        code = f"{body}{lgcode_check_digit(str(body))}"
        if code != "999997":   # the sample 架空市 keeps its own
            out.append(code)
        if len(out) == n:
            return out
    raise ValueError(f"cannot name {n} fictional 団体")


def write_run_config(out: Path, code: str, *, target_url: str, runs_dir: Path, rehearsal: str = "R3",
                     max_quarantine_rate: float = 0.05) -> Path:
    d = out / code
    cfg = d / "run.yaml"
    cfg.write_text(f"""spec_version: 1
dantai: {{code: "{code}", name: 架空市{code}}}
gyomu: [juki]
rehearsal: {rehearsal}
sources:
  - name: vendor_a_jumin
    kind: file
    path: vendor_a/JUMIN.csv
    encoding: cp932
    gaiji_table: vendor_a/gaiji.csv
    mapping: {SPECS / 'vendors' / 'vendor_a' / 'mappings' / 'juki' / 'jumin.yaml'}
target:
  url: {target_url}
runs_dir: {runs_dir}
thresholds: {{max_quarantine_rate: {max_quarantine_rate}}}
""", encoding="utf-8")
    return cfg


def make_campaign(out: Path, codes: list[str], *, persons: int, target_url: str, name: str = "rehearsal-r3",
                  pool: str = "ikou", pool_limit: int | None = None, load_limit: int | None = None,
                  schedule: str = "{cron: \"0 2 * * 6\", timezone: Asia/Tokyo}", extra: str = "",
                  seed: int = 20261129, max_quarantine_rate: float = 0.05) -> Path:
    """Generate each 団体's data and config, then the campaign file; return its path."""
    out = Path(out)
    runs = out / "runs"
    for i, code in enumerate(codes):
        generate(out / code, persons, seed=seed + i, dantai=code)
        write_run_config(out, code, target_url=target_url, runs_dir=runs, max_quarantine_rate=max_quarantine_rate)
    entries = "".join(f"  - config: {code}/run.yaml\n" for code in codes)
    path = out / "campaign.yaml"
    path.write_text(f"""spec_version: 1
campaign: {name}
work_pool: {{name: {pool}, concurrency_limit: {pool_limit if pool_limit else 'null'}}}
limits: {{target_loads: {load_limit if load_limit else 'null'}}}
schedule: {schedule}
out: campaigns
{extra}rehearsals:
{entries}""", encoding="utf-8")
    return path
