"""A 業務 the config lists that no source maps into (a typo: kotei_shisanzei), or a source of a 業務 the config does
not list, is refused at plan with the fix in Japanese too (it said only 設定・仕様ファイルに誤りがあります)."""
from __future__ import annotations

import pytest

from ikou.config import load_config
from ikou.errors import ConfigError, message_ja
from ikou.flows import pipeline as P
from tests.flows.test_plan_rule_refs import _config


def test_a_gyomu_no_source_maps_into_is_refused_with_the_fix_in_japanese(tmp_path):
    cfg = load_config(_config(tmp_path, ["jumin"], ["juki", "kojin_juminzei"]))
    with pytest.raises(ConfigError) as info:
        P.plan(cfg)
    ja = message_ja(info.value)
    assert "kojin_juminzei" in ja and "gyomu を直す" in ja


def test_a_source_of_a_gyomu_the_config_does_not_list_is_refused_with_the_fix_in_japanese(tmp_path):
    cfg = load_config(_config(tmp_path, ["jumin", "kazei"], ["juki"]))
    with pytest.raises(ConfigError) as info:
        P.plan(cfg)
    ja = message_ja(info.value)
    assert "vendor_a_kazei" in ja and "kojin_juminzei" in ja and "gyomu に加える" in ja
