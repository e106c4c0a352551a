"""A standing Prefect server and its workers: `ikou server start`, `ikou worker start`.

The server keeps the run history (flow runs, task runs, artifacts, logs) in its database: PostgreSQL
for a standing server (`--database-url postgresql://…`, driven by asyncpg), SQLite by default (as the
demo's temporary server). Workers poll one process work pool and run each flow run as a subprocess
of their own, with this installation's Python; the run folder (runs/<団体>/<run id>/) is written where
the run config says, so several machines share it (or each holds its own 団体).
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from ikou.errors import ConfigError

DEFAULT_POOL = "ikou"


def prefect_exe() -> str:
    exe = Path(sys.executable).parent / "prefect"
    return str(exe) if exe.exists() else (shutil.which("prefect") or "prefect")


def asyncpg_url(url: str) -> str:
    """postgresql://… (any driver) → postgresql+asyncpg://…, the driver Prefect's server uses."""
    m = re.match(r"^postgres(?:ql)?(?:\+\w+)?://(.+)$", url)
    if not m:
        raise ConfigError(f"--database-url {url!r} is not a PostgreSQL URL (postgresql://user@host:port/db)")
    return f"postgresql+asyncpg://{m.group(1)}"


def ensure_database(url: str) -> None:
    """Create the server's database when it does not exist yet (Prefect creates its tables, not the database)."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if not u.database or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", u.database):
        raise ConfigError(f"--database-url: database name {u.database!r} must be a plain SQL name")
    params = dict(host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username, password=u.password,
                  dbname="postgres", autocommit=True)
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (u.database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{u.database}"')


def server_env(database_url: str | None, *, scheduler_seconds: float | None = None,
               base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = asyncpg_url(database_url)
    if scheduler_seconds is not None:
        env["PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS"] = str(scheduler_seconds)
    return env


def server_command(host: str, port: int) -> list[str]:
    """`prefect server start`, through flows.prefect_server (a scheduler fix for SQLAlchemy 2.1)."""
    return [sys.executable, "-m", "ikou.flows.prefect_server", "start", "--host", host, "--port", str(port)]


def worker_command(pool: str, *, name: str | None = None, limit: int | None = None) -> list[str]:
    cmd = [prefect_exe(), "worker", "start", "--pool", pool, "--type", "process"]
    if name:
        cmd += ["--name", name]
    if limit:
        cmd += ["--limit", str(limit)]
    return cmd


def worker_env(api_url: str | None, *, poll_seconds: float | None = None,
               base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    if not env.get("PREFECT_API_URL"):
        raise ConfigError("a worker needs the server: set PREFECT_API_URL or give --api-url "
                          "(http://HOST:4200/api)")
    if poll_seconds is not None:
        env["PREFECT_WORKER_QUERY_SECONDS"] = str(poll_seconds)
    return env


# ---------------------------------------------------------------- as subprocesses (tests, benchmarks, scripts)


def spawn_server(*, port: int, database_url: str | None, log: Path, env: dict[str, str],
                 host: str = "127.0.0.1"):
    """`ikou server start` as a subprocess in its own process group (stop() ends it and its children)."""
    import subprocess

    ikou = str(Path(sys.executable).parent / "ikou")
    cmd = [ikou, "server", "start", "--host", host, "--port", str(port)]
    if database_url:
        cmd += ["--database-url", database_url]
    return subprocess.Popen(cmd, env=env, stdout=Path(log).open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_until_up(api_url: str, proc, *, timeout: float = 240, log: Path | None = None) -> None:
    """Wait for the server's /health (a loaded machine starts it slowly); raise with its log's tail if it died."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{api_url}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            tail = Path(log).read_text(errors="replace")[-3000:] if log and Path(log).is_file() else ""
            raise ConfigError(f"the Prefect server at {api_url} did not start:\n{tail}")
        time.sleep(1)


