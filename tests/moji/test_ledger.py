"""同定台帳: unresolved in one run, decided by a reviewer, applied in the next; decisions versioned."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.errors import ConfigError
from ikou.moji.identify import identify_frame
from ikou.moji.ledger import Ledger

PUA = "\ue001"


def frame():
    return pl.DataFrame({"_row_id": pl.Series([10, 11, 12, 13], dtype=pl.Int64),
                         "shimei": [f"{PUA}子", "田中", f"{PUA}川 {PUA}", "\u9ad9\U000e0105橋"]})


def test_round_trip_unresolved_then_decided(dictionary, tmp_path):
    d = tmp_path / "ledger"
    led = Ledger.load(d)                       # new folder: empty ledger
    r1 = identify_frame(frame(), ["shimei"], dictionary=dictionary, ledger=led)
    assert r1.counts["unresolved"] == 4 and r1.counts["decided"] == 0
    led.update(r1, dictionary=dictionary)
    led.save(d)

    inv = Ledger.load(d).entries
    pua = inv.filter(pl.col("char") == PUA).row(0, named=True)
    assert pua["occurrences"] == 3 and pua["record_keys"] == "10 12" and pua["codepoints"] == "U+E001"
    ivs = inv.filter(pl.col("codepoints") == "U+9AD9 U+E0105").row(0, named=True)
    assert ivs["candidates"].startswith("MJ028902(same_base)")   # the registered glyphs of 髙 first

    # a reviewer decides; the next run applies it
    led2 = Ledger.load(d)
    assert led2.decide(PUA, "MJ028902", decided_by="reviewer-1", note="戸籍で確認",
                       decided_at="2026-11-23T10:00:00+00:00") == 1
    led2.save(d)
    r2 = identify_frame(frame(), ["shimei"], dictionary=dictionary, ledger=Ledger.load(d))
    assert r2.counts["decided"] == 3 and r2.counts["unresolved"] == 1
    assert r2.frame["shimei"].to_list()[0] == "\u9ad9子"
    assert r2.unresolved_rows["_row_id"].to_list() == [13]
    assert r2.chars.filter(pl.col("char") == PUA)["status"].to_list() == ["decided"]


def test_changed_decision_is_visible_in_diff(dictionary, tmp_path):
    v1 = Ledger()
    v1.decide(PUA, "MJ028902", decided_by="a")
    v1.decide("\ue002", "MJ030060", decided_by="a")
    v1.save(tmp_path / "v1")
    v2 = Ledger.load(tmp_path / "v1")
    assert v2.decide(PUA, "MJ030196", decided_by="b", note="訂正") == 2
    v2.decide("\ue002", None, decided_by="b")            # withdrawn
    v2.decide("\ue003", "MJ000001", decided_by="b")      # new
    diff = v2.diff(Ledger.load(tmp_path / "v1"))
    got = {r["codepoints"]: (r["mj_before"], r["mj_after"], r["change"]) for r in diff.iter_rows(named=True)}
    assert got == {"U+E001": ("MJ028902", "MJ030196", "changed"),
                   "U+E002": ("MJ030060", None, "withdrawn"),
                   "U+E003": (None, "MJ000001", "added")}
    # history kept: both versions of U+E001 are in decisions.csv
    v2.save(tmp_path / "v2")
    hist = Ledger.load(tmp_path / "v2").decisions.filter(pl.col("codepoints") == "U+E001")
    assert hist["version"].to_list() == [1, 2]
    assert Ledger.load(tmp_path / "v2").decisions_frame().filter(pl.col("char") == PUA)["mj"].to_list() == ["MJ030196"]


def test_hints_rank_candidates_for_a_gaiji(dictionary, tmp_path):
    d = tmp_path / "l"
    d.mkdir()
    # reviewer's hint for U+E001: reading たか, 部首 189 (高), 内画数 1 → 髙 (MJ028902) ranks first
    rs = dictionary.rsindex.filter(pl.col("mj_name") == "MJ028902").row(0, named=True)
    (d / "hints.csv").write_text(
        f"codepoints,reading,radical,inner_strokes\nU+E001,たかい,{rs['radical']},{rs['inner_strokes']}\n",
        encoding="utf-8")
    led = Ledger.load(d)
    r = identify_frame(frame(), ["shimei"], dictionary=dictionary, ledger=led)
    led.update(r, dictionary=dictionary)
    cands = led.entries.filter(pl.col("codepoints") == "U+E001")["candidates"][0].split()
    reading_rs = [c for c in cands if c.endswith("(reading+rs)")]
    assert "MJ028902(reading+rs)" in reading_rs


def test_bad_decisions_file_is_a_config_error(tmp_path):
    (tmp_path / "decisions.csv").write_text(
        "codepoints,mj,decided_by,decided_at,version,note\nU+E001,髙,a,2026-01-01,1,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad row"):
        Ledger.load(tmp_path)


def test_a_run_of_one_source_keeps_the_unresolved_characters_of_another(dictionary):
    import polars as pl

    from ikou.moji.identify import identify_frame

    led = Ledger()
    a = identify_frame(pl.DataFrame({"_row_id": [1], "shimei": ["\ue700山"]}), ["shimei"], dictionary=dictionary,
                       key_columns=["_row_id"])
    b = identify_frame(pl.DataFrame({"_row_id": [2], "shimei": ["\ue701川"]}), ["shimei"], dictionary=dictionary,
                       key_columns=["_row_id"])
    led.update(a, dictionary=dictionary, source="vendor_a_jumin")
    led.update(b, dictionary=dictionary, source="vendor_b_jumin")
    assert sorted(zip(led.entries["source"], led.entries["char"])) == [("vendor_a_jumin", "\ue700"),
                                                                       ("vendor_b_jumin", "\ue701")]
    fixed = identify_frame(pl.DataFrame({"_row_id": [1], "shimei": ["山"]}), ["shimei"], dictionary=dictionary,
                           key_columns=["_row_id"])
    led.update(fixed, dictionary=dictionary, source="vendor_a_jumin")   # vendor A's export now clean
    assert led.entries["char"].to_list() == ["\ue701"]
