"""A record held at extract names itself by `record_key` (`COL=value,COL=value`, source column names), so a
person can find it in the vendor's file and the validation can hold the rest of that person's history."""
from __future__ import annotations

import polars as pl
import pytest

from ikou.errors import LayoutError, message_ja
from ikou.extractors import extract, load_layout
from ikou import REPO_ROOT
from ikou.extractors.csv_file import extract_csv
from ikou.extractors.fixed_width import extract_fixed
from ikou.extractors.keys import raw_fields_key
from ikou.config import FileSource
from ikou.context import RunContext
from tests.extractors.conftest import write_layout

CSV = [
    "0000000001,佐藤,100".encode("cp932"),
    b"0000000002,a\x1bb,200",                              # control character in the name
    "0000000003,佐藤,300,余分".encode("cp932"),             # a field too many: the leading key is still right
    b"00000\x85\x40004,x,400",                             # the key itself does not decode
    '0000000005,"佐藤"太郎,500'.encode("cp932"),           # text after a closing quote
    b"0000000006,\x85\x40,600",                            # the name does not decode, the key does
    '0000000007,"佐藤,700'.encode("cp932"),                # a quote left open in the name
    '"0000000008",長い名前です長い,800'.encode("cp932"),    # overlong name, quoted key
    "0000000009,佐".encode("cp932"),                       # the last line cut short
]


def _csv(tmp_path, key_columns, chunk_bytes=32 << 20):
    path = tmp_path / "k.csv"
    path.write_bytes(b"\r\n".join(CSV))
    layout = load_layout(write_layout(tmp_path, max_bytes={"SHIMEI": 12}))
    return extract_csv(path, layout, out_path=tmp_path / "k.parquet", source_name="src", source_ordinal=1,
                       target_table="t", run_id="r", dantai_code="999997", chunk_bytes=chunk_bytes,
                       key_columns=key_columns)


@pytest.mark.parametrize("chunk_bytes", [32 << 20, 41])
def test_a_held_csv_record_carries_its_key(tmp_path, chunk_bytes):
    r = _csv(tmp_path, ["ATENA_NO"], chunk_bytes)
    got = r.quarantine.filter(pl.col("severity") == "error").select("source_line", "rule", "record_key").rows()
    assert got == [
        (2, "extract.control_char", "ATENA_NO=0000000002"),
        (3, "extract.field_count", "ATENA_NO=0000000003"),
        (4, "extract.decode", None),
        (5, "extract.bad_quote", "ATENA_NO=0000000005"),
        (6, "extract.decode", "ATENA_NO=0000000006"),
        (7, "extract.unclosed_quote", "ATENA_NO=0000000007"),
        (8, "extract.overlong", "ATENA_NO=0000000008"),
        (9, "extract.truncated", "ATENA_NO=0000000009"),
    ]


def test_key_columns_are_named_in_their_order_and_untrusted_fields_give_no_key(tmp_path):
    """KINGAKU is not a leading column: where a field too many or too few shifted it cannot be known."""
    r = _csv(tmp_path, ["KINGAKU", "ATENA_NO"])
    keys = dict(r.quarantine.select("source_line", "record_key").rows())
    assert keys[2] == "KINGAKU=200,ATENA_NO=0000000002"
    assert keys[6] == "KINGAKU=600,ATENA_NO=0000000006"       # the right number of fields: every one in place
    assert keys[3] is None and keys[7] is None and keys[9] is None


def test_without_key_columns_the_layout_key_names_the_record_and_none_gives_no_key(tmp_path):
    import yaml

    r = _csv(tmp_path, None)
    assert r.quarantine["record_key"].null_count() == r.quarantine.height   # the layout has no key
    path = write_layout(tmp_path)
    path.write_text(yaml.safe_dump(yaml.safe_load(path.read_text(encoding="utf-8")) | {"key": ["ATENA_NO"]},
                                   allow_unicode=True), encoding="utf-8")
    data = tmp_path / "d.csv"
    data.write_bytes(b"0000000001,a\tb,1\r\n")
    r = extract_csv(data, load_layout(path), out_path=tmp_path / "d.parquet", source_name="src", source_ordinal=1,
                    target_table="t", run_id="r", dantai_code="999997")
    assert r.quarantine["record_key"].to_list() == ["ATENA_NO=0000000001"]
    with pytest.raises(LayoutError, match=r"key columns \['KOJIN'\]") as e:
        _csv(tmp_path, ["KOJIN"])
    assert "キー列 ['KOJIN'] はレイアウト" in message_ja(e.value)


