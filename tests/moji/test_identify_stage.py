"""The 文字同定 stage streams slices of the map output: its files must equal identify_frame on the whole table."""
from __future__ import annotations

from types import SimpleNamespace

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ikou.moji import identify_source
from ikou import REPO_ROOT
from ikou.context import RunContext
from ikou.schema import load_schema
from ikou.moji.identify import identify_frame, load_gaiji_table
from ikou.moji.ledger import Ledger

MOJI_COLS = ["shimei", "jusho", "banchi", "katagaki"]
KEYS = ["_row_id", "atena_no", "rireki_no"]
# 外字 in the table (髙), 外字 whose glyph has no UCS (→ IVS), a decided 外字, unresolved 外字, an
# unregistered IVS, a registered IVS, a compatibility ideograph, kana, nulls
NAMES = ["\ue000橋　太郎", "やまだ ﾊﾅｺ", "\ue001子\ue001", "欄\uf91d", "\u9ad9\U000e0105", None, "\ue002藤\ue003",
         "\u9f4b\U000e0104", "\ue005\ue000\ue001", "山田\ue004"]


@pytest.fixture()
def mapped(tmp_path):
    """A map output of 10 × 23 rows; katagaki is all null (typed Null in the Parquet)."""
    n = len(NAMES) * 23
    df = pl.DataFrame({
        "_row_id": pl.int_range(1, n + 1, eager=True),
        "atena_no": pl.int_range(n, eager=True).cast(pl.String).str.zfill(15),
        "rireki_no": pl.Series([1] * n, dtype=pl.Int64),
        "shimei": NAMES * 23,
        "jusho": (["東京都千代田区\ue001", "東京都\ue000区", None] * n)[:n],
        "banchi": ["1-2-3"] * n,
        "katagaki": pl.Series([None] * n, dtype=pl.Null),
    })
    path = tmp_path / "mapped.parquet"
    df.write_parquet(path)
    return path


@pytest.fixture()
def stage(tmp_path, monkeypatch, moji_dir, dictionary):
    """A runner of the stage with a 外字 table and a ledger holding one decision (\\ue003 → 髙)."""
    monkeypatch.setenv("IKOU_MOJI_CACHE", str(moji_dir))
    gaiji = tmp_path / "gaiji.csv"
    gaiji.write_text("code,mj\nU+E000,MJ028902\nU+E002,MJ030061\n", encoding="utf-8")
    schema = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")
    p = SimpleNamespace(source=SimpleNamespace(name="vendor_x", gaiji_table=gaiji),
                        mapping=SimpleNamespace(target="juki_kojin_rireki"), schema=schema)

    def run(mapped, run_id: str, **kw):
        ctx = RunContext(dantai_code="999997", run_id=run_id, runs_dir=tmp_path / "runs")
        ledger_dir = ctx.dantai_dir / "moji_ledger"
        if not ledger_dir.exists():
            led = Ledger.load(ledger_dir)
            led.decide("\ue003", "MJ028902", decided_by="test")
            led.save(ledger_dir)
        before = Ledger.load(ledger_dir)
        r = identify_source(p.schema, p.mapping.target, ctx, mapped, source_name=p.source.name,
                            gaiji_table=p.source.gaiji_table, **kw)
        result = (r.output, r.quarantine, r.metrics["counts"], pl.read_parquet(r.outputs["chars"]))
        return SimpleNamespace(ctx=ctx, result=result, ledger_before=before,
                               gaiji=load_gaiji_table(gaiji, dictionary))
    return run


