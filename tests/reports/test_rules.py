"""Expected-difference rules explain what they should, and only that."""
from __future__ import annotations

import json

import polars as pl
import pytest

from ikou.flows.cli import main
from ikou.errors import ConfigError
from ikou.reports.diff import compare
from ikou.reports.rules import load_rules, normalize_expr

LEFT = """atena_no,zokugara_code,birth_date,shimei,shimei_kana,zeigaku,jusho
001,A1,04010203,髙橋一,ﾀｶﾊｼ ｲﾁ,1000,本町１丁目
002,B2,03551231,渡邊二,ﾜﾀﾅﾍﾞ,2000,本町2丁目
003,A1,04010101,斉藤三,サイトウ,300,本町3丁目
004,ZZ,05010501,山田四,ヤマダ,400,本町4丁目
"""
RIGHT = """atena_no,zokugara_code,birth_date,shimei,shimei_kana,zeigaku,jusho
001,02,1989-02-03,高橋一,タカハシ　イチ,1001,本町1丁目
002,20,1980-12-31,渡辺二,ワタナベ,2000,本町2丁目
003,20,1989-01-02,斎藤三,サイトウ,303,本町3丁目
004,99,2019-05-01,山田四,ヤマダ,400,本町4丁目
"""
RULES = """spec_version: 1
rules:
  - name: zokugara
    columns: [zokugara_code]
    condition: {type: code_table, table: zoku.csv}
    reason: 旧続柄コード → 標準コード
    owner: 移行チーム
  - name: seinengappi
    columns: [birth_date]
    condition: {type: wareki, format: era2_yymmdd}
    reason: 和暦 → 西暦
    owner: 移行チーム
  - name: shimei_moji
    columns: [shimei]
    condition: {type: moji, char_map: moji.csv}
    reason: 異体字の縮退
    owner: 文字同定チーム
  - name: kana_width
    columns: [shimei_kana, jusho]
    condition: {type: normalize, trim: true, width: true}
    reason: 全角・半角の違い
    owner: 移行チーム
  - name: hasu
    columns: [zeigaku]
    condition: {type: tolerance, abs: 1}
    reason: 端数処理
    owner: 税務課
"""


@pytest.fixture
def rules_dir(tmp_path):
    (tmp_path / "l.csv").write_text(LEFT, encoding="utf-8")
    (tmp_path / "r.csv").write_text(RIGHT, encoding="utf-8")
    (tmp_path / "zoku.csv").write_text("source_code,code\nA1,02\nB2,20\n", encoding="utf-8")
    (tmp_path / "moji.csv").write_text("from,to\n髙,高\n邊,辺\n", encoding="utf-8")
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    return tmp_path


def test_rules_explain_expected_and_leave_the_rest(rules_dir):
    d = rules_dir
    res = compare(d / "l.csv", d / "r.csv", key=["atena_no"], rules=d / "rules.yaml")
    got = {(r["atena_no"], r["column"]): r["rule"] for r in res.cells.iter_rows(named=True)}
    assert got == {
        ("001", "zokugara_code"): "zokugara", ("002", "zokugara_code"): "zokugara",
        ("003", "zokugara_code"): None,          # A1 → 02, but the new system says 20
        ("004", "zokugara_code"): None,          # ZZ is not in the code table
        ("001", "birth_date"): "seinengappi", ("002", "birth_date"): "seinengappi",
        ("003", "birth_date"): None,             # 平成1年1月1日 is not 1989-01-02
        ("004", "birth_date"): "seinengappi",    # 令和1年5月1日
        ("001", "shimei"): "shimei_moji", ("002", "shimei"): "shimei_moji",
        ("003", "shimei"): None,                 # 斉 → 斎 is not in the char map
        ("001", "shimei_kana"): "kana_width", ("002", "shimei_kana"): "kana_width",
        ("001", "jusho"): "kana_width",          # 全角 １ → 1
        ("001", "zeigaku"): "hasu", ("003", "zeigaku"): None,
    }
    ex = res.explained
    assert {n: e["cells"] for n, e in ex.items()} == {
        "zokugara": 2, "seinengappi": 3, "shimei_moji": 2, "kana_width": 3, "hasu": 1}
    assert res.unexplained_cells == {"zokugara_code": 2, "birth_date": 1, "shimei": 1,
                                     "shimei_kana": 0, "zeigaku": 1, "jusho": 0}
    assert res.unexplained_rows == 2


