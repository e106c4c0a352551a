"""A Prefect server that cannot be reached ends `ikou runs list|show` with a Japanese half about what failed
(the history could not be read, the server is unreachable, how to fix it), not "キャンペーンを実行できません";
`ikou server start --help` tells the port's default."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from ikou.errors import message_ja, one_line


def _failing(name: str, exc: Exception):
    from ikou.flows.campaign_cli import _server_errors

    def command(args):
        raise exc
    command.__name__ = name
    return _server_errors(command)


@pytest.mark.parametrize("name,what", [("_runs_list", "実行履歴を読めません"), ("_runs_show", "実行の記録を読めません"),
                                       ("_deploy", "デプロイメントを登録できません"),
                                       ("_campaign_run", "キャンペーンを実行できません")])
def test_an_unreachable_server_is_named_with_what_the_command_could_not_do(monkeypatch, name, what):
    from ikou.flows.campaign import CampaignError

    monkeypatch.delenv("IKOU_DEBUG", raising=False)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    with pytest.raises(CampaignError) as e:
        _failing(name, httpx.ConnectError("All connection attempts failed"))(SimpleNamespace(debug=False))
    ja = message_ja(e.value)
    assert what in ja and "http://127.0.0.1:9/api" in ja and "接続できません" in ja and "ikou server start" in ja, ja
    if name.startswith("_runs"):
        assert "キャンペーン" not in ja, ja
    assert "ConnectError" in one_line(e.value)


def test_a_local_file_error_is_not_called_an_unreachable_server(monkeypatch):
    from ikou.flows.campaign import CampaignError

    monkeypatch.delenv("IKOU_DEBUG", raising=False)
    with pytest.raises(CampaignError) as e:
        _failing("_campaign_run", PermissionError(13, "Permission denied"))(SimpleNamespace(debug=False))
    assert "接続できません" not in message_ja(e.value), message_ja(e.value)


def test_runs_list_without_a_server_prints_one_line_about_the_history(tmp_path):
    from ikou.flows.server import free_port

    env = {**os.environ, "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api", "PREFECT_HOME": str(tmp_path),
           "PREFECT_CLIENT_MAX_RETRIES": "0"}
    proc = subprocess.run([str(Path(sys.executable).parent / "ikou"), "runs", "list"], env=env, capture_output=True,
                          text=True, timeout=120)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1, proc.stderr[-2000:]
    assert "実行履歴を読めません" in err[0] and "キャンペーン" not in err[0], err[0]


def test_server_start_help_gives_the_port_and_its_default():
    from ikou.flows.cli import build_parser

    parser = build_parser()
    start = parser._subparsers._group_actions[0].choices["server"]._subparsers._group_actions[0].choices["start"]
    port = next(a for a in start._actions if "--port" in a.option_strings)
    assert port.default == 4200 and port.help and "4200" in port.help


def test_no_server_set_is_named_as_such_not_as_a_config_error(monkeypatch, capsys):
    from ikou.flows.cli import main

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["runs", "list"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "Prefect サーバーが指定されていません" in line and "PREFECT_API_URL" in line, line
    assert "設定・仕様ファイル" not in line, line
