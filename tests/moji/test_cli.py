"""The `ikou moji` command-line contract, through flows.cli.main."""
from __future__ import annotations

import csv

import pytest

from ikou.flows.cli import main


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture()
def names(tmp_path):
    p = tmp_path / "names.txt"
    p.write_text("\ue000橋 花子\n齋\U000e0104藤\nやまだ\n\ue0ff田\n欄\uf91d,\"x\"\n\n𠮷野\n", encoding="utf-8")
    return p


def test_identify_writes_one_row_per_line_in_order(moji_dir, names, tmp_path):
    gaiji = tmp_path / "gaiji.csv"
    gaiji.write_text("code,mj\nU+E000,MJ028902\n", encoding="utf-8")
    out = tmp_path / "result.csv"
    rc = main(["moji", "identify", "--text-file", str(names), "--gaiji", str(gaiji), "--out", str(out),
               "--dictionary", str(moji_dir)])
    assert rc == 0
    with open(out, encoding="utf-8") as f:
        assert f.readline().strip() == "input,output,mj_names,status"
    rows = read_csv(out)
    assert [r["input"] for r in rows] == names.read_text(encoding="utf-8").splitlines()
    assert rows[0] == {"input": "\ue000橋 花子", "output": "\u9ad9橋 花子",
                       "mj_names": "MJ028902 MJ014497 - MJ021591 MJ010051", "status": "ok"}
    assert rows[1]["mj_names"] == "MJ030061 MJ023079" and rows[1]["output"] == "齋\U000e0104藤"
    assert rows[2]["mj_names"] == "- - -" and rows[2]["status"] == "ok"
    assert rows[3] == {"input": "\ue0ff田", "output": "\ue0ff田", "mj_names": "? MJ017636", "status": "unresolved"}
    assert rows[4]["mj_names"] == "MJ014716 MJ030183 - - - -"
    assert rows[5] == {"input": "", "output": "", "mj_names": "", "status": "ok"}
    assert rows[6]["mj_names"] == "MJ032129 MJ026594"


def test_identify_builds_the_default_cache_when_missing(monkeypatch, tmp_path, names, moji_dir):
    from tests.moji.conftest import have_mj_folder
    if not have_mj_folder():
        pytest.skip("default build needs the MJ folder")
    monkeypatch.setenv("IKOU_MOJI_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "r.csv"
    assert main(["moji", "identify", "--text-file", str(names), "--out", str(out)]) == 0
    assert (tmp_path / "cache" / "manifest.json").exists()
    assert read_csv(out)[0]["status"] == "unresolved"   # no 外字 table this time


@pytest.mark.parametrize("target", ["jisx0208", "jisx0213"])
def test_shrink_gives_jis_text_with_evidence(jis_dictionary, moji_dir, tmp_path, target):
    src = tmp_path / "in.txt"
    src.write_text("髙橋\n齋藤\n山﨑\nたなか\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert main(["moji", "shrink", "--text-file", str(src), "--target", target, "--out", str(out),
                 "--dictionary", str(moji_dir)]) == 0
    rows = read_csv(out)
    assert [r["output"] for r in rows] == ["高橋", "斎藤", "山崎", "たなか"]
    assert all(r["status"] == "ok" for r in rows)
    assert "髙>高 MJ028902 法務省戸籍法関連通達・通知[戸籍統一文字情報 親字・正字,ホップ数=1]" == rows[0]["evidence"]
    assert rows[3]["evidence"] == ""