def test_cli_with_rules_reports_explained_and_unexplained(rules_dir, tmp_path):
    d = rules_dir
    out = tmp_path / "out"
    assert main(["diff", str(d / "l.csv"), str(d / "r.csv"), "--key", "atena_no",
                 "--out", str(out), "--rules", str(d / "rules.yaml")]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["explained"]["seinengappi"]["cells"] == 3
    assert s["explained"]["seinengappi"]["reason"] == "和暦 → 西暦"
    assert s["explained_cells"] == 11 and sum(s["unexplained_cells"].values()) == 5
    assert s["changed_cells"]["zokugara_code"] == 4   # raw counts are before rules
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "想定差異" in html and "和暦 → 西暦" in html


def test_misspelled_rule_key_is_a_config_error_naming_the_path(rules_dir):
    bad = rules_dir / "bad.yaml"
    bad.write_text(RULES.replace("reason: 端数処理", "reasn: 端数処理"), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_rules(bad)
    assert "bad.yaml" in str(exc.value) and "rules.4" in str(exc.value)


def test_normalize_folds_width_like_jaconv():
    import jaconv
    samples = ["ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟ", "ＡＢＣ　１２３", "ｳﾞｧｲｵﾘﾝ", "ｱｲｳｴｵ･ｰ"]
    got = pl.Series(samples).to_frame("s").select(
        normalize_expr(pl.col("s"), trim=False))["s"].to_list()
    want = [jaconv.h2z(jaconv.z2h(s, kana=False, ascii=True, digit=True), kana=True,
                       ascii=False, digit=False) for s in samples]
    assert got == want


def test_example_rules_file_loads_against_the_repository_code_tables():
    from ikou import REPO_ROOT
    rules = load_rules(REPO_ROOT / "specs" / "vendors" / "vendor_b" / "diff_rules" / "juki.yaml")
    assert [m["condition"] for m in rules.metadata()] == [
        "code_table", "code_table", "wareki", "normalize"]


def test_a_code_chain_rule_explains_chained_names_by_the_first_names_code_and_nothing_else(tmp_path):
    (tmp_path / "zoku.csv").write_text("code,name\n02,世帯主\n12,妻\n20,子\n", encoding="utf-8")
    (tmp_path / "rules.yaml").write_text("""spec_version: 1
rules:
  - {name: zokugara_chain, columns: [zokugara_code], reason: 名称の連結 → コード, owner: 移行チーム,
     condition: {type: code_chain, table: zoku.csv, separator: の}}
""", encoding="utf-8")
    pairs = [("子の妻", "20"), ("世帯主", "02"), ("子の妻の子", "20"),   # explained
             ("子の妻", "12"),      # the second name's code is not this column's
             ("子の友人", "20"),    # 友人 is not in the closed set
             ("妻", "20"), ("", "20")]
    (tmp_path / "l.csv").write_text("k,zokugara_code\n" + "".join(f"{i},{l}\n" for i, (l, _) in enumerate(pairs)),
                                    encoding="utf-8")
    (tmp_path / "r.csv").write_text("k,zokugara_code\n" + "".join(f"{i},{r}\n" for i, (_, r) in enumerate(pairs)),
                                    encoding="utf-8")
    res = compare(tmp_path / "l.csv", tmp_path / "r.csv", key=["k"], rules=tmp_path / "rules.yaml")
    got = {r["k"]: r["rule"] for r in res.cells.iter_rows(named=True)}
    assert got == {"0": "zokugara_chain", "1": "zokugara_chain", "2": "zokugara_chain",
                   "3": None, "4": None, "5": None, "6": None}


def test_example_rules_file_explains_vendor_b_letter_dates_under_the_target_names(tmp_path):
    """The example a PM copies must name the target's columns and read vendor B's S450302 dates."""
    from ikou import REPO_ROOT
    left = ("atena_no,seinengappi,ido_date,todokede_date,zokugara_code\n"
            "1,S450302,H310430,R010501,1\n2,T150101,M450729,H010108,1\n3,S450302,S450302,S450302,1\n")
    right = ("atena_no,seinengappi,ido_date,todokede_date,zokugara_code\n"
             "1,1970-03-02,2019-04-30,2019-05-01,02\n2,1926-01-01,1912-07-29,1989-01-08,02\n"
             "3,1970-03-03,1970-03-02,1970-03-02,02\n")
    (tmp_path / "l.csv").write_text(left, encoding="utf-8")
    (tmp_path / "r.csv").write_text(right, encoding="utf-8")
    res = compare(tmp_path / "l.csv", tmp_path / "r.csv", key=["atena_no"],
                  rules=REPO_ROOT / "specs" / "vendors" / "vendor_b" / "diff_rules" / "juki.yaml")
    unexplained = res.cells.filter(pl.col("rule").is_null())
    assert unexplained.select("atena_no", "column").rows() == [("3", "seinengappi")]   # a day off: a finding
    assert res.cells.filter(pl.col("rule") == "seinengappi_wareki").height == 8
