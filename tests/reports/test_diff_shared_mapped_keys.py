"""Two legacy codes a vendor code table maps to one standard code (HAIGU and HAIGU2 → 04) put two legacy rows on
one key after mapping. The diff counts them as the mapping's 重複キー and the sign-off blocker says so (table, key
column, legacy column, code table and the shared codes), never "the diff does not account for a loaded row";
a legacy code the op does not know (held at map) that reads like a mapped code is 旧のみ, so matched = loaded."""
from __future__ import annotations

import polars as pl
import pytest
import yaml

from ikou import REPO_ROOT
from ikou.mappings.engine import apply_mapping
from ikou.mappings.spec import load_mapping
from ikou.reports.diff import ParquetSource, compare, summarize
from ikou.reports.step import key_reading, source_names
from ikou.reports.summary import _blockers
from ikou.schema import load_schema

DANTAI = "999784"
TAX = REPO_ROOT / "specs" / "gyomu" / "kojin_juminzei" / "schema.yaml"
LAYOUT = REPO_ROOT / "specs" / "vendors" / "vendor_b" / "layouts" / "b_zei_kojo.yaml"
TABLE = "kojin_juminzei_kojo"
KEY = ["atena_no", "kazei_nendo", "kojo_shubetsu_code"]
PERSON = "0123456785"


def _mapping(tmp_path, codes: dict[str, str]):
    """Vendor B's 控除 mapping over a code table of our own (`codes`: legacy → standard)."""
    table = tmp_path / "kojo_cd_shared.csv"
    pl.DataFrame({"source_code": list(codes), "code": list(codes.values())}).write_csv(table)
    spec = tmp_path / "kojo.yaml"
    spec.write_text(yaml.safe_dump({
        "spec_version": 1, "target": TABLE, "schema": str(TAX), "layout": str(LAYOUT),
        "columns": [{"target": "dantai_code", "op": "text", "from": "DANTAI"},
                    {"target": "atena_no", "op": "text", "from": "KOJIN_ID"},
                    {"target": "kazei_nendo", "op": "integer", "from": "NENDO"},
                    {"target": "kojo_shubetsu_code", "op": "code_table", "from": "KOJO_CD", "table": str(table)},
                    {"target": "kojo_gaku", "op": "integer", "from": "KOJO_GAKU"}]}), encoding="utf-8")
    return load_mapping(spec)


def _staged(tmp_path, kojo_cd: list[str], gaku: list[str], persons: list[str] | None = None):
    staged = tmp_path / "staged.parquet"
    n = len(kojo_cd)
    pl.DataFrame({"_row_id": list(range(1, n + 1)), "_source": ["B_ZEI_KOJO"] * n,
                  "_source_line": list(range(2, n + 2)), "DANTAI": [DANTAI] * n, "KOJIN_ID": persons or [PERSON] * n,
                  "NENDO": ["2025"] * n, "KOJO_CD": kojo_cd, "KOJO_GAKU": gaku},
                 schema_overrides={"_row_id": pl.Int64, "_source_line": pl.Int64}).write_parquet(staged)
    return staged


