"""Delimited legacy files (中間標準レイアウト CSV …) described by a layout, read record by record in chunks.

Why not one `read_csv(encoding='cp932')`: one undecodable byte or one short row would fail the
whole file, or (utf8-lossy) silently corrupt it; and a reader that follows an unclosed quote to
the end of the file glues every record after it into one. Here the records are found first, on
the bytes (`extractors.records`: CR LF, LF or CR line ends, quoting as the layout declares it, a
quoted line break only with `quoted_newlines: true`), and each chunk is cut where a record ends.
Each chunk is then decoded by Python's codec at C speed, in one call even when records in it do not
decode (a codec error handler notes each and goes on after it); those records are cut out and
quarantined with their line, byte offset and column, described all together (`extractors.fields`:
their fields found with numpy on the bytes), as are the records with a wrong field count (their
`record_key`) and the values holding control characters: a file with many bad records costs a few
passes over columns, not Python per record. pyarrow parses the decoded text single-threaded (chunks
run two at a time), one record per line, and reports each record with the wrong number of fields
by its number; the line of every good record follows from that.
Records whose quoted fields hold line breaks are parsed apart (pyarrow with newlines in values),
their line breaks kept in a column marked `line_breaks: true` and holding the record in any other
(`extract.control_char`). With `trailing_delimiter: true` every record is read with one more field, the
one after the delimiter ending the line, which must be empty and is never staged. Values holding
characters that are not text (NUL, C0/C1 controls, bytes CP932 does not define) and fields longer than
the layout's `max_bytes` (counted in bytes of the source encoding) are quarantined too; a last line
cut short is `extract.truncated`. Encodings are Python codecs (cp932, shift_jis_2004, utf-8 with or without BOM).

Counts are records: `rows_read` = staged + records held by an error. Blank lines (empty, or blanks only:
spaces, TABs, full-width spaces; each listed, so counted, as `extract.blank_line`), the DOS
end-of-file mark (0x1A bytes ending the file, on their own line or right after the last record) and
the header are not records (the first two are listed as warnings); the header repeated further on (files
concatenated) is a record, held as `extract.repeated_header`, also behind the BOM of a second UTF-8 export (a
BOM starting any other record is taken off it: `extract.bom_in_record`, a warning). A held record's rows name it by
`record_key` (extractors.keys).
"""
from __future__ import annotations

from collections.abc import Collection

import io
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from ikou.extractors.checks import (LINE_BREAK_HINT, EncodingSample, collapse_not_held, control_frame,
                                   may_hold_controls, not_held, overlong_frame, split_unread, with_likely_encoding)
from ikou.extractors.fields import (
    columnar,
    decode_each,
    decode_flagged,
    plain_codes,
    positions,
    skip_bad_records,
    split_fields,
)
from ikou.extractors.keys import (NOT_A_RECORD, UNREADABLE_KEY, format_key, key_columns_of, key_expr,
                                  key_value_readable, raw_fields_key)
from ikou.extractors.layout import Layout, LayoutColumn
from ikou.extractors.record_types import record_types
from ikou.extractors.chunks import in_order
from ikou.extractors.records import (
    BAD,
    BLANK,
    EOF_MARK,
    HEADER,
    RECORD,
    STRAY_QUOTE,
    Records,
    find_records,
    iter_chunks,
)
from ikou.extractors.result import ExtractResult, file_result
from ikou import quarantine as q
from ikou.errors import LayoutError, SourceMissingError
from ikou.staging import ROW_ID, SOURCE, SOURCE_LINE, row_id_base, sink_batches

# 8 MB: as fast as 32 MB here (3.26 s per 100 MB either way) at half the peak memory (0.5 vs 1.1 GB).
CHUNK_BYTES = 8 << 20
_DECODE_WINDOW = 256 << 10   # after a decode error, the rest of a chunk is decoded in pieces this size
LIKELY_PER_CHUNK = 64        # undecodable records of a chunk tried in other encodings (checks.EncodingSample)


def _fields_of(text: str, delimiter: str, quote: str | None) -> list[tuple[int, int]]:
    """Character spans of the fields of one record's text (lenient, for describing a bad record)."""
    spans, i, n = [], 0, len(text)
    while True:
        start = i
        if quote and i < n and text[i] == quote:
            i += 1
            while i < n:
                if text[i] == quote:
                    if i + 1 < n and text[i + 1] == quote:
                        i += 2
                        continue
                    i += 1
                    break
                i += 1
        k = text.find(delimiter, i)
        if k < 0:
            spans.append((start, n))
            return spans
        spans.append((start, k))
        i = k + 1


def _decode_finding(raw: bytes, err: int, exc: UnicodeDecodeError, layout: Layout, encoding: str,
                    last_unterminated: bool) -> dict:
    """Describe an undecodable record: which field holds the bad bytes (shown escaped), where they are."""
    text = raw.decode(encoding, "surrogateescape")
    err_char = len(raw[:err].decode(encoding, "surrogateescape"))
    spans = _fields_of(text, layout.delimiter, layout.quote)
    field = next((i for i, (a, b) in enumerate(spans) if a <= err_char <= b), len(spans) - 1)
    a, b = spans[field]
    shown = text[a:b].encode(encoding, "surrogateescape").decode(encoding, "backslashreplace")
    column = layout.names[field] if field < len(layout.names) else None
    # the message names where and how many bytes, never their values: read in the right encoding they are
    # a character of the field (0x88 0xA2 is 阿 of 阿部 in CP932), and messages are shown unmasked; the
    # value (escaped) is shown by the column's own masking rule
    width = exc.end - exc.start
    if last_unterminated and err + width >= len(raw):
        return {"column": column, "rule": "extract.truncated", "value": shown,
                "message_ja": "最終行が途中で切れています (2バイト文字の途中で改行なしにファイルが終わります)",
                "message_en": "the last line is cut short (the file ends inside a double-byte character, "
                              "without a line break)"}
    return {"column": column, "rule": "extract.decode", "value": shown,
            "message_ja": f"{encoding} として読めないバイトが {width} バイトあります (行頭から {err} バイト目)",
            "message_en": f"{width} byte(s) not valid {encoding} at byte {err} of the record"}


# A finding in the making: the record it is about (its index in the chunk) and the quarantine columns.
_FINDING = {"_rec": pl.Int64, "severity": pl.String, "column": pl.String, "rule": pl.String, "value": pl.String,
            "message_ja": pl.String, "message_en": pl.String}
# what the codec error handler leaves where a record stops decoding: a lone high surrogate, which no decoding
# (strict) gives; up to _FEW_BAD such records in a range are cut out of its text, more are decoded again
_MARK = "\ud800"
_FEW_BAD = 4096


def _finding_frame(items: list[tuple[int, dict]]) -> pl.DataFrame:
    return pl.DataFrame({"_rec": [i for i, _ in items],
                         **{k: [d.get(k) for _, d in items] for k in list(_FINDING)[1:]}}, schema=_FINDING)


