"""A rehearsal campaign run by 1 worker, then by 2: wall time and peak memory per worker.

A standing Prefect server (database on PostgreSQL) on a free port, N generated 団体 (each its own
files and run config, target schema dantai_<code> on PostgreSQL), one campaign deployed to a process
pool per round; round k starts k `ikou worker start` subprocesses (each `--limit 1` by default) and
times `ikou campaign run` from start to campaign.json, with an empty runs folder (no extract staging
reused from an earlier round). The peak memory of a worker is the largest sum of RSS over its process tree
(the worker and the flow-run subprocesses it starts), sampled every 0.2 s; each flow run's own peak is
in its summary.json. Checks: every run succeeded in every round, and each 団体 loaded the same counts
whatever the number of workers.

    .venv/bin/python bench/bench_campaign.py --dantai 20 --persons 50000
    .venv/bin/python bench/bench_campaign.py --smoke
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import SMOKE_HELP, Checks  # noqa: E402

from ikou import REPO_ROOT  # noqa: E402

PG = os.environ.get("IKOU_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
# per process: a smoke run elsewhere (another checkout's tests) must not drop this run's databases
SERVER_DB, TARGET_DB = f"ikou_prefect_bench_{os.getpid()}", f"ikou_bench_campaign_{os.getpid()}"


class PeakRss(threading.Thread):
    """Peak of RSS summed over each process's tree, sampled until stopped."""

    def __init__(self, pids: dict[str, int], every: float = 0.2):
        super().__init__(daemon=True)
        self.pids, self.every, self.peak = pids, every, {k: 0 for k in pids}
        self._done = threading.Event()

    def run(self) -> None:
        import psutil

        while not self._done.is_set():
            for name, pid in self.pids.items():
                try:
                    p = psutil.Process(pid)
                    procs = [p, *p.children(recursive=True)]
                    rss = 0
                    for q in procs:
                        try:
                            rss += q.memory_info().rss
                        except psutil.Error:
                            pass
                    self.peak[name] = max(self.peak[name], rss)
                except psutil.Error:
                    pass
            time.sleep(self.every)

    def stop(self) -> dict[str, float]:
        self._done.set()
        self.join()
        return {k: v / 1e6 for k, v in self.peak.items()}