def test_a_held_fixed_width_record_carries_its_key(tmp_path):
    good = lambda i: b"%010d" % i + "佐藤".encode("cp932") + b" " * 8 + b"%08d" % i   # noqa: E731
    recs = [good(1), b"0000000002" + b"a\x1bb" + b" " * 9 + b"00000002",       # control character
            b"000000000312345",                                                   # too short: leading key
            b"00000\x85\x40004" + b" " * 12 + b"00000004",                        # the key does not decode
            b"0000000005" + b"\x85\x40" + b" " * 10 + b"00000005",                # the name does not decode
            b"0004"]                                                              # too short for the key
    path = tmp_path / "k.dat"
    path.write_bytes(b"\r\n".join(recs) + b"\r\n")
    layout = load_layout(write_layout(tmp_path, fmt="fixed", widths=[10, 12, 8]))
    r = extract_fixed(path, layout, out_path=tmp_path / "k.parquet", source_name="src", source_ordinal=1,
                      target_table="t", run_id="r", dantai_code="999997", key_columns=["ATENA_NO"])
    assert r.quarantine.select("source_line", "rule", "record_key").rows() == [
        (2, "extract.control_char", "ATENA_NO=0000000002"),
        (3, "extract.record_length", "ATENA_NO=0000000003"),
        (4, "extract.decode", None),
        (5, "extract.decode", "ATENA_NO=0000000005"),
        (6, "extract.record_length", None),
    ]


def test_the_extract_step_passes_key_columns_and_the_cache_keys_on_them(tmp_path):
    """A cached quarantine has the record_key the key columns asked for: other key columns, another entry."""
    layout = write_layout(tmp_path)
    path = tmp_path / "f.csv"
    path.write_bytes("0000000001,山田,1\r\n".encode("cp932") + b"0000000002,\x1b,2\r\n")
    source = FileSource(name="src", kind="file", path=path, layout=layout, mapping=tmp_path / "unused.yaml")
    runs = tmp_path / "runs"

    def step(run_id, key_columns):
        return extract(source, RunContext("999997", run_id, runs), ordinal=1, target_table="t",
                       key_columns=key_columns)

    a, b, c, d = (step("r1", ["ATENA_NO"]), step("r2", ["ATENA_NO"]), step("r3", ["KINGAKU", "ATENA_NO"]),
                  step("r4", None))
    assert [x.metrics["cache"] for x in (a, b, c, d)] == ["miss", "hit", "miss", "miss"]
    assert a.quarantine["record_key"].to_list() == b.quarantine["record_key"].to_list() == ["ATENA_NO=0000000002"]
    assert c.quarantine["record_key"].to_list() == ["KINGAKU=2,ATENA_NO=0000000002"]
    assert d.quarantine["record_key"].to_list() == [None]


def test_a_sensitive_column_never_names_a_record(tmp_path):
    """record_key is shown unmasked in the reports: a layout column marked sensitive is refused as a key."""
    import yaml

    path = write_layout(tmp_path)
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["columns"][1]["sensitive"] = True
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    data = tmp_path / "d.csv"
    data.write_bytes(b"0000000001,a\tb,1\r\n")
    with pytest.raises(LayoutError, match=r"key columns \['SHIMEI'\] are sensitive") as e:
        extract_csv(data, load_layout(path), out_path=tmp_path / "d.parquet", source_name="src", source_ordinal=1,
                    target_table="t", run_id="r", dantai_code="999997", key_columns=["ATENA_NO", "SHIMEI"])
    assert "src: キー列 ['SHIMEI']" in message_ja(e.value) and "個人情報" in message_ja(e.value)


# Vendor A's 住民記録: DANTAI_CD, ATENA_NO, RIREKI_NO, then codes, then 氏名 …; the flow passes the key
# columns its mapping reads the target key from (flows.pipeline.key_columns): ATENA_NO, RIREKI_NO.
VENDOR_A = REPO_ROOT / "specs" / "vendors" / "vendor_a" / "layouts" / "jumin.yaml"
A_LINES = (REPO_ROOT / "data" / "sample" / "vendor_a" / "JUMIN.csv").read_bytes().split(b"\r\n")[:6]