class _Chunk:
    """One chunk of whole records → its staging rows and its quarantine rows (no shared state).

    Findings are kept in the order they are added, per record in the order its first one was added (what
    the quarantine's rows follow): small ones as dicts, those of many records (undecodable bytes, wrong
    field counts, control characters …) as frames built column by column."""

    def __init__(self, layout: Layout, encoding: str, offset: int, chunk: bytes, first_line: int, recs: Records):
        self.layout, self.enc = layout, encoding
        self.offset, self.chunk, self.first_line, self.recs = offset, chunk, first_line, recs
        self.kind = recs.kind.copy()
        self.columnar = columnar(encoding, layout.delimiter, layout.quote)
        self.arr = np.frombuffer(chunk, np.uint8)
        self._parts: list[pl.DataFrame] = []
        self._pending: list[tuple[int, dict]] = []
        self.multi_text = ""                         # the text of the records parsed apart
        # what stands for a record left out of the single-line parse: a row of empty fields, never an empty
        # line (after a line ended by CR alone, the LF ending an emptied record would make one CR LF of them)
        self.blank = layout.delimiter * (len(layout.names) - 1) or " "

    def add(self, i: int, d: dict, severity: str = "error") -> None:
        d.setdefault("severity", severity)
        self._pending.append((i, d))

    def add_frame(self, f: pl.DataFrame) -> None:
        """Findings of many records at once (columns `_FINDING`), after those added before."""
        self._flush()
        if f.height:
            self._parts.append(f.select(list(_FINDING)).cast(_FINDING))

    def _flush(self) -> None:
        if self._pending:
            self._parts.append(_finding_frame(self._pending))
            self._pending = []

    def findings(self) -> pl.DataFrame:
        """Every finding, records in the order their first finding was added, each one's in its order."""
        self._flush()
        if not self._parts:
            return pl.DataFrame(schema=_FINDING)
        f = pl.concat(self._parts).with_row_index("_seq")
        return f.with_columns(pl.col("_seq").min().over("_rec").alias("_first")).sort("_first", "_seq").drop(
            "_first", "_seq")

    def raw(self, i: int) -> bytes:
        return self.chunk[self.recs.start[i]:self.recs.stop[i]]

    def shown(self, i: int) -> str:
        return self.raw(i).decode(self.enc, "backslashreplace")

    # ------------------------------------------------------------------ decoding
    def decode(self) -> str:
        """The chunk's text for the single-line parser: one line per record, every record that is not
        parsed there (bad, header, multi-line, end-of-file mark) left as a row of empty fields."""
        recs, kind = self.recs, self.kind
        dropped = kind >= EOF_MARK
        if recs.multi is not None:
            dropped |= recs.multi
        parts: list[str] = []
        a = 0
        self._undecodable: list[tuple[int, int, int]] = []
        for i in np.flatnonzero(dropped).tolist():
            parts += self._decode_range(a, int(recs.start[i]))
            parts.append(self.blank)
            a = int(recs.stop[i])
        parts += self._decode_range(a, len(self.chunk))
        if self._undecodable:
            bad = np.asarray(self._undecodable, np.int64)
            self.add_frame(self._decode_findings(bad[:, 0], bad[:, 1], bad[:, 2],
                                                 last=recs.unterminated and len(kind) > 0))
        text = "".join(parts)
        n = len(kind)
        if n and recs.unterminated and (dropped[-1] or self.kind[-1] == BAD):
            text += "\n"   # the dropped last record has no line break left to stand for it
        return text

    def _decode_range(self, a: int, b: int) -> list[str]:
        """The text of chunk[a:b] (whole records), those that do not decode left out (their line breaks kept):
        decoded in one call, the codec's error handler noting each bad record and going on after it."""
        mv = memoryview(self.chunk)
        if not self.columnar:
            try:
                return [str(mv[a:b], self.enc)]
            except UnicodeDecodeError:
                return [self._decode_range_by_records(a, b)]
        recs = self.recs
        text, found = skip_bad_records(mv[a:b], self.enc, recs.start, recs.stop, base=a, mark=_MARK)
        if not found:
            return [text]
        bad = np.asarray([i for i, _, _ in found], np.int64)
        self._undecodable += found
        self.kind[bad] = BAD
        if len(found) <= _FEW_BAD:
            # the text before each bad byte is there, on its line, up to the mark: cut it out (a few slices)
            out, pos = [], 0
            m = text.find(_MARK)
            while m >= 0:
                out.append(text[pos:max(text.rfind("\n", 0, m), text.rfind("\r", 0, m)) + 1])
                out.append(self.blank)
                pos = m + 1
                m = text.find(_MARK, pos)
            out.append(text[pos:])
            return out
        lens = recs.stop[bad] - recs.start[bad]   # many: decode the range again without them
        keep = np.ones(b - a, bool)
        keep[positions(recs.start[bad] - a, lens)] = False
        kept = self.arr[a:b][keep]
        if self.blank:
            at = recs.start[bad] - a - np.concatenate([[0], np.cumsum(lens)[:-1]])
            blank = np.frombuffer(self.blank.encode("ascii"), np.uint8)
            kept = np.insert(kept, np.repeat(at, len(blank)), np.tile(blank, len(at)))
        return [kept.tobytes().decode(self.enc)]

    def _decode_range_by_records(self, a: int, b: int) -> str:
        """Record by record after an error, for the encodings `fields.columnar` does not cover."""
        mv = memoryview(self.chunk)
        recs, out, pos = self.recs, [], a
        while pos < b:
            w = b
            if b - pos > _DECODE_WINDOW:
                k = int(np.searchsorted(recs.start, pos + _DECODE_WINDOW))
                w = int(recs.start[k]) if k < len(recs.start) and recs.start[k] < b else b
            try:
                out.append(str(mv[pos:w], self.enc))
                pos = w
                continue
            except UnicodeDecodeError as exc:
                e = pos + exc.start
                i = int(np.searchsorted(recs.start, e, side="right")) - 1
                s = int(recs.start[i])
                out.append(str(mv[pos:s], self.enc))
                out.append(self.blank)
                last = recs.unterminated and i == len(recs.start) - 1
                self.add(i, _decode_finding(self.raw(i), e - s, exc, self.layout, self.enc, last))
                self.kind[i] = BAD
                pos = int(recs.stop[i])
        return "".join(out)

    def _decode_findings(self, idx: np.ndarray, err: np.ndarray, width: np.ndarray, *, last: bool) -> pl.DataFrame:
        """`_decode_finding` for many records at once: record idx[k] stops decoding at byte err[k] of the chunk,
        where the codec rejects width[k] bytes; `last`: the chunk's last record ends the file unterminated."""
        recs, enc, names = self.recs, self.enc, self.layout.names
        s, e = recs.start[idx], recs.stop[idx]
        quote = ord(self.layout.quote) if self.layout.quote else None
        sp = split_fields(self.arr, s, e, ord(self.layout.delimiter), quote)
        g = np.searchsorted(sp.a, err, side="right") - 1    # the field holding the bad byte
        field = g - sp.first
        shown = decode_each(self.arr, sp.a[g], sp.b[g],
                            lambda b: b.decode(enc, "surrogateescape").encode(enc, "surrogateescape")
                            .decode(enc, "backslashreplace"))
        at = err - s
        cut = (err + width >= e) & (idx == len(recs.start) - 1) if last else np.zeros(len(idx), bool)
        f = pl.DataFrame({
            "_rec": idx, "field": field, "shown": pl.Series(shown, dtype=pl.String), "at": at, "cut": cut,
            "width": np.asarray(width, np.int64),
        })
        n_bad = pl.col("width").cast(pl.String)   # how many bytes, not which: see _decode_finding
        cut_col = pl.col("cut")
        return f.select(
            "_rec", pl.lit("error").alias("severity"),
            pl.col("field").replace_strict(list(range(len(names))), names, default=None, return_dtype=pl.String)
            .alias("column"),
            pl.when(cut_col).then(pl.lit("extract.truncated")).otherwise(pl.lit("extract.decode")).alias("rule"),
            pl.col("shown").alias("value"),
            pl.when(cut_col).then(pl.lit("最終行が途中で切れています (2バイト文字の途中で改行なしにファイルが終わります)"))
            .otherwise(pl.concat_str([pl.lit(f"{enc} として読めないバイトが "), n_bad, pl.lit(" バイトあります (行頭から "),
                                      pl.col("at").cast(pl.String), pl.lit(" バイト目)")])).alias("message_ja"),
            pl.when(cut_col).then(pl.lit("the last line is cut short (the file ends inside a double-byte character, "
                                         "without a line break)"))
            .otherwise(pl.concat_str([n_bad, pl.lit(f" byte(s) not valid {enc} at byte "),
                                      pl.col("at").cast(pl.String), pl.lit(" of the record")])).alias("message_en"),
        )

    # ------------------------------------------------------------------ parsing
    def _read(self, body: str, newlines: bool, on_invalid) -> pa.Table:
        names = self.layout.names
        data = body.encode("utf-8")
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False,
                                           block_size=max(1 << 20, len(data) + 1)),
            parse_options=pacsv.ParseOptions(delimiter=self.layout.delimiter, quote_char=self.layout.quote or False,
                                             newlines_in_values=newlines, ignore_empty_lines=False,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=True, null_values=[""],
                                                 quoted_strings_can_be_null=True),
        )

    def parse(self, text: str) -> tuple[pa.Table, np.ndarray, list[tuple[int, int, str]]]:
        """The records' table, the record index of each row, and the records with a wrong field count."""
        n = len(self.kind)
        invalid: list[tuple[int, int, str]] = []

        def on_invalid(row) -> str:
            invalid.append((row.number - 1, row.actual_columns, row.text))
            return "skip"

        if n == 0:
            return _empty(self.layout), np.empty(0, np.int64), []
        table = self._read(text, False, on_invalid)
        idx = np.arange(n, dtype=np.int64)
        if invalid:
            idx = np.setdiff1d(idx, np.fromiter((i for i, _, _ in invalid), np.int64, len(invalid)),
                               assume_unique=True)
        if len(idx) != table.num_rows:   # never seen: rows and records out of step would mislabel lines
            raise RuntimeError(f"csv parse: {table.num_rows} rows for {len(idx)} records")
        keep = self.kind[idx] == RECORD
        if self.recs.multi is not None:
            keep &= ~self.recs.multi[idx]
        table, idx = table.filter(pa.array(keep)), idx[keep]
        if self.recs.multi is not None:
            table, idx = self._with_multi_line(table, idx)
        return table, idx, invalid

    def _with_multi_line(self, table: pa.Table, idx: np.ndarray) -> tuple[pa.Table, np.ndarray]:
        """Parse the records that span lines (quoted line breaks, well formed: the finder checked
        them) with newlines in values, and put them back in record order."""
        multi = np.flatnonzero(self.recs.multi & (self.kind == RECORD))
        texts, ok, bad = [], [], []
        for i in multi.tolist():
            try:
                texts.append(self.raw(i).decode(self.enc))
                ok.append(i)
            except UnicodeDecodeError as exc:
                if self.columnar:
                    bad.append((i, int(self.recs.start[i]) + exc.start, exc.end - exc.start))
                else:
                    self.add(i, _decode_finding(self.raw(i), exc.start, exc, self.layout, self.enc, False))
                self.kind[i] = BAD
        if bad:
            b = np.asarray(bad, np.int64)
            self.add_frame(self._decode_findings(b[:, 0], b[:, 1], b[:, 2], last=False))
        if not ok:
            return table, idx
        wrong: list = []
        self.multi_text = "\n".join(texts) + "\n"
        more = self._read(self.multi_text, True, lambda row: wrong.append(row) or "skip")
        if wrong or more.num_rows != len(ok):   # never seen: the finder counted their fields
            raise RuntimeError(f"csv parse: {more.num_rows} rows for {len(ok)} multi-line records")
        both = pa.concat_tables([table, more])
        order_idx = np.concatenate([idx, np.asarray(ok, np.int64)])
        order = np.argsort(order_idx, kind="stable")
        return both.take(pa.array(order)), order_idx[order]

    # ------------------------------------------------------------------ keys of records not cut into fields
    def raw_keys(self, idx: np.ndarray, keys: list[str], key_index: list[int],
                 lengths: dict[int, tuple[int, int]]) -> pl.Series:
        """`record_key` of the records idx (not cut into fields by the parser) from the lenient split of their
        bytes, by the rule of `keys.raw_fields_key`; null where it is not trusted or does not decode."""
        layout, arr, enc = self.layout, self.arr, self.enc
        n_fields, last = len(layout.names), max(key_index)
        Q = ord(layout.quote) if layout.quote else None
        sp = split_fields(arr, self.recs.start[idx], self.recs.stop[idx], ord(layout.delimiter), Q)
        nf = sp.count

        def inner(j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """Field j of each record without its quotes (`_unquote`), and whether it had them; a record with
            fewer fields gets an empty one (never used: its key is not trusted)."""
            fi = sp.first + np.minimum(j, nf - 1)
            a = np.where(j < nf, sp.a[fi], 0)
            b = np.where(j < nf, sp.b[fi], 0)
            if Q is None:
                return a, b, np.zeros(len(a), bool)
            top = max(len(arr) - 1, 0)
            quoted = (b - a >= 2) & (arr[np.minimum(a, top)] == Q) & (arr[np.clip(b - 1, 0, top)] == Q)
            return a + quoted, b - quoted, quoted

        trusted = nf == n_fields
        lenient = ~trusted & (last < nf - 1)
        if lenient.any():
            ok = lenient.copy()
            for j in range(last + 1):   # the fields up to the last key column: a handful
                a, b, _ = inner(j)
                good = plain_codes(arr, a, b)   # a code holds no quote: the quote check is in it
                if lengths and j in lengths:
                    lo, hi = lengths[j]
                    good &= (b - a >= lo) & (b - a <= hi)
                ok &= good
            trusted = trusted | ok
        out = pl.Series("record_key", [None] * len(idx), dtype=pl.String)
        t = np.flatnonzero(trusted)
        if not len(t):
            return out
        values, bad = [], np.zeros(len(t), bool)
        for c, j in zip(keys, key_index):
            a, b, quoted = (x[t] for x in inner(j))
            got = decode_flagged(arr, a, b, enc)
            if got is None:   # never seen: every ASCII control in the key fields
                return self.raw_keys_by_record(idx, keys, key_index, lengths)
            v, unreadable = got
            bad |= unreadable   # `_readable`: a key value holding bytes that do not decode names nothing
            bad |= v.str.contains(UNREADABLE_KEY).fill_null(False).to_numpy()   # … nor one holding no text
            if Q is not None and quoted.any():
                qq = layout.quote
                v = pl.DataFrame({"v": v, "q": quoted}).select(
                    pl.when("q").then(pl.col("v").str.replace_all(qq + qq, qq, literal=True))
                    .otherwise(pl.col("v"))).to_series()
            values.append(pl.lit(f"{c}=") + v)
        key = pl.select(pl.when(pl.Series(bad)).then(None).otherwise(pl.concat_str(values, separator=","))).to_series()
        return out.scatter(t, key)

    def raw_keys_by_record(self, idx: np.ndarray, keys: list[str], key_index: list[int],
                           lengths: dict[int, tuple[int, int]]) -> pl.Series:
        """`raw_keys` one record at a time (the encodings `fields.columnar` does not cover)."""
        layout = self.layout
        out = []
        for i in idx.tolist():
            text = self.raw(i).decode(self.enc, "surrogateescape")
            fields = [_unquote(text[a:b], layout.quote) for a, b in _fields_of(text, layout.delimiter, layout.quote)]
            values = raw_fields_key(fields, len(layout.names), key_index, quote=layout.quote, lengths=lengths)
            out.append(None if values is None or not all(_readable(v) and key_value_readable(v) for v in values)
                       else format_key(keys, values))
        return pl.Series("record_key", out, dtype=pl.String)


def _empty(layout: Layout) -> pa.Table:
    return pa.table({n: pa.array([], pa.string()) for n in layout.names})


def quarantine_frame(bad_rows: list[dict] | pl.DataFrame, *, run_id: str, dantai_code: str, target_table: str,
                     origin: str, base: int) -> pl.DataFrame:
    """The stage's quarantine from its findings: dicts, or a frame of the same columns."""
    if isinstance(bad_rows, pl.DataFrame):
        quarantine = q.conform(bad_rows) if bad_rows.height else q.empty()
    else:
        rows = [{"severity": "error", **r} for r in bad_rows]
        quarantine = q.conform(pl.DataFrame(rows, schema_overrides={"source_line": pl.Int64},
                                            infer_schema_length=None) if rows else q.empty())
    return q.conform(quarantine.with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(dantai_code).alias("dantai_code"), pl.lit("extract").alias("stage"),
        pl.lit(target_table).alias("table"), pl.lit(origin).alias("source"),
        (pl.col("source_line") + base).alias("row_id"),
    ).sort("source_line"))


