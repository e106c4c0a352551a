"""Target databases registered by URL scheme (loaders/targets.py): lookup, errors, a plug-in target."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ikou.errors import ConfigError
from ikou.loaders import diff_input, load_tables, read_table
from ikou.loaders.duckdb_target import DuckDBTarget
from ikou.loaders.postgres_target import PostgresTarget
from ikou.loaders.targets import TARGETS, TargetDatabase, register_target, target_for


@pytest.mark.parametrize("url, cls, normalised", [
    ("duckdb:///runs/t.duckdb", DuckDBTarget, "duckdb:///runs/t.duckdb"),
    ("duckdb:///:memory:", DuckDBTarget, "duckdb:///:memory:"),
    ("postgresql://postgres@127.0.0.1:5432/test", PostgresTarget, "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    ("postgres://postgres@db/test", PostgresTarget, "postgresql+psycopg://postgres@db/test"),
    ("postgresql+psycopg://postgres@db/test", PostgresTarget, "postgresql+psycopg://postgres@db/test"),
    ("postgres+psycopg://postgres@db/test", PostgresTarget, "postgresql+psycopg://postgres@db/test"),
])
def test_a_url_finds_its_target_by_scheme(url, cls, normalised):
    t = target_for(url)
    assert type(t) is cls and t.url == normalised


def test_the_builtin_targets_are_registered():
    assert TARGETS == {"duckdb": DuckDBTarget, "postgresql": PostgresTarget, "postgres": PostgresTarget}
    assert target_for("duckdb:///x/t.duckdb").path == "x/t.duckdb"
    assert PostgresTarget("postgresql://u:pw@h:5/db").adbc_uri == "postgresql://u:pw@h:5/db"


@pytest.mark.parametrize("url, what", [("sqlite:///x.db", "URL scheme 'sqlite'"),
                                       ("mysql+pymysql://root:s3cret@h/db", "URL scheme 'mysql'"),
                                       ("target.duckdb", "a text that is not a URL")])
def test_an_unknown_scheme_is_a_config_error_listing_the_known_ones(url, what):
    with pytest.raises(ConfigError) as exc:
        target_for(url)
    msg = str(exc.value)
    assert what in msg and "known schemes: ['duckdb', 'postgres', 'postgresql']" in msg
    assert "s3cret" not in msg   # a URL may hold a password: never repeated


class Recorder(TargetDatabase):
    """A plug-in target that records what it is asked."""

    schemes = ("testdb",)
    calls: list = []

    def load_run(self, parts, db_schema, *, run, max_drop_ratio=None):
        frames = {n: f for p in parts for n, f in p.frames.items()}
        self.calls.append(("load", self.url, db_schema, sorted(frames), run.run_id))
        return {n: len(f) for n, f in frames.items()}

    def held_runs(self, db_schema):
        return {"current": None, "previous": None}

    def rollback(self, db_schema, run_id):
        return self.held_runs(db_schema)

    def read_table(self, db_schema, name):
        self.calls.append(("read", db_schema, name))
        return pl.DataFrame({"a": [1]})

    def diff_input(self, db_schema, name, out):
        self.calls.append(("diff", db_schema, name, out))
        return f"{self.url}#{db_schema}.{name}"


@pytest.fixture
def recorder():
    register_target(Recorder)
    Recorder.calls = []
    yield Recorder
    del TARGETS["testdb"]


def test_a_registered_target_serves_the_loaders_functions(recorder):
    url = "testdb://somewhere/db"
    frame = pl.DataFrame({"a": [1, 2]})
    assert load_tables({"t": frame}, None, url, "dantai_999997", run_id="r1", dantai_code="999997") == {"t": 2}
    assert read_table(url, "dantai_999997", "t").height == 1
    assert diff_input(url, "dantai_999997", "t", Path("x.parquet")) == "testdb://somewhere/db#dantai_999997.t"
    assert [c[0] for c in recorder.calls] == ["load", "read", "diff"]
    assert recorder.calls[0] == ("load", url, "dantai_999997", ["t"], "r1")


def test_isolation_is_checked_before_any_target_is_asked(recorder):
    from ikou.errors import IsolationError

    with pytest.raises(IsolationError):
        load_tables({}, None, "testdb://x/db", "dantai_131016", run_id="r", dantai_code="999997")
    assert recorder.calls == []


def test_a_scheme_is_served_by_one_target_only(recorder):
    class Other(Recorder):
        schemes = ("testdb",)

    with pytest.raises(ValueError, match="served by Recorder already"):
        register_target(Other)
    assert TARGETS["testdb"] is Recorder
    with pytest.raises(TypeError):   # every target implements the three operations
        type("Half", (TargetDatabase,), {"schemes": ("half",)})("half://x")
