"""A mapping is checked against the op registry and its target schema when it loads (mappings/spec.py):
every problem a ConfigError naming the file and the key path, before any row is read."""
from __future__ import annotations

import pytest

from ikou import REPO_ROOT
from ikou.errors import ConfigError
from ikou.mappings.spec import load_mapping

SCHEMA_PATH = REPO_ROOT / "specs" / "gyomu" / "juki" / "schema.yaml"


def mapping(tmp_path, *lines: str, target: str = "juki_kojin_rireki"):
    """A mapping file: atena_no first (columns.0), then `lines` (columns.1 …)."""
    p = tmp_path / "m.yaml"
    body = "\n".join(f"  - {line}" for line in ("{target: atena_no, op: text, from: ATENA_NO}", *lines))
    p.write_text(f"spec_version: 1\ntarget: {target}\nschema: {SCHEMA_PATH}\ncolumns:\n{body}\n", encoding="utf-8")
    return p


def refused(path) -> str:
    with pytest.raises(ConfigError) as exc:
        load_mapping(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: invalid MappingSpec:")
    return msg


def test_unknown_op_names_file_key_path_and_the_known_ops(tmp_path):
    msg = refused(mapping(tmp_path, "{target: rireki_no, op: foo, from: RIREKI_NO}"))
    assert "columns.1.op: unknown op 'foo'; known: ['code_chain', 'code_table', 'concat', 'constant', 'digits', " \
           "'integer', 'kana_fullwidth', 'new_key', 'text', 'wareki_date', 'zero_pad']" in msg


def test_code_table_without_table_is_refused(tmp_path):
    msg = refused(mapping(tmp_path, "{target: zokugara_code, op: code_table, from: ZOKUGARA}"))
    assert "columns.1.table: op 'code_table' needs 'table'" in msg


@pytest.mark.parametrize("op", ["text", "integer", "code_table", "kana_fullwidth", "wareki_date"])
def test_an_op_reading_a_source_column_without_from_is_refused(tmp_path, op):
    msg = refused(mapping(tmp_path, f"{{target: rireki_no, op: {op}, table: standard:zokugara}}"))
    assert f"columns.1.from: op '{op}' needs 'from'" in msg


def test_constant_without_value_is_refused(tmp_path):
    assert "columns.1.value: op 'constant' needs 'value'" in refused(
        mapping(tmp_path, "{target: dantai_code, op: constant}"))


def test_columns_not_in_the_target_schema_are_refused(tmp_path):
    msg = refused(mapping(tmp_path, "{target: shoe_size, op: text, from: X}",
                          "{target: seinengappi, op: wareki_date, from: Y, fumei_hyoki: no_such_hyoki}"))
    assert "columns.1.target: column 'shoe_size' is not in the target table juki_kojin_rireki" in msg
    assert "columns.2.fumei_hyoki: column 'no_such_hyoki' is not in the target table juki_kojin_rireki" in msg


def test_a_target_that_is_not_a_source_table_of_the_schema_is_refused(tmp_path):
    for target in ("juki_kojin", "no_such_table"):   # derived, unknown
        msg = refused(mapping(tmp_path, target=target))
        assert f"target: table '{target}' is not a source table of the schema juki; known: ['juki_kojin_rireki']" in msg


def test_code_tables_are_checked_when_the_mapping_loads(tmp_path):
    dup = tmp_path / "dup.csv"
    dup.write_text("source_code,code\n1,1\n1,2\n", encoding="utf-8")
    msg = refused(mapping(tmp_path, "{target: zokugara_code, op: code_table, from: Z, table: standard:nope}",
                          "{target: seibetsu_code, op: code_table, from: S, table: missing.csv}",
                          f"{{target: jumin_jotai_code, op: code_table, from: J, table: {dup}}}"))
    assert "columns.1.table: no standard code table 'nope' in the schema juki; known: [" in msg
    assert f"columns.2.table: code table file not found: {tmp_path / 'missing.csv'}" in msg
    assert f"columns.3.table: {dup}: source_code repeated: ['1']" in msg


def test_wareki_format_and_eras_are_checked_when_the_mapping_loads(tmp_path):
    msg = refused(mapping(tmp_path, "{target: seinengappi, op: wareki_date, from: A, format: era3_yymmdd}",
                          "{target: ido_date, op: wareki_date, from: B, format: era1_yymmdd, eras: {'1': 光文}}"))
    assert "columns.1.format: wareki format 'era3_yymmdd' is not one of" in msg
    assert "columns.2.eras: wareki eras: unknown era name(s) ['光文']" in msg


def test_strip_an_op_would_ignore_is_refused_when_the_mapping_loads(tmp_path):
    msg = refused(mapping(tmp_path, "{target: dantai_code, op: constant, value: '999997', strip: true}",
                          "{target: rireki_no, op: integer, from: R, strip: false}",
                          "{target: zokugara_code, op: code_table, from: Z, table: standard:zokugara, strip: false}"))
    assert "columns.1.strip: op 'constant' does not take 'strip'" in msg
    assert "columns.2.strip: op 'integer' always trims surrounding spaces: strip: false cannot be honoured" in msg
    assert "columns.3.strip: op 'code_table' always trims surrounding spaces" in msg


def test_strip_is_accepted_where_the_op_honours_it(tmp_path):
    spec = load_mapping(mapping(tmp_path, "{target: shimei_kana, op: kana_fullwidth, from: K, strip: true}",
                                "{target: shimei, op: text, from: S, strip: false}",
                                "{target: rireki_no, op: integer, from: R, strip: true}",
                                "{target: seinengappi, op: wareki_date, from: B, strip: true}"))
    assert [c.strip for c in spec.columns] == [False, True, False, True, True]


def test_every_problem_is_listed_at_once(tmp_path):
    msg = refused(mapping(tmp_path, "{target: rireki_no, op: foo, from: R}",
                          "{target: zokugara_code, op: code_table, from: Z}", "{target: shoe_size, op: text, from: X}"))
    assert [line.split(":")[0].strip() for line in msg.splitlines()[1:]] == [
        "columns.1.op", "columns.2.table", "columns.3.target"]


SHIPPED = sorted((REPO_ROOT / "specs" / "vendors").glob("*/mappings/*/*.yaml"))


def test_shipped_mappings_pass_the_checks():
    assert len(SHIPPED) >= 8
    for path in SHIPPED:
        assert load_mapping(path).columns


# --- `from` against the layout(s) the mapping names ------------------------------------------------

VENDORS = REPO_ROOT / "specs" / "vendors"


def _shipped_with(tmp_path, vendor: str, change) -> "Path":
    """A shipped mapping, its paths made absolute, changed by `change` and written to tmp_path."""
    import yaml

    src = VENDORS / vendor / "mappings" / "juki" / "jumin.yaml"
    spec = yaml.safe_load(src.read_text(encoding="utf-8"))
    spec["schema"] = str((src.parent / spec["schema"]).resolve())
    if "layout" in spec:
        spec["layout"] = str((src.parent / spec["layout"]).resolve())
    for t in (spec.get("tables") or {}).values():
        t["layout"] = str((src.parent / t["layout"]).resolve())
    for c in spec["columns"]:
        if c.get("table") and not str(c["table"]).startswith("standard:"):
            c["table"] = str((src.parent / c["table"]).resolve())
    change(spec)
    out = tmp_path / "m.yaml"
    out.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def _set_from(target: str, source: str):
    def change(spec):
        next(c for c in spec["columns"] if c["target"] == target)["from"] = source
    return change


def test_a_from_not_in_the_layout_is_refused_naming_file_target_and_source_column(tmp_path):
    path = _shipped_with(tmp_path, "vendor_a", _set_from("shimei", "SHIMEI_X"))
    msg = refused(path)
    assert "columns.6.from: source column 'SHIMEI_X' of target column shimei is not in layout jumin.yaml" in msg
    assert "did you mean ['SHIMEI'" in msg


def test_a_multi_table_from_is_checked_against_the_tables_and_what_combine_makes(tmp_path):
    def change(spec):
        _set_from("shimei", "shimei.SHIMEI_X")(spec)        # no such column in the table's layout
        _set_from("kokuseki", "nosuch.KOKUSEKI")(spec)      # no such alias
        _set_from("rireki_no", "RIREKI_NUMBER")(spec)       # the history's number is RIREKI_NO
    msg = refused(_shipped_with(tmp_path, "vendor_c", change))
    assert "source column 'shimei.SHIMEI_X' of target column shimei is not in the tables' layouts" in msg
    assert "source column 'nosuch.KOKUSEKI' of target column kokuseki is not in" in msg
    assert "source column 'RIREKI_NUMBER' of target column rireki_no is not in" in msg
    assert msg.count(".from:") == 3   # the columns made by unpivot, lookup and history are known


def test_columns_made_by_the_combine_steps_are_accepted(tmp_path):
    from ikou.mappings.spec import source_columns

    spec = load_mapping(VENDORS / "vendor_c" / "mappings" / "juki" / "jumin.yaml")
    known = source_columns(spec)
    assert {"ido.IDO_YMD", "ido.IDO_SEQ", "ido.IDO_JIYU_STD", "kojin.SEIBETSU_STD", "RIREKI_NO", "HENKO_YMD",
            "KOJIN_KEY", "shimei.SHIMEI"} <= known
    assert {c.from_ for c in spec.columns if c.from_} <= known


def test_a_mapping_without_a_layout_is_not_checked_for_its_sources(tmp_path):
    assert load_mapping(mapping(tmp_path, "{target: shimei, op: text, from: ANYTHING}")).columns


def test_a_table_holding_the_person_column_outside_its_key_is_refused(tmp_path):
    """A row held at extract is tied to its person through the layout's key (record_key): a table whose key
    lacks the person column would stop the run at its first broken row instead of holding the person."""
    import yaml

    layout = yaml.safe_load((VENDORS / "vendor_c" / "layouts" / "c_shimei_rireki.yaml").read_text(encoding="utf-8"))
    layout["key"] = ["SEQ"]
    (tmp_path / "c_shimei_rireki.yaml").write_text(yaml.safe_dump(layout, allow_unicode=True), encoding="utf-8")

    def change(spec):
        spec["tables"]["shimei"]["layout"] = str(tmp_path / "c_shimei_rireki.yaml")
    msg = refused(_shipped_with(tmp_path, "vendor_c", change))
    assert "tables.shimei.layout: layout vendor_c.C_SHIMEI_RIREKI (table C_SHIMEI_RIREKI) holds the person " \
           "column KOJIN_KEY but its `key` ['SEQ'] does not name it" in msg
    assert msg.count("tables.") == 1   # the other tables' keys name the person (or they have no person column)


def test_a_code_chain_names_the_standard_table_without_a_path(tmp_path):
    """`table: standard:zokugara`: a vendor tree outside the repository names the standard's 続柄 as code_table does,
    resolved to the schema's file when the mapping loads (the op and the diff's rule read that file)."""
    import polars as pl

    from ikou.mappings.ops import OpContext, build
    from ikou.schema import load_schema

    spec = load_mapping(mapping(tmp_path, "{target: zokugara_code, op: code_chain, from: Z, table: standard:zokugara, "
                                          "separator: の, chain: [zokugara_code_2]}"))
    chain = spec.columns[1]
    schema = load_schema(SCHEMA_PATH)
    assert chain.table == str(schema.code_tables["zokugara"].path)
    out = build(chain, OpContext(schema))
    got = pl.DataFrame({"Z": ["子の妻"]}).select(out.value.alias("z1"), out.extra["zokugara_code_2"].alias("z2"))
    assert got.rows() == [("20", "12")]
    msg = refused(mapping(tmp_path, "{target: zokugara_code, op: code_chain, from: Z, table: standard:nope, "
                                    "separator: の, chain: [zokugara_code_2]}"))
    assert "columns.1.table: no standard code table 'nope' in the schema juki; known: [" in msg
