"""外字 identified by their pictures: the glyph index, a vendor's 外字 font ranked against it, the
`ikou moji suggest` contract, Adobe-Japan1 sequences, and glyph candidates in the 同定台帳."""
from __future__ import annotations

import csv

import numpy as np
import polars as pl
import pytest

from ikou.flows.cli import main
from ikou.moji import crosswalk as X
from ikou.moji import glyphs as G
from ikou.moji.identify import identify_frame
from ikou.moji.ledger import Ledger
from ikou.sample.gaiji_font import build_pua_font

from tests.moji.glyph_fixtures import SMALL_DETAILS, crosswalk, fixed_set, glyph_index, noto  # noqa: F401


def test_index_holds_every_mj_glyph_and_lists_what_the_font_lacks(glyph_index, dictionary):
    assert len(glyph_index) == dictionary.glyphs.height == 58_862
    assert glyph_index.feats.shape == (len(glyph_index), G.FEATURE_DIM)
    assert np.allclose(np.linalg.norm(glyph_index.feats[:100], axis=1), 1, atol=1e-2)
    lacking = pl.read_csv(glyph_index.path / "lacking.csv")
    # Debian's IPAmj明朝 is 005.01; MJ068101 has 図形バージョン 5.2 in the Ver.006.02 table
    assert "MJ068101" in lacking["mj_name"].to_list()
    assert glyph_index.meta["font_version"].startswith("Version 005.01")
    # the picture of 髙 is kept (packed) and is not 高's
    assert (glyph_index.image("MJ028902") != glyph_index.image(dictionary.lookup("高"))).any()


@pytest.fixture(scope="module")
def noto_font(tmp_path_factory, noto, dictionary):
    chars = fixed_set(dictionary)
    path = tmp_path_factory.mktemp("font") / "NOTO_PUA.TTE"
    written = build_pua_font(path, [(0xE000 + i, c) for i, c in enumerate(chars)], noto)
    expected = pl.DataFrame({"code": [f"U+{cp:04X}" for cp, _ in written], "char": [c for _, c in written]})
    return path, expected.with_columns(pl.col("char").map_elements(dictionary.lookup, return_dtype=pl.String)
                                       .alias("expected"))


def test_glyphs_of_another_mincho_font_at_pua_find_their_mj_glyph(noto_font, glyph_index):
    path, expected = noto_font
    assert expected.height >= 300
    r = G.suggest(path, top=10, index=glyph_index)
    got = expected.join(r, left_on=["code", "expected"], right_on=["code", "mj"], how="left")
    rank = got["rank"].fill_null(99)
    assert (rank == 1).mean() >= 0.80, (rank == 1).mean()
    assert (rank <= 5).mean() >= 0.95, (rank <= 5).mean()
    small = got.filter(pl.col("char").is_in(list(SMALL_DETAILS)))
    assert small.height == len(SMALL_DETAILS) and small["rank"].to_list() == [1] * len(SMALL_DETAILS), small


def test_suggest_cli_writes_ranks_1_to_top_for_every_pua_glyph_in_codes(noto_font, glyph_index, tmp_path):
    path, expected = noto_font
    out = tmp_path / "out.csv"
    assert main(["moji", "suggest", "--font", str(path), "--codes", "U+E000-U+E00F,U+E100", "--top", "4",
                 "--out", str(out)]) == 0
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["code", "rank", "mj", "score"]
    f = pl.read_csv(out, infer_schema=False).with_columns(pl.col("rank").cast(pl.Int32), pl.col("score").cast(pl.Float64))
    assert sorted(f["code"].unique()) == [f"U+{c:04X}" for c in [*range(0xE000, 0xE010), 0xE100]]
    assert f.group_by("code").agg(pl.col("rank").sort()).filter(
        pl.col("rank") != pl.lit([1, 2, 3, 4], pl.List(pl.Int32))).height == 0
    assert f.group_by("code").agg((pl.col("score").sort_by("rank").diff() <= 0).all()).get_column("score").all()
    assert f["mj"].str.contains(r"^MJ\d{6}$").all()