def _round(workers: int, spec: Path, api: str, env: dict, logs: Path, limit: int | None) -> dict:
    from ikou.flows.server import spawn_worker, stop

    procs = [spawn_worker(api_url=api, pool=f"bench-{workers}w", name=f"w{i}", log=logs / f"w{workers}-{i}.log",
                          env=env, limit=limit) for i in range(1, workers + 1)]
    peak = PeakRss({f"w{i}": p.pid for i, p in enumerate(procs, start=1)})
    peak.start()
    t0 = time.perf_counter()
    proc = subprocess.run([str(Path(sys.executable).parent / "ikou"), "campaign", "run", str(spec)], env=env,
                          capture_output=True, text=True, timeout=6 * 3600)
    wall = time.perf_counter() - t0
    mem = peak.stop()
    for p in procs:
        stop(p)
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n")
    folder = Path(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else None
    record = json.loads((folder / "campaign.json").read_text(encoding="utf-8")) if folder else {"runs": []}
    flow_peaks = []
    for r in record["runs"]:
        if r.get("summary"):
            s = json.loads(Path(r["summary"]).read_text(encoding="utf-8"))
            flow_peaks.append(max((st.get("peak_rss_mb") or 0) for st in s["stages"].values()))
    return {"workers": workers, "wall": wall, "rc": proc.returncode, "record": record, "peak_mb": mem,
            "flow_peak_mb": max(flow_peaks, default=0)}


def _campaign(out: Path, codes: list[str], workers: int) -> Path:
    """The same 団体 and run configs, one campaign file per round (its own pool and deployments)."""
    spec = out / f"campaign-{workers}w.yaml"
    spec.write_text(f"""spec_version: 1
campaign: bench-{workers}w
work_pool: {{name: bench-{workers}w}}
limits: {{target_loads: 2}}
out: campaigns
rehearsals:
""" + "".join(f"  - config: {c}/run.yaml\n" for c in codes), encoding="utf-8")
    return spec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dantai", type=int, default=20)
    ap.add_argument("--persons", type=int, default=50_000)
    ap.add_argument("--workers", default="1,2", help="rounds, comma-separated worker counts")
    ap.add_argument("--worker-limit", type=int, default=1,
                    help="flow runs each worker runs at once (default 1: the rounds compare 1 and 2 rehearsals at "
                         "once; 0: no limit)")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = ap.parse_args()
    if args.smoke:
        args.dantai, args.persons, args.workers = 2, 100, "1,2"
    rounds = [int(w) for w in args.workers.split(",")]
    from ikou.flows.server import drop_database, free_port, recreate_database, spawn_server, stop, wait_until_up
    from ikou.sample.campaign import fictional_codes, write_run_config
    from ikou.sample.generate import generate

    tmp = tempfile.TemporaryDirectory(prefix="ikou-bench-campaign-") if args.smoke else None
    out = Path(tmp.name) if tmp else REPO_ROOT / "bench" / "out" / "campaign"
    out.mkdir(parents=True, exist_ok=True)
    checks = Checks()
    recreate_database(f"{PG}/{SERVER_DB}")
    recreate_database(f"{PG}/{TARGET_DB}")
    codes = fictional_codes(args.dantai)
    t0 = time.perf_counter()
    for i, code in enumerate(codes):
        if not (out / code / "vendor_a" / "JUMIN.csv").is_file() or args.smoke:
            generate(out / code, args.persons, seed=1000 + i, dantai=code)
        write_run_config(out, code, target_url=f"{PG}/{TARGET_DB}", runs_dir=out / "runs",
                         max_quarantine_rate=0.2 if args.smoke else 0.05)
    print(f"generated {len(codes)} 団体 × {args.persons:,} persons in {time.perf_counter() - t0:.1f} s", flush=True)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env = {**base, "PREFECT_HOME": str(out / "prefect_home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    server = spawn_server(port=port, database_url=f"{PG}/{SERVER_DB}", log=logs / "server.log", env=env)
    results = []
    try:
        wait_until_up(api, server, log=logs / "server.log")
        env = {**env, "PREFECT_API_URL": api}
        for w in rounds:
            # every round from scratch: an unchanged source would reuse the previous round's extract
            # staging (runs/<団体>/_cache), and the rounds would not do the same work
            shutil.rmtree(out / "runs", ignore_errors=True)
            r = _round(w, _campaign(out, codes, w), api, env, logs,
                       args.worker_limit or None)
            results.append(r)
            peaks = ", ".join(f"{k} {v:,.0f} MB" for k, v in r["peak_mb"].items())
            print(f"{w} worker(s) (--limit {args.worker_limit or '-'}): wall {r['wall']:.1f} s for {len(codes)} 団体; peak RSS per worker (process tree): "
                  f"{peaks}; largest flow-run peak {r['flow_peak_mb']:,.0f} MB", flush=True)
    finally:
        stop(server)
        drop_database(f"{PG}/{SERVER_DB}")
        drop_database(f"{PG}/{TARGET_DB}")
    for r in results:
        runs = r["record"]["runs"]
        checks(r["rc"] == 0 and len(runs) == len(codes) and all(x["status"] == "succeeded" for x in runs),
               f"{r['workers']} worker(s): every 団体 succeeded")
    if len(results) > 1:
        loaded = [{x["dantai"]: x["counts"]["loaded"] for x in r["record"]["runs"]} for r in results]
        checks(all(lo == loaded[0] for lo in loaded[1:]) and all(loaded[0].values()),
               "each 団体 loaded the same counts whatever the number of workers")
        a, b = results[0], results[-1]
        print(f"ratio {a['workers']} worker / {b['workers']} workers (wall): {a['wall'] / b['wall']:.2f}", flush=True)
    if tmp:
        tmp.cleanup()
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
