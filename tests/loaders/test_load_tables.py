"""Load stage (loaders/): DuckDB file and the real PostgreSQL, replaced atomically, text verbatim."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from ikou import REPO_ROOT
from ikou.errors import ConfigError, IsolationError
from ikou.loaders import LoadRejected, load_tables, read_table
from ikou.loaders.derive import derive_all
from ikou.schema import load_schema
from tests.conftest import random_tag

SCHEMA = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")
COLS = [c.name for c in SCHEMA.tables["juki_kojin_rireki"].columns]
DANTAI = "999997"


def rireki(rows: list[dict]) -> pl.DataFrame:
    full = [{c: None for c in COLS} | {"dantai_code": DANTAI, "seibetsu_code": "1", "seinengappi": "1970-03-02",
                                       "jumin_shubetsu_code": "1", "jumin_jotai_code": "1",
                                       "ido_jiyu_code": "01", "ido_date": "2020-04-01"} | r for r in rows]
    df = pl.DataFrame(full, schema={c: pl.Int64 if c == "rireki_no" else pl.String for c in COLS}, orient="row")
    # frames arrive from earlier stages with lineage columns: the loader keeps declared columns only
    return df.with_row_index("_row_id").with_columns(pl.col("_row_id").cast(pl.Int64),
                                                      pl.lit("jumin.csv").alias("_source"))


def person(atena: str, rireki_no: int, setai: str, zokugara: str, **kw) -> dict:
    return {"atena_no": atena, "rireki_no": rireki_no, "setai_no": setai, "zokugara_code": zokugara,
            "shimei": f"氏名{atena}", **kw}


def frames_of(rows: list[dict]) -> dict[str, pl.DataFrame]:
    return derive_all(SCHEMA, {"juki_kojin_rireki": rireki(rows)})


FIRST = [person("A1", 1, "S1", "02"), person("A1", 2, "S1", "02"), person("A2", 1, "S1", "12"),
         person("B1", 1, "S2", "02")]
SECOND = [person("C1", 1, "S3", "02"), person("C2", 1, "S3", "51")]

TRICKY = [
    person("T1", 1, "S1", "02", shimei="渡邉\U000E0119太郎", katagaki="", banchi=None, jusho="\ue000町"),
    person("T2", 1, "S1", "12", shimei="髙﨑　花子", katagaki="  ", banchi='1-2 "A"棟,3号', jusho="改行\nあり"),
    person("T3", 1, "S1", "51", shimei="𠮷田", katagaki=None, banchi="", jusho="NULL"),
]


@pytest.fixture
def duck_url(tmp_path) -> str:
    return f"duckdb:///{tmp_path / 'target' / 'juki.duckdb'}"


@pytest.fixture
def pg_schema(postgres_url):
    """A fresh schema that still carries the 団体コード; dropped afterwards."""
    name = f"dantai_{DANTAI}_t{random_tag()}"
    yield name
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        for schema in (name, name + "__prev", name + "__next"):
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


@pytest.fixture(params=["duckdb", "postgresql"])
def target(request, tmp_path) -> tuple[str, str]:
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'target' / 'juki.duckdb'}", f"dantai_{DANTAI}"
    url = request.getfixturevalue("postgres_url")
    return url, request.getfixturevalue("pg_schema")


@pytest.fixture(params=["frame", "parquet"])
def as_input(request, tmp_path):
    """Frames go to the loader as in-memory frames or as staged Parquet files (streamed)."""
    def convert(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame | Path]:
        if request.param == "frame":
            return frames
        folder = tmp_path / f"staged_{random_tag(6)}"
        folder.mkdir()
        out: dict[str, pl.DataFrame | Path] = {}
        for name, df in frames.items():
            out[name] = folder / f"{name}.parquet"
            df.write_parquet(out[name])
        return out
    return convert


def load(frames, url, db_schema, run_id="run-1"):
    return load_tables(frames, SCHEMA, url, db_schema, run_id=run_id, dantai_code=DANTAI)


def table_count(url: str, db_schema: str, name: str) -> int:
    return read_table(url, db_schema, name).height


def test_counts_returned_match_the_tables(target, as_input):
    url, db_schema = target
    frames = as_input(frames_of(FIRST))
    counts = load(frames, url, db_schema)
    assert counts == {"juki_kojin_rireki": 4, "juki_kojin": 3, "juki_setai": 2}
    for name, n in counts.items():
        assert table_count(url, db_schema, name) == n
    back = read_table(url, db_schema, "juki_kojin_rireki")
    assert back.columns == COLS
    assert sorted(back.select("atena_no", "rireki_no").rows()) == [("A1", 1), ("A1", 2), ("A2", 1), ("B1", 1)]
    setai = read_table(url, db_schema, "juki_setai").sort("setai_no")
    assert setai.select("setai_no", "setainushi_atena_no", "setaiin_su").rows() == [("S1", "A1", 2), ("S2", "B1", 1)]


def test_second_load_replaces_instead_of_appending(target, as_input):
    url, db_schema = target
    load(frames_of(FIRST), url, db_schema, run_id="run-1")
    counts = load(as_input(frames_of(SECOND)), url, db_schema, run_id="run-2")
    assert counts["juki_kojin_rireki"] == 2
    back = read_table(url, db_schema, "juki_kojin_rireki")
    assert sorted(back["atena_no"].to_list()) == ["C1", "C2"]


def test_load_log_gets_a_row_per_table_per_load(target):
    url, db_schema = target
    load(frames_of(FIRST), url, db_schema, run_id="run-1")
    load(frames_of(SECOND), url, db_schema, run_id="run-2")
    log = read_table(url, db_schema, "ikou_load_log").sort("run_id", "table_name")
    assert log.select("run_id", "table_name", "rows").rows() == [
        ("run-1", "juki_kojin", 3), ("run-1", "juki_kojin_rireki", 4), ("run-1", "juki_setai", 2),
        ("run-2", "juki_kojin", 2), ("run-2", "juki_kojin_rireki", 2), ("run-2", "juki_setai", 1),
    ]
    assert log["loaded_at"].null_count() == 0


@pytest.mark.parametrize("broken", ["duplicate_primary_key", "null_in_required_column"])
def test_failed_load_leaves_previous_contents_intact(target, broken, as_input):
    url, db_schema = target
    load(frames_of(FIRST), url, db_schema, run_id="run-1")
    before = {n: read_table(url, db_schema, n).sort(pl.all()) for n in ("juki_kojin_rireki", "juki_kojin")}
    frames = frames_of(SECOND)
    good_setai = frames["juki_setai"]
    if broken == "duplicate_primary_key":   # the last table loaded fails, after the others went in
        frames["juki_setai"] = pl.concat([good_setai, good_setai])
    else:
        frames["juki_setai"] = good_setai.with_columns(pl.lit(None, pl.String).alias("setai_no"))
    assert list(frames)[-1] == "juki_setai"
    # the constraint error reaches the caller as a terminal ikou error carrying the run id
    with pytest.raises(LoadRejected, match="rolled back"):
        load(as_input(frames), url, db_schema, run_id="run-2")
    for n, df in before.items():
        assert read_table(url, db_schema, n).sort(pl.all()).equals(df)
    assert table_count(url, db_schema, "juki_setai") == 2
    log = read_table(url, db_schema, "ikou_load_log")
    assert set(log["run_id"]) == {"run-1"}


def test_schema_without_the_dantai_code_is_refused(target):
    url, _ = target
    with pytest.raises(IsolationError, match="131016"):
        load_tables(frames_of(FIRST), SCHEMA, url, "dantai_131016", run_id="r", dantai_code=DANTAI)


def test_empty_strings_nulls_ivs_and_pua_survive_as_themselves(target, as_input):
    url, db_schema = target
    load(as_input(frames_of(TRICKY)), url, db_schema)
    back = read_table(url, db_schema, "juki_kojin_rireki").sort("atena_no")
    got = back.select("atena_no", "shimei", "katagaki", "banchi", "jusho").rows()
    assert got == [
        ("T1", "渡邉\U000E0119太郎", "", None, "\ue000町"),
        ("T2", "髙﨑　花子", "  ", '1-2 "A"棟,3号', "改行\nあり"),
        ("T3", "𠮷田", None, "", "NULL"),
    ]
    assert len(got[0][1]) == 5  # the variation selector is kept, not normalised away


@pytest.mark.parametrize("kind", ["duckdb", "postgresql"])
def test_text_spelling_the_copy_null_marker_survives(kind, tmp_path, request):
    if kind == "duckdb":
        url, db_schema = f"duckdb:///{tmp_path / 'j.duckdb'}", f"dantai_{DANTAI}"
    else:
        url, db_schema = request.getfixturevalue("postgres_url"), request.getfixturevalue("pg_schema")
    load(frames_of([person("T1", 1, "S1", "02", katagaki="\\N", banchi=None)]), url, db_schema)
    back = read_table(url, db_schema, "juki_kojin_rireki")
    assert back.select("katagaki", "banchi").rows() == [("\\N", None)]


def test_unreachable_postgresql_is_a_transient_error_with_the_run_id():
    from ikou.errors import TransientError

    with pytest.raises(TransientError) as exc:
        load_tables(frames_of(FIRST), SCHEMA, "postgresql://postgres@127.0.0.1:1/none", f"dantai_{DANTAI}",
                    run_id="run-x", dantai_code=DANTAI)
    assert exc.value.run_id == "run-x"


def test_an_unreachable_target_names_host_and_port_in_japanese_never_the_password():
    from ikou.errors import TransientError, message_ja

    with pytest.raises(TransientError) as exc:
        load_tables(frames_of(FIRST), SCHEMA, "postgresql://postgres:s3cretPW@127.0.0.1:1/none", f"dantai_{DANTAI}",
                    run_id="run-x", dantai_code=DANTAI)
    ja = message_ja(exc.value)
    assert "移行先データベース 127.0.0.1:1/none に接続できません" in ja and "target.url" in ja, ja
    assert "s3cretPW" not in ja + str(exc.value)


def test_unsupported_target_is_refused():
    with pytest.raises(ConfigError, match="no target database for URL scheme 'sqlite'"):
        load(frames_of(FIRST), "sqlite:///x.db", f"dantai_{DANTAI}")


DECIMAL_SCHEMA = """
spec_version: 1
gyomu: zei
ja: 税
tables:
  kazei:
    ja: 課税
    primary_key: [atena_no]
    columns:
      - {name: atena_no,  ja: 宛名番号, type: text, required: true}
      - {name: nendo,     ja: 年度,     type: integer}
      - {name: zeigaku,   ja: 税額,     type: decimal, scale: 2}
      - {name: biko,      ja: 備考,     type: text}
