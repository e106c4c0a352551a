"""Command-line input that would reach the file system or a database unchecked is refused in one line
(Japanese and English), exit 2, no traceback, nothing written: `--run-id`, a refused config's runs
folder, `rollback` of a target that holds nothing, and any sub-command's unexpected error."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ikou.flows.cli import main
from ikou.flows.run_cli import _config_failure_record, execute
from tests.flows.conftest import vendor_a_source, write_config


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("ikou: 失敗") and " — failed" in lines[0], err
    return lines[0]


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")} if root.exists() else set()


@pytest.mark.parametrize("run_id", ["../999741/x", "../../999741/20261129T221752Z-R1-749c", "{tmp}/elsewhere",
                                    "20261129T221752Z-R1-749c/..", "R1-mine", "20261129T221752Z-R1-749c\n"])
def test_run_refuses_a_run_id_that_is_not_of_the_generated_form_and_writes_nothing(tmp_path, capsys, run_id):
    run_id = run_id.format(tmp=tmp_path)
    (tmp_path / "own").mkdir()
    cfg = write_config(tmp_path / "own", source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    before = _files(tmp_path)
    assert execute(cfg, run_id=run_id, quiet=True) == 2
    assert _files(tmp_path) == before
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert "--run-id" in line and "no summary.json written" in line
    assert captured.out == ""


def test_a_refused_config_with_a_bad_run_id_writes_no_failure_record_anywhere(tmp_path, capsys):
    """The run id is refused before the config is read: an invalid config given a traversing run id
    cannot overwrite another 団体's summary.json."""
    victim = tmp_path / "runs" / "999741" / "20261129T221752Z-R1-749c"
    victim.mkdir(parents=True)
    (victim / "summary.json").write_text('{"run_id": "theirs"}', encoding="utf-8")
    cfg = tmp_path / "own" / "run.yaml"
    cfg.parent.mkdir()
    cfg.write_text(f'spec_version: 1\ndantai: {{code: "999997", name: x}}\nruns_dir: {tmp_path / "runs" / "999997"}\n'
                   "gyomu: [juki]\n", encoding="utf-8")
    assert execute(cfg, run_id="../../999741/20261129T221752Z-R1-749c", quiet=True) == 2
    _one_line(capsys.readouterr().err)
    assert (victim / "summary.json").read_text(encoding="utf-8") == '{"run_id": "theirs"}'
    assert _config_failure_record(cfg, ValueError("x"), "../../999741/20261129T221752Z-R1-749c") is None
    assert (victim / "summary.json").read_text(encoding="utf-8") == '{"run_id": "theirs"}'


def test_a_config_refused_for_a_runs_dir_in_another_dantais_tree_writes_no_record_there(tmp_path, capsys):
    other = tmp_path / "runs" / "999741"
    other.mkdir(parents=True)
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(f"runs_dir: {tmp_path / 'runs'}", f"runs_dir: {other}"),
                   encoding="utf-8")
    assert execute(cfg, quiet=True) == 2
    assert list(other.rglob("*")) == []
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert "another 団体" in line and "no summary.json written" in line
    assert captured.out == ""


def test_a_refused_config_with_its_own_runs_dir_still_leaves_its_failure_record(tmp_path, capsys):
    cfg = write_config(tmp_path, source=vendor_a_source(), target_url=f"sqlite:///{tmp_path / 'x.db'}")
    assert execute(cfg, quiet=True, run_id="20261129T221752Z-R1-749c") == 2
    captured = capsys.readouterr()
    assert "no summary.json written" not in _one_line(captured.err)
    run_dir = Path(captured.out.strip().splitlines()[-1])
    assert run_dir == tmp_path / "runs" / "999997" / "20261129T221752Z-R1-749c"
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "failed" and summary["error"]["stage"] == "config"


