"""A campaign's `target_url` becomes a Prefect deployment parameter, which the server stores and shows (its
database, UI, API): a URL holding a password is refused when the campaign is read, in Japanese and English,
without repeating the password; the worker gives it (PGPASSWORD, ~/.pgpass, a service file)."""
from __future__ import annotations

from pathlib import Path

import pytest

from ikou.campaign import load_campaign
from ikou.errors import ConfigError, message_ja, one_line
from ikou.sample.campaign import write_run_config

CODE = "999831"


def _campaign(tmp: Path, target_url: str) -> Path:
    (tmp / CODE).mkdir(parents=True, exist_ok=True)
    write_run_config(tmp, CODE, target_url="duckdb:///t.duckdb", runs_dir=tmp / "runs")
    p = tmp / "campaign.yaml"
    p.write_text(f"spec_version: 1\ncampaign: r3\nrehearsals:\n  - config: {CODE}/run.yaml\n"
                 f"    target_url: {target_url}\n", encoding="utf-8")
    return p


@pytest.mark.parametrize("url", ["postgresql://ikou:s3cretfx@127.0.0.1:5432/test",
                                 "postgresql+psycopg://ikou:s3cretfx@db/test",
                                 "postgresql://ikou@127.0.0.1:5432/test?password=s3cretfx"])
def test_a_password_in_a_campaign_target_url_is_refused_in_both_languages_without_echoing_it(tmp_path, url):
    p = _campaign(tmp_path, url)
    with pytest.raises(ConfigError) as e:
        load_campaign(p)
    en, ja = one_line(e.value), message_ja(e.value)
    assert "rehearsals.0.target_url" in en and "password" in en and "PGPASSWORD" in en, en
    assert "rehearsals.0.target_url (5 行目)" in ja and "パスワード" in ja and "~/.pgpass" in ja, ja
    assert "s3cretfx" not in en and "s3cretfx" not in ja


@pytest.mark.parametrize("url", ["postgresql://ikou@127.0.0.1:5432/test", "postgresql://ikou:@127.0.0.1:5432/test",
                                 "postgresql://127.0.0.1:5432/test?passfile=/home/ikou/.pgpass"])
def test_a_campaign_target_url_without_a_password_is_kept_as_the_flow_parameter(tmp_path, url):
    entry = load_campaign(_campaign(tmp_path, url)).entries()[0]
    assert entry.parameters()["target_url"] == url


def test_a_broken_rehearsal_config_names_its_key_and_cause_in_japanese(tmp_path):
    p = _campaign(tmp_path, "postgresql://ikou@127.0.0.1:5432/test")
    p.write_text(p.read_text(encoding="utf-8").replace(f"{CODE}/run.yaml", f"{CODE}/nope.yaml"), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_campaign(p)
    ja = message_ja(e.value)
    assert "rehearsals.0.config (4 行目)" in ja and "nope.yaml がありません" in ja and "(top level)" not in ja, ja