def staging_schema(layout: Layout) -> pl.Schema:
    return pl.Schema({ROW_ID: pl.Int64, SOURCE: pl.String, SOURCE_LINE: pl.Int64,
                      **{n: pl.String for n in layout.names}})


def to_staging(df: pl.DataFrame, layout: Layout, origin: str, base: int) -> pl.DataFrame:
    """`_line` + layout columns → the staging frame with lineage columns first."""
    return df.select(
        (pl.col("_line") + base).cast(pl.Int64).alias(ROW_ID), pl.lit(origin, pl.String).alias(SOURCE),
        pl.col("_line").cast(pl.Int64).alias(SOURCE_LINE), *[pl.col(n).cast(pl.String) for n in layout.names],
    )


def check_source_file(path: Path, source_name: str, run_id: str) -> int:
    """A missing or empty source file is a run-level error naming it; returns its size."""
    if not path.is_file():
        raise SourceMissingError(f"{source_name}: source file not found: {path}", run_id=run_id,
                                 ja=f"{source_name}: ソースファイル {path} がありません "
                                    "(設定の path とエクスポートの出力先を確認してください)")
    size = path.stat().st_size
    if size == 0:
        raise SourceMissingError(f"{source_name}: source file {path.name} is empty (0 bytes): an export that wrote "
                          "nothing is treated as a failed export", run_id=run_id,
                          ja=f"{source_name}: ソースファイル {path.name} が空です (0 バイト)。何も書かなかったエクスポートは"
                             "失敗として扱います: エクスポート (出力) をやり直してください")
    return size


