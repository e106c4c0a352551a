"""A history row held at extract (bytes CP932 does not define in its 住所, or a field too many) holds the
rest of that person's history with it (`held_together`), as a row held at map does: 現在の個人 never shows
a state the person has left. The extract quarantine names the record by its key (`ATENA_NO=…,RIREKI_NO=…`:
the leading codes before the damage are where the layout says); a record whose key itself is cut blocks
the sign-off."""
from __future__ import annotations

import unicodedata
from collections import defaultdict

import polars as pl
import pytest

from ikou import REPO_ROOT
from tests.flows.conftest import vendor_a_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
SAMPLE = REPO_ROOT / "data" / "sample"
JUSHO, FIELDS = 17, 21


def _person_with_history(lines: list[bytes]) -> tuple[bytes, list[int]]:
    """A person with two or more clean history rows and no planted fault: (宛名番号, line indexes)."""
    faulty = set(pl.read_csv(SAMPLE / "faults.csv", infer_schema=False)["atena_no"].drop_nulls().to_list())
    rows: dict[bytes, list[int]] = defaultdict(list)
    for i, line in enumerate(lines):
        f = line.split(b",")
        if len(f) == FIELDS:
            rows[f[1]].append(i)
    def clean(line: bytes) -> bool:
        try:
            return not any(unicodedata.category(ch) in ("Cc", "Cf", "Co") for ch in line.decode("cp932"))
        except UnicodeDecodeError:
            return False

    for atena, idx in rows.items():
        if len(idx) >= 2 and atena.decode() not in faulty and all(clean(lines[i]) for i in idx):
            return atena, idx
    raise AssertionError("the sample has no person with a clean history")


def _undecodable_address(f: list[bytes]) -> None:
    f[JUSHO] = f[JUSHO][:4] + b"\x85\x40"   # a pair CP932 does not define, after the first character


def _field_too_many(f: list[bytes]) -> None:
    f.append(b"EXTRA")                          # the leading codes are still where the layout says


def _comma_inside_the_key(f: list[bytes]) -> None:
    f[1] = f[1][:5] + b"," + f[1][5:]           # 宛名番号 cut in two: nothing ties the record to its person


def _run_damaging_the_last_row(tmp_path, damage) -> tuple[dict, pl.DataFrame, str, list[int], int, list[bytes], str]:
    """The sample with the latest history row of a clean person damaged: (summary, quarantine, 宛名番号,
    the person's line indexes, the damaged one, its fields before the damage, the target URL)."""
    from ikou.flows.migrate import migration_flow

    lines = (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes().split(b"\r\n")
    atena, idx = _person_with_history(lines)
    last = max(idx, key=lambda i: int(lines[i].split(b",")[2]))
    fields = lines[last].split(b",")
    damaged = list(fields)
    damage(damaged)
    lines[last] = b",".join(damaged)
    src = tmp_path / "JUMIN.csv"
    src.write_bytes(b"\r\n".join(lines))
    target = f"duckdb:///{tmp_path / 't.duckdb'}"
    summary = migration_flow(config_path=str(write_config(tmp_path, source=vendor_a_source(path=src),
                                                          target_url=target)))
    qf = pl.read_parquet(tmp_path / "runs" / "999997" / summary["run_id"] / "quarantine.parquet")
    return summary, qf, atena.decode(), idx, last, fields, target


@pytest.mark.parametrize("damage, rule", [(_undecodable_address, "extract.decode"),
                                          (_field_too_many, "extract.field_count")])
def test_a_row_held_at_extract_holds_the_rest_of_the_persons_history(tmp_path, damage, rule):
    from ikou.loaders import read_table

    summary, qf, a, idx, last, f, target = _run_damaging_the_last_row(tmp_path, damage)
    assert summary["status"] == "succeeded"
    at_extract = qf.filter((pl.col("stage") == "extract") & (pl.col("source_line") == last + 1))
    assert at_extract["rule"].to_list() == [rule]
    assert at_extract["record_key"].to_list() == [f"ATENA_NO={a},RIREKI_NO={f[2].decode()}"]
    together = qf.filter(pl.col("rule") == "rireki.held_together")
    assert set(together["source_line"].to_list()) == {i + 1 for i in idx if i != last}
    assert read_table(target, "dantai_999997", "juki_kojin_rireki").filter(pl.col("atena_no") == a).height == 0
    assert read_table(target, "dantai_999997", "juki_kojin").filter(pl.col("atena_no") == a).height == 0
    t = summary["tables"]["juki_kojin_rireki"]
    assert t["extracted"] == t["loaded"] + t["quarantined"] and not t["held_without_key"]


def test_a_record_held_at_extract_without_a_readable_key_blocks_the_sign_off(tmp_path):
    """A comma inside 宛名番号 cuts the key itself: the record is held, but nothing can tie it to its
    person, so the rest of that history may load: counted, and a sign-off blocker says so."""
    summary, *_ = _run_damaging_the_last_row(tmp_path, _comma_inside_the_key)
    assert summary["tables"]["juki_kojin_rireki"]["held_without_key"] == 1
    assert [b for b in summary["sign_off_blockers"] if b.startswith("juki_kojin_rireki:") and "キーを読めません" in b]
