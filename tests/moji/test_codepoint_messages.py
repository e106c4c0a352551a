"""The code points in the unresolved flags and the held findings come from Polars expressions on the distinct
values, not a Python call per cell (a probe had 600k unresolved cells), and read exactly as the per-cell
`codepoints` wrote them."""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from ikou import REPO_ROOT
from ikou.context import RunContext
from ikou.moji.identify import RULE_INVALID, RULE_MESSAGES, codepoints, codepoints_expr, with_codepoints
from ikou.moji.step import _flags, _held
from ikou.schema import load_schema

# multi-character cells, IVS and SVS sequences, supplementary planes, the highest code point
UNRESOLVED = pl.DataFrame({
    "_row_id": [1, 1, 2, 3, 3, 4, 5],
    "column": ["shimei", "jusho", "shimei", "shimei", "katagaki", "shimei", "shimei"],
    "chars": ["\u9ad9\U000e0100\ue700", "\ue001", "\U00020b9f\u9f4b\ufe00", "\U0010fffd", "\ue005\ue000\ue001",
              "\U0002a6b2\U000e0101", "\U0001f600\uac00"],
})


def _named(seq: str) -> bool:
    """An ideograph (with its selector) or a 外字: named by code point; anything else only counted."""
    cp = ord(seq[0])
    return (unicodedata.name(seq[0], "").startswith("CJK") or 0x3005 <= cp <= 0x3007 or 0xE000 <= cp <= 0xF8FF
            or cp >= 0xF0000)


def per_cell_flags(cells: pl.DataFrame) -> dict[int, str]:
    """The flags as moji.step wrote them with one Python call per cell: the reference."""
    detail: dict[int, list[str]] = {}
    for row_id, column, chars in cells.iter_rows():
        seqs = re.findall(r"(?s).[\uFE00-\uFE0F\U000E0100-\U000E01EF\u0300-\u036F\u3099\u309A]?", chars)
        named, others = "".join(q for q in seqs if _named(q)), sum(not _named(q) for q in seqs)
        if named:
            detail.setdefault(row_id, []).append(f"{column}: {codepoints(named)} ({named})")
        if others:
            detail.setdefault(row_id, []).append(f"{column}+: {others}")
    return {k: " / ".join(sorted(v)) for k, v in detail.items()}


def test_codepoints_expr_reads_every_unicode_scalar_value_as_codepoints_does():
    every = [chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    one = pl.Series("c", every).to_frame().select(codepoints_expr(pl.col("c")))["c"]
    assert one.to_list() == [codepoints(c) for c in every]
    rng = np.random.default_rng(7)
    cuts = np.sort(rng.choice(len(every), 20_000, replace=False))
    runs = ["".join(every[a:b]) for a, b in zip(cuts[:-1], np.minimum(cuts[1:], cuts[:-1] + 4))]
    several = pl.DataFrame({"c": runs + [None]}).select(codepoints_expr(pl.col("c")))["c"]
    assert several.to_list() == [codepoints(c) for c in runs] + [None]


def test_unresolved_flags_read_as_the_per_cell_codepoints_wrote_them():
    flags = _flags(UNRESOLVED)
    assert dict(flags.select("_row_id", "_moji_unresolved_chars").iter_rows()) == per_cell_flags(UNRESOLVED)
    assert dict(flags.select("_row_id", "_moji_unresolved_chars").iter_rows())[1] == (
        "jusho: U+E001 (\ue001) / shimei: U+9AD9 U+E0100 U+E700 (\u9ad9\U000e0100\ue700)")
    assert flags["_moji_unresolved"].to_list() == [True] * 5
    # a name in characters outside MJ (an emoji, Hangul) is counted, never spelt out beside its record key
    assert dict(flags.select("_row_id", "_moji_unresolved_chars").iter_rows())[5] == (
        "shimei+: 2")


def test_held_findings_name_the_code_points_as_the_per_cell_codepoints_wrote_them(tmp_path):
    table = load_schema(REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml").tables["juki_kojin_rireki"]
    ctx = RunContext(dantai_code="999733", run_id="20990101T000000Z-T-0001", runs_dir=tmp_path / "runs")
    invalid = pl.DataFrame({"_row_id": [1, 2, 2], "column": ["shimei", "shimei", "jusho"],
                            "chars": ["\u200b\u2028", "\ufffd", "\ufeff\U000e0001"]})
    rows = pl.DataFrame({"_row_id": [1, 2], "atena_no": ["000000000000001", "000000000000002"],
                         "rireki_no": [1, 1], "shimei": ["山\u200b田\u2028", "\ufffd子"],
                         "jusho": ["東京都", "\ufeff東京都\U000e0001"]})
    held = _held(rows, invalid, table=table, target="juki_kojin_rireki", ctx=ctx)
    ja, en = RULE_MESSAGES[RULE_INVALID]
    expected = [f"{c}: {codepoints(s)}" for c, s in invalid.select("column", "chars").iter_rows()]
    assert held["message_ja"].to_list() == [f"{ja} ({d})" for d in expected]
    assert held["message_en"].to_list() == [f"{en} ({d})" for d in expected]
    assert held["message_en"][2].endswith("(jusho: U+FEFF U+E0001)")


def test_the_code_points_of_the_cells_call_no_python_per_row():
    plan = pl.LazyFrame(UNRESOLVED).select(codepoints_expr(pl.col("chars"))).explain()
    assert "python" not in plan.lower()
    cells = pl.concat([UNRESOLVED] * 3).vstack(pl.DataFrame({"_row_id": [9], "column": ["shimei"], "chars": [None]},
                                                           schema=UNRESOLVED.schema))
    assert_frame_equal(with_codepoints(cells, "chars", "cps"),   # once per distinct value, joined back in order
                       cells.with_columns(pl.col("chars").map_elements(codepoints, return_dtype=pl.String).alias("cps")))