def _is_utf8(enc: str) -> bool:
    return enc.lower().replace("-", "_") in ("utf_8", "utf8", "utf_8_sig", "u8")


_BOMS = {b"\xef\xbb\xbf": "UTF-8", b"\xff\xfe": "UTF-16LE", b"\xfe\xff": "UTF-16BE"}


def _bom(path: Path, enc: str, source_name: str, run_id: str) -> int:
    """Bytes of a UTF-8 BOM to skip; a BOM that contradicts the encoding is a run-level error (every
    record would be misread: a UTF-8 file read as shift_jis_2004 does not even fail)."""
    with open(path, "rb") as f:
        head = f.read(3)
    if _is_utf8(enc) and head.startswith(b"\xef\xbb\xbf"):
        return 3
    for bom, name in _BOMS.items():
        if head.startswith(bom) and not (name == "UTF-8" and _is_utf8(enc)):
            raise LayoutError(f"{source_name}: {path.name} starts with a {name} byte order mark, but its encoding "
                              f"is configured as {enc}: check the source's `encoding`", run_id=run_id,
                              ja=f"{source_name}: {path.name} の先頭に {name} の BOM (バイト順マーク) がありますが、"
                                 f"エンコーディングは {enc} と指定されています: ソースのエンコーディング指定 "
                                 "(encoding) を確認してください")
    return 0


def _unquote(field: str, quote: str | None) -> str:
    if quote and len(field) >= 2 and field[0] == quote and field[-1] == quote:
        return field[1:-1].replace(quote + quote, quote)
    return field


def _readable(value: str) -> bool:
    """Decoded without a byte left undecoded (surrogateescape's stand-ins)."""
    return not any("\udc80" <= ch <= "\udcff" for ch in value)


# the field after the delimiter ending each line (`trailing_delimiter: true`): read as one more column, never staged
_TRAIL = "__after_trailing_delimiter__"
REPEATED_HEADER = "extract.repeated_header"   # keys.NO_PERSON: nobody's record
_FOUND = {"source_line": pl.Int64, "column": pl.String, "rule": pl.String, "value": pl.String,
          "message_ja": pl.String, "message_en": pl.String}


def _as_read(layout: Layout) -> Layout:
    """The layout the records are cut into fields by: with `trailing_delimiter`, one more (internal) column for
    the field after the delimiter that ends every line, so a line with it has the layout's field count."""
    if not layout.trailing_delimiter:
        return layout
    return layout.model_copy(update={"columns": [*layout.columns, LayoutColumn(name=_TRAIL, ja="行末の区切り文字の後")]})


BOM = "\ufeff"
RECORD_BOM = "extract.bom_in_record"