def test_suggest_ranks_only_private_use_glyphs(noto, glyph_index, tmp_path):
    font = tmp_path / "MIXED.TTF"
    build_pua_font(font, [(0x4E00, "一"), (0xE010, "髙"), (0xF0000, "崎")], noto)
    r = G.suggest(font, top=3, index=glyph_index)
    assert sorted(r["code"].unique()) == ["U+E010", "U+F0000"]
    assert r.filter(pl.col("rank") == 1).sort("code")["mj"].to_list() == ["MJ028902", "MJ010541"]
    assert set(r.columns) >= {"distance", "strokes", "est_strokes", "radical", "radical_agrees"}


def test_codes_option_parses_ranges_and_rejects_garbage():
    assert G.parse_codes("U+E000-U+E002,U+E700") == [0xE000, 0xE001, 0xE002, 0xE700]
    assert G.parse_codes(None) is None
    from ikou.errors import ConfigError
    with pytest.raises(ConfigError):
        G.parse_codes("E000..E0FF")


def test_crosswalk_covers_every_adobe_japan1_sequence_whose_base_has_mj_glyphs(crosswalk, dictionary, glyph_index):
    seqs = X.read_ivd(X.ivd_path())
    with_mj = X.same_base(seqs, dictionary, glyph_index)["q"].n_unique()
    assert seqs.height > 14_000 and crosswalk["seq"].n_unique() == with_mj
    undrawn = crosswalk.filter(pl.col("rank").is_null())
    assert undrawn.height < 10   # sequences the font cannot draw stay listed, with no candidate
    best = crosswalk.filter(pl.col("rank") == 1)
    assert best.height == with_mj - undrawn.height and best["score"].is_not_null().all()
    # 葛󠄀 (Adobe-Japan1 CID+1481) is MJ's 葛 with 匂-like inside; 辻󠄀 (CID+3056) the one-dot 辻
    assert best.filter(pl.col("codepoints") == "U+845B U+E0100")["mj"].item() == "MJ022335"
    assert best.filter(pl.col("codepoints") == "U+8FBB U+E0100")["mj"].item() == "MJ025760"


def test_adobe_japan1_sequences_get_ranked_candidates_in_the_ledger(dictionary, glyph_index, crosswalk):
    df = pl.DataFrame({"_row_id": [1, 2, 3], "shimei": ["葛\U000e0100西　花子", "辻\U000e0100本", "\ue7ff田"]})
    res = identify_frame(df, ["shimei"], dictionary=dictionary)
    un = res.chars.filter(pl.col("status") == "unresolved")["char"]
    assert set(un) == {"葛\U000e0100", "辻\U000e0100", "\ue7ff"}
    gc = G.glyph_candidates(un, dictionary=dictionary, index=glyph_index)
    led = Ledger()
    led.update(res, dictionary=dictionary, source="s", glyph_candidates=gc)
    e = {r["codepoints"]: r for r in led.entries.iter_rows(named=True)}
    assert e["U+845B U+E0100"]["glyph_candidates"].startswith("MJ022335(")
    assert e["U+8FBB U+E0100"]["glyph_candidates"].startswith("MJ025760(")
    assert e["U+845B U+E0100"]["candidates"]          # the relation candidates stay next to them
    assert e["U+E7FF"]["glyph_candidates"] is None    # a 外字 without a font has no picture to rank


def test_ledger_written_before_glyph_candidates_still_loads(tmp_path):
    (tmp_path / "ledger.csv").write_text(
        "char,codepoints,columns,occurrences,record_keys,candidates,decided_mj,source\n"
        ",U+E700,shimei,3,1 2 3,,,vendor_a\n", encoding="utf-8")
    led = Ledger.load(tmp_path)
    assert led.entries["glyph_candidates"].to_list() == [None] and led.entries["char"].to_list() == ["\ue700"]


