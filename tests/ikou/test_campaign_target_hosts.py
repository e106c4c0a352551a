"""A campaign refuses two entries loading one PostgreSQL target whatever the spelling of its host:
localhost, 127.0.0.1, ::1, the local socket, upper case, a trailing dot, the default port omitted
(probe D7). Different servers stay different."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from ikou.campaign import _target_key


def _key(url: str, schema: str = "dantai_999997"):
    return _target_key(SimpleNamespace(target=SimpleNamespace(url=url), target_schema=schema))


BASE = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.mark.parametrize("url", ["postgresql://postgres@localhost:5432/test", "postgresql://postgres@[::1]:5432/test",
                                 "postgresql+psycopg://other@LOCALHOST./test", "postgresql://postgres@127.0.0.2/test",
                                 "postgresql://postgres@/test", "postgresql://postgres@localhost/test?host=/tmp",
                                 "postgresql://postgres@[::ffff:127.0.0.1]:5432/test"])
def test_one_local_postgresql_target_spelt_differently_is_one_key(url):
    assert _key(url) == _key(BASE)


@pytest.mark.parametrize("a,b", [("postgresql://p@DB.example.:5432/t", "postgresql://p@db.example/t"),
                                 ("postgresql://p@[2001:DB8::1]/t", "postgresql://p@[2001:db8:0::1]:5432/t")])
def test_a_remote_host_differing_only_in_case_dot_port_or_ip_spelling_is_one_key(a, b):
    assert _key(a) == _key(b)


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:5433/test", "postgresql://postgres@db:5432/test",
                                 "postgresql://postgres@127.0.0.1:5432/other", "postgresql://postgres@10.0.0.1/test"])
def test_other_servers_ports_or_databases_stay_apart(url):
    assert _key(url) != _key(BASE)


def test_a_campaign_with_two_entries_into_one_local_target_spelt_differently_is_refused(tmp_path):
    from ikou.campaign import load_campaign
    from ikou.errors import ConfigError
    from ikou.sample.campaign import write_run_config

    (tmp_path / "999903").mkdir()
    write_run_config(tmp_path, "999903", target_url=BASE, runs_dir=tmp_path / "runs")
    p = tmp_path / "campaign.yaml"
    p.write_text("spec_version: 1\ncampaign: r3\nrehearsals:\n  - config: 999903/run.yaml\n"
                 "  - config: 999903/run.yaml\n    name: second\n"
                 "    target_url: postgresql://postgres@localhost/test\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="same target"):
        load_campaign(p)