def _vendor_a(tmp_path, damaged: bytes, *, chunk_bytes=32 << 20):
    """Five clean records and the damaged one third: (rule, record_key) of the damaged one."""
    lines = A_LINES[:2] + [damaged] + A_LINES[3:]
    path = tmp_path / "JUMIN.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    r = extract_csv(path, load_layout(VENDOR_A), out_path=tmp_path / "a.parquet", source_name="a",
                    source_ordinal=1, target_table="t", run_id="r", dantai_code="999997",
                    chunk_bytes=chunk_bytes, key_columns=["ATENA_NO", "RIREKI_NO"])
    assert r.rows_ok == len(lines) - 1
    return r.quarantine.filter(pl.col("source_line") == 3).select("rule", "record_key").rows()


def _fields(i=2):
    return A_LINES[i].split(b",")


def _key(i=2):
    f = _fields(i)
    return f"ATENA_NO={f[1].decode()},RIREKI_NO={f[2].decode()}"


def _with(i: int, value: bytes) -> bytes:
    f = _fields()
    f[i] = value
    return b",".join(f)


@pytest.mark.parametrize("chunk_bytes", [32 << 20, 200])
@pytest.mark.parametrize("name,damaged,rule", [
    ("a field too many", A_LINES[2] + b",EXTRA", "extract.field_count"),
    ("cut to 10 fields", b",".join(_fields()[:10]), "extract.field_count"),
    ("a comma in the name", _with(6, "阿部,浩二".encode("cp932")), "extract.field_count"),
    ("a quote left open in field 20", _with(19, b'"abc'), "extract.unclosed_quote"),
    ("a quote left open in the last field", _with(20, b'"abc'), "extract.unclosed_quote"),
    ("a quote left open in field 4", _with(3, b'"abc'), "extract.unclosed_quote"),
])
def test_vendor_a_damaged_after_the_key_keeps_its_key(tmp_path, name, damaged, rule, chunk_bytes):
    """The key columns come before the first field where the record goes wrong: they are where the layout
    says, whatever the damage after them (also with no clean record in the chunk to compare with)."""
    assert _vendor_a(tmp_path, damaged, chunk_bytes=chunk_bytes) == [(rule, _key())]


@pytest.mark.parametrize("name,damaged", [
    ("a comma inside ATENA_NO", _with(1, _fields()[1][:5] + b"," + _fields()[1][5:])),
    ("a comma inside DANTAI_CD", _with(0, b"999,997")),
    ("RIREKI_NO and SETAI_NO run together", b",".join(_fields()[:2] + [_fields()[2] + _fields()[3]]
                                                      + _fields()[4:])),
    ("a quote left open in RIREKI_NO", _with(2, b'"1')),
    ("a quote left open in ATENA_NO", _with(1, b'"' + _fields()[1])),
    ("a comma at the start of RIREKI_NO", _with(2, b"," + _fields()[2])),
    ("cut inside the key", b",".join(_fields()[:2])),
])
def test_vendor_a_damaged_inside_the_key_gives_no_key(tmp_path, name, damaged):
    """A delimiter too many or too few, or a quote problem, among the key fields: they may be shifted, so
    the record is named by nothing rather than by another person's key."""
    [(rule, key)] = _vendor_a(tmp_path, damaged)
    assert rule in ("extract.field_count", "extract.unclosed_quote", "extract.truncated") and key is None


def test_the_rule_on_its_own():
    """`raw_fields_key` directly: the fields up to the last key column must be codes (no text, no quote, not
    empty, not the split's last field) and, when the chunk's clean records say, of their lengths."""
    f = ["999997", "0123456785", "1", "5000000037", "阿部　浩二", "x"]
    assert raw_fields_key(f, 21, [1, 2]) == ["0123456785", "1"]
    assert raw_fields_key(f, 6, [4]) == ["阿部　浩二"]                      # the layout's count: all in place
    assert raw_fields_key(f, 21, [1, 4]) is None                           # 氏名: text, may hold the delimiter
    assert raw_fields_key(f[:3], 21, [1, 2]) is None                       # RIREKI_NO is the split's last field
    assert raw_fields_key(f, 21, [1, 2], lengths={1: (10, 10), 2: (1, 2)}) == ["0123456785", "1"]
    assert raw_fields_key(f, 21, [1, 2], lengths={1: (10, 10), 2: (2, 3)}) is None
    assert raw_fields_key(["", *f[1:]], 21, [1, 2]) is None                # an empty field before the key
    assert raw_fields_key(['"999997', *f[1:]], 21, [1, 2]) is None         # a quote before the key
