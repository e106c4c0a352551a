"""A vendor table's values → text, deliberately by each column's type, a whole column at a time.

Staging holds text only; a typed column is written the way a person reads that type, the same
whichever reader (ADBC, SQLAlchemy) or server it comes from:

- dates `YYYY-MM-DD`; time stamps ISO 8601 without a zone, `YYYY-MM-DDTHH:MM:SS` and `.ffffff` only when
  the fraction is not zero (Python's `isoformat`); a time stamp *with* a zone (timestamptz, MariaDB
  TIMESTAMP) as the wall time in the layout's `time_zone`, Asia/Tokyo unless the layout says otherwise:
  the legacy systems are Japanese, and a MariaDB DATETIME (no zone) already is that wall time;
- times `HH:MM:SS` (MariaDB TIME may exceed a day or be negative: as the server writes it; PostgreSQL's
  `24:00:00` as such, from either reader);
- BIT as its binary digits (`0`/`1` for BIT(1));
- numbers as the server gives them (DECIMAL exact; PostgreSQL numeric `NaN`, `Infinity` as the server writes
  them, not ADBC's `nan`, `inf`; an integer beyond int64, MariaDB BIGINT UNSIGNED, as its exact digits),
  CHAR with the padding the server returns;
- binary columns (BLOB, VARBINARY, bytea) as text in the source's encoding (the layout's `encoding`).

A value that is no date at all (MariaDB's zero date `0000-00-00`, PostgreSQL's `infinity`) or whose bytes
do not decode is held with its row (`extract.invalid_value`, `extract.decode`), like a bad record of
a file. A partial date (`1985-06-00`: a date with an unknown part, MariaDB without NO_ZERO_IN_DATE) is
kept as written, for the mapping's 不詳 (wareki `seireki_iso`). A type with no text form ikou can vouch
for (an interval, an array, money in cents …) stops the run naming the table and the column (`ColumnTypeError`): cast it to text in a view, or leave it
out of the layout.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from ikou.errors import TerminalError
from ikou.extractors.checks import LIKELY_SAMPLE, likely_encoding, likely_hint
from ikou.extractors.fields import columnar, decode_each, skip_bad_records


class ColumnTypeError(TerminalError):
    """A source column whose type cannot be staged as text: retrying does not help, a view or the layout must."""

    ja = "ソース表の列の型を文字列にできません"

    def __init__(self, *, source_name: str, table: str, column: str, type_name: str, run_id: str | None = None,
                 why: str = ""):
        super().__init__(f"{source_name}: column {column} of table {table} is of type {type_name}, which ikou "
                         f"cannot stage as text{why}: cast it to text in a view, or leave it out of the layout",
                         run_id=run_id)
        self.ja = (f"表 {table} の列 {column} の型 {type_name} は文字列にできません "
                   "(ビューで文字列に変換するか、レイアウトから外してください)")


@dataclass
class Column:
    """What rendering one column needs to know besides its values."""
    name: str                 # layout column name
    ja: str                   # its Japanese name, for messages
    encoding: str             # the source's encoding, for binary columns
    time_zone: str            # where a time stamp with a zone is shown
    declared: str | None = None   # a kind the reader knows from the column's declared type (see KINDS)
    bits: int = 0             # MariaDB BIT(M): M
    type_name: str = ""       # the type as the server names it, for messages


# declared kinds: values the server sent as its text (`*_text`), MariaDB BIT bytes, or a type refused
KINDS = ("date_text", "datetime_text", "time_text", "bit", "unsupported")


@dataclass
class Rendered:
    text: pa.Array                                   # string; a held value as the quarantine shows it
    held: list[dict] = field(default_factory=list)   # {"index", "rule", "value", "message_ja", "message_en"}
    unreadable: np.ndarray | None = None             # bool: values that could not be read (their record has no key)
    decoded_as: str | None = None                    # the encoding binary values were decoded with
    likely_encoding: str | None = None               # the one every undecodable value reads in (checks.likely_encoding)


# ---------------------------------------------------------------------------------------------- helpers
def _strings(arr: pa.Array) -> pa.Array:
    return arr if arr.type == pa.string() else pc.cast(arr, pa.string())


def _with_nulls(arr: pa.Array, valid: pa.Array) -> pa.Array:
    return pc.if_else(valid, arr, pa.scalar(None, arr.type))


def _held(col: Column, idx: np.ndarray, values: list, rule: str, ja: str, en: str) -> list[dict]:
    return [{"index": int(i), "rule": rule, "value": v, "message_ja": f"{col.ja} の{ja}",
             "message_en": f"{col.name}: {en}"} for i, v in zip(idx.tolist(), values)]


_FRACTION = r"\.(\d{1,9})"


def _fraction(s: pl.Expr) -> pl.Expr:
    """The digits after the second ('5', '000000', null) → '.500000' or '' (six digits as Python's isoformat
    writes them, none when zero)."""
    digits = s.str.pad_end(6, "0").str.slice(0, 6)
    return pl.when(s.is_null() | (digits == "000000")).then(pl.lit("")).otherwise(pl.lit(".") + digits)


def _valid_date(s: pl.Expr) -> pl.Expr:
    """A date as a register writes it: month ≤ 12 and day ≤ 31, a part 00 where it is unknown (MariaDB's
    partial dates `1985-06-00`, `1985-00-00`, kept for the mapping's 不詳: wareki `seireki_iso`), a day the
    calendar lacks (2020-02-30, ALLOW_INVALID_DATES) kept as recorded like the wareki op keeps it. Not the
    zero date `0000-00-00` (MariaDB's "no date": a 不詳 or a missing value cannot be told) and not a
    PostgreSQL BC date."""
    m, d = s.str.slice(5, 2).cast(pl.Int32, strict=False), s.str.slice(8, 2).cast(pl.Int32, strict=False)
    return s.str.contains(r"^\d{4}-\d{2}-\d{2}$") & (m <= 12) & (d <= 31) & (s != "0000-00-00")


# ---------------------------------------------------------------------- values the server sent as text
def _parts(arr: pa.Array, pattern: str, names: list[str]) -> pl.DataFrame:
    """The value (`v`) and the groups of `pattern` (null where it does not match), as columns."""
    v = pl.from_arrow(_strings(arr)).alias("v")
    f = pl.DataFrame({"v": v}).with_columns(pl.col("v").str.extract_groups(pattern).alias("p")).unnest("p")
    return f.rename(dict(zip(f.columns[1:], names)))


def _date_text(arr: pa.Array, col: Column) -> Rendered:
    """DATE as the server wrote it (MariaDB; PostgreSQL with DateStyle ISO): kept when it is a date."""
    f = _parts(arr, r"^(\d{4}-\d{2}-\d{2})$", ["d"]).select(
        "v", (pl.col("v").is_null() | _valid_date(pl.col("d")).fill_null(False)).alias("ok"), pl.col("d").alias("text"))
    return _checked(f, col, "日付", "a date")


def _datetime_text(arr: pa.Array, col: Column) -> Rendered:
    """DATETIME/TIMESTAMP as the server wrote it ('2020-01-31 12:34:56[.ffffff][+09]', the zone being the
    session's, which the reader set to the layout's time zone) → '2020-01-31T12:34:56[.ffffff]'."""
    f = _parts(arr, rf"^(\d{{4}}-\d{{2}}-\d{{2}})[ T](\d{{2}}:\d{{2}}:\d{{2}})(?:{_FRACTION})?"
                    r"(?:[+-]\d{2}(?::?\d{2}){0,2})?$", ["d", "t", "f"]).select(
        "v", (pl.col("v").is_null() | _valid_date(pl.col("d")).fill_null(False)).alias("ok"),
        (pl.col("d") + "T" + pl.col("t") + _fraction(pl.col("f"))).alias("text"))
    return _checked(f, col, "日時", "a date and time")


def _time_text(arr: pa.Array, col: Column) -> Rendered:
    """TIME as the server wrote it ('12:00:00', '-01:00:00', '838:59:59.500000'), the fraction as isoformat."""
    f = _parts(arr, rf"^(-?\d{{2,3}}:\d{{2}}:\d{{2}})(?:{_FRACTION})?$", ["t", "f"]).select(
        "v", (pl.col("v").is_null() | pl.col("t").is_not_null()).alias("ok"),
        (pl.col("t") + _fraction(pl.col("f"))).alias("text"))
    return _checked(f, col, "時刻", "a time")


def _checked(f: pl.DataFrame, col: Column, ja: str, en: str) -> Rendered:
    """`f`: the value `v`, whether it is `ok`, its `text`. A value that is not ok is held
    (extract.invalid_value) and shown as the server wrote it."""
    if f["ok"].all():
        return Rendered(_strings(f["text"].to_arrow()))
    idx = np.flatnonzero(~f["ok"].to_numpy())
    return Rendered(_strings(f.select(pl.when("ok").then("text").otherwise("v"))
                             .to_series().to_arrow()),
                    _invalid(col, idx, f["v"].gather(idx).to_list(), ja, en))


def _invalid(col: Column, idx: np.ndarray, shown: list, ja: str, en: str) -> list[dict]:
    kind = col.type_name or "?"
    return _held(col, idx, shown, "extract.invalid_value", f"値は有効な{ja}ではありません (型 {kind})",
                 f"the value is not {en} (type {kind})")


# ---------------------------------------------------------------------------------- typed Arrow values
_DAYS = (-719_162, 2_932_896)                              # 0001-01-01, 9999-12-31 in days from 1970-01-01
_MICROS = (-62_135_596_800_000_000, 253_402_300_799_999_999)   # the same range in microseconds
# PostgreSQL's ±infinity as ADBC hands them over: the server's extreme value (int32 days, int64 µs from
# 2000-01-01) moved to 1970 and wrapped around.
_PG_INFINITY = {"date": {-2_147_472_692: "infinity", -2_147_472_691: "-infinity"},
                "timestamp": {-9_222_425_352_054_775_809: "infinity", -9_222_425_352_054_775_808: "-infinity"}}


_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
# PostgreSQL's first time stamp (4714-11-24 00:00:00 BC) in µs from 1970: ADBC moves the server's value (µs from
# 2000) to 1970 in int64, so one near the last (294276 AD) wraps around to below this
_PG_FIRST_US = -210_866_803_200_000_000


def _server_text(raw: np.ndarray, what: str, unit: str, zoned: bool) -> list[str]:
    """Days (or `unit`s) from 1970-01-01 → the text PostgreSQL writes (DateStyle ISO), for any year:
    `0044-03-15 BC`, `5874897-12-31`, `4713-01-01 00:00:00 BC`, a fraction without its trailing zeros and
    a zoned value in UTC (`+00`). By integer arithmetic (proleptic Gregorian, as PostgreSQL counts; days →
    civil date after H. Hinnant), since Python's datetime stops at years 1 and 9999."""
    per_second = _PER_SECOND.get(unit, 1)
    per_day = 86_400 * per_second if what == "timestamp" else 1
    raw = raw.astype(np.int64)
    days, rem = raw // per_day, raw % per_day
    if what == "timestamp" and unit == "us":   # unwrap: the value is raw + 2**64, as days and remainder
        wrapped = raw < _PG_FIRST_US
        q, r0 = divmod(2**64, per_day)
        rem = rem + np.where(wrapped, r0, 0)
        days = days + np.where(wrapped, q, 0) + rem // per_day
        rem = rem % per_day
    c, i64 = pl.col, pl.Int64
    f = pl.DataFrame({"days": days, "rem": rem})
    f = f.with_columns(z=c("days") + 719_468).with_columns(era=c("z") // 146_097)
    f = f.with_columns(doe=c("z") - c("era") * 146_097)
    f = f.with_columns(yoe=(c("doe") - c("doe") // 1460 + c("doe") // 36_524 - c("doe") // 146_096) // 365)
    f = f.with_columns(doy=c("doe") - (365 * c("yoe") + c("yoe") // 4 - c("yoe") // 100))
    f = f.with_columns(mp=(5 * c("doy") + 2) // 153)
    f = f.with_columns(d=c("doy") - (153 * c("mp") + 2) // 5 + 1,
                       m=pl.when(c("mp") < 10).then(c("mp") + 3).otherwise(c("mp") - 9))
    f = f.with_columns(y=c("yoe") + c("era") * 400 + (c("m") <= 2).cast(i64))
    two = lambda e: e.cast(pl.String).str.zfill(2)   # noqa: E731
    bc = c("y") <= 0   # astronomical year 0 is 1 BC
    text = pl.concat_str(pl.when(bc).then(1 - c("y")).otherwise(c("y")).cast(pl.String).str.zfill(4),
                         pl.lit("-"), two(c("m")), pl.lit("-"), two(c("d")))
    if what == "timestamp":
        sec = c("rem") // per_second
        digits = len(str(per_second)) - 1
        frac = (c("rem") % per_second).cast(pl.String).str.zfill(digits).str.strip_chars_end("0")
        text = pl.concat_str(text, pl.lit(" "), two(sec // 3600), pl.lit(":"), two(sec // 60 % 60), pl.lit(":"),
                             two(sec % 60), pl.when(frac != "").then(pl.lit(".") + frac).otherwise(pl.lit("")),
                             pl.lit("+00" if zoned else ""))
    return f.select(pl.concat_str(text, pl.when(bc).then(pl.lit(" BC")).otherwise(pl.lit("")))).to_series().to_list()


def _out_of_range(arr: pa.Array, raw: np.ndarray, valid: np.ndarray, text: pa.Array, col: Column, what: str,
                  unit: str, zoned: bool = False) -> Rendered:
    """Values outside years 0001–9999 (PostgreSQL's infinity, a BC date, a year beyond 9999): held, shown as
    the server writes them."""
    if valid.all():
        return Rendered(text)
    idx = np.flatnonzero(~valid)
    known = _PG_INFINITY[what]
    written = _server_text(raw[idx], what, unit, zoned)
    shown = [known.get(int(raw[i]), w) for i, w in zip(idx, written)]
    at = pa.array(~valid)
    filler = [None] * len(arr)
    for i, v in zip(idx.tolist(), shown):
        filler[i] = v
    ja, en = ("日付", "a date") if what == "date" else ("日時", "a date and time")
    return Rendered(pc.if_else(at, pa.array(filler, pa.string()), text), _invalid(col, idx, shown, ja, en))


def _date(arr: pa.Array, col: Column) -> Rendered:
    if pa.types.is_date64(arr.type):
        arr = pc.cast(arr, pa.date32())
    raw = pc.fill_null(arr.cast(pa.int32()), 0).to_numpy().astype(np.int64)
    valid = (raw >= _DAYS[0]) & (raw <= _DAYS[1])
    text = pc.cast(_with_nulls(arr, pa.array(valid)) if not valid.all() else arr, pa.string())
    return _out_of_range(arr, raw, valid, text, col, "date", "days")


def _timestamp(arr: pa.Array, col: Column) -> Rendered:
    """Naive: the wall time as stored; with a zone: the wall time in the layout's `time_zone`."""
    unit, tz = arr.type.unit, arr.type.tz
    raw = pc.fill_null(arr.cast(pa.int64()), 0).to_numpy()
    # the range in the array's unit, by integers (a float made 10000-01-01 in seconds a valid, '+10000' date)
    per_us = _PER_SECOND[unit] * 1_000_000
    lo, hi = (max(-(2**63), min(2**63 - 1, -(-x * per_us // 1_000_000_000_000) if x < 0 else
                                 x * per_us // 1_000_000_000_000)) for x in _MICROS)   # ns: all of int64
    valid = (raw >= lo) & (raw <= hi)
    s = pl.from_arrow(_with_nulls(arr, pa.array(valid)) if not valid.all() else arr).alias("t")
    if tz:
        s = s.dt.convert_time_zone(col.time_zone).dt.replace_time_zone(None)
    text = pl.DataFrame({"t": s}).select(
        pl.col("t").dt.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(pl.col("t").dt.strftime("%6f"))).to_series()
    return _out_of_range(arr, raw, valid, _strings(text.to_arrow()), col, "timestamp", unit, zoned=bool(tz))


def _time(arr: pa.Array, col: Column) -> Rendered:
    """A time from its microseconds, by arithmetic: PostgreSQL's `24:00:00` (the end of a day) is a value
    ADBC sends but Polars' time type cannot hold (it became null, silently)."""
    us = pl.from_arrow(pc.cast(pc.cast(arr, pa.time64("us")), pa.int64())).alias("u")
    sec = pl.col("u") // 1_000_000
    two = lambda e: e.cast(pl.String).str.zfill(2)   # noqa: E731
    text = pl.DataFrame({"u": us}).select(
        pl.concat_str([two(sec // 3600), two(sec // 60 % 60), two(sec % 60)], separator=":")
        + _fraction((pl.col("u") % 1_000_000).cast(pl.String).str.zfill(6))).to_series()
    return Rendered(_strings(text.to_arrow()))


# PostgreSQL numeric's special values as ADBC writes them → as the server (and SQLAlchemy) does.
_PG_NUMERIC_SPECIAL = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _pg_numeric(arr: pa.Array) -> pa.Array:
    s = pl.from_arrow(_strings(arr))
    if not s.is_in(list(_PG_NUMERIC_SPECIAL)).any():
        return _strings(arr)
    return _strings(s.replace(_PG_NUMERIC_SPECIAL).to_arrow())


# ----------------------------------------------------------------------------------------- binary values
_SEPARATORS = (0x0A, 0x1F, 0x1E, 0x1D, 0x1C)   # below 0x40: never part of a CP932/UTF-8/EUC-JP character


def _buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets relative to the first value, the values' bytes) of a binary array, slices included."""
    arr = arr.cast(pa.large_binary())
    offsets = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset:arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], np.uint8) if arr.buffers()[2] is not None else np.empty(0, np.uint8)
    data = data[offsets[0]:offsets[-1]]
    return offsets - offsets[0], data


def _decode(arr: pa.Array, col: Column) -> Rendered:
    """Binary values → text in the source's encoding, decoded in one call for the whole column (the values
    joined by a byte that is never part of a character). A column holding undecodable bytes is decoded in one
    call too, the codec noting each value that does not decode (extract.decode) and going on after it; only
    those values are then described. Record by record only for an encoding `fields.columnar` does not cover,
    or values that hold every separator byte."""
    enc = col.encoding
    offsets, data = _buffers(arr)
    valid = arr.is_valid()
    sep = next((s for s in _SEPARATORS if not (data == s).any()), None)
    if sep is not None:
        joined = np.insert(data, offsets[1:], sep) if len(arr) else data
        try:
            parts = joined.tobytes().decode(enc).split(chr(sep))
            return Rendered(_with_nulls(pa.array(parts[:len(arr)], pa.string()), valid), decoded_as=enc)
        except UnicodeDecodeError:
            pass
        if columnar(enc, ",", None) and len(arr):
            got = _decode_skipping(arr, col, joined, offsets, sep, valid)
            if got is not None:
                return got
    return _decode_by_value(arr, col, offsets, data, valid)


def _decode_skipping(arr: pa.Array, col: Column, joined: np.ndarray, offsets: np.ndarray, sep: int,
                     valid: pa.Array) -> Rendered | None:
    """The column with undecodable values, decoded in one call (`fields.skip_bad_records`); None: not
    possible here (the values would not split back apart)."""
    enc = col.encoding
    n = len(arr)
    starts = offsets[:-1] + np.arange(n, dtype=np.int64)      # each value's place in `joined`
    stops = offsets[1:] + np.arange(n, dtype=np.int64)
    text, found = skip_bad_records(memoryview(joined), enc, starts, stops)
    parts = text.split(chr(sep))   # a separator after every value: one more part, empty
    if len(parts) != n + 1 or not found:
        return None
    del parts[n]
    bad = np.asarray(found, np.int64)
    idx, err, width = bad[:, 0], bad[:, 1], bad[:, 2]
    unreadable = np.zeros(n, bool)
    unreadable[idx] = True
    texts = pc.if_else(pa.array(unreadable), pa.scalar(None, pa.string()), pa.array(parts, pa.string()))
    shown = decode_each(joined, starts[idx], stops[idx], lambda b: b.decode(enc, "backslashreplace"))
    at = (err - starts[idx] + 1).tolist()
    held = [_decode_held(i, v, col, w, k) for i, v, w, k in zip(idx.tolist(), shown, width.tolist(), at)]
    likely = _likely(held, [joined[a:b].tobytes() for a, b in zip(starts[idx][:LIKELY_SAMPLE].tolist(),
                                                                   stops[idx][:LIKELY_SAMPLE].tolist())], enc)
    return Rendered(_with_nulls(texts, valid), held, unreadable, decoded_as=enc, likely_encoding=likely)


def _likely(held: list[dict], raws: list[bytes], enc: str) -> str | None:
    """The encoding the undecodable values (a bounded sample of their bytes) all read in, named in their findings:
    the layout's encoding is then likely wrong, and the values that did decode may hold other characters."""
    likely = likely_encoding(raws, enc)
    if likely:
        ja, en = likely_hint(likely)
        for h in held:
            h["message_ja"] += f"。{ja}"
            h["message_en"] += f"; {en}"
    return likely


def _decode_held(index: int, shown: str, col: Column, n_bad: int, at: int) -> dict:
    """An undecodable value's finding: where and how many bytes, never their values (read in the right
    encoding they are a character of the value, 0x88 0xA2 = 阿, and messages are shown unmasked; the
    escaped value is shown or masked by its column's rule)."""
    return {"index": index, "rule": "extract.decode", "value": shown,
            "message_ja": f"{col.ja} に {col.encoding} として読めないバイトが {n_bad} バイトあります ({at} バイト目)",
            "message_en": f"{col.name}: {n_bad} byte(s) not valid {col.encoding} at byte {at} of the value"}


def _decode_by_value(arr: pa.Array, col: Column, offsets: np.ndarray, data: np.ndarray, valid: pa.Array) -> Rendered:
    """`_decode` value by value."""
    enc = col.encoding
    raw = data.tobytes()
    texts: list[str | None] = []
    bad: list[int] = []
    shown: list[str] = []
    detail: list[tuple[int, int]] = []
    for i in range(len(arr)):   # only for a column that holds bytes the encoding does not define
        b = raw[offsets[i]:offsets[i + 1]]
        try:
            texts.append(b.decode(enc))
        except UnicodeDecodeError as exc:
            texts.append(None)
            bad.append(i)
            shown.append(b.decode(enc, "backslashreplace"))
            detail.append((exc.end - exc.start, exc.start + 1))
    text = _with_nulls(pa.array(texts, pa.string()), valid)
    if not bad:
        return Rendered(text, decoded_as=enc)
    held = [_decode_held(i, v, col, n, at) for i, v, (n, at) in zip(bad, shown, detail)]
    likely = _likely(held, [raw[offsets[i]:offsets[i + 1]] for i in bad[:LIKELY_SAMPLE]], enc)
    unreadable = np.zeros(len(arr), bool)
    unreadable[bad] = True
    return Rendered(text, held, unreadable, decoded_as=enc, likely_encoding=likely)


def _bits(arr: pa.Array, col: Column, *, pg: bool) -> Rendered:
    """BIT as binary digits. MariaDB sends BIT(M) as ceil(M/8) bytes, the value right-aligned; PostgreSQL
    (ADBC) its bit/varbit wire value: a 4-byte big-endian bit count, then the bits left-aligned."""
    offsets, data = _buffers(arr)
    lens = np.diff(offsets)
    starts = offsets[:-1]
    if pg:
        head = np.zeros((len(arr), 4), np.int64)
        ok = lens >= 4
        for k in range(4):
            head[ok, k] = data[starts[ok] + k]
        nbits = np.where(ok, (head[:, 0] << 24) | (head[:, 1] << 16) | (head[:, 2] << 8) | head[:, 3], 0)
        first = starts * 8 + 32
    else:
        nbits = np.where(lens > 0, np.minimum(col.bits, lens * 8), 0)
        first = starts * 8 + lens * 8 - nbits
    bits = np.unpackbits(data) if len(data) else np.empty(0, np.uint8)
    total = int(nbits.sum())
    out_offsets = np.concatenate([[0], np.cumsum(nbits)]).astype(np.int64)
    pos = np.repeat(first - out_offsets[:-1], nbits) + np.arange(total)
    chars = (bits[pos] + ord("0")).astype(np.uint8) if total else np.empty(0, np.uint8)
    text = pa.LargeStringArray.from_buffers(len(arr), pa.py_buffer(out_offsets.tobytes()),
                                            pa.py_buffer(chars.tobytes()))
    return Rendered(_with_nulls(pc.cast(text, pa.string()), arr.is_valid()))


# ------------------------------------------------------------------------------------------- dispatch
def render(arr: pa.Array, col: Column, *, source_name: str, table: str, run_id: str | None,
           pg_type: str | None = None) -> Rendered:
    """One column's values (an Arrow array of any type) → text, by the declared kind or the Arrow type.

    `pg_type`: the PostgreSQL type name ADBC attaches to the field (bit, money …)."""
    t = arr.type
    name = col.type_name or pg_type or str(t)
    if not col.type_name:
        col = replace(col, type_name=name)   # messages name the type

    def refuse(why: str = ""):
        raise ColumnTypeError(source_name=source_name, table=table, column=col.name, type_name=name, run_id=run_id,
                              why=why)

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if col.declared == "unsupported":
        refuse()
    if col.declared in ("date_text", "datetime_text", "time_text") and (
            pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)):
        return {"date_text": _date_text, "datetime_text": _datetime_text, "time_text": _time_text}[col.declared](
            arr, col)
    if col.declared == "bit" and (pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_null(t)):
        return _bits(pc.cast(arr, pa.binary()), col, pg=False)
    if pg_type == "money":
        refuse(" (ADBC sends it as an integer of cents)")
    if pg_type in ("bit", "varbit"):
        return _bits(arr.storage if isinstance(t, pa.BaseExtensionType) else arr, col, pg=True)
    if isinstance(t, pa.BaseExtensionType):
        storage = arr.storage
        if pa.types.is_string(storage.type) or pa.types.is_large_string(storage.type):
            if pg_type == "numeric":
                return Rendered(_pg_numeric(storage))   # exact text; NaN, Infinity as the server writes them
            return Rendered(_strings(storage))    # json
        refuse()
    if pa.types.is_dictionary(t):
        return render(arr.dictionary_decode(), col, source_name=source_name, table=table, run_id=run_id,
                      pg_type=pg_type)
    if pa.types.is_null(t):
        return Rendered(pa.nulls(len(arr), pa.string()))
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        if "bpchar" in (pg_type, col.type_name):
            # CHAR(n): PostgreSQL pads the value with blanks that are not data (it ignores them itself when it
            # compares), as MariaDB drops them when it reads: the same legacy table gives the same values from both
            return Rendered(pc.utf8_rtrim(_strings(arr), characters=" "))
        return Rendered(_strings(arr))
    if (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_decimal(t)):
        return Rendered(pc.cast(arr, pa.string()))
    if pa.types.is_date(t):
        return _date(arr, col)
    if pa.types.is_timestamp(t):
        return _timestamp(arr, col)
    if pa.types.is_time(t):
        return _time(arr, col)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) \
            or pa.types.is_binary_view(t):
        return _decode(pc.cast(arr, pa.large_binary()), col)
    refuse()   # interval, duration, list, struct, map, uuid …


def python_values(values: list, col: Column, *, source_name: str, table: str, run_id: str | None) -> pa.Array:
    """A DB-API column (Python objects) → an Arrow array of its type, in C: text straight to string, bytes
    to binary (never read as UTF-8 behind the encoding's back), anything else by Arrow's inference."""
    first = next((v for v in values if v is not None), None)
    try:
        if isinstance(first, str):
            return pa.array(values, pa.string())
        if isinstance(first, (bytes, bytearray, memoryview)):
            return pa.array(values, pa.binary())
        try:
            return pa.array(values)
        except OverflowError:
            if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
                raise
        # integers beyond int64 (MariaDB BIGINT UNSIGNED up to 18446744073709551615): uint64 when none is
        # negative, else (a DECIMAL(30) read as int …) their exact digits
        try:
            return pa.array(values, pa.uint64())
        except (OverflowError, pa.ArrowInvalid):
            return pa.array([None if v is None else str(v) for v in values], pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        kinds = sorted({type(v).__name__ for v in values if v is not None})
        raise ColumnTypeError(source_name=source_name, table=table, column=col.name,
                              type_name=col.type_name or "/".join(kinds), run_id=run_id,
                              why=f" (its values are of several kinds: {', '.join(kinds)})") from None