def test_stage_output_equals_identify_frame_on_the_whole_table_across_batches(mapped, stage, dictionary):
    s = stage(mapped, "20990101T000000Z-T-0001", batch_rows=37)   # 7 slices, boundaries mid-pattern
    out_path, warn, counts, chars = s.result
    whole = pl.read_parquet(mapped)
    ref = identify_frame(whole, MOJI_COLS, dictionary=dictionary, gaiji=s.gaiji, ledger=s.ledger_before,
                         key_columns=KEYS)
    out = pl.read_parquet(out_path)
    assert out.columns == whole.columns + ["_moji_unresolved_chars", "_moji_unresolved"]
    assert_frame_equal(out.drop("_moji_unresolved_chars", "_moji_unresolved"), ref.frame)
    flagged = ref.unresolved_rows["_row_id"].unique().implode()
    assert out["_moji_unresolved"].to_list() == whole["_row_id"].is_in(flagged).to_list()
    detail = dict(out.filter("_moji_unresolved").select("_row_id", "_moji_unresolved_chars").iter_rows())
    assert detail[1] == "jusho: U+E001 (\ue001)"                      # the 外字 in shimei is in the table
    assert detail[5] == "shimei: U+9AD9 U+E0105 (\u9ad9\U000e0105)"
    assert detail[9] == "shimei: U+E005 U+E001 (\ue005\ue001)"          # each unresolved character once
    assert detail[10] == "jusho: U+E001 (\ue001) / shimei: U+E004 (\ue004)"
    assert 2 not in detail and 8 not in detail
    # 外字 without UCS → its IVS sequence; the decided 外字 → the decision's glyph
    assert out.filter(pl.col("_row_id") == 7)["shimei"][0] == "\u9f4b\U000e0104藤\u9ad9"
    assert counts == ref.counts and counts["decided"] == 23 and counts["unresolved"] > 0
    assert_frame_equal(chars, ref.chars.with_columns(pl.lit("vendor_x").alias("source")))
    assert_frame_equal(pl.read_parquet(s.ctx.stage_dir("moji") / "vendor_x.chars.parquet"), chars)
    expected_ledger = s.ledger_before
    expected_ledger.update(ref, dictionary=dictionary, source="vendor_x")
    assert_frame_equal(Ledger.load(s.ctx.dantai_dir / "moji_ledger").entries, expected_ledger.entries)
    assert set(warn["rule"]) == {"moji.halfwidth_kana"} and warn.height == 23


def test_stage_output_does_not_depend_on_the_batch_size(mapped, stage):
    one = pl.read_parquet(stage(mapped, "20990101T000000Z-T-0001").result[0])
    many = pl.read_parquet(stage(mapped, "20990101T000000Z-T-0002", batch_rows=10).result[0])
    assert_frame_equal(one, many)


def test_stage_writes_an_empty_table_with_its_columns(tmp_path, mapped, stage):
    empty = tmp_path / "empty.parquet"
    pl.read_parquet(mapped).head(0).write_parquet(empty)
    out_path, _, counts, chars = stage(empty, "20990101T000000Z-T-0001").result
    out = pl.read_parquet(out_path)
    assert out.height == 0 and out.columns[-2:] == ["_moji_unresolved_chars", "_moji_unresolved"]
    assert sum(counts.values()) == 0 and chars.height == 0


# --- a character that is not text holds its row (moji.invalid_char), in both paths -------------------

BAD = ["山\u2028田　花子", "山田\u200b太郎", "\ufeff佐藤", "山田\u202e", "山\ufffd田", "山田😀", "김민수", "カ\u3099ス"]


@pytest.fixture()
def mapped_bad(tmp_path):
    """A map output with lineage: the names above, and an invalid character in jusho of row 9."""
    n = len(BAD) + 2
    df = pl.DataFrame({
        "_row_id": pl.int_range(1, n + 1, eager=True),
        "_source": ["JUMIN.csv"] * n,
        "_source_line": pl.int_range(2, n + 2, eager=True),
        "atena_no": pl.int_range(n, eager=True).cast(pl.String).str.zfill(15),
        "rireki_no": pl.Series([1] * n, dtype=pl.Int64),
        "shimei": BAD + ["山田　一郎", "山田\u200b次郎"],
        "jusho": ["東京都"] * (n - 2) + ["東京都\u2029千代田区", "東京都\ufeff"],
        "banchi": ["1-2-3"] * n,
        "katagaki": pl.Series([None] * n, dtype=pl.String),
    })
    path = tmp_path / "mapped_bad.parquet"
    df.write_parquet(path)
    return path, df