def test_build_command_writes_the_cache(tmp_path):
    from tests.moji.conftest import have_mj_folder
    if not have_mj_folder():
        pytest.skip("needs the MJ folder")
    assert main(["moji", "build", "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "keys.parquet").exists()


def test_identify_with_ledger_records_then_applies_decisions(moji_dir, tmp_path):
    from ikou.moji.ledger import Ledger
    src = tmp_path / "n.txt"
    src.write_text("\ue0ff田\n", encoding="utf-8")
    led_dir, out = tmp_path / "ledger", tmp_path / "o.csv"
    args = ["moji", "identify", "--text-file", str(src), "--out", str(out), "--ledger", str(led_dir),
            "--dictionary", str(moji_dir)]
    assert main(args) == 0
    assert read_csv(out)[0]["status"] == "unresolved"
    led = Ledger.load(led_dir)
    assert led.entries["codepoints"].to_list() == ["U+E0FF"]
    led.decide("\ue0ff", "MJ028902", decided_by="reviewer")
    led.save(led_dir)
    assert main(args) == 0
    assert read_csv(out)[0] == {"input": "\ue0ff田", "output": "\u9ad9田", "mj_names": "MJ028902 MJ017636",
                                "status": "ok"}


def test_identify_reads_cp932_with_encoding_and_drops_a_utf8_bom(moji_dir, tmp_path):
    out = tmp_path / "r.csv"
    sjis = tmp_path / "sjis.txt"
    sjis.write_bytes("髙橋　花子\r\nやまだ\r\n".encode("cp932"))
    assert main(["moji", "identify", "--text-file", str(sjis), "--encoding", "cp932", "--out", str(out),
                 "--dictionary", str(moji_dir)]) == 0
    assert [(r["input"], r["status"]) for r in read_csv(out)] == [("髙橋　花子", "ok"), ("やまだ", "ok")]
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeff髙橋\n".encode("utf-8"))
    assert main(["moji", "identify", "--text-file", str(bom), "--out", str(out), "--dictionary", str(moji_dir)]) == 0
    assert read_csv(out) == [{"input": "髙橋", "output": "髙橋", "mj_names": "MJ028902 MJ014497", "status": "ok"}]


def test_identify_refuses_undecodable_input_in_one_line_naming_file_and_line(moji_dir, tmp_path, capsys):
    sjis = tmp_path / "sjis.txt"
    sjis.write_bytes("やまだ\n".encode("utf-8") + "髙橋\n".encode("cp932"))
    out = tmp_path / "r.csv"
    assert main(["moji", "identify", "--text-file", str(sjis), "--out", str(out), "--dictionary", str(moji_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "予期しない" not in err and "UnicodeDecodeError" not in err
    assert f"--text-file {sjis}: line 2 is not valid utf-8" in err and "--encoding" in err
    assert not out.exists()


def test_identify_keeps_a_line_separator_inside_its_line_and_marks_characters_that_are_not_text(moji_dir, tmp_path):
    src = tmp_path / "n.txt"
    src.write_text("山\u2028田\n山田\u200b\n山田😀\n김민수\nカ\u3099ス\n山田\n", encoding="utf-8")
    out = tmp_path / "r.csv"
    assert main(["moji", "identify", "--text-file", str(src), "--out", str(out), "--dictionary", str(moji_dir)]) == 0
    rows = read_csv(out)
    assert [r["status"] for r in rows] == ["invalid", "invalid", "unresolved", "unresolved", "ok", "ok"]
    assert rows[0]["input"] == "山\u2028田" and rows[0]["mj_names"] == "MJ010392 ! MJ017636"
    assert rows[2]["mj_names"] == "MJ010392 MJ017636 ?" and rows[3]["mj_names"] == "? ? ?"
    assert rows[4]["output"] == "ガス" and rows[4]["mj_names"] == "- -"


@pytest.mark.parametrize("command", ["identify", "shrink"])
def test_identify_and_shrink_csv_neutralise_formula_like_lines(moji_dir, tmp_path, command):
    """Their CSVs are opened in Excel like quarantine.csv: a line starting `=` must not run as a formula."""
    src = tmp_path / "in.txt"
    src.write_text("=HYPERLINK(\"x\")齋藤\n-1+2\n山田\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    args = ["moji", command, "--text-file", str(src), "--out", str(out), "--dictionary", str(moji_dir)]
    assert main(args + (["--target", "jisx0213"] if command == "shrink" else [])) == 0
    rows = read_csv(out)
    assert [r["input"] for r in rows] == ["'=HYPERLINK(\"x\")齋藤", "'-1+2", "山田"]
    assert rows[0]["output"].startswith("'=") and rows[2]["output"] == "山田"