def test_rollback_of_a_duckdb_target_that_does_not_exist_creates_no_folder_nor_file(tmp_path, capsys):
    target = tmp_path / "new" / "dir" / "x.duckdb"
    assert main(["rollback", "--dantai", "999997", "--to", "20261129T221752Z-R1-749c",
                 "--target-url", f"duckdb:///{target}"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "no run" in line
    assert not (tmp_path / "new").exists()


def test_rollback_of_a_dantai_never_loaded_on_postgresql_is_one_line(postgres_url, capsys):
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    assert main(["rollback", "--dantai", "999709", "--to", "x", "--target-url", url]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "dantai_999709" in line and "no run" in line


def test_the_postgresql_target_refuses_rolling_back_a_dantai_it_never_loaded(postgres_url):
    from ikou.errors import ConfigError
    from ikou.loaders import target_for

    with pytest.raises(ConfigError, match="dantai_999709 cannot go back to run x"):
        target_for(postgres_url).rollback("dantai_999709", "x")


def test_an_unexpected_error_of_any_sub_command_is_one_line_naming_its_kind(tmp_path, capsys):
    (tmp_path / "names.txt").write_text("高橋\n", encoding="utf-8")
    assert main(["moji", "shrink", "--text-file", str(tmp_path / "names.txt"), "--target", "jisx0208",
                 "--policy", "nosuch-preset", "--out", str(tmp_path / "o.csv")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "予期しないエラー" in line and "unexpected error" in line


def test_an_unexpected_error_shows_its_traceback_with_debug(tmp_path):
    (tmp_path / "names.txt").write_text("高橋\n", encoding="utf-8")
    with pytest.raises(Exception):   # noqa: B017 - whichever it is, it propagates
        main(["moji", "shrink", "--text-file", str(tmp_path / "names.txt"), "--target", "jisx0208",
              "--policy", "nosuch-preset", "--out", str(tmp_path / "o.csv"), "--debug"])


@pytest.mark.parametrize("args, words", [
    (["--persons", "-5"], ["--persons", "100"]),
    (["--persons", "0"], ["--persons"]),
    (["--persons", "200", "--dantai", "123456"], ["--dantai", "123456"]),
    (["--persons", "200", "--gyomu", "nosuch"], ["--gyomu", "nosuch"]),
    (["--persons", "200", "--seed", "-1"], ["--seed"]),
])
def test_generate_refuses_bad_arguments_in_one_line_before_writing(tmp_path, capsys, args, words):
    out = tmp_path / "g"
    assert main(["generate", *args, "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert all(w in line for w in words), line
    assert not out.exists()


@pytest.mark.parametrize("command", [
    ["moji", "identify", "--text-file", "{missing}", "--out", "{tmp}/x.csv"],
    ["moji", "shrink", "--text-file", "{missing}", "--target", "jisx0208", "--out", "{tmp}/x.csv"],
])
def test_moji_commands_refuse_a_missing_text_file_in_one_line(tmp_path, capsys, command):
    missing = tmp_path / "nope.txt"
    argv = [a.format(missing=missing, tmp=tmp_path) for a in command]
    assert main(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(missing) in line and "no such file" in line
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("char", ["ZZZ", "高橋", "U+9AD9 U+6A4B", "U+ZZZZ", "U+9AD9 x"])
def test_moji_decide_refuses_more_or_other_than_one_character(tmp_path, capsys, char):
    ledger = tmp_path / "moji_ledger"
    ledger.mkdir()
    assert main(["moji", "decide", "--ledger", str(ledger), "--char", char, "--mj", "MJ028902", "--by", "x"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "--char" in line
    assert list(ledger.iterdir()) == []


def test_moji_decide_accepts_one_character_with_its_variation_selector(tmp_path, capsys):
    from ikou.moji.ledger import Ledger

    ledger = tmp_path / "moji_ledger"
    ledger.mkdir()
    assert main(["moji", "decide", "--ledger", str(ledger), "--char", "U+8FBB U+E0100", "--mj", "MJ025759",
                 "--by", "x", "--ahead"]) == 0
    assert "U+8FBB U+E0100" in Ledger.load(ledger).decisions["codepoints"].to_list()


@pytest.mark.parametrize("command", [
    ["moji", "decide", "--char", "U+E000", "--mj", "MJ028902", "--by", "x"],
    ["moji", "review"],
    ["moji", "adopt-crosswalk", "--by", "x"],
    ["moji", "decide", "--workbook", "{workbook}", "--by", "x"],
])
def test_moji_ledger_commands_refuse_a_ledger_folder_that_does_not_exist(tmp_path, capsys, command):
    workbook = tmp_path / "review.xlsx"
    workbook.write_bytes(b"")
    ledger = tmp_path / "runs" / "99997" / "moji_ledger"   # a mistyped 団体コード
    assert main([*[a.format(workbook=workbook) for a in command], "--ledger", str(ledger)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "no such ledger folder" in line
    assert not (tmp_path / "runs").exists()
