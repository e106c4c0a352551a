"""A history row the parser could not cut into the layout's fields (a field too many: `,EXTRA` appended)
still names itself by its key (`ATENA_NO=…,RIREKI_NO=…`: the leading codes before the damage are where the
layout says, `keys.raw_fields_key`), so it holds the rest of that person's history with it
(`held_together`): 現在の個人 never shows a state the person has left."""
from __future__ import annotations

import polars as pl
import pytest

from ikou import REPO_ROOT
from tests.flows.conftest import vendor_a_source, write_config
from tests.flows.test_held_at_extract import _person_with_history

pytestmark = pytest.mark.usefixtures("prefect_harness")
SAMPLE = REPO_ROOT / "data" / "sample"


def test_a_row_with_a_field_too_many_holds_the_rest_of_the_persons_history(tmp_path):
    from ikou.flows.migrate import migration_flow
    from ikou.loaders import read_table

    lines = (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes().split(b"\r\n")
    atena, idx = _person_with_history(lines)
    last = max(idx, key=lambda i: int(lines[i].split(b",")[2]))
    rireki = lines[last].split(b",")[2].decode()
    lines[last] += b",EXTRA"                          # a field too many: extract.field_count
    src = tmp_path / "JUMIN.csv"
    src.write_bytes(b"\r\n".join(lines))
    target = f"duckdb:///{tmp_path / 't.duckdb'}"
    summary = migration_flow(config_path=str(write_config(tmp_path, source=vendor_a_source(path=src),
                                                          target_url=target)))
    assert summary["status"] == "succeeded"
    run_dir = tmp_path / "runs" / "999997" / summary["run_id"]
    qf = pl.read_parquet(run_dir / "quarantine.parquet")
    at_extract = qf.filter((pl.col("stage") == "extract") & (pl.col("source_line") == last + 1))
    assert at_extract["rule"].to_list() == ["extract.field_count"]
    assert at_extract["record_key"].to_list() == [f"ATENA_NO={atena.decode()},RIREKI_NO={rireki}"]
    together = qf.filter(pl.col("rule") == "rireki.held_together")
    assert set(together["source_line"].to_list()) == {i + 1 for i in idx if i != last}
    a = atena.decode()
    assert read_table(target, "dantai_999997", "juki_kojin_rireki").filter(pl.col("atena_no") == a).height == 0
    assert read_table(target, "dantai_999997", "juki_kojin").filter(pl.col("atena_no") == a).height == 0
    t = summary["tables"]["juki_kojin_rireki"]
    assert t["extracted"] == t["loaded"] + t["quarantined"]