"""


def test_postgres_keeps_each_decimal_value_at_its_declared_scale(tmp_path, postgres_url, pg_schema):
    """NUMERIC(p, s) as the schema declares it: '12.50' comes back 12.50 and '3' as 3.00 (the same value), never
    rounded (a decimal declares its scale: ikou.schema)."""
    from ikou.schema import load_schema as load

    path = tmp_path / "zei.yaml"
    path.write_text(DECIMAL_SCHEMA, encoding="utf-8")
    zei = load(path)
    frame = pl.DataFrame({"atena_no": ["A1", "A2", "A3"], "nendo": [2026, None, 2025],
                          "zeigaku": ["12.50", None, "3"], "biko": ["\\N", "", None]},
                         schema={"atena_no": pl.String, "nendo": pl.Int64, "zeigaku": pl.String, "biko": pl.String})
    counts = load_tables({"kazei": frame}, zei, postgres_url, pg_schema, run_id="r", dantai_code=DANTAI)
    assert counts == {"kazei": 3}
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(f'SELECT atena_no, nendo, zeigaku::text, biko FROM "{pg_schema}".kazei '
                                        "ORDER BY atena_no").fetchall()
            kind = conn.exec_driver_sql(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = %(s)s AND column_name = 'zeigaku'",
                {"s": pg_schema}).scalar()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("A1", 2026, "12.50", "\\N"), ("A2", None, None, ""), ("A3", 2025, "3.00", None)]
    assert kind == "numeric"


def test_postgres_diff_input_is_the_loaded_table_as_text(tmp_path, postgres_url, pg_schema):
    from ikou.loaders import diff_input

    load(frames_of(FIRST + SECOND + TRICKY), postgres_url, pg_schema)
    out = diff_input(postgres_url, pg_schema, "juki_kojin_rireki", tmp_path / "t.parquet")
    got = pl.read_parquet(out)
    want = read_table(postgres_url, pg_schema, "juki_kojin_rireki").cast(pl.String)
    assert got.schema == want.schema and got.columns == COLS
    assert got.sort("atena_no", "rireki_no").equals(want.sort("atena_no", "rireki_no"))
    assert got.filter(pl.col("atena_no") == "A1")["rireki_no"].sort().to_list() == ["1", "2"]


def test_postgres_refusal_names_the_constraint_not_the_row(postgres_url, pg_schema):
    """PostgreSQL's DETAIL repeats the failing row (names, 個人番号): it must not reach the error or its chain."""
    frames = frames_of([person("A1", 1, "S1", "02", shimei="秘密　花子", kojin_no="123456789018")])
    frames["juki_kojin_rireki"] = frames["juki_kojin_rireki"].with_columns(pl.lit(None, pl.String).alias("setai_no"))
    with pytest.raises(LoadRejected) as exc:
        load(frames, postgres_url, pg_schema)
    text = str(exc.value)
    assert "setai_no" in text and "秘密" not in text and "123456789018" not in text
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_postgres_refused_row_is_not_written_to_the_server_log(postgres_url, pg_schema):
    """The server logs a refused COPY row's DETAIL ("Failing row contains (…)") unless the load session is terse:
    the name and 個人番号 of the row must not reach PostgreSQL's log either."""
    logs = sorted(Path("/var/log/postgresql").glob("postgresql-*-main.log"))
    if not logs or not all(p.is_file() for p in logs):
        pytest.skip("no PostgreSQL server log readable on this machine")
    start = {p: p.stat().st_size for p in logs}
    tag = random_tag()
    kojin_no = "9" + "".join(str(ord(c) % 10) for c in tag)[:10]
    frames = frames_of([person("A1", 1, "S1", "02", shimei=f"秘密{tag}", kojin_no=kojin_no)])
    frames["juki_kojin_rireki"] = frames["juki_kojin_rireki"].with_columns(pl.lit(None, pl.String).alias("setai_no"))
    with pytest.raises(LoadRejected):
        load(frames, postgres_url, pg_schema)
    written = b"".join(p.read_bytes()[start[p]:] for p in logs).decode("utf-8", "replace")
    assert 'null value in column "setai_no"' in written   # the refusal was logged, terse
    assert tag not in written and kojin_no not in written and "Failing row" not in written
