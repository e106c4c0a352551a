"""A 外字 decision that took effect (the code is unresolved nowhere now) is corrected for the source it was
made for, not shadowed by a 団体-wide decision that source's own decision overrides (review #5)."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.moji import ledger as L
from ikou.moji.identify import identify_frame
from ikou.moji.ledger import Ledger

PUA = "\ue001"
FIRST, CORRECTED = "MJ028902", "MJ032932"   # 髙, then 𡈽


def one(values):
    return pl.DataFrame({"_row_id": pl.Series(range(1, len(values) + 1), dtype=pl.Int64), "shimei": values})


def run(led: Ledger, dictionary, source: str):
    """A source's run: identify with the ledger's decisions, then record its unresolved characters."""
    res = identify_frame(one([f"{PUA}田"]), ["shimei"], dictionary=dictionary, ledger=led, source=source)
    led.update(res, dictionary=dictionary, source=source)
    return res


def decided_then_applied(dictionary, sources=("vend_a",)) -> Ledger:
    led = Ledger()
    for s in sources:
        run(led, dictionary, s)
        led.decide(PUA, FIRST, decided_by="t", source=s)
        assert run(led, dictionary, s).counts["decided"] == 1
    assert not led.entries.filter(pl.col("codepoints") == "U+E001").height   # unresolved nowhere now
    return led


def test_correcting_a_gaiji_decision_that_took_effect_replaces_that_sources_decision(dictionary):
    led = decided_then_applied(dictionary)
    assert led.check_decision(PUA, CORRECTED, dictionary=dictionary) == "vend_a"
    assert led.decide(PUA, CORRECTED, decided_by="t") == 2
    assert led.decisions["source"].to_list() == ["vend_a", "vend_a"]
    res = run(led, dictionary, "vend_a")
    assert res.frame["shimei"][0] == "\U0002123d田" and res.counts["decided"] == 1


def test_correcting_it_ahead_records_no_wide_decision_the_source_would_override(dictionary):
    led = decided_then_applied(dictionary)
    assert led.check_decision(PUA, CORRECTED, dictionary=dictionary, ahead=True) == "vend_a"


def test_correcting_a_gaiji_decided_for_several_sources_needs_source(dictionary):
    led = decided_then_applied(dictionary, ("vend_a", "vend_b"))
    with pytest.raises(L.DecisionSourceError, match="vend_a, vend_b") as e:
        led.check_decision(PUA, CORRECTED, dictionary=dictionary, ahead=True)
    assert "vend_a, vend_b" in e.value.ja and "--source" in e.value.ja
    assert led.check_decision(PUA, CORRECTED, dictionary=dictionary, source="vend_b") == "vend_b"


def test_wide_decision_for_a_code_a_sources_own_decision_overrides_is_refused(dictionary):
    led = decided_then_applied(dictionary)
    # `ikou moji identify --ledger` (no source) finds the code unresolved: a decision would be 団体-wide
    led.update(identify_frame(one([f"{PUA}田"]), ["shimei"], dictionary=dictionary), dictionary=dictionary)
    with pytest.raises(L.DecisionSourceError, match="would not apply in vend_a") as e:
        led.check_decision(PUA, CORRECTED, dictionary=dictionary, ahead=True)
    assert "vend_a" in e.value.ja and "--source" in e.value.ja
    with pytest.raises(L.DecisionSourceError):
        led.decide(PUA, CORRECTED, decided_by="t")


def test_cli_corrects_a_gaiji_decision_that_took_effect(dictionary, moji_dir, tmp_path, capsys):
    from ikou.flows.cli import main
    d = tmp_path / "ledger"
    decided_then_applied(dictionary).save(d)
    assert main(["moji", "decide", "--ledger", str(d), "--char", "U+E001", "--mj", CORRECTED, "--by", "t",
                 "--dictionary", str(moji_dir)]) == 0
    assert "source vend_a" in capsys.readouterr().out
    act = Ledger.load(d).active()
    assert act.select("source", "mj", "version").rows() == [("vend_a", CORRECTED, 2)]
