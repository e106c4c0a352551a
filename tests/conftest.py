"""Shared fixtures: the real PostgreSQL and MariaDB, and a Prefect test harness.

On a laptop without the servers these tests skip; CI sets IKOU_REQUIRE_SERVICES=1, which turns
every such skip into a failure, so CI always exercises the real servers.
"""
from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

REQUIRE_SERVICES = os.environ.get("IKOU_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("IKOU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("IKOU_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def skip_or_fail(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (IKOU_REQUIRE_SERVICES=1: servers are mandatory here)")
    pytest.skip(reason)


def _reachable(url: str) -> str | None:
    engine = sa.create_engine(url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    err = _reachable(POSTGRES_URL)
    if err:
        skip_or_fail(f"PostgreSQL not reachable at {POSTGRES_URL}: {err}")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    err = _reachable(MARIADB_URL)
    if err:
        skip_or_fail(f"MariaDB not reachable at {MARIADB_URL}: {err}")
    return MARIADB_URL


@pytest.fixture(scope="session")
def prefect_harness():
    """A real (temporary) Prefect API for flow tests; started once per session."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def random_tag(n: int = 8) -> str:
    """Random lower-case letters for a test's schema, database or role name: no digits, so a name can never hold
    six that read as another 団体's code (a run refuses such a name: a hex tag did, now and then)."""
    import secrets

    return "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))


def drop_target_schemas(url: str, name: str) -> None:
    """A test's target schema dropped with those a run leaves beside it (__prev, a half-built __next, __swap)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for s in (name, name + "__prev", name + "__next", name + "__swap"):
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
    engine.dispose()


@pytest.fixture(params=["duckdb", "postgresql"])
def any_target(request, tmp_path):
    """(url, schema, 団体コード) of a target of this test only: a DuckDB file (団体 999814), or a PostgreSQL schema
    of 団体 999792 dropped afterwards."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 't.duckdb'}", "dantai_999814", "999814"
        return
    url = request.getfixturevalue("postgres_url")
    name = f"dantai_999792_t{random_tag()}"
    yield url, name, "999792"
    drop_target_schemas(url, name)


@pytest.fixture
def pg_target(postgres_url):
    """(url, schema) of a PostgreSQL target schema of 団体 999997 for one test, dropped afterwards with the
    schemas a run leaves beside it (the previous state __prev, a half-built __next): the shared
    database keeps no state between tests, so a test never meets another's run."""
    name = f"dantai_999997_f{random_tag()}"
    yield postgres_url, name
    drop_target_schemas(postgres_url, name)


@pytest.fixture
def small_tmpfs():
    """`small_tmpfs(path, size, *options)`: a tmpfs of `size` (mount options besides, e.g. "ro") mounted on `path`
    (made if missing) for the rest of the test, its path returned; unmounted after the test. A real small file
    system to fill (`fill_disk`) or to make read-only; the test skips where it cannot mount (mounting needs root:
    CI runs as root)."""
    mounted: list[Path] = []

    def mount(path: Path, size: str, *options: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]), "tmpfs", str(path)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill_disk(folder: Path) -> None:
    """Every byte of `folder`'s file system taken by one file, `folder/filler`."""
    with open(folder / "filler", "wb", buffering=0) as f:
        for chunk in (65536, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC


def failed_run(proc, runs_parent: Path) -> tuple[Path, dict]:
    """The run folder and summary.json of an `ikou run` that failed as a run (exit 2, no traceback): its last stdout
    line names the folder, under `runs_parent` (runs/<団体>)."""
    import json

    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    run_dir = Path(proc.stdout.rstrip("\n").splitlines()[-1])
    assert run_dir.parent == runs_parent
    return run_dir, json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
