"""A 世帯主 whose 宛名番号 could not be read (bytes CP932 does not define in the key field) is held at extract with
no `record_key`: nothing ties it to a person or a household. Its household, left without a 世帯主 among the rows
validated, is told its 世帯主 may be among the held records (`setai.setainushi_maybe_held`, naming the first
one's rule and line), not that the legacy data has none (`setai.one_setainushi`, "setainushi=0")."""
from __future__ import annotations

import re

import polars as pl
import pytest

from ikou import REPO_ROOT

pytestmark = pytest.mark.usefixtures("prefect_harness")
SAMPLE = REPO_ROOT / "data" / "sample"
DANTAI = "999750"
FIELDS = 21
ATENA, RIREKI, SETAI, ZOKU, JOTAI = 1, 2, 3, 10, 12


def _clean_rows() -> list[bytes]:
    """Vendor A's sample without the persons it plants a fault on (a person held for one would be a held record
    whose household is unknown: every household without a 世帯主 may have it then), as this helper's 団体."""
    faulty = set(pl.read_csv(SAMPLE / "faults.csv", infer_schema=False)["atena_no"].drop_nulls().to_list())
    out = []
    for line in (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes().split(b"\r\n"):
        try:
            f = line.decode("cp932").split(",")
        except UnicodeDecodeError:
            continue
        if len(f) == FIELDS and f[ATENA] not in faulty:
            out.append(DANTAI.encode() + line[len(f[0]):])
    return out


def _household(lines: list[bytes]) -> tuple[list[int], list[str]]:
    """A current household of two or more persons with one 世帯主: (the line indexes of all the 世帯主's rows,
    the other members' 宛名番号)."""
    rows = [(i, *(line.decode("cp932").split(",")[c] for c in (ATENA, RIREKI, SETAI, ZOKU, JOTAI)))
            for i, line in enumerate(lines)]
    df = pl.DataFrame(rows, schema=["i", "atena", "rireki", "setai", "zoku", "jotai"], orient="row")
    df = df.with_columns(pl.col("rireki").cast(pl.Int64))
    current = (df.filter(pl.col("rireki") == pl.col("rireki").max().over("atena")).filter(pl.col("jotai") == "1")
               .with_columns(heads=(pl.col("zoku") == "02").sum().over("setai"), n=pl.len().over("setai")))
    members = current.filter((pl.col("heads") == 1) & (pl.col("n") >= 2)).sort("i")
    members = members.filter(pl.col("setai") == members["setai"][0])
    head = members.filter(pl.col("zoku") == "02")["atena"][0]
    return df.filter(pl.col("atena") == head)["i"].to_list(), members.filter(pl.col("atena") != head)["atena"].to_list()


def test_a_household_whose_head_has_an_unreadable_key_may_have_it_among_the_held_records(tmp_path):
    from ikou.flows.migrate import migration_flow
    from tests.flows.conftest import vendor_a_source, write_config

    lines = _clean_rows()
    head_lines, others = _household(lines)
    for i in head_lines:   # every row of the 世帯主: its 宛名番号 with a pair CP932 does not define
        f = lines[i].split(b",")
        f[ATENA] = f[ATENA][:4] + b"\x85\x40" + f[ATENA][4:]
        lines[i] = b",".join(f)
    src = tmp_path / "JUMIN.csv"
    src.write_bytes(b"\r\n".join(lines) + b"\r\n")
    cfg = write_config(tmp_path, source=vendor_a_source(path=src), target_url=f"duckdb:///{tmp_path / 't.duckdb'}",
                       dantai=DANTAI)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("max_quarantine_rate: 0.05", "max_quarantine_rate: 1.0"),
                   encoding="utf-8")
    summary = migration_flow(config_path=str(cfg))
    qf = pl.read_parquet(tmp_path / "runs" / DANTAI / summary["run_id"] / "quarantine.parquet")

    at_extract = qf.filter((pl.col("stage") == "extract") & pl.col("source_line").is_in([i + 1 for i in head_lines]))
    assert set(at_extract["rule"]) == {"extract.decode"} and at_extract["record_key"].is_null().all()
    assert summary["tables"]["juki_kojin_rireki"]["held_without_key"] == len(head_lines)

    person = pl.col("record_key").str.extract(r"atena_no=([^,]*)")
    household = qf.filter(pl.col("rule").str.starts_with("setai.") & person.is_in(others))
    assert household.height and set(household["rule"]) == {"setai.setainushi_maybe_held"}, \
        household.select("rule", "message_en").rows()[:3]
    m = re.search(r"setai_no=\S+ setainushi=0; setainushi maybe among (\d+) held record\(s\) of unknown household, "
                  r"first (.*)\)$", household["message_en"][0])
    assert m and int(m[1]) == len(head_lines), household["message_en"][0]   # the 世帯主's rows, nothing else held
    line = re.fullmatch(r"held by extract\.decode \(\S+ source_line (\d+)\)", m[2])   # the first, where it is
    assert line and int(line[1]) - 1 in head_lines, m[2]
    assert "世帯主が一人ではありません" not in "".join(household["message_ja"])


def test_records_with_no_readable_key_reach_validation_when_no_key_line_maps_them():
    """A source whose key no single line maps (a multi-table source, a key a `new_key` renumbers) still hands
    validation the records held at extract with no key: a household's 世帯主 may be among them."""
    from types import SimpleNamespace

    from ikou import quarantine as q
    from ikou.flows.pipeline import held_at_extract

    found = q.conform(pl.DataFrame({
        "row_id": [7, 7, 9], "stage": ["extract"] * 3, "severity": ["error", "error", "warning"],
        "rule": ["extract.decode", "extract.field_count", "extract.eof_marker"], "record_key": [None, None, None],
        "source": ["JUMIN.csv"] * 3, "source_line": [8, 8, 10]}))
    plan = SimpleNamespace(mapping=SimpleNamespace(tables=["KOJIN"]))   # multi-table: no key line
    held = held_at_extract(plan, found)
    assert held.select("row_id", "rule", "source_line", "record_key").rows() == [(7, "extract.decode", 8, None)]
