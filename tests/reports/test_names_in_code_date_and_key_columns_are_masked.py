"""A name typed into a column that holds a code, a date, a number or a key (性別, 生年月日, 異動年月日, 続柄, 異動事由,
住民種別, 履歴番号), or a vendor file with 氏名 and 性別 swapped on every line, is never shown as written: not in
quarantine.csv, report.html, report.xlsx nor the run's diff (only_left.csv, report.html). Such a value is shown by its
shape (「＊＊ (漢字4字…)」), in the record key too; an ASCII value in a code column (what an engineer fixes a code
by) and a free-text 住所 stay shown (privacy.shown_expr)."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ikou import REPO_ROOT
from tests.flows.conftest import vendor_a_source, write_config
from tests.ikou.test_privacy_name_never_shown_by_bytes_or_in_number_columns import _texts

pytestmark = pytest.mark.usefixtures("prefect_harness")
SAMPLE = REPO_ROOT / "data" / "sample"
DANTAI = "999792"
RIREKI, SHIMEI, SEIBETSU, SEINENGAPPI, ZOKUGARA, SHUBETSU, IDO_JIYU, IDO_YMD = 2, 6, 8, 9, 10, 11, 13, 14
PLANTED = {SEIBETSU: "鵺川　一郎", SEINENGAPPI: "鵺川　二郎", IDO_YMD: "鵺川三郎", RIREKI: "鵺川四郎",
           ZOKUGARA: "ﾇｴｶﾜ ｺﾞﾛｳ", IDO_JIYU: "鵺川六郎", SHUBETSU: "ぬえかわ七郎"}
PARTS = ["鵺川", "ﾇｴｶﾜ", "ｺﾞﾛｳ", "ぬえかわ", "一郎", "二郎", "三郎", "四郎", "六郎", "七郎"]


def _shown_files(run_dir: Path) -> list[Path]:
    files = [run_dir / f for f in ("quarantine.csv", "report.html", "report.xlsx")]
    files += sorted(p for p in (run_dir / "diff").rglob("*") if p.suffix in (".csv", ".html"))
    return [f for f in files if f.is_file()]


def _lines(n: int) -> list[list[str]]:
    lines = [ln.decode("cp932") for ln in (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes().split(b"\r\n")[:n]]
    rows = [ln.split(",") for ln in lines]
    for r in rows:
        r[0] = DANTAI
    return rows


def _run(tmp: Path, rows: list[list[str]], rate: float) -> tuple[int, Path]:
    from ikou.flows.run_cli import execute

    src = tmp / "JUMIN.csv"
    src.write_bytes(("\r\n".join(",".join(r) for r in rows) + "\r\n").encode("utf-8"))
    source = vendor_a_source(path=src).replace("encoding: cp932", "encoding: utf-8")
    cfg = write_config(tmp, source=source, target_url=f"duckdb:///{tmp / 't.duckdb'}", dantai=DANTAI)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("max_quarantine_rate: 0.05", f"max_quarantine_rate: {rate}"),
                   encoding="utf-8")
    rc = execute(cfg, quiet=True)
    (run_dir,) = [p for p in (tmp / "runs" / DANTAI).iterdir() if (p / "summary.json").is_file()]
    return rc, run_dir


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fx_namecode")
    rows = _lines(40)
    firsts = [i for i, r in enumerate(rows) if r[RIREKI] == "1"]
    for i, (col, name) in zip(firsts, PLANTED.items()):
        rows[i][col] = name
    rows[firsts[0]][SHIMEI] = "1"                       # 氏名 and 性別 swapped on this line
    rows[firsts[len(PLANTED)]][SEIBETSU] = "X7"        # an ASCII code: what an engineer needs, shown
    rc, run_dir = _run(tmp, rows, 0.5)
    assert rc == 0
    return run_dir


def test_a_name_in_a_code_date_or_key_column_is_shown_nowhere(planted):
    q = pl.read_parquet(planted / "quarantine.parquet")
    held = set(q["value"].drop_nulls()) | {k for k in q["record_key"].drop_nulls() for n in PLANTED.values() if n in k}
    assert set(PLANTED.values()) - {PLANTED[RIREKI]} <= held   # the restricted Parquet keeps them as written
    files = _shown_files(planted)
    assert {f.name for f in files} >= {"quarantine.csv", "report.html", "report.xlsx", "only_left.csv"}
    for f in files:
        text = _texts(f)
        leaked = [p for p in PARTS if p in text]
        assert not leaked, (f, leaked)


def test_the_masked_values_keep_their_shape_and_ascii_codes_and_addresses_stay_shown(planted):
    shown = pl.read_csv(planted / "quarantine.csv", infer_schema=False)
    seibetsu = shown.filter(pl.col("column") == "seibetsu_code")
    assert "X7" in seibetsu["value"].to_list()
    assert "＊＊ (漢字4字・かな0字・計5字 / 4 kanji, 0 kana, 5 in all)" in seibetsu["value"].to_list()
    keyed = [k for k in shown["record_key"].drop_nulls() if "rireki_no=＊＊" in k]
    assert keyed and all(k.startswith("atena_no=") and k.split(",")[0][9:].isdigit() for k in keyed), keyed
    assert "架空市" in _texts(planted / "diff" / "vendor_a_jumin" / "only_left.csv")   # 住所: free text, shown


def test_a_file_with_name_and_sex_swapped_on_every_line_shows_no_name(tmp_path):
    rows = _lines(30)
    names = {r[SHIMEI] for r in rows}
    for r in rows:
        r[SHIMEI], r[SEIBETSU] = r[SEIBETSU], r[SHIMEI]
    rc, run_dir = _run(tmp_path, rows, 0.05)
    assert rc != 0   # every line held: the run fails, its quarantine and report are what the vendor is shown
    q = pl.read_parquet(run_dir / "quarantine.parquet")
    assert names & set(q["value"].drop_nulls())
    for f in _shown_files(run_dir):
        text = _texts(f)
        leaked = [n for n in names if n in text or n.split("　")[0] in text]
        assert not leaked, (f, leaked)
