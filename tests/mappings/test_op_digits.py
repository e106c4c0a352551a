"""A legacy system prints a number with separators or in full width (〒 999-0006, ９９９０００６, 個人番号
1234-5678-9012 / 1234 5678 9012): `op: digits` maps it to the standard's digits by configuration, no Python.
Anything else stays for the target's rules to judge, and the diff explains exactly the separators dropped."""
from __future__ import annotations

import polars as pl
import pytest
import yaml

from ikou import REPO_ROOT
from ikou.checkdigit import atena_check_digit, kojin_no_check_digit
from ikou.mappings.ops import OPS, digits_expr
from tests.mappings.test_op_diff_rules import JUKI, diff, mapped, spec_of


@pytest.mark.parametrize("legacy", [
    "999-0006", "９９９０００６", "９９９－０００６", "999－0006", "999ー0006", "999ｰ0006", "999−0006", "999‐0006",
    "999‑0006", "999‒0006", "999–0006", "999—0006", "999―0006", "999 0006", "999\u30000006", " 999-0006\t"])
def test_digits_reads_each_spelling_of_a_postal_code_as_its_seven_digits(legacy):
    assert pl.select(digits_expr(pl.lit(legacy)).alias("v")).item() == "9990006"


@pytest.mark.parametrize("legacy", ["1234-5678-9012", "1234 5678 9012", "１２３４－５６７８－９０１２", "123456789012"])
def test_digits_reads_a_kojin_no_written_in_groups_as_twelve_digits(legacy):
    assert pl.select(digits_expr(pl.lit(legacy)).alias("v")).item() == "123456789012"


def test_digits_keeps_what_is_not_a_separator_for_the_rules_and_makes_only_a_blank_null():
    vals = ["999-000A", "A123", "999.0006", "999~0006", "-", "ー", "", "　 ", None]
    got = pl.DataFrame({"v": vals}, schema={"v": pl.String}).select(digits_expr(pl.col("v")).alias("v"))["v"]
    # a letter, a dot, a wave dash stay (format.digits holds them); separators alone are kept as written, not lost
    assert got.to_list() == ["999000A", "A123", "999.0006", "999~0006", "-", "ー", None, None, None]


def test_the_digits_op_always_trims_and_runs_once_per_distinct_value():
    op = OPS["digits"]
    assert (op.needs, op.per_value, op.strip, op.rules) == (("from",), True, "always", {})


LINES = [{"target": "atena_no", "op": "text", "from": "ATENA"},
         {"target": "rireki_no", "op": "integer", "from": "RIREKI"},
         {"target": "kojin_no", "op": "digits", "from": "KOJIN"},
         {"target": "yubin_no", "op": "digits", "from": "YUBIN"}]


def test_the_diff_explains_the_separators_and_width_the_digits_op_dropped_and_nothing_more(tmp_path):
    spec = spec_of(JUKI, "juki_kojin_rireki", LINES)
    legacy = {"ATENA": ["0000000017", "0000000025", "0000000033", "0000000041"], "RIREKI": ["1"] * 4,
              "KOJIN": ["1234-5678-9012", "1234 5678 9012", "123456789012", "１２３４５６７８９０１２"],
              "YUBIN": ["999-0006", "９９９０００６", "999ー0006", "999-0007"]}
    res, _ = mapped(spec, legacy)
    assert res.frame.sort("_row_id")["yubin_no"].to_list() == ["9990006", "9990006", "9990006", "9990007"]
    # a real change planted on the last record: 999-0007 loaded as 9990008
    got = diff(spec, legacy, tmp_path, plant={"0000000041": {"yubin_no": "9990008"}})
    assert got == {("kojin_no", "1234-5678-9012", "123456789012"): "kojin_no.digits",
                   ("kojin_no", "1234 5678 9012", "123456789012"): "kojin_no.digits",
                   ("kojin_no", "１２３４５６７８９０１２", "123456789012"): "kojin_no.digits",
                   ("yubin_no", "999-0006", "9990006"): "yubin_no.digits",
                   ("yubin_no", "９９９０００６", "9990006"): "yubin_no.digits",
                   ("yubin_no", "999ー0006", "9990006"): "yubin_no.digits",
                   ("yubin_no", "999-0007", "9990008"): None}
    written = yaml.safe_load((tmp_path / "expected_rules.yaml").read_text(encoding="utf-8"))
    rules = {r["name"]: r for r in written["rules"]}
    assert rules["yubin_no.digits"]["condition"] == {"type": "digits"}
    assert "区切り文字" in rules["yubin_no.digits"]["reason"]