def _record_bom(df: pl.DataFrame, first: str, quote: str | None, bom: np.ndarray) -> pl.DataFrame:
    """A U+FEFF starting a record (the file's own BOM is skipped before any record) is the byte order mark of a
    second UTF-8 export joined on (`cat a.csv b.csv` of two BOM'd files): taken off the first field (and the
    quotes it kept from being read as quotes), so that a repeated header is one and a 団体コード behind it is
    not another 団体's. `bom`: the rows whose record's bytes start with one (`_starts_with`: pyarrow drops a
    BOM that starts the text it parses, a chunk's first record's, and keeps any other); `_bom` marks them."""
    v = pl.col(first)
    kept = v.str.starts_with(BOM).fill_null(False)
    bare = v.str.strip_chars_start(BOM)
    if quote:
        quoted = kept & bare.str.starts_with(quote) & bare.str.ends_with(quote) & (bare.str.len_chars() >= 2)
        bare = pl.when(quoted).then(bare.str.slice(1, bare.str.len_chars() - 2).str.replace_all(
            quote + quote, quote, literal=True)).otherwise(bare)
    flag = pl.Series("_bom", bom, dtype=pl.Boolean) if len(bom) == df.height else pl.lit(False)
    return df.with_columns(flag.alias("_bom")).with_columns(
        pl.when(pl.col("_bom") | kept).then(bare).otherwise(v).alias(first), (pl.col("_bom") | kept).alias("_bom"))


def _starts_with(c: _Chunk, recs: np.ndarray, prefix: bytes) -> np.ndarray:
    """Which records (indexes into the chunk's) start with the bytes `prefix`, on the chunk's bytes at once."""
    if not len(recs) or not prefix:
        return np.zeros(len(recs), bool)
    pat = np.frombuffer(prefix, np.uint8)
    at = c.recs.start[recs][:, None] + np.arange(len(pat))
    inside = (at < len(c.arr)).all(axis=1)
    return inside & (c.arr[np.minimum(at, len(c.arr) - 1)] == pat).all(axis=1)


def _bom_quote(c: _Chunk, recs: np.ndarray) -> np.ndarray:
    """Records whose bytes start with a UTF-8 BOM and a quote: the quote the record finder calls stray is the
    first field's opening one (`_record_bom` reads it so)."""
    quote = c.layout.quote
    return _starts_with(c, recs, BOM.encode() + quote.encode()) if quote else np.zeros(len(recs), bool)


