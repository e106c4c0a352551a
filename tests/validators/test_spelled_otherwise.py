"""A 税 row whose 宛名番号 lost its leading zeros (123456785, 住民記録 0123456785) is the same person, not a
住登外者: it is held (ref.juki_spelling), while a number 住民記録 does not hold in any spelling stays a warning."""
from __future__ import annotations

import polars as pl

from ikou import SPECS
from ikou.schema import load_schema
from ikou.validators.engine import validate
from ikou.validators.spec import load_rules


def test_a_tax_row_whose_atena_lost_its_zeros_is_held_not_a_juto_gai(tmp_path):
    schema = load_schema(SPECS / "gyomu" / "kojin_juminzei" / "schema.yaml")
    rules = load_rules(SPECS / "gyomu" / "kojin_juminzei" / "rules.yaml")
    table = "kojin_juminzei_gimusha"
    cols = [c.name for c in schema.tables[table].columns]
    rows = []
    for atena_no in ["0123456785", "123456785", "0999999995"]:
        row = {c: None for c in cols}
        row.update(dantai_code="999997", atena_no=atena_no, kazei_nendo="2025")
        rows.append(row)
    df = pl.DataFrame(rows, schema={c: pl.String for c in cols}).with_columns(
        _row_id=pl.int_range(3, dtype=pl.Int64), _source=pl.lit("G.csv"), _source_line=pl.int_range(1, 4, dtype=pl.Int64))
    juki = pl.DataFrame({"atena_no": ["0123456785"]})
    res = validate(df, table=table, schema=schema, rules=rules, run_id="R", dantai_code="999997",
                   source_frames={"juki_kojin_rireki": juki})
    q = res.quarantine
    spelled = q.filter(pl.col("rule") == "ref.juki_spelling")
    assert spelled["value"].to_list() == ["123456785"] and set(spelled["severity"]) == {"error"}
    warned = q.filter(pl.col("rule") == "ref.juki")
    assert sorted(warned["value"].to_list()) == ["0999999995", "123456785"]
    assert set(warned["severity"]) == {"warning"}