def test_the_diff_meets_a_record_whose_key_the_digits_op_rewrote(tmp_path):
    """A key printed with a separator (宛名番号 00000-00017) names the record the target holds as 0000000017."""
    from ikou.reports.diff import ParquetSource, compare
    from ikou.reports.expected import rules_from_mapping
    from ikou.reports.rules import load_rules
    from ikou.reports.step import key_reading, source_names

    spec = spec_of(JUKI, "juki_kojin_rireki", [{**LINES[0], "op": "digits"}, *LINES[1:]])
    staged = tmp_path / "extract.parquet"
    pl.DataFrame({"ATENA": ["00000-00017", "0000000025"], "RIREKI": ["1", "1"], "KOJIN": [None, None],
                  "YUBIN": ["999-0006", "999-0006"]}).write_parquet(staged)
    target = tmp_path / "target.parquet"
    pl.DataFrame({"atena_no": ["0000000017", "0000000025"], "rireki_no": ["1", "1"], "kojin_no": [None, None],
                  "yubin_no": ["9990006", "9990006"]}, schema={c: pl.String for c in ["atena_no", "rireki_no",
                                                                                   "kojin_no", "yubin_no"]}
                 ).write_parquet(target)
    key = ["atena_no", "rireki_no"]
    r = compare(ParquetSource(staged, source_names(spec), keys=key_reading(spec, key)), target, key=key,
                rules=load_rules(rules_from_mapping(spec, tmp_path / "diff")))
    assert (r.matched, r.only_left, r.only_right) == (2, 0, 0)
    assert not any(r.unexplained_cells.values())
    assert r.explained["yubin_no.digits"]["by_column"] == {"yubin_no": 2}


# --- end to end: a vendor A file whose 〒 and 個人番号 are printed with separators, on DuckDB ----------------

DANTAI = "999741"
VENDOR_A = REPO_ROOT / "specs" / "vendors" / "vendor_a"
COLS = ["DANTAI_CD", "ATENA_NO", "RIREKI_NO", "SETAI_NO", "JUMINHYO_CD", "KOJIN_NO", "SHIMEI", "SHIMEI_KANA",
        "SEIBETSU", "SEINENGAPPI", "ZOKUGARA", "JUMIN_SHUBETSU", "JUMIN_JOTAI", "IDO_JIYU", "IDO_YMD", "TODOKEDE_YMD",
        "MACHIAZA_CD", "JUSHO", "BANCHI", "KATAGAKI", "YUBIN_NO"]


def _number(body: int, width: int, check) -> str:
    text = f"{body:0{width}d}"
    return text + str(check(text))


def _person(i: int, yubin: str, kojin_sep: str) -> list[str]:
    """One resident, 世帯主 of a one-person 世帯, the 〒 and 個人番号 printed as given."""
    k = _number(31415926000 + i * 7, 11, kojin_no_check_digit)
    row = dict(DANTAI_CD=DANTAI, ATENA_NO=_number(500000000 + i, 9, atena_check_digit), RIREKI_NO="1",
               SETAI_NO=_number(600000000 + i, 9, atena_check_digit), JUMINHYO_CD=f"{70000000000 + i:011d}",
               KOJIN_NO=kojin_sep.join((k[:4], k[4:8], k[8:])), SHIMEI="試験　太郎", SHIMEI_KANA="ｼｹﾝ ﾀﾛｳ",
               SEIBETSU="1", SEINENGAPPI="03450302", ZOKUGARA="02", JUMIN_SHUBETSU="1", JUMIN_JOTAI="1",
               IDO_JIYU="03", IDO_YMD="05070401", TODOKEDE_YMD="05070401", MACHIAZA_CD="0006001",
               JUSHO="架空市旭町一丁目", BANCHI="1番1号", KATAGAKI="", YUBIN_NO=yubin)
    return [row[c] for c in COLS]


