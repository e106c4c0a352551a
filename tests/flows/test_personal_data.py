"""No 個人番号 and no name reaches a human-facing output. Known values are planted in a source (a loaded
record, a record with a wrong field count, a record held by validation, a file whose first line a
layout takes for its header) and every byte of every output is searched: report, CSV, summary,
diff, 同定台帳, logs printed by `ikou run`, Prefect artifacts. The Parquet files are the authorised
copies (staging, quarantine.parquet) and are the only place the values may be."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from ikou import REPO_ROOT
from ikou.checkdigit import kojin_no_check_digit

pytestmark = pytest.mark.usefixtures("prefect_harness")
SAMPLE = REPO_ROOT / "data" / "sample"
VENDOR_A = REPO_ROOT / "specs" / "vendors" / "vendor_a"
NAMES = ["秘匿　春子", "隠蔽　夏男", "機密　秋子", "内密　冬美"]
NUMBERS = [b + str(kojin_no_check_digit(b)) for b in ("31415926535", "27182818284", "16180339887")] + ["141421356231"]   # the last: a wrong check digit
JUMINHYO = ["9876543210", "112358132134"]   # 10 digits, and 12 (a 個人番号 typed into the 住民票コード column)


def _planted_file(tmp_path: Path) -> Path:
    lines = (SAMPLE / "vendor_a" / "JUMIN.csv").read_bytes().split(b"\r\n")[:40]   # clean lines (faults lie later)
    lines = [ln.decode("cp932") for ln in lines]
    f = [ln.split(",") for ln in lines[:40]]
    f[0][5], f[0][6] = NUMBERS[0], NAMES[0]                 # loaded as it is
    f[1][5], f[1][6] = NUMBERS[1], NAMES[1]
    f[1] = f[1] + ["余分"]                                   # wrong field count: the whole record held
    f[2][5], f[2][6], f[2][9] = NUMBERS[2], NAMES[2], "03991399"   # impossible date: held at map
    f[3][5], f[3][6] = NUMBERS[3], NAMES[3]                 # 個人番号 with a wrong check digit: held at validate
    f[4][4], f[5][4] = JUMINHYO                              # 住民票コード of the wrong length: a finding on its value
    path = tmp_path / "inbox" / "JUMIN.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(("\r\n".join(",".join(r) for r in f) + "\r\n").encode("cp932"))
    return path


def _config(tmp_path: Path, path: Path, layout: Path | None = None, encoding: str = "cp932") -> Path:
    source = {"name": "jumin", "kind": "file", "path": str(path), "encoding": encoding,
              "gaiji_table": str(SAMPLE / "vendor_a" / "gaiji.csv"),
              "mapping": str(VENDOR_A / "mappings" / "juki" / "jumin.yaml")}
    if layout:
        source["layout"] = str(layout)
    cfg = {"spec_version": 1, "dantai": {"code": "999997", "name": "架空市"}, "gyomu": ["juki"], "rehearsal": "R1",
           "sources": [source], "target": {"url": f"duckdb:///{tmp_path / 't.duckdb'}"},
           "runs_dir": str(tmp_path / "runs"), "inbox": [str(tmp_path / "inbox"), str(SAMPLE)],
           "thresholds": {"max_quarantine_rate": 0.5}}
    p = tmp_path / "run.yaml"
    p.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return p


def _ikou(cfg: Path) -> str:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    proc = subprocess.run([sys.executable, "-m", "ikou.flows.cli", "run", "--config", str(cfg)], cwd=REPO_ROOT,
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    return proc.stderr + proc.stdout   # the run folder is stdout's last line


def _artifacts() -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return " ".join(str(client._client.get(f"/artifacts/{k}/latest").json())
                        for k in ("ikou-999997-counts", "ikou-999997-report"))


def _texts(path: Path) -> dict[str, str]:
    """A file's text; an Excel workbook (a zip) member by member, since its sheets are compressed."""
    if path.suffix in (".xlsx", ".zip"):
        with zipfile.ZipFile(path) as z:
            return {f"{path}!{n}": z.read(n).decode("utf-8", errors="replace") for n in z.namelist()}
    return {str(path): path.read_bytes().decode("utf-8", errors="replace")}


def _leaks(tmp_path: Path, printed: str, planted: list[str] | None = None) -> list[str]:
    found = []
    outputs = [p for p in (tmp_path / "runs").rglob("*") if p.is_file() and p.suffix != ".parquet"]
    texts = {where: text for p in outputs for where, text in _texts(p).items()}
    texts |= {"ikou run output": printed, "Prefect artifacts": _artifacts()}
    for where, text in texts.items():
        for value in planted or NAMES + NUMBERS + JUMINHYO + [n.replace("　", "") for n in NAMES]:
            if value in text:
                found.append(f"{value} in {where}")
    return found


