"""`ikou runs show` of a run the server does not have, and `ikou runs list --dantai` with a code that is not a
団体コード, say so in Japanese too: not 「設定・仕様ファイルに誤りがあります」, since no config file is at fault."""
from __future__ import annotations

import pytest

from ikou.flows.cli import main

CONFIG_JA = "設定・仕様ファイル"


@pytest.fixture
def server_url(monkeypatch):
    monkeypatch.delenv("IKOU_DEBUG", raising=False)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")   # never reached: both refuse before asking


def test_runs_show_of_an_unknown_run_says_the_server_has_no_such_run(server_url, monkeypatch, capsys):
    from ikou.flows import history

    monkeypatch.setattr(history, "show_run", lambda run_id: None)
    assert main(["runs", "show", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert CONFIG_JA not in err, err
    ja = err.split(" — failed:")[0]
    assert "nosuch" in ja and "ありません" in ja and "ikou runs list" in ja, err
    assert "no run 'nosuch' on the Prefect server" in err, err


def test_runs_list_with_a_code_that_is_not_a_dantai_code_names_the_argument(server_url, capsys):
    assert main(["runs", "list", "--dantai", "999999"]) == 2
    err = capsys.readouterr().err
    assert CONFIG_JA not in err, err
    ja = err.split(" — failed:")[0]
    assert "--dantai 999999" in ja and "団体コードではありません" in ja, err
