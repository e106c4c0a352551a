"""A MariaDB text column declared latin1 (or another single-byte character set) that holds CP932 bytes — the
classic vendor trap — is read as its bytes and decoded with the layout's encoding, like a BLOB: `横浜市中町`,
never the server's latin1 → UTF-8 mojibake `‰¡•lŽs’†’¬` (whose characters are all valid JIS, so nothing later
caught it). Bytes that are not CP932 are held (extract.decode) naming the column; the columns read so are
named in the extract's metrics (`byte_columns`) and in run.log."""
from __future__ import annotations

import logging

import polars as pl
import pytest
import sqlalchemy as sa

from ikou.extractors.database import extract_table
from ikou.extractors.layout import Layout
from tests.conftest import random_tag

DANTAI = "999733"
ADDRESS = "横浜市中町"
NAME = "山田　太郎"   # the full-width blank is 0x81 0x40: 0x81 is a cell cp1252 leaves undefined


def _layout(encoding: str) -> Layout:
    return Layout.model_validate({
        "spec_version": 1, "name": "fxb.latin1", "format": "table", "encoding": encoding, "key": ["ID"],
        "columns": [{"name": n, "ja": f"{n}項目"} for n in ("ID", "ADDRESS", "NAME", "NOTE", "CODE")]})


@pytest.fixture
def latin1_table(mariadb_url):
    """(url, database): a MariaDB database of this test only with table P_LATIN1, dropped afterwards."""
    db = f"fxb_{random_tag()}"
    engine = sa.create_engine(mariadb_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
        conn.exec_driver_sql(f"CREATE TABLE `{db}`.P_LATIN1 (ID varchar(10), "
                             "ADDRESS varchar(100) CHARACTER SET latin1, NAME char(20) CHARACTER SET latin1, "
                             "NOTE varchar(40), CODE varchar(4) CHARACTER SET ascii)")
        rows = [("0001", ADDRESS.encode("cp932"), NAME.encode("cp932"), "備考", "A1"),
                ("0002", b"\x82", None, None, None),             # a lead byte with nothing after it: not CP932
                ("0003", "本町".encode("cp932"), b"", None, "B2")]
        for i, a, n, note, code in rows:
            conn.execute(sa.text(f"INSERT INTO `{db}`.P_LATIN1 VALUES (:i, CONVERT(:a USING latin1), "
                                 "CONVERT(:n USING latin1), :note, :code)"),
                         {"i": i, "a": a, "n": n, "note": note, "code": code})
    yield mariadb_url, db
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{db}`")
    engine.dispose()


def _extract(url, db, layout, tmp_path, out="s.parquet"):
    r = extract_table(url, "P_LATIN1", layout, out_path=tmp_path / out, source_name="fxb_jumin", source_ordinal=1,
                      run_id="r", schema=db, dantai_code=DANTAI, target_table="t")
    return r, pl.read_parquet(r.staging)


def test_a_latin1_column_holding_cp932_bytes_is_decoded_with_the_layout_encoding(latin1_table, tmp_path, caplog):
    url, db = latin1_table
    with caplog.at_level(logging.WARNING, logger="ikou"):
        r, df = _extract(url, db, _layout("cp932"), tmp_path)
    assert df.select("ID", "ADDRESS", "NAME", "NOTE", "CODE").rows() == [
        ("0001", ADDRESS, NAME, "備考", "A1"), ("0003", "本町", "", None, "B2")]
    assert r.extra["byte_columns"] == ["ADDRESS", "NAME", "CODE"]   # NOTE is utf8mb4: read as text
    # the user is told which columns were read as bytes, never their values
    logged = " ".join(rec.getMessage() for rec in caplog.records)
    assert "ADDRESS (latin1)" in logged and "CODE (ascii)" in logged and "cp932" in logged
    assert "バイト列として読み" in logged
    assert ADDRESS not in logged and "横浜" not in logged


def test_bytes_of_a_latin1_column_that_are_not_cp932_are_held_naming_the_column(latin1_table, tmp_path):
    url, db = latin1_table
    r, _ = _extract(url, db, _layout("cp932"), tmp_path)
    assert r.quarantine.select("source_line", "column", "rule", "record_key").rows() == [
        (2, "ADDRESS", "extract.decode", "ID=0002")]
    assert (r.rows_read, r.rows_ok) == (3, 2)
    msg = r.quarantine["message_en"][0] + r.quarantine["message_ja"][0]
    assert "ADDRESS" in msg and "cp932" in msg


def test_a_latin1_column_is_read_as_text_when_the_layout_encoding_is_not_japanese(latin1_table, tmp_path):
    """A layout saying utf-8 reads the column as the server's text, as before (a latin1 column of a
    Western system holds Western text)."""
    url, db = latin1_table
    r, df = _extract(url, db, _layout("utf-8"), tmp_path)
    assert r.extra["byte_columns"] == []
    assert df.filter(pl.col("ID") == "0003")["ADDRESS"].to_list() == ["本町".encode("cp932").decode("cp1252")]