def test_rows_holding_a_character_that_is_not_text_are_held_with_a_finding(mapped_bad, stage):
    path, df = mapped_bad
    out_path, held, counts, chars = stage(path, "20990101T000000Z-T-0001", batch_rows=3).result
    out = pl.read_parquet(out_path)
    held_ids = [1, 2, 3, 4, 5, 9, 10]
    assert out["_row_id"].to_list() == [6, 7, 8]                       # the held rows are not passed on
    assert held.sort("row_id", "column").select("row_id", "column", "rule", "severity").rows() == [
        (i, c, "moji.invalid_char", "error") for i, c in
        [(1, "shimei"), (2, "shimei"), (3, "shimei"), (4, "shimei"), (5, "shimei"), (9, "jusho"),
         (10, "jusho"), (10, "shimei")]]
    assert set(held["row_id"]) == set(held_ids)
    r = held.filter((pl.col("row_id") == 10) & (pl.col("column") == "shimei")).row(0, named=True)
    assert (r["stage"], r["table"], r["source"], r["source_line"]) == ("moji", "juki_kojin_rireki", "JUMIN.csv", 11)
    assert r["record_key"] == "atena_no=000000000000009,rireki_no=1"
    assert r["value"] == "山田\u200b次郎"                                  # as read (masked wherever it is shown)
    assert r["message_en"].endswith("(shimei: U+200B)") and r["message_ja"].endswith("(shimei: U+200B)")
    assert not any("山田" in m for m in held["message_ja"].to_list() + held["message_en"].to_list())
    assert counts["invalid"] == 8
    # emoji, Hangul: a warning that blocks sign-off (the moji.unresolved flag); カ+U+3099 composed
    flags = dict(out.select("_row_id", "_moji_unresolved_chars").iter_rows())
    # outside MJ (an emoji, a name in Hangul): counted, not spelt out (the 同定台帳 keeps them for the review)
    assert flags[6] == "shimei+: 1" and flags[7] == "shimei+: 3"
    assert out.filter(pl.col("_row_id") == 8)["shimei"].item() == "ガス" and flags[8] is None


def test_the_one_pass_holds_what_the_staged_step_holds(mapped_bad, stage, moji_dir, monkeypatch, tmp_path):
    """moji.step.Identifier (the one pass, batch by batch) gives the same rows, quarantine and counts."""
    from ikou.moji.step import Identifier

    path, df = mapped_bad
    s = stage(path, "20990101T000000Z-T-0001")
    out_path, held, counts, chars = s.result
    schema = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")
    ctx = RunContext(dantai_code="999997", run_id="20990101T000000Z-T-0002", runs_dir=tmp_path / "runs")
    ident = Identifier(schema, "juki_kojin_rireki", ctx, gaiji_table=tmp_path / "gaiji.csv")
    batches = [ident(df.slice(i, 4)) for i in range(0, df.height, 4)]
    out = pl.concat(batches)
    r = ident.result(out_path, source_name="vendor_x", record=False)
    assert_frame_equal(out, pl.read_parquet(out_path))
    assert (r.rows_in, r.rows_out) == (10, 3) and r.metrics["counts"] == counts
    by = ["row_id", "column"]
    assert_frame_equal(r.quarantine.drop("run_id").sort(by), held.drop("run_id").sort(by))


def test_an_unknown_mj_name_in_the_gaiji_table_names_its_file_and_line_in_a_run(mapped, stage, tmp_path):
    (tmp_path / "gaiji.csv").write_text("code,mj\nU+E000,MJ028902\nU+E002,MJ999999\n", encoding="utf-8")
    from ikou.errors import ConfigError
    with pytest.raises(ConfigError, match=r"gaiji\.csv: MJ glyph\(s\) not in the dictionary: line 3 \(MJ999999\)"):
        stage(mapped, "20990101T000000Z-T-0001")