def _digits_mapping(tmp_path) -> str:
    """The shipped vendor A mapping with `op: digits` for 個人番号 and 郵便番号 (its paths made absolute)."""
    src = VENDOR_A / "mappings" / "juki" / "jumin.yaml"
    m = yaml.safe_load(src.read_text(encoding="utf-8"))
    m["schema"], m["layout"] = str((src.parent / m["schema"]).resolve()), str((src.parent / m["layout"]).resolve())
    for c in m["columns"]:
        if c.get("table", "").startswith("../"):
            c["table"] = str((src.parent / c["table"]).resolve())
        if c["target"] in ("kojin_no", "yubin_no"):
            c["op"] = "digits"
    path = tmp_path / "jumin_digits.yaml"
    path.write_text(yaml.safe_dump(m, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(path)


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_on_duckdb_loads_every_person_whose_postal_code_is_written_999_0006(tmp_path):
    from ikou.flows.migrate import migration_flow
    from ikou.loaders import read_table
    from tests.flows.conftest import write_config

    people = [_person(1, "999-0006", "-"), _person(2, "９９９０００６", " "), _person(3, "999ー0006", "－"),
              _person(4, "9990006", ""), _person(5, "999-000A", "-")]   # the last: a letter, still held
    src = tmp_path / "JUMIN.csv"
    src.write_bytes("".join(",".join(p) + "\r\n" for p in people).encode("cp932"))
    source = f"""  - name: vendor_a_jumin
    kind: file
    path: {src}
    encoding: cp932
    mapping: {_digits_mapping(tmp_path)}
"""
    target = f"duckdb:///{tmp_path / 't.duckdb'}"
    cfg = write_config(tmp_path, source=source, target_url=target, dantai=DANTAI)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("max_quarantine_rate: 0.05",
                                                           "max_quarantine_rate: 1.0, signoff_max_held_rate: 1.0"),
                   encoding="utf-8")
    summary = migration_flow(config_path=str(cfg))
    assert summary["status"] == "succeeded"
    t = summary["tables"]["juki_kojin_rireki"]
    assert (t["extracted"], t["loaded"], t["quarantined"]) == (5, 4, 1)
    run = tmp_path / "runs" / DANTAI / summary["run_id"]
    held = pl.read_parquet(run / "quarantine.parquet").filter(pl.col("severity") == "error")
    assert held.select("source_line", "column", "rule").rows() == [(5, "yubin_no", "format.digits")]
    loaded = read_table(target, f"dantai_{DANTAI}", "juki_kojin_rireki").sort("atena_no")
    assert loaded["yubin_no"].to_list() == ["9990006"] * 4
    assert loaded["kojin_no"].str.contains(r"^[0-9]{12}$").all()
    # the diff of the run explains every 〒 and 個人番号 the op rewrote: nothing is left unexplained there
    d = yaml.safe_load((run / "diff" / "vendor_a_jumin" / "summary.json").read_text(encoding="utf-8"))
    assert not any((d["unexplained_cells"] or {}).get(c) for c in ("yubin_no", "kojin_no"))
    assert d["explained"]["yubin_no.digits"]["by_column"] == {"yubin_no": 3}   # 999-0006, ９９９０００６, 999ー0006
    assert d["explained"]["kojin_no.digits"]["by_column"] == {"kojin_no": 3}
