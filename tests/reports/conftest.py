"""Hand-made legacy/new pairs with every planted difference written out."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest


# 旧システム (left) and 新システム (right). Planted, per key:
#   00001 equal; 00002 shimei changed; 00003 jusho null on both sides (equal) and kana '' vs null
#   (equal: empty is null); 00004 jusho trailing space (a difference); 00005 jusho value → null;
#   00123 only left; 123 only right (leading zeros make different keys); 00006 kojin_no changed.
LEFT = """atena_no,shimei,shimei_kana,jusho,kojin_no,zeigaku
00001,山田太郎,ヤマダタロウ,架空市本町1-1,123456789018,1000
00002,鈴木花子,スズキハナコ,架空市本町1-2,234567890128,2000
00003,佐藤一,,,,300
00004,田中次郎,タナカジロウ,架空市本町1-4,,400
00005,高橋三郎,タカハシサブロウ,架空市本町1-5,,500
00006,伊藤四郎,イトウシロウ,架空市本町1-6,456789012347,600
00123,渡辺五郎,ワタナベゴロウ,架空市本町1-7,,700
"""
RIGHT = """atena_no,shimei,shimei_kana,jusho,kojin_no,zeigaku
00001,山田太郎,ヤマダタロウ,架空市本町1-1,123456789018,1000
00002,鈴木花代,スズキハナコ,架空市本町1-2,234567890128,2000
00003,佐藤一,"",,,300
00004,田中次郎,タナカジロウ,架空市本町1-4 ,,400
00005,高橋三郎,タカハシサブロウ,,,500
00006,伊藤四郎,イトウシロウ,架空市本町1-6,567890123456,600
123,渡辺五郎,ワタナベゴロウ,架空市本町1-7,,700
"""
EXPECTED = {"left_rows": 7, "right_rows": 7, "matched": 6, "only_left": 1, "only_right": 1,
            "changed_rows": 4,
            "changed_cells": {"shimei": 1, "shimei_kana": 0, "jusho": 2, "kojin_no": 1,
                              "zeigaku": 0}}
KOJIN_NOS = ["123456789018", "234567890128", "456789012347", "567890123456"]


@pytest.fixture
def pair_csv(tmp_path: Path) -> tuple[Path, Path]:
    left, right = tmp_path / "left.csv", tmp_path / "right.csv"
    left.write_text(LEFT, encoding="utf-8")
    right.write_text(RIGHT, encoding="utf-8")
    return left, right


@pytest.fixture
def pair_parquet(tmp_path: Path, pair_csv) -> tuple[Path, Path]:
    out = []
    for p in pair_csv:
        q = p.with_suffix(".parquet")
        # blanks written as "" (not null) so the Parquet path exercises empty → null
        pl.read_csv(p, infer_schema=False).with_columns(pl.all().fill_null("")).write_parquet(q)
        out.append(q)
    return tuple(out)


@pytest.fixture
def expected() -> dict:
    return EXPECTED


@pytest.fixture
def kojin_nos() -> list[str]:
    return KOJIN_NOS


@pytest.fixture(scope="session")
def vendor_a_run(tmp_path_factory, prefect_harness) -> tuple[Path, Path]:
    """One real run of vendor A's 住民記録 into DuckDB (the run folder, the target file), shared by the
    evidence and workbook tests, which only read it (or copies of it)."""
    from ikou.flows.migrate import migration_flow
    from tests.flows.conftest import vendor_a_source, write_config

    tmp = tmp_path_factory.mktemp("vendor_a_run")
    s = migration_flow(config_path=str(write_config(tmp, source=vendor_a_source(),
                                                    target_url=f"duckdb:///{tmp / 't.duckdb'}")))
    return tmp / "runs" / s["dantai"] / s["run_id"], tmp / "t.duckdb"


@pytest.fixture
def run(vendor_a_run, tmp_path, monkeypatch) -> Path:
    """A copy of vendor A's shared run (one unresolved 外字: a blocker), to sign off and edit."""
    import shutil

    monkeypatch.delenv("IKOU_EVIDENCE_KEY", raising=False)
    copy = tmp_path / "run"
    shutil.copytree(vendor_a_run[0], copy)
    return copy