def _loaded(staged, mapping, schema, keep=None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What the map stage lets through (`keep`: of those, the rows validation lets through), as the target holds
    them (text), and the map stage's quarantine."""
    res = apply_mapping(pl.read_parquet(staged), mapping, schema, run_id="r", dantai_code=DANTAI)
    good = res.frame if keep is None else res.frame.filter(keep)
    return good.select(["dantai_code", *KEY, "kojo_gaku"]).cast(pl.String), res.quarantine


def _diff(staged, mapping, schema, target, crosswalk=None) -> dict:
    left = ParquetSource(staged, source_names(mapping), keys=key_reading(mapping, KEY, schema))
    r = compare(left, target, key=KEY, crosswalk=crosswalk)
    try:
        return {**summarize(r), "table": TABLE, "only_left_keys": r.only_left_rows.select(KEY).rows()}
    finally:
        r.close()


def _crosswalk(tmp_path, path):
    """A crosswalk makes the diff read the legacy side through Polars (ParquetSource.key_expr), not DuckDB."""
    if path == "duckdb":
        return None
    xw = tmp_path / "xw.csv"
    pl.DataFrame({"legacy_atena_no": [PERSON], "atena_no": [PERSON]}).write_csv(xw)
    return xw


@pytest.mark.parametrize("path", ["duckdb", "polars"])
def test_a_row_held_at_map_beside_a_loaded_row_of_a_shared_code_is_a_mapped_duplicate_key_named_in_the_blocker(
        tmp_path, path):
    mapping, schema = _mapping(tmp_path, {"HAIGU": "04", "HAIGU2": "04", "SHAHO": "01"}), load_schema(TAX)
    # HAIGU2's amount is no integer: held at map; HAIGU (same key 04 after mapping) and SHAHO are loaded
    staged = _staged(tmp_path, ["HAIGU", "HAIGU2", "SHAHO"], ["330000", "33万", "775000"])
    target, held = _loaded(staged, mapping, schema)
    assert held.filter(pl.col("severity") == "error")["rule"].to_list() == ["type.integer"]
    assert target.height == 2

    d = _diff(staged, mapping, schema, target, _crosswalk(tmp_path, path))
    assert (d["matched"], d["only_left"], d["only_right"], d["duplicates"]["left"]["rows"]) == (1, 0, 1, 2)
    assert d["duplicates"]["left"]["mapped"] == {
        "keys": 1, "rows": 2, "right_rows": 1,
        "columns": {"kojo_shubetsu_code": {"keys": 1, "rows": 2, "right_rows": 1, "op": "code_table",
                                           "from": "KOJO_CD", "table": "kojo_cd_shared.csv",
                                           "codes": [{"code": "04", "legacy": ["HAIGU", "HAIGU2"]}],
                                           "codes_more": 0}}}

    blockers = _blockers({}, None, {"vendor_b_zei_kojo": d}, loaded={TABLE: target.height})
    assert blockers == [
        "vendor_b_zei_kojo: 旧の 2 行が変換後に 1 件のキーを共有しています (kojin_juminzei_kojo.kojo_shubetsu_code: "
        "コード表 kojo_cd_shared.csv が KOJO_CD の複数の旧コードを1つのコードに変換します (HAIGU, HAIGU2 → 04))。"
        "そのキーに投入された 1 件は旧のどの行のものか決まらず比較できません (コード表を見直すか、重なった旧の行と保留理由を確認) / "
        "2 legacy rows share 1 key(s) after mapping (kojin_juminzei_kojo.kojo_shubetsu_code: code table "
        "kojo_cd_shared.csv maps several legacy KOJO_CD codes to one code (HAIGU, HAIGU2 → 04)): the 1 loaded row(s) "
        "under them cannot be tied to one legacy row and were not compared (review the code table, or the legacy "
        "rows that meet and why any was held)"]
    # every loaded row is accounted for: matched one to one, or under the shared key the line names
    assert d["matched"] + d["duplicates"]["left"]["mapped"]["right_rows"] == target.height


def test_a_row_left_unaccounted_beside_a_shared_code_still_gets_the_general_line(tmp_path):
    mapping, schema = _mapping(tmp_path, {"HAIGU": "04", "HAIGU2": "04", "SHAHO": "01"}), load_schema(TAX)
    staged = _staged(tmp_path, ["HAIGU", "HAIGU2", "SHAHO"], ["330000", "33万", "775000"])
    target, _ = _loaded(staged, mapping, schema)
    stray = target.head(1).with_columns(pl.lit("07").alias("kojo_shubetsu_code"))   # no legacy row has it
    d = _diff(staged, mapping, schema, pl.concat([target, stray]))
    blockers = _blockers({}, None, {"vendor_b_zei_kojo": d}, loaded={TABLE: 3})
    assert blockers[0] == ("vendor_b_zei_kojo: 並行稼働比較が投入件数と合いません (旧と一致 1 件 + 変換後に旧の複数行が"
                           "重なるキー 1 件 / 投入 3 件, 新のみ 1 件, 新の重複キー 0 行) / the parallel-run diff does not "
                           "account for every loaded row")
    assert len(blockers) == 2 and "kojo_cd_shared.csv" in blockers[1]


def test_both_rows_of_a_shared_code_held_at_validation_are_counted_and_block_nothing(tmp_path):
    """key.unique holds both rows (the same key after mapping): nothing of them is loaded, the diff counts them
    as the mapping's duplicate key, and matched = loaded."""
    mapping, schema = _mapping(tmp_path, {"HAIGU": "04", "HAIGU2": "04", "SHAHO": "01"}), load_schema(TAX)
    staged = _staged(tmp_path, ["HAIGU", "HAIGU2", "SHAHO"], ["330000", "330000", "775000"])
    target, _ = _loaded(staged, mapping, schema, keep=pl.col("kojo_shubetsu_code") != "04")
    d = _diff(staged, mapping, schema, target)
    assert (d["matched"], d["only_left"], d["only_right"]) == (1, 0, 0)
    assert {k: d["duplicates"]["left"]["mapped"][k] for k in ("keys", "rows", "right_rows")} == \
        {"keys": 1, "rows": 2, "right_rows": 0}
    assert _blockers({}, None, {"vendor_b_zei_kojo": d}, loaded={TABLE: 1}) == []


def test_one_legacy_code_written_twice_is_a_legacy_duplicate_not_the_mappings_however_it_is_padded(tmp_path):
    """' HAIGU' and 'HAIGU' are one legacy code as the op reads it: a duplicate the legacy side has, not one the
    mapping made; another person's HAIGU and HAIGU2 are the mapping's."""
    mapping, schema = _mapping(tmp_path, {"HAIGU": "04", "HAIGU2": "04"}), load_schema(TAX)
    other = "3997661671"
    staged = _staged(tmp_path, ["HAIGU", " HAIGU", "HAIGU", "HAIGU2"], ["330000"] * 4,
                     persons=[PERSON, PERSON, other, other])
    d = _diff(staged, mapping, schema, pl.DataFrame(schema={c: pl.String for c in ["dantai_code", *KEY, "kojo_gaku"]}))
    assert (d["duplicates"]["left"]["keys"], d["duplicates"]["left"]["rows"]) == (2, 4)
    assert {k: d["duplicates"]["left"]["mapped"][k] for k in ("keys", "rows", "right_rows")} == \
        {"keys": 1, "rows": 2, "right_rows": 0}


@pytest.mark.parametrize("path", ["duckdb", "polars"])
def test_a_legacy_code_the_table_lacks_that_reads_like_a_mapped_code_is_only_legacy_and_the_diff_reconciles(
        tmp_path, path):
    """A legacy '04' the vendor table lacks is held at map (code_table.unknown) and read as written, '04': the same
    key HAIGU → 04 is loaded under. The op holds it, so it never reached the target: 旧のみ, and the loaded row
    meets its own legacy row (matched = loaded, nothing blocks)."""
    mapping, schema = _mapping(tmp_path, {"HAIGU": "04", "SHAHO": "01"}), load_schema(TAX)
    staged = _staged(tmp_path, ["HAIGU", "04", "SHAHO"], ["330000", "1000", "775000"])
    target, held = _loaded(staged, mapping, schema)
    assert held.filter(pl.col("severity") == "error")["rule"].to_list() == ["code_table.unknown"]
    d = _diff(staged, mapping, schema, target, _crosswalk(tmp_path, path))
    assert (d["left_rows"], d["matched"], d["only_left"], d["only_right"], d["changed_rows"]) == (3, 2, 1, 0, 0)
    assert d["duplicates"]["left"] == {"keys": 0, "rows": 0}
    assert d["only_left_keys"] == [(PERSON, "2025", "04")]       # as read, as the quarantine's record_key names it
    assert d["control_totals"]["left"]["distinct_keys"] == 2
    assert _blockers({}, None, {"vendor_b_zei_kojo": d}, loaded={TABLE: target.height}) == []