def spawn_worker(*, api_url: str, pool: str, name: str, log: Path, env: dict[str, str],
                 poll_seconds: float | None = 1.0, limit: int | None = None):
    """`ikou worker start` as a subprocess in its own process group."""
    import subprocess

    ikou = str(Path(sys.executable).parent / "ikou")
    return subprocess.Popen([ikou, "worker", "start", "--pool", pool, "--name", name,
                             *(["--limit", str(limit)] if limit else [])],
                            env=worker_env(api_url, poll_seconds=poll_seconds, base=env),
                            stdout=Path(log).open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc, *, grace: float = 30) -> None:
    """SIGTERM to the process group of a process spawned above (a worker's flow-run subprocesses too)."""
    import signal
    import subprocess

    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _admin(url: str, *statements: str) -> None:
    """Run statements on the server's `postgres` database about an ikou_… database (tests, benchmarks)."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if not u.database or not re.fullmatch(r"ikou_[a-z0-9_]{1,50}", u.database):
        raise ConfigError(f"refusing to drop or create {u.database!r}: only ikou_… databases")
    with psycopg.connect(host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username, dbname="postgres",
                         autocommit=True, **({"password": u.password} if u.password else {})) as conn:
        for st in statements:
            conn.execute(st.format(db=f'"{u.database}"'))


def recreate_database(url: str) -> None:
    """Drop and create a PostgreSQL database of a test's or benchmark's own (name it per process: several
    checkouts share one PostgreSQL)."""
    _admin(url, "DROP DATABASE IF EXISTS {db} WITH (FORCE)", "CREATE DATABASE {db}")


def drop_database(url: str) -> None:
    _admin(url, "DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def _server_start(args) -> int:
    if args.database_url:
        ensure_database(args.database_url)
    env = server_env(args.database_url)
    print(f"Prefect server: http://{args.host}:{args.port} (API http://{args.host}:{args.port}/api); database "
          f"{'PostgreSQL' if args.database_url else 'SQLite (PREFECT_HOME)'}", flush=True)
    cmd = server_command(args.host, args.port)
    os.execvpe(cmd[0], cmd, env)   # the server's own signals and exit code


def _worker_start(args) -> int:
    env = worker_env(args.api_url)
    os.execvpe(prefect_exe(), worker_command(args.pool, name=args.name, limit=args.limit), env)


def register(sub) -> None:
    s = sub.add_parser("server", help="the standing Prefect server (run history, schedules, work pools)")
    ssub = s.add_subparsers(dest="server_command", required=True)
    st = ssub.add_parser("start", help="start the Prefect server (foreground)")
    st.add_argument("--host", default="127.0.0.1",
                    help="listen address (default 127.0.0.1; 0.0.0.0 for workers on other machines)")
    st.add_argument("--port", type=int, default=4200, help="listen port (default 4200; workers and ikou commands "
                                                            "reach it as PREFECT_API_URL=http://HOST:PORT/api)")
    st.add_argument("--database-url", default=os.environ.get("IKOU_PREFECT_DATABASE_URL"),
                    help="PostgreSQL URL of the server's database, created if missing (default: SQLite in "
                         "PREFECT_HOME; env IKOU_PREFECT_DATABASE_URL)")
    st.set_defaults(func=_server_start)
    w = sub.add_parser("worker", help="a Prefect worker running ikou's flow runs")
    wsub = w.add_subparsers(dest="worker_command", required=True)
    wt = wsub.add_parser("start", help="start a worker on the work pool (foreground; the pool is created if missing)")
    wt.add_argument("--pool", default=DEFAULT_POOL, help=f"work pool (default {DEFAULT_POOL})")
    wt.add_argument("--name", default=None, help="worker name (default: generated)")
    wt.add_argument("--limit", type=int, default=None, help="flow runs this worker runs at once")
    wt.add_argument("--api-url", default=None, help="the server's API (default: PREFECT_API_URL)")
    wt.set_defaults(func=_worker_start)
