"""`ikou diff` refuses a rules file that names a column it does not compare (a misspelt column would
explain nothing, silently), and masks every column a 業務 schema marks sensitive without being told."""
from __future__ import annotations

import polars as pl

from ikou.flows.cli import main


def _pair(tmp_path):
    left = pl.DataFrame({"atena_no": ["1", "2"], "zairyu_card_no": ["AB12345678CD", "EF12345678GH"],
                         "shimei_kana": ["ｱﾍﾞ", "ｱｵｷ"]})
    right = left.with_columns(pl.Series("zairyu_card_no", ["AB12345678CE", "EF12345678GH"]),
                              pl.Series("shimei_kana", ["アベ", "アオキ"]))
    left.write_csv(tmp_path / "l.csv")
    right.write_csv(tmp_path / "r.csv")
    return tmp_path / "l.csv", tmp_path / "r.csv"


def test_a_rules_file_naming_a_column_not_compared_is_refused(tmp_path, capsys):
    left, right = _pair(tmp_path)
    rules = tmp_path / "rules.yaml"
    rules.write_text("spec_version: 1\nrules:\n  - {name: kana, columns: [shimei_kna], "
                     "condition: {type: normalize, width: true}, reason: 全角化, owner: 移行}\n", encoding="utf-8")
    rc = main(["diff", str(left), str(right), "--key", "atena_no", "--out", str(tmp_path / "o"), "--rules", str(rules)])
    err = capsys.readouterr().err
    assert rc == 2 and "shimei_kna" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    rules.write_text(rules.read_text(encoding="utf-8").replace("shimei_kna", "shimei_kana"), encoding="utf-8")
    assert main(["diff", str(left), str(right), "--key", "atena_no", "--out", str(tmp_path / "o2"),
                 "--rules", str(rules)]) == 0


def test_the_default_masks_every_column_a_gyomu_schema_marks_sensitive(tmp_path):
    left, right = _pair(tmp_path)
    out = tmp_path / "o"
    assert main(["diff", str(left), str(right), "--key", "atena_no", "--out", str(out)]) == 0
    for f in out.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert b"AB12345678C" not in data, f.name   # 在留カード等番号 (juki schema: sensitive)


def test_a_rules_file_the_schema_refuses_is_one_line(tmp_path, capsys):
    left, right = _pair(tmp_path)
    rules = tmp_path / "rules.yaml"
    rules.write_text("spec_version: 1\nrules:\n  - {name: kana, columns: [shimei_kana], condition: {type: normalize}}\n",
                     encoding="utf-8")
    rc = main(["diff", str(left), str(right), "--key", "atena_no", "--out", str(tmp_path / "o"), "--rules", str(rules)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "owner" in err and "Traceback" not in err


def test_a_missing_input_is_one_line_that_speaks_of_the_comparison_not_a_migration(tmp_path, capsys):
    left, _ = _pair(tmp_path)
    rc = main(["diff", str(left), str(tmp_path / "nothere.csv"), "--key", "atena_no", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and err.endswith("\n"), err
    assert f"比較する入力 {tmp_path / 'nothere.csv'} がありません" in err and "file not found" in err, err
    assert "移行" not in err, err   # `ikou diff` runs no migration