def test_stage_with_a_gaiji_font_puts_glyph_candidates_in_the_ledger(tmp_path, monkeypatch, moji_dir, noto,
                                                                    glyph_index, crosswalk):
    from ikou import REPO_ROOT
    from ikou.context import RunContext
    from ikou.moji import identify_source
    from ikou.schema import load_schema
    monkeypatch.setenv("IKOU_MOJI_CACHE", str(moji_dir))
    font = tmp_path / "EUDC.TTE"
    build_pua_font(font, [(0xE700, "髙")], noto)
    n = 4
    pl.DataFrame({"_row_id": pl.int_range(1, n + 1, eager=True),
                  "atena_no": [f"{i:015d}" for i in range(n)], "rireki_no": [1] * n,
                  "shimei": ["\ue700橋　太郎", "辻\U000e0100本", "\ue701田", "山田"],
                  "jusho": ["東京都"] * n, "banchi": ["1"] * n, "katagaki": [None] * n}).write_parquet(tmp_path / "m.parquet")
    schema = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")
    ctx = RunContext(dantai_code="999997", run_id="r1", runs_dir=tmp_path / "runs")
    identify_source(schema, "juki_kojin_rireki", ctx, tmp_path / "m.parquet", source_name="vendor_a", gaiji_font=font)
    e = {r["codepoints"]: r for r in Ledger.load(ctx.dantai_dir / "moji_ledger").entries.iter_rows(named=True)}
    assert e["U+E700"]["glyph_candidates"].startswith("MJ028902(") and e["U+E700"]["glyph_font"] == str(font)
    assert e["U+8FBB U+E0100"]["glyph_candidates"].startswith("MJ025760(")
    assert e["U+E701"]["glyph_candidates"] is None      # not in the font: no picture, still listed
    assert "atena" not in (e["U+E700"]["record_keys"] or "") and "太郎" not in str(e["U+E700"])


def test_adopt_crosswalk_decides_rank_1_glyphs_of_the_ledger_once_and_keeps_reviewers_decisions(
        dictionary, glyph_index, crosswalk, tmp_path, capsys):
    df = pl.DataFrame({"_row_id": [1, 2, 3], "shimei": ["葛\U000e0100西　花子", "辻\U000e0100本", "\ue7ff田"]})
    led = Ledger()
    led.update(identify_frame(df, ["shimei"], dictionary=dictionary), dictionary=dictionary, source="s")
    led.decide("辻\U000e0100", "MJ025759", decided_by="reviewer-1", note="戸籍で確認")   # a reviewer's word stays
    led.save(tmp_path / "ledger")
    args = ["moji", "adopt-crosswalk", "--ledger", str(tmp_path / "ledger"), "--by", "crosswalk"]

    assert main([*args, "--min-score", "1.01"]) == 0   # no score reaches it: nothing adopted
    assert "0 Adobe-Japan1 sequence(s) adopted" in capsys.readouterr().out
    assert main([*args, "--min-score", "0"]) == 0
    assert "1 Adobe-Japan1 sequence(s) adopted" in capsys.readouterr().out
    active = dict(Ledger.load(tmp_path / "ledger").active().select("codepoints", "mj").iter_rows())
    best = crosswalk.filter(pl.col("rank") == 1)
    assert active["U+845B U+E0100"] == best.filter(pl.col("codepoints") == "U+845B U+E0100")["mj"].item()
    assert active["U+8FBB U+E0100"] == "MJ025759" and "U+E7FF" not in active   # a 外字 is not in the crosswalk
    assert main([*args, "--min-score", "0"]) == 0   # once: an adopted sequence has its decision
    assert "0 Adobe-Japan1 sequence(s) adopted" in capsys.readouterr().out
    res = identify_frame(df, ["shimei"], dictionary=dictionary, ledger=Ledger.load(tmp_path / "ledger"))
    assert res.chars.filter(pl.col("char") == "葛\U000e0100")["status"].item() == "decided"
