"""A Shift_JIS-2004 export declared cp932: most records decode, some as other, valid characters (䉤田 → 寘田) that
文字同定 accepts and the diff (same codec) does not see; the few that do not decode are held, under the held-rate
limit. The run must still not pass: the encoding those records read in is recorded (summary.json
`sources.<name>.likely_encoding`), named in their findings and a sign-off blocker names the file and it."""
from __future__ import annotations

import json

import polars as pl
import pytest

from ikou import REPO_ROOT
from tests.flows.conftest import vendor_a_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
SAMPLE = REPO_ROOT / "data" / "sample"
DANTAI = "999831"
SHIMEI = 6


def _sample_as_shift_jis_2004(path) -> tuple[int, int]:
    """The sample's records that decode and re-encode cleanly, as this 団体's, written in Shift_JIS-2004, with a
    name only JIS X 0213 has that CP932 reads as another kanji (䉤, ED8D → 寘) and one it cannot read (鷗, EFE3).
    Returns (records written, the line of the 鷗 record)."""
    out = []
    for raw in (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes().split(b"\r\n"):
        try:
            text = raw.decode("cp932")
        except UnicodeDecodeError:
            continue
        f = text.split(",")
        if len(f) != 21 or f[0] != "999997":
            continue
        f[0] = DANTAI
        if len(out) in (10, 40):
            f[SHIMEI] = "䉤田　一郎" if len(out) == 10 else "森　鷗外"
        try:
            out.append(",".join(f).encode("shift_jis_2004"))
        except UnicodeEncodeError:
            continue
    path.write_bytes(b"\r\n".join(out) + b"\r\n")
    return len(out), 41


def test_a_file_reading_as_another_encoding_blocks_the_signoff_even_under_the_held_limit(tmp_path):
    from ikou.flows.migrate import migration_flow

    src = tmp_path / "JUMIN.csv"
    n, line = _sample_as_shift_jis_2004(src)
    cfg = write_config(tmp_path, source=vendor_a_source(path=src), target_url=f"duckdb:///{tmp_path / 't.duckdb'}",
                       dantai=DANTAI)
    summary = migration_flow(config_path=str(cfg))
    run_dir = tmp_path / "runs" / DANTAI / summary["run_id"]
    record = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert record["sources"]["vendor_a_jumin"]["likely_encoding"] == "shift_jis_2004"
    qf = pl.read_parquet(run_dir / "quarantine.parquet")
    decode = qf.filter(pl.col("rule") == "extract.decode")
    assert line in decode["source_line"].to_list()   # and the sample's other characters CP932 lacks
    assert decode["message_ja"].str.contains("Shift_JIS-2004 として読めます", literal=True).all()
    table = record["tables"]["juki_kojin_rireki"]
    assert table["quarantined"] / table["extracted"] <= 0.05          # under the held limit: no held-rate line
    lines = [b for b in record["sign_off_blockers"] if "Shift_JIS-2004" in b]
    assert len(lines) == 1
    assert "JUMIN.csv" in lines[0] and "shift_jis_2004" in lines[0] and "cp932" in lines[0]
    assert " / " in lines[0]                                           # Japanese and English
    assert "䉤" not in lines[0] and "寘" not in lines[0] and "鷗" not in lines[0]   # no value, no name