def test_planted_numbers_and_names_appear_in_no_output(tmp_path):
    printed = _ikou(_config(tmp_path, _planted_file(tmp_path)))
    run_dir = Path(printed.strip().splitlines()[-1])
    assert (run_dir / "summary.json").is_file() and (run_dir / "report.html").is_file(), printed[-2000:]
    import polars as pl

    q = pl.read_parquet(run_dir / "quarantine.parquet")
    held = set(q.filter(pl.col("severity") == "error")["rule"])
    assert {"extract.field_count", "checkdigit.kojin_no"} <= held and any(r.startswith("wareki") for r in held), held
    assert q.filter(pl.col("rule") == "format.juminhyo_code").height == 2   # the planted 住民票コード were found
    assert any(NAMES[1] in (v or "") for v in q["value"])   # the authorised copy keeps the record verbatim
    assert _leaks(tmp_path, printed) == []


def test_a_header_mismatch_does_not_quote_a_record_taken_for_a_header(tmp_path):
    """A layout whose first columns are 氏名 and 個人番号 expects a header; the file has none."""
    layout = yaml.safe_load((VENDOR_A / "layouts" / "jumin.yaml").read_text(encoding="utf-8"))
    cols = layout["columns"]
    first = [c for c in cols if c["name"] in ("SHIMEI", "KOJIN_NO")]
    layout.update(header=True, encoding="utf-8", columns=first + [c for c in cols if c not in first])
    lpath = tmp_path / "inbox" / "layout.yaml"
    lpath.parent.mkdir(parents=True)
    lpath.write_text(yaml.safe_dump(layout, allow_unicode=True), encoding="utf-8")
    data = tmp_path / "inbox" / "J.csv"
    data.write_text(f"{NAMES[0]},{NUMBERS[0]},x\n{NAMES[1]},{NUMBERS[1]},y\n", encoding="utf-8")
    printed = _ikou(_config(tmp_path, data, layout=lpath, encoding="utf-8"))
    assert "ikou: 失敗 (extract)" in printed and "not the header of layout" in printed, printed[-2000:]
    assert "jumin: J.csv の1行目がレイアウト" in printed and "見出し行とレイアウト" in printed, printed[-2000:]
    assert _leaks(tmp_path, printed) == []


def test_a_multi_table_source_masks_names_held_at_extract(tmp_path):
    """Vendor C's normalized tables: a name, its kana and a 在留カード番号 with control characters are held
    at extract under their table's column names (SHIMEI, not shimei.SHIMEI): masked all the same."""
    import duckdb

    from ikou.sample.legacy_db import install_vendor_c

    legacy = tmp_path / "inbox" / "vendor_c.duckdb"
    legacy.parent.mkdir(parents=True)
    install_vendor_c(SAMPLE / "vendor_c", f"duckdb:///{legacy}")
    with duckdb.connect(str(legacy)) as con:
        first = "(SELECT min(rowid) FROM {})"
        con.execute(f"UPDATE C_SHIMEI_RIREKI SET SHIMEI = '鬼瓦\t権左衛門', SHIMEI_KANA = 'ｵﾆｶﾞﾜﾗ\x07ｺﾞﾝｻﾞｴﾓﾝ' "
                    f"WHERE rowid = {first.format('C_SHIMEI_RIREKI')}")
        con.execute(f"UPDATE C_GAIKOKUJIN SET ZAIRYU_CARD_NO = 'AB1234\x1b5678CD' "
                    f"WHERE rowid = {first.format('C_GAIKOKUJIN')}")
    cfg = yaml.safe_load(_config(tmp_path, tmp_path / "unused.csv").read_text(encoding="utf-8"))
    cfg["sources"] = [{"name": "vendor_c_juki", "kind": "database", "url": f"duckdb:///{legacy}",
                       "gaiji_table": str(SAMPLE / "vendor_a" / "gaiji.csv"),
                       "mapping": str(REPO_ROOT / "specs" / "vendors" / "vendor_c" / "mappings" / "juki" / "jumin.yaml")}]
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    printed = _ikou(path)
    run_dir = Path(printed.strip().splitlines()[-1])
    import polars as pl

    q = pl.read_parquet(run_dir / "quarantine.parquet").filter(pl.col("rule") == "extract.control_char")
    assert set(q["column"]) >= {"SHIMEI", "SHIMEI_KANA", "ZAIRYU_CARD_NO"}, printed[-2000:]   # the case
    assert (run_dir / "report.xlsx").is_file()
    assert _leaks(tmp_path, printed, ["鬼瓦", "権左衛門", "ｵﾆｶﾞﾜﾗ", "ｺﾞﾝｻﾞｴﾓﾝ", "AB1234", "5678CD"]) == []
