"""Half-width kana (JIS X 0201, U+FF61–FF9F) in a 文字同定 column are made full width, their voiced and semi-voiced
marks combined (ﾊﾟｸ　ｺｳｼﾞ → パク　コウジ), on the distinct values: the standard keeps names in full width and
half-width kana are no MJ character. Every converted cell is a warning `moji.halfwidth_kana` naming the column,
never the value; the whole-file stage, the batch-by-batch Identifier and `identify_frame` agree, and no
half-width kana reaches the output."""
from __future__ import annotations

from types import SimpleNamespace

import polars as pl
import pytest

from ikou import REPO_ROOT
from ikou.context import RunContext
from ikou.moji import identify_source
from ikou.moji.identify import RULE_HALFWIDTH, identify_frame, identify_lazy, kana_compositions
from ikou.moji.step import Identifier
from ikou.schema import load_schema

HALF = r"[\x{FF61}-\x{FF9F}]"
# ﾞ ﾟ after a half-width kana, a combining mark after one, ﾞ after a full-width kana, a ﾞ nothing composes with,
# half-width punctuation, a 外字 beside them; a name with none
NAMES = ["ﾊﾟｸ　ｺｳｼﾞ", "ｶ\u3099ﾝ", "カﾞス", "ｲﾞｱ", "ｼﾞｮﾝ･ｽﾐｽ", "山田　太郎", None, "\ue000ﾀﾛｳ"]
LOADED = ["パク　コウジ", "ガン", "ガス", "イ゛ア", "ジョン・スミス", "山田　太郎", None, "\ue000タロウ"]
CONVERTED = 7 + 2 + 1 + 3 + 8 + 3   # half-width characters as read (ｶ+U+3099 is one)


def frame(names, jusho=None):
    return pl.DataFrame({"_row_id": pl.Series(range(1, len(names) + 1), dtype=pl.Int64), "shimei": names,
                         "jusho": jusho or ["架空市本町"] * len(names)})


def test_half_width_kana_are_made_full_width_with_their_marks_combined(dictionary):
    res = identify_frame(frame(NAMES), ["shimei", "jusho"], dictionary=dictionary)
    assert res.frame["shimei"].to_list() == LOADED
    assert not res.frame["shimei"].drop_nulls().str.contains(HALF).any()
    st = dict(res.chars.select("char", "status").iter_rows())
    assert not any("\uff61" <= c[0] <= "\uff9f" for c in st)            # identified as loaded: full width
    assert st["パ"] == st["ジ"] == st["・"] == "passthrough"
    # the counts are of the characters loaded (ﾊﾟ is one パ): they still add up
    assert sum(res.counts.values()) == sum(len(v) for v in LOADED if v) + len("架空市本町") * len(NAMES)
    # one cell per row converted, keys only; the characters converted, as read, counted
    assert res.halfwidth_rows.select("_row_id", "column").rows() == [(1, "shimei"), (2, "shimei"), (3, "shimei"),
                                                                     (4, "shimei"), (5, "shimei"), (8, "shimei")]
    assert res.halfwidth_rows.filter(pl.col("_row_id") == 8)["chars"].item() == "ﾀﾛｳ"   # not the 外字
    w = dict(res.widened.select("char", "occurrences").iter_rows())
    assert w["ﾞ"] == 4 and w["ﾟ"] == 1 and w["ｶ\u3099"] == 1 and w["･"] == 1
    assert res.widened["occurrences"].sum() == CONVERTED
    assert res.unresolved_rows["_row_id"].to_list() == [8]                 # the 外字 alone


def test_the_lazy_identification_rewrites_batches_read_as_they_are_the_same_way(dictionary):
    df = frame(NAMES, jusho=["ｱｲ町", "本町"] * 4)
    ident = identify_lazy(df.lazy(), ["shimei", "jusho"], dictionary=dictionary)
    out = df.lazy().with_columns(ident.rewrite_exprs()).collect()
    ref = identify_frame(df, ["shimei", "jusho"], dictionary=dictionary)
    assert out.equals(ref.frame) and out["shimei"].to_list() == LOADED and out["jusho"][0] == "アイ町"
    cells = ident.halfwidth_rows(df.lazy(), ["_row_id"]).collect()
    assert cells.sort("_row_id", "column").equals(ref.halfwidth_rows.sort("_row_id", "column"))
    assert cells.filter(pl.col("column") == "jusho")["_row_id"].to_list() == [1, 3, 5, 7]
    assert ident.counts == ref.counts