def _bom_findings(df: pl.DataFrame, first: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A warning for each record `_record_bom` took a BOM off (a repeated header is held as such instead). The
    record is kept: the BOM is the joined file's encoding mark, not its value, as the file's first BOM is
    (holding the record would keep a good record out for a byte of the file's format)."""
    hit = df.filter(pl.col("_bom"))
    return df.drop("_bom"), hit.select(
        pl.col("_line").cast(pl.Int64).alias("source_line"), pl.lit(first).alias("column"),
        pl.lit(RECORD_BOM).alias("rule"), pl.lit(None, pl.String).alias("value"),
        pl.lit("レコードの先頭に BOM (U+FEFF、バイト順マーク) があります: BOM 付きのファイルが連結されています "
               "(ファイルの連結?)。BOM を除いて取り込みました").alias("message_ja"),
        pl.lit("a byte order mark (U+FEFF) starts the record: files with a BOM joined together (files "
               "concatenated?); read without it").alias("message_en"),
        pl.lit("warning").alias("severity")).cast(_FOUND | {"severity": pl.String})


def _repeated_header(df: pl.DataFrame, names: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Records whose fields (trimmed) are the header's names: files concatenated (`cat a.csv b.csv`) repeat it.
    One finding each, saying so, instead of the map and validation findings its names would give (a 団体コード
    column reading 団体コード is no other 団体's code); still a record held, so the counts balance."""
    same = pl.all_horizontal([pl.col(n).str.strip_chars().eq(n).fill_null(False) for n in names])
    hit = df.filter(same)
    return df.filter(~same), hit.select(
        pl.col("_line").cast(pl.Int64).alias("source_line"), pl.lit(None, pl.String).alias("column"),
        pl.lit(REPEATED_HEADER).alias("rule"), pl.lit(None, pl.String).alias("value"),
        pl.lit("見出し行がファイルの途中にあります (ファイルの連結?): 取り込まずに保留します").alias("message_ja"),
        pl.lit("the header line again, in the middle of the file (files concatenated?): held, not loaded")
        .alias("message_en")).cast(_FOUND)


def _trailing_field(df: pl.DataFrame, n_fields: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`trailing_delimiter: true`: records whose field after the delimiter ending the line is not empty (a
    field too many, or a line without that delimiter whose last value took its place) are held."""
    extra = pl.col(_TRAIL).is_not_null()
    hit = df.filter(extra)
    return df.filter(~extra), hit.select(
        pl.col("_line").cast(pl.Int64).alias("source_line"), pl.lit(None, pl.String).alias("column"),
        pl.lit("extract.field_count").alias("rule"), pl.col(_TRAIL).alias("value"),
        pl.lit(f"行末の区切り文字の後に値があります (レイアウトは trailing_delimiter: true で、{n_fields} 項目の後の"
               "最後の項目は空のはずです。項目が1つ多い?)").alias("message_ja"),
        pl.lit(f"a value after the delimiter that should end the line (the layout says trailing_delimiter: true: "
               f"the field after its {n_fields} fields must be empty; a field too many?)").alias("message_en")
    ).cast(_FOUND)


def extract_csv(path: Path, layout: Layout, *, out_path: Path, source_name: str, source_ordinal: int,
                target_table: str, run_id: str, dantai_code: str, encoding: str | None = None,
                chunk_bytes: int = CHUNK_BYTES, key_columns: list[str] | None = None,
                unread_columns: Collection[str] = ()) -> ExtractResult:
    """Stream a delimited file to Parquet staging in chunks of ~chunk_bytes; bad records quarantined. A control
    character or a byte that is no character in one of `unread_columns` (no mapping line reads it) is a
    warning and holds nothing (checks.not_held: the fields are cut before they are read); a key column is
    always checked.

    Memory is bounded by the chunk size (plus the bad records), whatever the file size. A held
    record's quarantine rows carry its `record_key` (extractors.keys) from `key_columns`, default the
    layout's key: from its parsed fields, or, for a record the parser could not cut into fields, from a
    lenient split of its text (`keys.raw_fields_key` says when that is trusted).
    """
    t0 = time.perf_counter()
    path = Path(path)
    size = check_source_file(path, source_name, run_id)
    enc = encoding or layout.encoding
    if _is_utf8(enc):
        enc = "utf-8"   # the BOM, if any, is skipped below; utf-8-sig would not see it in later chunks anyway
    try:
        "".encode(enc)
    except LookupError:
        raise LayoutError(f"{source_name}: unknown encoding {enc!r} (layout {layout.name})", run_id=run_id,
                          ja=f"{source_name}: エンコーディング {enc!r} は使えません (レイアウト {layout.name}): "
                             "ソースまたはレイアウトの encoding を確認してください") from None
    skip = _bom(path, enc, source_name, run_id)
    base = row_id_base(source_ordinal)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    bad_rows: list[pl.DataFrame] = []
    sample = EncodingSample()   # undecodable records' bytes (bounded): the encoding they read in, if one
    rows_ok = 0
    names = layout.names
    n_fields = len(names)
    keys = key_columns_of(layout, key_columns, source_name=source_name, run_id=run_id)
    types = record_types(layout, enc, source_name=source_name, run_id=run_id)   # header / trailer records
    key_index = [names.index(k) for k in keys]
    read = _as_read(layout)   # with trailing_delimiter: one more column, the field after the last delimiter
    breaks = {c.name for c in layout.columns if c.line_breaks}
    unread = set(unread_columns) - set(keys) - set(layout.key)
    checked, unchecked = split_unread(layout, unread)
    trail_ja, trail_en = ((" と行末の区切り文字: trailing_delimiter: true", " and a delimiter ending the line "
                           "(trailing_delimiter: true)") if layout.trailing_delimiter else ("", ""))
    if breaks & set(keys):
        raise LayoutError(f"{source_name}: key columns {sorted(breaks & set(keys))} are marked line_breaks: true in "
                          f"layout {layout.name}: a key column never holds a line break", run_id=run_id,
                          ja=f"{source_name}: キー項目 {sorted(breaks & set(keys))} にレイアウト {layout.name} で "
                             "line_breaks: true が指定されています。キー項目は改行を含みません (指定を外してください)")

    def record_keys(c: _Chunk, f: pl.DataFrame, parsed: pl.DataFrame, lines: np.ndarray) -> pl.Series:
        """`record_key` of each finding's record: from its parsed fields, or for a record the parser could not
        cut into fields, from the lenient split of its bytes (`_Chunk.raw_keys`); none for what is not a record."""
        if not keys or f.height == 0:
            return pl.Series("record_key", [None] * f.height, dtype=pl.String)
        recs = np.unique(f["_rec"].to_numpy())
        at = pl.DataFrame({"_rec": recs, "_line": lines[recs]})
        own = parsed.filter(pl.col("_line").is_in(at["_line"].implode()))
        from_parsed = at.join(own.select("_line", key_expr(keys).alias("_key"), pl.lit(True).alias("_parsed")),
                              on="_line", how="left")   # a parsed key that is not text stays null (key_expr)
        missing = from_parsed.filter(pl.col("_parsed").is_null())["_rec"].to_numpy()
        raw = missing[np.isin(c.kind[missing], (RECORD, BAD))] if len(missing) else missing
        if len(raw):
            lengths = lead_lengths(parsed)
            got = (c.raw_keys if c.columnar else c.raw_keys_by_record)(raw, keys, key_index, lengths)
            from_raw = pl.DataFrame({"_rec": raw, "_raw": got})
            from_parsed = from_parsed.join(from_raw, on="_rec", how="left").select(
                "_rec", pl.coalesce("_key", "_raw").alias("_key"))
        return f.select("_rec").join(from_parsed.select("_rec", "_key"), on="_rec", how="left",
                                     maintain_order="left")["_key"].alias("record_key")

    def lead_lengths(parsed: pl.DataFrame) -> dict[int, tuple[int, int]]:
        """Field index → shortest and longest value of the chunk's parsed records, for the fields up to the
        last key column (what a record cut into the wrong number of fields is compared with)."""
        lead = names[:max(key_index) + 1]
        if parsed.height == 0:
            return {}
        n = [pl.col(x).fill_null("").str.len_chars() for x in lead]
        row = parsed.select(*[e.min().alias(f"a{i}") for i, e in enumerate(n)],
                            *[e.max().alias(f"b{i}") for i, e in enumerate(n)]).row(0)
        k = len(lead)
        return {i: (row[i], row[k + i]) for i in range(k)}

    def find(data: bytes, eof: bool, cut: bool = False) -> Records:
        return find_records(data, eof=eof, delimiter=layout.delimiter, quote=layout.quote,
                            quoted_newlines=layout.quoted_newlines, n_fields=len(read.names), encoding=enc, cut=cut)

    def check_header(c: _Chunk) -> None:
        import csv

        i = 0
        try:
            text = c.raw(i).decode(enc)
            got = next(csv.reader([text], delimiter=layout.delimiter, quotechar=layout.quote or '"',
                                  quoting=csv.QUOTE_MINIMAL if layout.quote else csv.QUOTE_NONE))
        except (UnicodeDecodeError, StopIteration):
            got = [c.shown(i)]
        if layout.trailing_delimiter and c.kind[i] == RECORD and [g.strip() for g in got] == names:
            raise LayoutError(f"{source_name}: the header of {path.name} does not end with a delimiter, and layout "
                              f"{layout.name} says trailing_delimiter: true (every line ends with one, the header "
                              "too): leave that out of the layout if the file's lines do not", run_id=run_id,
                              ja=f"{source_name}: {path.name} の見出し行が区切り文字で終わっていません (レイアウト "
                                 f"{layout.name} は trailing_delimiter: true: 見出し行も含め各行が区切り文字で終わります)。"
                                 "ファイルの行がそうでなければレイアウトから外してください")
        if c.kind[i] != RECORD or [g.strip() for g in got] != ([*names, ""] if layout.trailing_delimiter else names):
            # the first line may be a record (a file without its header): its values are shown only when
            # it is the header with some names changed: at least half of the layout's names found in it as
            # they are, every field a name (text, not empty, no number or date in it). A record's fields
            # (鈴木, 花子, ｽｽﾞｷ) are text too: only the names it shares with the layout tell a header apart
            import re

            fields = [g.strip() for g in got]
            wrong = [k for k, (g, n) in enumerate(zip(fields, names)) if g != n]
            value = re.compile(r"^[\s0-9０-９.,:/+\-]*$|[0-9０-９]{3}")   # a number, a date, a code, empty
            shared = len(set(fields) & set(names))
            if c.kind[i] == RECORD and fields and 2 * shared >= len(names) \
                    and not any(value.search(g) for g in fields):
                found = "; ".join(f"{k + 1}: expected {names[k]!r}, found {fields[k][:30]!r}" for k in wrong[:3])
                found_ja = "; ".join(f"{k + 1} 番目: {names[k]!r} のところ {fields[k][:30]!r}" for k in wrong[:3])
                raise LayoutError(f"{source_name}: the first line of {path.name} is not the header of layout "
                                  f"{layout.name} ({len(got)} fields for {len(names)} names; fields "
                                  f"{[k + 1 for k in wrong[:5]] or '-'} differ: {found or '-'}"
                                  f"{'…' if len(wrong) > 3 else ''})", run_id=run_id,
                                  ja=f"{source_name}: {path.name} の1行目がレイアウト {layout.name} の見出し行と"
                                     f"一致しません (項目 {len(got)} 個、レイアウトの見出しは {len(names)} 個; 異なる項目 "
                                     f"{[k + 1 for k in wrong[:5]] or '-'}: {found_ja or '-'}"
                                     f"{'…' if len(wrong) > 3 else ''}): ファイルの見出し行かレイアウトの列名を確認してください")
            raise LayoutError(f"{source_name}: the first line of {path.name} is not the header of layout "
                              f"{layout.name} ({len(got)} fields for {len(names)} names; fields "
                              f"{[k + 1 for k in wrong[:5]] or '-'} differ; expected there "
                              f"{[names[k] for k in wrong[:5]] or names[:5]}…): a file without a "
                              "header, or another layout? (its values are not shown: they may be a record)",
                              run_id=run_id,
                              ja=f"{source_name}: {path.name} の1行目がレイアウト {layout.name} の見出し行と一致しません "
                                 f"(項目 {len(got)} 個、レイアウトの見出しは {len(names)} 個; 異なる項目 "
                                 f"{[k + 1 for k in wrong[:5]] or '-'}; そこにあるべき見出し "
                                 f"{[names[k] for k in wrong[:5]] or names[:5]}…): 見出し行のないファイルか、別のレイアウトの"
                                 "ファイルではありませんか。見出し行とレイアウト (header・列) を確認してください "
                                 "(1行目の値は記録の可能性があるため表示しません)")
        c.kind[i] = HEADER

    def chunk_rows(offset: int, chunk: bytes, first_line: int, recs: Records | None, eof: bool,
                   is_first: bool) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        """One chunk of whole records → its staging rows and its quarantine rows (no shared state)."""
        recs = recs if recs is not None else find(chunk, eof, cut=True)
        if recs.eof_mark:   # the end-of-file mark right after the last record: not part of it
            chunk = chunk[:len(chunk) - recs.eof_mark]
        c = _Chunk(read, enc, offset, chunk, first_line, recs)
        if recs.eof_mark and len(c.kind):
            c.add(len(c.kind) - 1, {"column": None, "rule": "extract.eof_marker", "value": None,
                                    "message_ja": "ファイルは最後のレコードの直後に DOS のファイル終端記号 (0x1A) で終わります "
                                                  "(レコードの一部ではないので読み飛ばしました)",
                                    "message_en": "the file ends with a DOS end-of-file mark (0x1A) right after the "
                                                  "last record, not part of it: skipped"}, "warning")
        if layout.header and is_first and len(c.kind):
            check_header(c)
        if types:   # header / trailer records left out before any check (their layout differs); unknown type held
            types.csv(c, first=is_first)
        add_issues(c)
        for i in np.flatnonzero(c.kind == BLANK).tolist():
            if recs.stop[i] > recs.start[i]:   # blanks only (records.blank_only): not a record either
                c.add(i, {"column": None, "rule": "extract.blank_line", "value": None,
                          "message_ja": "空白だけの行です (レコードではないので読み飛ばしました)",
                          "message_en": "a line of blanks only (not a record: skipped)"}, "warning")
                continue
            c.add(i, {"column": None, "rule": "extract.blank_line", "value": None,
                      "message_ja": "空行です (レコードではないので読み飛ばしました)",
                      "message_en": "an empty line (not a record: skipped)"}, "warning")
        for i in np.flatnonzero(c.kind == EOF_MARK).tolist():
            c.add(i, {"column": None, "rule": "extract.eof_marker", "value": None,
                      "message_ja": "最終行は DOS のファイル終端記号 (0x1A) です (レコードではないので読み飛ばしました)",
                      "message_en": "the last line is a DOS end-of-file mark (0x1A), not a record: skipped"}, "warning")
        text = c.decode()
        table, idx, invalid = c.parse(text)
        n_invalid_records = 0
        if invalid:
            rec_i, actual, row_text = (list(x) for x in zip(*invalid))
            inv = pl.DataFrame({"_rec": rec_i, "actual": actual, "value": row_text},
                               schema={"_rec": pl.Int64, "actual": pl.Int64, "value": pl.String})
            inv = inv.filter(pl.Series(c.kind[np.asarray(rec_i, np.int64)] == RECORD))
            n_invalid_records = inv.height
            cut = (pl.col("_rec") == len(c.kind) - 1) & recs.unterminated
            c.add_frame(inv.select(
                "_rec", pl.lit("error").alias("severity"), pl.lit(None, pl.String).alias("column"),
                pl.when(cut).then(pl.lit("extract.truncated")).otherwise(pl.lit("extract.field_count")).alias("rule"),
                "value",
                pl.when(cut).then(pl.lit("最終行が途中で切れています (改行がなく項目数が合いません)"))
                .otherwise(pl.format(f"項目数が {{}} 個です (レイアウトでは {n_fields} 個{trail_ja})", "actual"))
                .alias("message_ja"),
                pl.when(cut).then(pl.lit("the last line is cut short (no line break, wrong field count)"))
                .otherwise(pl.format(f"{{}} fields, the layout has {n_fields}{trail_en}", "actual"))
                .alias("message_en")))
        n_records = int(np.count_nonzero(c.kind == RECORD))
        if is_first and layout.trailing_delimiter and table.num_rows == 0 and n_records >= 2 \
                and n_invalid_records == n_records and bool((inv["actual"] == n_fields).all()):
            raise LayoutError(f"{source_name}: none of the first {n_records} records of {path.name} ends with a "
                              f"delimiter, and layout {layout.name} says trailing_delimiter: true: leave that out "
                              "of the layout if the file's lines do not", run_id=run_id,
                              ja=f"{source_name}: {path.name} の先頭の {n_records} 件のどのレコードも区切り文字で終わって"
                                 f"いません (レイアウト {layout.name} は trailing_delimiter: true)。ファイルの行がそうでなければ"
                                 "レイアウトから外してください")
        if is_first and table.num_rows == 0 and n_records >= 2 and n_invalid_records == n_records:
            # every record one field more, that field empty: each line ends with the delimiter, undeclared
            d, qq = layout.delimiter, (layout.quote or "") * 2
            trailing = not layout.trailing_delimiter and inv.select(
                ((pl.col("actual") == n_fields + 1) & (pl.col("value").str.ends_with(d)
                                                       | (pl.lit(bool(qq)) & pl.col("value").str.ends_with(d + qq)))
                 ).all()).item()
            hint_ja, hint_en = (("。どの行も区切り文字で終わり、最後の項目が空です: レイアウトに trailing_delimiter: true "
                                 "を指定してください", f"; every line ends with the delimiter (an empty field "
                                 f"{n_fields + 1}): set trailing_delimiter: true in the layout")
                                if trailing else ("", ""))
            raise LayoutError(
                f"{source_name}: layout {layout.name} ({n_fields} fields) does not match {path.name}: "
                f"none of its first {n_records} records has that many fields{hint_en}", run_id=run_id,
                ja=f"{source_name}: レイアウト {layout.name} ({n_fields} 項目) は {path.name} と一致しません: "
                   f"先頭の {n_records} 件のどのレコードも項目数が {n_fields} 個ではありません "
                   f"(レイアウトと区切り文字 delimiter の指定を確認してください){hint_ja}")
        lines = first_line + recs.line
        df = parsed = _record_bom(pl.from_arrow(table).with_columns(pl.Series("_line", lines[idx])), names[0],
                                  layout.quote, _starts_with(c, np.asarray(idx, np.int64), BOM.encode()))
        found = []
        if layout.header and df.height:
            df, rep = _repeated_header(df, names)
            found.append(rep)
        df, boms = _bom_findings(df, names[0])
        found.append(boms)
        if layout.trailing_delimiter and df.height:
            df, trail = _trailing_field(df, n_fields)
            found.append(trail)
        if may_hold_controls(chunk, text, enc) or may_hold_controls(b"", c.multi_text, enc) or c.multi_text:
            how = (dict(line_breaks=breaks, line_break_hint=LINE_BREAK_HINT) if layout.quoted_newlines
                   # a line break (CR, LF, NEL, U+2028, U+2029) only where line_breaks says; else no record spans
                   # lines: no value holds a CR or LF (NEL, U+2028 or U+2029 it may)
                   else dict(line_breaks=True, unicode_breaks=False))
            df, ctl = control_frame(df, checked, enc, **how)
            found.append(ctl)
            if unread:   # the columns not migrated: listed as warnings, the record stays
                ctl = control_frame(df, unchecked, enc, **how)[1]
                found.append(pl.DataFrame(collapse_not_held([not_held(f) for f in ctl.to_dicts()]),
                                          schema=ctl.schema | {"severity": pl.String}) if ctl.height else ctl)
        df, over = overlong_frame(df, layout, enc)
        found.append(over)
        for f in found:
            if f.height:
                c.add_frame(f.select(pl.Series("_rec", np.searchsorted(lines, f["source_line"].to_numpy())),
                                     pl.col("severity") if "severity" in f.columns else pl.lit("error").alias("severity"),
                                     "column", "rule", "value", "message_ja", "message_en"))
        f = c.findings()
        if f.height == 0:
            return to_staging(df.select("_line", *names), layout, path.name, base), None
        if not sample.full:   # the bytes of (a few of) the records that did not decode: which encoding reads them
            bad = f.filter(pl.col("rule") == "extract.decode")["_rec"].unique(maintain_order=True)
            sample.add([c.raw(i) for i in bad.head(LIKELY_PER_CHUNK).to_list()])
        rec = f["_rec"].to_numpy()
        f = f.with_columns(pl.Series("source_line", lines[rec]), pl.Series("_at", offset + recs.start[rec]))
        stray = (pl.col("rule") == "extract.stray_quote") & pl.col("column").is_not_null() & (pl.col("column") != "")
        if f.select(stray.any()).item():   # the stray quote's value: the field as staged
            value = pl.lit(None, pl.String)
            for n in names:
                value = pl.when(pl.col("column") == n).then(pl.col(f"_s_{n}")).otherwise(value)
            f = f.join(df.select("_line", *[pl.col(n).alias(f"_s_{n}") for n in names]), left_on="source_line",
                       right_on="_line", how="left", maintain_order="left").with_columns(
                pl.when(stray).then(value).otherwise(pl.col("value")).alias("value"))
        f = f.with_columns(record_keys(c, f, parsed, lines))
        out = f.select(
            "severity", pl.when(pl.col("column") != _TRAIL).then(pl.col("column")).alias("column"), "rule", "value",
            pl.concat_str([pl.col("message_ja"), pl.format(" (行の位置: ファイル先頭から {} バイト目)", "_at")])
            .alias("message_ja"),
            pl.concat_str([pl.col("message_en"), pl.format(" (line starts at file offset {})", "_at")])
            .alias("message_en"),
            "source_line",
            pl.when(pl.col("rule").is_in([*NOT_A_RECORD, REPEATED_HEADER])).then(None)
            .otherwise(pl.col("record_key")).alias("record_key"))
        df = df.select("_line", *names)
        return to_staging(df, layout, path.name, base), out

    def add_issues(c: _Chunk) -> None:
        """The record finder's findings (quoting: a quote left open, text after a closing quote, a quoted line
        break where the layout has none, a quote inside an unquoted field), in the order it listed them."""
        recs = c.recs
        items = []
        for i, issue in recs.issues.items():
            if c.kind[i] == HEADER:
                continue
            whole = issue.severity == "error"
            items.append((i, {"column": None if whole or issue.field is None or issue.field >= n_fields
                              else names[issue.field],
                              "rule": issue.rule, "value": c.shown(i) if whole else None,
                              "message_ja": issue.ja, "message_en": issue.en, "severity": issue.severity}))
        if recs.strays is None:
            for i, d in items:
                c.add(i, d)
            return
        # quotes inside unquoted fields found in bulk: listed among the others by record (after the quoted line
        # breaks the finder lists first, when the layout has none)
        si, sf = recs.strays
        keep = (c.kind[si] != HEADER) & ~((sf == 0) & _bom_quote(c, si))
        si, sf = si[keep], sf[keep]
        first = np.zeros(len(items), bool)
        if recs.multi is not None and not layout.quoted_newlines and items:
            first = recs.multi[np.asarray([i for i, _ in items], np.int64)]
        dicts = _finding_frame(items).with_columns(pl.Series("_first", first, dtype=pl.Boolean))
        strays = pl.DataFrame({"_rec": si, "_field": sf}, schema={"_rec": pl.Int64, "_field": pl.Int64}).select(
            "_rec", pl.lit("warning").alias("severity"),
            pl.col("_field").replace_strict(list(range(n_fields)), names, default=None, return_dtype=pl.String)
            .alias("column"),
            pl.lit(STRAY_QUOTE.rule).alias("rule"), pl.lit(None, pl.String).alias("value"),
            pl.lit(STRAY_QUOTE.ja).alias("message_ja"), pl.lit(STRAY_QUOTE.en).alias("message_en"),
            pl.lit(False).alias("_first"))
        both = pl.concat([dicts, strays]).with_row_index("_seq")
        c.add_frame(both.sort(~pl.col("_first"), pl.when("_first").then("_seq").otherwise("_rec"), "_seq"))

    def jobs():
        for i, (offset, chunk, line, recs, eof) in enumerate(
                iter_chunks(path, chunk_bytes, skip=skip, quote=layout.quote, find=find, source_name=source_name)):
            yield offset, chunk, line, recs, eof, i == 0

    def staged():
        nonlocal rows_ok
        for df, bad in in_order(chunk_rows, jobs()):   # one chunk decodes while the one before is parsed
            if bad is not None:
                bad_rows.append(bad)
            rows_ok += df.height
            yield df

    sink_batches(staged(), staging_schema(layout), out_path)
    found = pl.concat(bad_rows) if bad_rows else pl.DataFrame()
    likely = sample.likely(enc)   # every undecodable record reads in one other encoding: the layout's is wrong
    found = with_likely_encoding(found, likely)
    quarantine = quarantine_frame(found, run_id=run_id, dantai_code=dantai_code, target_table=target_table,
                                    origin=path.name, base=base)
    result = file_result(source_name=source_name, path=path, out_path=out_path, rows_ok=rows_ok,
                         quarantine=quarantine, seconds=time.perf_counter() - t0, size=size, encoding=enc)
    if likely:
        result.extra["likely_encoding"] = likely
    return types.finish(result, path) if types else result   # the trailer's count checked: a mismatch stops the run
