"""文字同定 rewrites whole characters only, and a 外字 decision belongs to the source it was made for."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.moji.identify import identify_frame, load_gaiji_table, mj_names
from ikou.moji import ledger as L
from ikou.moji.ledger import Ledger, UndecidableError

VS17 = "\U000e0100"
PUA = "\ue001"


def one(values):
    return pl.DataFrame({"_row_id": pl.Series(range(1, len(values) + 1), dtype=pl.Int64), "shimei": values})


# -- #3: the rewrite is per character (base + optional selector), never inside another sequence ------------

def test_gaiji_rewrite_leaves_the_same_code_with_a_selector_alone(dictionary, tmp_path):
    p = tmp_path / "gaiji.csv"
    p.write_text("code,mj\nU+E000,MJ032932\n", encoding="utf-8")
    g = load_gaiji_table(p, dictionary)
    res = identify_frame(one([f"\ue000{VS17}田", "\ue000田"]), ["shimei"], dictionary=dictionary, gaiji=g)
    # the 外字 alone is rewritten; U+E000+U+E0100 is another (unresolved) character: kept whole
    assert res.frame["shimei"].to_list() == [f"\ue000{VS17}田", "\U0002123d田"]
    assert res.unresolved_rows["chars"].to_list() == [f"\ue000{VS17}"]
    assert mj_names(res.frame, "shimei", res).to_list() == ["? MJ017636", "MJ032932 MJ017636"]


def test_decision_for_a_lone_selector_does_not_change_a_kana_with_that_selector(dictionary):
    led = Ledger()
    led.decide(VS17, "MJ000001", decided_by="t")   # as an old decisions.csv may hold it (々)
    res = identify_frame(one([f"か{VS17}子", f"{VS17}子"]), ["shimei"], dictionary=dictionary, ledger=led)
    assert res.frame["shimei"].to_list() == [f"か{VS17}子", "々子"]
    assert res.unresolved_rows["chars"].to_list() == [f"か{VS17}"]


def test_lazy_rewrite_is_per_character_too(dictionary):
    from ikou.moji.identify import identify_lazy
    led = Ledger()
    led.decide(VS17, "MJ000001", decided_by="t")
    lf = one([f"か{VS17}子", f"{VS17}子"]).lazy()
    ident = identify_lazy(lf, ["shimei"], dictionary=dictionary, ledger=led)
    assert lf.with_columns(ident.rewrite_exprs()).collect()["shimei"].to_list() == [f"か{VS17}子", "々子"]


@pytest.mark.parametrize("char", [VS17, "\ufe00", "\u0301", "\u309a"])
def test_decision_for_a_lone_selector_or_combining_mark_is_refused(dictionary, char):
    led = Ledger()
    with pytest.raises(UndecidableError, match="lone variation selector or combining mark") as e:
        led.check_decision(char, "MJ000001", dictionary=dictionary, ahead=True)
    assert "単独" in e.value.ja


# -- #1: a 外字 decision carries its source and applies there only ----------------------------------------

def two_sources(dictionary) -> Ledger:
    led = Ledger()
    for s in ("vend_a", "vend_b"):
        led.update(identify_frame(one([f"{PUA}田"]), ["shimei"], dictionary=dictionary, ledger=led, source=s),
                   dictionary=dictionary, source=s)
    return led


def test_gaiji_decision_without_source_is_refused_when_two_sources_hold_the_code(dictionary):
    led = two_sources(dictionary)
    with pytest.raises(L.DecisionSourceError, match="vend_a, vend_b") as e:
        led.check_decision(PUA, "MJ028902", dictionary=dictionary)
    assert "vend_a, vend_b" in e.value.ja and "--source" in e.value.ja
    with pytest.raises(L.DecisionSourceError):
        led.decide(PUA, "MJ028902", decided_by="t")


def test_gaiji_decision_applies_to_its_own_source_only(dictionary, tmp_path):
    led = two_sources(dictionary)
    assert led.check_decision(PUA, "MJ028902", dictionary=dictionary, source="vend_a") == "vend_a"
    led.decide(PUA, "MJ028902", decided_by="t", source="vend_a")
    led.save(tmp_path / "l")
    led = Ledger.load(tmp_path / "l")
    a = identify_frame(one([f"{PUA}田"]), ["shimei"], dictionary=dictionary, ledger=led, source="vend_a")
    b = identify_frame(one([f"{PUA}田"]), ["shimei"], dictionary=dictionary, ledger=led, source="vend_b")
    assert a.frame["shimei"][0] == "髙田" and a.counts["decided"] == 1
    assert b.frame["shimei"][0] == f"{PUA}田" and b.counts["unresolved"] == 1
    assert dict(led.entries.select("source", "decided_mj").iter_rows()) == {"vend_a": "MJ028902", "vend_b": None}


def test_gaiji_decision_of_one_source_is_recorded_for_that_source(dictionary):
    led = Ledger()
    led.update(identify_frame(one([f"{PUA}田"]), ["shimei"], dictionary=dictionary, source="vend_a"),
               dictionary=dictionary, source="vend_a")
    assert led.check_decision(PUA, "MJ028902", dictionary=dictionary) == "vend_a"
    led.decide(PUA, "MJ028902", decided_by="t")
    assert led.decisions["source"].to_list() == ["vend_a"]
    # another vendor's copy of the code, found later, is not rewritten by it
    b = identify_frame(one([f"{PUA}田"]), ["shimei"], dictionary=dictionary, ledger=led, source="vend_b")
    assert b.counts["unresolved"] == 1


def test_decisions_file_without_source_column_still_applies_to_every_source(dictionary, tmp_path):
    d = tmp_path / "old"
    d.mkdir()
    (d / "decisions.csv").write_text("codepoints,mj,decided_by,decided_at,version,note\n"
                                     "U+E001,MJ028902,t,2026-01-01T00:00:00+00:00,1,\n", encoding="utf-8")
    led = Ledger.load(d)
    for s in ("vend_a", "vend_b"):
        r = identify_frame(one([f"{PUA}田"]), ["shimei"], dictionary=dictionary, ledger=led, source=s)
        assert r.frame["shimei"][0] == "髙田"


def test_source_is_refused_for_a_real_character(dictionary):
    led = Ledger()
    with pytest.raises(L.DecisionSourceError, match="not a 外字"):
        led.check_decision("\u9ad9\U000e0105", "MJ028902", dictionary=dictionary, ahead=True, source="vend_a")


def test_cli_decide_with_source(dictionary, moji_dir, tmp_path, capsys):
    from ikou.flows.cli import main
    led = two_sources(dictionary)
    d = tmp_path / "ledger"
    led.save(d)
    base = ["moji", "decide", "--ledger", str(d), "--char", "U+E001", "--mj", "MJ028902", "--by", "t",
            "--dictionary", str(moji_dir)]
    assert main(base) != 0
    assert "vend_a, vend_b" in capsys.readouterr().err
    assert main(base + ["--source", "vend_b"]) == 0
    assert Ledger.load(d).decisions["source"].to_list() == ["vend_b"]


def test_one_pass_identifier_applies_a_gaiji_decision_to_its_own_source_only(dictionary, moji_dir, tmp_path,
                                                                           monkeypatch):
    from ikou import REPO_ROOT
    from ikou.context import RunContext
    from ikou.moji.step import Identifier
    from ikou.schema import load_schema

    monkeypatch.setenv("IKOU_MOJI_CACHE", str(moji_dir))
    ctx = RunContext(dantai_code="999750", run_id="20990101T000000Z-T-0751", runs_dir=tmp_path / "runs")
    led = two_sources(dictionary)
    led.decide(PUA, "MJ028902", decided_by="t", source="vend_a")
    led.save(ctx.dantai_dir / "moji_ledger")
    schema = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")
    batch = pl.DataFrame({"_row_id": [1], "atena_no": ["000000000000001"], "rireki_no": [1], "shimei": [f"{PUA}田"],
                          "jusho": ["東京都"], "banchi": ["1"], "katagaki": [None]})
    out = {s: Identifier(schema, "juki_kojin_rireki", ctx, source_name=s)(batch) for s in ("vend_a", "vend_b")}
    assert out["vend_a"]["shimei"][0] == "髙田" and not out["vend_a"]["_moji_unresolved"][0]
    assert out["vend_b"]["shimei"][0] == f"{PUA}田" and out["vend_b"]["_moji_unresolved"][0]