def test_the_diff_explains_what_identification_made_of_them():
    """kana_compositions, the map the diff's moji.kana_compose rule reads, holds every replacement made here."""
    pairs = kana_compositions()
    assert {"ｶﾞ": "ガ", "ﾊﾟ": "パ", "ｶ\u3099": "ガ", "カﾞ": "ガ", "ﾀ": "タ", "ﾞ": "゛", "･": "・", "ｰ": "ー",
            "カ\u3099": "ガ"}.items() <= pairs.items()


@pytest.fixture()
def mapped(tmp_path):
    n = 3 * len(NAMES)
    df = pl.DataFrame({"_row_id": pl.int_range(1, n + 1, eager=True),
                       "atena_no": [f"{i:015d}" for i in range(n)], "rireki_no": [1] * n,
                       "shimei": NAMES * 3, "jusho": ["架空市本町"] * n, "banchi": ["1"] * n, "katagaki": [None] * n})
    path = tmp_path / "mapped.parquet"
    df.write_parquet(path)
    return path, df


def _check_findings(q: pl.DataFrame, df: pl.DataFrame):
    q = q.filter(pl.col("rule") == RULE_HALFWIDTH)
    converted = df.filter(pl.col("shimei").str.contains(HALF))
    assert q.height == converted.height == 18 and set(q["severity"]) == {"warning"}
    assert sorted(q["row_id"].to_list()) == sorted(converted["_row_id"].to_list())
    assert set(q["column"]) == {"shimei"} and q["value"].null_count() == q.height   # no value kept with it
    assert q["record_key"][0].startswith("atena_no=")
    said = " ".join(q["message_ja"].to_list() + q["message_en"].to_list())
    assert "半角カナ" in said and "half-width kana" in said and "(shimei)" in said
    for name in NAMES[:5] + LOADED[:5]:
        assert name not in said and name.split("　")[0] not in said


def test_the_stage_warns_per_cell_counts_them_and_loads_full_width(tmp_path, monkeypatch, moji_dir, mapped):
    monkeypatch.setenv("IKOU_MOJI_CACHE", str(moji_dir))
    path, df = mapped
    schema = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml")
    ctx = RunContext(dantai_code="999733", run_id="20990101T000000Z-T-0733", runs_dir=tmp_path / "runs")
    r = identify_source(schema, "juki_kojin_rireki", ctx, path, source_name="vend_a", batch_rows=5)
    _check_findings(r.quarantine, df)
    assert r.rows_out == df.height                                   # a warning holds nothing
    out = pl.read_parquet(r.output)
    assert out["shimei"].to_list() == LOADED * 3
    assert r.metrics["halfwidth_kana"] == 3 * CONVERTED                # characters as read, beside the counts
    assert "halfwidth_kana" not in r.metrics["counts"]

    # the one pass: batch by batch, the same findings, output and count
    ident = Identifier(schema, "juki_kojin_rireki", RunContext(dantai_code="999733", run_id="20990101T000000Z-T-0734",
                                                                runs_dir=tmp_path / "runs"), source_name="vend_a")
    batches = [ident(df.slice(i, 7)) for i in range(0, df.height, 7)]
    one = ident.result(tmp_path / "one.parquet", source_name="vend_a", record=False)
    assert pl.concat(batches)["shimei"].to_list() == LOADED * 3
    _check_findings(one.quarantine, df)
    assert one.metrics["halfwidth_kana"] == r.metrics["halfwidth_kana"] > 0
    assert one.metrics["counts"] == r.metrics["counts"]


def test_a_decision_for_a_half_width_kana_is_refused_it_would_never_apply(dictionary):
    from ikou.moji.ledger import Ledger, UndecidableError

    with pytest.raises(UndecidableError, match="half-width kana") as exc:
        Ledger().check_decision("ﾊ", "MJ028902", dictionary=dictionary, ahead=True)
    assert "U+FF8A" in str(exc.value) and "半角カナ" in exc.value.ja
