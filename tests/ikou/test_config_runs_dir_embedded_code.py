"""`runs_dir` may not carry another 団体's code inside a word (`x999725`), as README says and as every
other path of a config may not (security probe 3: `runs_dir: …/inbox/x999792` was accepted)."""
from __future__ import annotations

import pytest
import yaml

from ikou.config import load_config
from ikou.errors import ConfigError, message_ja


def _write(tmp_path, runs_dir: str):
    (tmp_path / "JUMIN.csv").write_text("x\n", encoding="utf-8")
    cfg = {"spec_version": 1, "dantai": {"code": "999717", "name": "架空市"}, "gyomu": ["juki"], "rehearsal": "R1",
           "sources": [{"name": "a", "kind": "file", "path": "JUMIN.csv", "mapping": "m.yaml"}],
           "target": {"url": "duckdb:///t.duckdb"}, "runs_dir": runs_dir}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("runs_dir", ["inbox/x999725", "runs999725", "shimin999725b/runs"])
def test_a_runs_dir_carrying_another_dantais_code_inside_a_word_is_refused(tmp_path, runs_dir):
    with pytest.raises(ConfigError, match="runs_dir .* another 団体's tree") as e:
        load_config(_write(tmp_path, runs_dir))
    assert "runs_dir" in message_ja(e.value) and "他の団体のフォルダ" in message_ja(e.value)


@pytest.mark.parametrize("runs_dir", ["runs", "runs999717", "runs_20240115", "r1234567"])
def test_a_runs_dir_with_the_own_code_or_a_longer_number_loads(tmp_path, runs_dir):
    assert load_config(_write(tmp_path, runs_dir)).runs_dir == tmp_path / runs_dir


@pytest.mark.parametrize("runs_dir", ["inbox/x999725", "runs\n999725"])
def test_a_refused_runs_dir_gets_no_failure_record_written_into_it(tmp_path, runs_dir, capsys):
    """The failure record of a refused config goes into its runs folder only when that folder is one the config
    could have named: never into another 団体's tree, nor a folder named with a line break."""
    from ikou.flows.cli import main

    assert main(["run", "--config", str(_write(tmp_path, runs_dir))]) == 2
    assert "runs_dir" in capsys.readouterr().err
    assert not (tmp_path / "inbox").exists() and not any(p.name.startswith("runs") for p in tmp_path.iterdir())
