"""Every benchmark still runs: each script in bench/ has a --smoke mode (the same code at a tiny
size, outputs in temporary folders, its own consistency checks deciding the exit code), run here as
a subprocess. The scripts print times; nothing here asserts on them."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ikou import REPO_ROOT

BENCH = REPO_ROOT / "bench"
HELPERS = {"benchlib.py"}   # imported by the scripts, not a benchmark
# script → a line its output must show (the ratio it exists for)
SCRIPTS = {
    "bench_flow.py": "all stages ÷ floor:",
    "bench_extract.py": "extract_csv / python cp932 decode (time)",
    "bench_moji.py": "ratio baseline/polars",
    "bench_gaiji.py": "ratio baseline/vectorised",
    "bench_validate.py": "pandera / ikou time ratio",
    "bench_diff.py": "ratio datacompy/ikou",
    "bench_vendor_c.py": "vendor C flow",
    "run_all.py": "1 of 1 benchmarks passed",
    "bench_campaign.py": "ratio 1 worker / 2 workers (wall)",
}
# run_all's own wiring, on one quick script: every script's smoke already runs above
ARGS = {"run_all.py": ["--only", "bench_moji.py"]}


def _repo_outputs() -> dict[str, int]:
    """Files where the full-size benchmarks write (bench/out, data/generated): smoke must not."""
    return {str(p): p.stat().st_mtime_ns for d in (BENCH / "out", REPO_ROOT / "data" / "generated")
            if d.is_dir() for p in d.rglob("*")}


def test_every_bench_script_has_a_smoke_test():
    assert sorted(p.name for p in BENCH.glob("*.py") if p.name not in HELPERS) == sorted(SCRIPTS)


# the flow's smoke starts Prefect's temporary server: `slow`, which `make test` still runs (pyproject's
# addopts select no markers)
SLOW = {"bench_flow.py", "bench_vendor_c.py", "bench_campaign.py"}   # Prefect servers; bench_campaign: workers on PostgreSQL
SESSION_SERVER = {"bench_flow.py", "bench_vendor_c.py"}   # flows run against the test session's Prefect server


@pytest.mark.parametrize("script", [pytest.param(s, marks=pytest.mark.slow) if s in SLOW else s
                                    for s in sorted(SCRIPTS)])
def test_bench_smoke(script: str, request):
    before = _repo_outputs()
    env = dict(os.environ)
    if script in SESSION_SERVER:   # not a temporary server of its own: those time out on a busy machine
        request.getfixturevalue("prefect_harness")
        from prefect.settings import PREFECT_API_URL

        env |= {"PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    proc = subprocess.run([sys.executable, str(BENCH / script), "--smoke", *ARGS.get(script, [])], cwd=REPO_ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, env=env)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:]
    assert SCRIPTS[script] in out, out[-4000:]
    assert "check ok" in out and "check FAILED" not in out, out[-4000:]
    assert _repo_outputs() == before, "a smoke run wrote into bench/out or data/generated"
