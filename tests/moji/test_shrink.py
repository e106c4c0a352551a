"""縮退 to JIS X 0208 / 0213 under a configurable category order, evidence kept."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.errors import ConfigError
from ikou.moji.shrink import ShrinkPolicy, shrink_glyphs, shrink_text, target_set


def out(texts, d, target, policy=None):
    return shrink_text(texts, target=target, dictionary=d, policy=policy).rows(named=True)


@pytest.mark.parametrize("target", ["jisx0208", "jisx0213"])
def test_well_known_names_shrink_with_their_category(jis_dictionary, target):
    r = out(["髙橋", "齋藤", "﨑"], jis_dictionary, target)
    assert [x["output"] for x in r] == ["高橋", "斎藤", "崎"]
    assert r[0]["evidence"] == "髙>高 MJ028902 法務省戸籍法関連通達・通知[戸籍統一文字情報 親字・正字,ホップ数=1]"
    assert r[1]["evidence"] == "齋>斎 MJ030060 法務省戸籍法関連通達・通知[戸籍統一文字情報 親字・正字,ホップ数=1]"
    assert r[2]["evidence"] == "﨑>崎 MJ030196 法務省戸籍法関連通達・通知[戸籍統一文字情報 親字・正字,ホップ数=1]"


def test_preserve_policy_keeps_what_the_target_holds(jis_dictionary):
    p = ShrinkPolicy.preset("preserve")
    r208 = out(["髙橋", "齋藤", "﨑"], jis_dictionary, "jisx0208", p)
    assert [x["output"] for x in r208] == ["高橋", "齋藤", "崎"]
    assert "JIS包摂規準・UCS統合規則" in r208[0]["evidence"]
    assert "法務省戸籍法関連通達・通知" in r208[2]["evidence"]   # U+FA11 is not JIS X 0208
    r213 = out(["﨑"], jis_dictionary, "jisx0213", p)
    assert r213[0]["output"] == "﨑" and r213[0]["evidence"] == ""   # 1-47-82 is JIS X 0213


def test_betsuji_relations_never_change_a_name(jis_dictionary):
    # 民一2842号 lists 傅 as 別字 of 傳: distinct characters, so 傅 must stay
    assert out(["傅"], jis_dictionary, "jisx0208")[0]["output"] == "傅"
    allow = ShrinkPolicy(exclude_notes=[])
    assert out(["傅"], jis_dictionary, "jisx0208", allow)[0]["output"] == "傳"


def test_ambiguous_is_reported_not_guessed(jis_dictionary):
    # 㐀 (MJ000004): 辞書類等による関連字 lists 丘 and 坵, both JIS X 0213
    p = ShrinkPolicy(categories=["辞書類等による関連字"])
    r = out(["㐀"], jis_dictionary, "jisx0213", p)[0]
    assert r["output"] == "㐀" and r["status"] == "ambiguous"
    assert "options=丘|坵" in r["evidence"]
    g = shrink_glyphs(pl.Series(["MJ000004"]), jis_dictionary, "jisx0213", p).row(0, named=True)
    assert g["status"] == "ambiguous" and g["shrunk"] is None


def test_unresolved_and_passthrough_in_shrink(jis_dictionary):
    r = out(["\ue001子", "カタカナ"], jis_dictionary, "jisx0208")
    assert r[0]["status"] == "unresolved" and r[0]["output"] == "\ue001子"
    assert r[1] == {"input": "カタカナ", "output": "カタカナ", "status": "ok", "evidence": ""}


def test_target_sets(jis_dictionary):
    s208, s213 = target_set(jis_dictionary, "jisx0208"), target_set(jis_dictionary, "jisx0213")
    assert "齋" in s208.to_list() and "﨑" not in s208.to_list() and "﨑" in s213.to_list()
    assert "髙" not in s213.to_list()


def test_policy_file_forbids_unknown_keys_and_categories(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("spec_version: 1\ncategories: [JIS包摂規準・UCS統合規則]\nkeep_if_in_targt: true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="keep_if_in_targt"):
        ShrinkPolicy.load(p)
    p.write_text("spec_version: 1\ncategories: [JIS包摂]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown categories"):
        ShrinkPolicy.load(p)
    p.write_text("spec_version: 1\ncategories: [読み・字形による類推]\nkeep_if_in_target: true\n", encoding="utf-8")
    assert ShrinkPolicy.load(p).categories == ["読み・字形による類推"]
