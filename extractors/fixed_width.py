"""Fixed-width legacy records whose field widths are BYTES (CP932 …), vectorised per chunk.

Why not decode the line first and cut by characters: the widths are bytes, and one double-byte
character is one character but two bytes. So records are cut as bytes with numpy (one gather
per column, no Python per row), then each column is decoded once: its fields joined by a line
break (0x0A is never a trail byte in the Shift_JIS family, so a field ending in a lone lead byte
cannot swallow its neighbour). The codec's replacement character U+FFFD cannot come from valid
CP932, so it marks exactly the bad fields: undecodable bytes, or a double-byte character cut in
half by the field boundary (a field ending in a lead byte). Those rows are quarantined with
their line, byte offset and column. So are values holding characters that are not text (NUL,
TAB, ESC, a CR or LF inside a back-to-back record, C1 controls, the bytes CP932 does not define: see
`extractors.checks`); an empty line, or one of pad blanks only, is not a record (`extract.blank_line`, a
warning), nor is a
DOS end-of-file mark (0x1A bytes ending the file, on a line of their own or right after the last
record). Every finding says where its record starts in the file.

The blanks that pad a field to its width are format, not data: trailing half-width and full-width
(「　」, a double-byte field's pad) blanks are trimmed at extract unless the layout says `pad: keep`;
leading ones are kept (a right-aligned value). The staging, and so the diff's legacy side, holds the value.
Two or more of them inside a value read are listed (`extract.inner_padding`, a warning: checks.inner_padding_frame):
with two neighbouring widths off by the same amount, every record has the right length and its 氏名 ends in its
padding and the first bytes of the next field.
"""
from __future__ import annotations

from collections.abc import Collection

import time
from pathlib import Path

import numpy as np
import polars as pl

from ikou.extractors.checks import (EncodingSample, collapse_not_held, control_findings, inner_padding_frame,
                                   may_hold_controls, not_held, overlong_findings, split_unread, with_likely_encoding)
from ikou.extractors.csv_file import (
    CHUNK_BYTES,
    quarantine_frame,
    check_source_file,
    staging_schema,
    to_staging,
)
from ikou.extractors.keys import NOT_A_RECORD, key_columns_of, key_expr, readable_key
from ikou.extractors.layout import Layout
from ikou.extractors.record_types import record_types
from ikou.extractors.chunks import in_order
from ikou.staging import row_id_base, sink_batches
from ikou.extractors.records import MAX_LINE_BYTES, _lines, blank_only, count_lines
from ikou.extractors.result import ExtractResult, file_result
from ikou.errors import LayoutError

_LF, _CR = 0x0A, 0x0D
PAD_BLANKS = " \u3000"   # what pads a field to its width: half-width blanks, and a double-byte field's 「　」


def _is_lead(b: np.ndarray) -> np.ndarray:
    """Shift_JIS lead bytes (0x81–0x9F, 0xE0–0xFC)."""
    return ((b >= 0x81) & (b <= 0x9F)) | ((b >= 0xE0) & (b <= 0xFC))


def _line_bounds(arr: np.ndarray, rec: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, without its line end) of every line in a chunk of whole lines. A line ends
    at CR LF or LF, and at a lone CR in a file without LF (classic Mac, some host transfers) or where the
    line before the CR is one record long (a record whose LF was lost does not glue the next one to it). A
    lone CR inside a record of a LF file (a 0x0D byte in a FILLER) is a byte of the record, held as a control
    character with its record, not a line end that would split one person into two records."""
    starts, ends, _, _ = _lines(arr, eof=True)
    if len(starts) < 2 or not (arr == 0x0A).any():
        return starts, ends
    nxt = np.minimum(ends + 1, len(arr) - 1)
    lone_cr = (ends < len(arr)) & (arr[np.minimum(ends, len(arr) - 1)] == 0x0D) & ~(
        (ends + 1 < len(arr)) & (arr[nxt] == 0x0A))
    join = lone_cr[:-1] & ((ends - starts)[:-1] != rec)   # line i continues into line i + 1
    group = np.concatenate([[0], np.cumsum(~join)])
    first = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
    last = np.concatenate([first[1:] - 1, [len(starts) - 1]])
    return starts[first], ends[last]


def _line_chunks(path: Path, chunk_bytes: int, max_line_bytes: int = MAX_LINE_BYTES):
    """Yield (offset, bytes) chunks that end on a line end, LF or CR (the last one may not); a CR ending
    a block waits for the next byte (its LF).

    A line longer than `max_line_bytes` stops the read (LayoutError): a file without line breaks is not
    held in memory whole.
    """
    with open(path, "rb") as f:
        offset, carry = 0, b""
        while True:
            block = f.read(chunk_bytes)
            if not block:
                if carry:
                    yield offset, carry
                return
            data = carry + block
            # at the last LF; at a CR only in a file without LF (a lone CR may be a byte of a record: _line_bounds)
            cut = data.rfind(b"\n")
            cut = cut if cut != -1 else data.rfind(b"\r", 0, len(data) - 1)
            if cut == -1:
                if len(data) > max_line_bytes:
                    raise LayoutError(f"{path.name}: no line break (LF or CR) in {len(data):,} bytes from file offset "
                                      f"{offset:,}: records without terminators (`record_terminator: none`)?",
                                      ja=f"{path.name}: ファイル先頭から {offset:,} バイト目以降の {len(data):,} バイトに"
                                         "改行 (LF・CR) がありません: レコードが改行なしで続くファイルなら、レイアウトに "
                                         "`record_terminator: none` を指定してください")
                carry = data
                continue
            yield offset, data[: cut + 1]
            offset += cut + 1
            carry = data[cut + 1:]


def _record_chunks(path: Path, rec: int, chunk_bytes: int):
    """Yield (offset, bytes) chunks of whole records for records without terminators; only the last
    chunk may end in a partial record."""
    step = max(rec, chunk_bytes - chunk_bytes % rec)
    with open(path, "rb") as f:
        offset = 0
        while block := f.read(step):
            yield offset, block
            offset += len(block)


def _record_bounds(arr: np.ndarray, rec: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of every record in a chunk of back-to-back records (a partial last one too)."""
    starts = np.arange(0, len(arr), rec, dtype=np.int64)
    return starts, np.minimum(starts + rec, len(arr))


# Bytes that may join the fields of a column for one decode call: below 0x40, so never the second
# byte of a double-byte character; LF first, another one when a field holds an LF (back-to-back records).
_SEPARATORS = [_LF, 0x1F, 0x1E, 0x1D, 0x1C, 0x00]


def _column_text(arr: np.ndarray, starts: np.ndarray, offset: int, width: int,
                 encoding: str) -> tuple[pl.Series, bool]:
    """Gather one column's bytes for every record, decode them in one call, split per record; and say
    whether the text may hold a character that is not text (CP932's undefined bytes show only there)."""
    n = len(starts)
    idx = starts[:, None] + offset + np.arange(width)
    block = np.empty((n, width + 1), dtype=np.uint8)
    block[:, :width] = arr[idx]
    sep = next((b for b in _SEPARATORS if not (block[:, :width] == b).any()), None)
    if sep is None:   # every candidate occurs in the column (never seen): decode field by field
        values = [bytes(r).decode(encoding, errors="replace") for r in block[:, :width]]
        return pl.Series("v", values, pl.String), True
    block[:, width] = sep
    text = block.tobytes().decode(encoding, errors="replace")
    s = pl.Series("v", [text]).str.split(chr(sep)).explode()
    return s.head(n), may_hold_controls(b"", text, encoding)


def _bad_field_rows(arr, starts, lines, chunk_offset, col, offset, width, bad_mask, encoding) -> list[dict]:
    out = []
    last_byte = arr[starts[bad_mask] + offset + width - 1]
    for s, line, lead in zip(starts[bad_mask], lines[bad_mask], _is_lead(last_byte)):  # bad rows only
        raw = arr[s + offset: s + offset + width].tobytes()
        shown = raw.decode(encoding, errors="backslashreplace")
        at = chunk_offset + int(s) + offset
        if lead:
            rule, ja, en = ("extract.split_character",
                            f"項目の末尾で2バイト文字が切れています (ファイル先頭から {at} バイト目の項目)",
                            f"a double-byte character is cut in half by the field end (field at file offset {at})")
        else:
            rule, ja, en = ("extract.decode", f"{encoding} として読めないバイト列があります (ファイル先頭から {at} バイト目の項目)",
                            f"bytes are not valid {encoding} (field at file offset {at})")
        out.append({"source_line": int(line), "column": col, "rule": rule, "value": shown,
                    "message_ja": ja, "message_en": en})
    return out


def _check_terminators(path: Path, layout: Layout, source_name: str, run_id: str, size: int) -> None:
    """Say so when the file and the layout disagree on line breaks, before reading it all: a file
    without them would otherwise be one line as long as the file."""
    rec = layout.record_bytes
    with open(path, "rb") as f:
        head = f.read(max(rec + 2, 1 << 16))
    if layout.record_terminator == "line" and b"\n" not in head and b"\r" not in head and size > rec + 2:
        raise LayoutError(
            f"{source_name}: {path.name} has no line break in its first {len(head):,} bytes, but layout "
            f"{layout.name} expects one after every {rec}-byte record: if the records follow each other "
            "directly, set `record_terminator: none` in the layout", run_id=run_id,
            ja=f"{source_name}: {path.name} の先頭 {len(head):,} バイトに改行がありませんが、レイアウト {layout.name} "
               f"では {rec} バイトのレコードごとに改行があるはずです: レコードが改行なしで続くファイルなら、"
               "レイアウトに `record_terminator: none` を指定してください")
    if layout.record_terminator == "none" and head[rec:rec + 1] in (b"\r", b"\n"):
        raise LayoutError(
            f"{source_name}: {path.name} has a line break right after its first {rec}-byte record, but layout "
            f"{layout.name} says records have no terminator (`record_terminator: none`)", run_id=run_id,
            ja=f"{source_name}: {path.name} は最初の {rec} バイトのレコードの直後に改行がありますが、レイアウト "
               f"{layout.name} はレコードに改行がない (`record_terminator: none`) としています: "
               "レイアウトの record_terminator を確認してください")


def _last_flagged(chunks):
    """(chunk, is it the file's last) for each chunk."""
    prev = None
    for c in chunks:
        if prev is not None:
            yield prev, False
        prev = c
    if prev is not None:
        yield prev, True


def extract_fixed(path: Path, layout: Layout, *, out_path: Path, source_name: str, source_ordinal: int,
                  target_table: str, run_id: str, dantai_code: str, encoding: str | None = None,
                  chunk_bytes: int = CHUNK_BYTES, key_columns: list[str] | None = None,
                  unread_columns: Collection[str] = ()) -> ExtractResult:
    """Stream fixed-width records to Parquet staging; fields verbatim but for their trailing pad blanks
    (layout `pad`). A bad value in one of `unread_columns` (no mapping line reads it: a FILLER of NUL or
    0xFF bytes) is a warning and holds nothing (checks.not_held); a key column is always checked.

    Records end with a line break (CR LF, LF or a lone CR, mixed if need be), or, with the layout's
    `record_terminator: none`, follow each other directly; then `source_line` is the record's number, a
    short last record is `extract.truncated`, and a run of records shifted by a byte missing or extra
    before them is named where it starts (`extract.misaligned`). 0x1A bytes ending the file are the DOS
    end-of-file mark, whatever precedes them. A held record's rows carry its `record_key`
    (extractors.keys) from `key_columns`, default the layout's key: null when a key value is not text,
    and, for a record of the wrong length or back to back, when the columns before the key do not hold
    values the staged records hold (`wrong_length_keys`, `trusted_lead`).
    """
    t0 = time.perf_counter()
    path = Path(path)
    if layout.format != "fixed":
        raise LayoutError(f"{source_name}: layout {layout.name} is format {layout.format}, not fixed", run_id=run_id,
                          ja=f"{source_name}: レイアウト {layout.name} の形式は {layout.format} で、固定長 (fixed) では"
                             "ありません: ソースに合うレイアウトを指定してください")
    size = check_source_file(path, source_name, run_id)
    enc = encoding or layout.encoding
    rec = layout.record_bytes
    offsets = np.concatenate([[0], np.cumsum([c.width for c in layout.columns])[:-1]]).tolist()
    base = row_id_base(source_ordinal)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    bad_rows: list[dict] = []
    sample = EncodingSample()   # undecodable fields' bytes (bounded): the encoding they read in, if one
    rows_ok = 0
    unterminated = layout.record_terminator == "none"
    _check_terminators(path, layout, source_name, run_id, size)
    keys = key_columns_of(layout, key_columns, source_name=source_name, run_id=run_id)
    unread = set(unread_columns) - set(keys) - set(layout.key)
    checked, unchecked = split_unread(layout, unread)
    types = record_types(layout, enc, source_name=source_name, run_id=run_id)   # header / trailer records
    at_of = dict(zip(layout.names, zip(offsets, (c.width for c in layout.columns))))
    lead = layout.names[:max(layout.names.index(k) for k in keys) + 1] if keys else []
    key_end = sum(at_of[n][1] for n in lead)

    def unpad(text: pl.Series) -> pl.Series:
        return text.str.strip_chars_end(PAD_BLANKS) if layout.pad == "trim" else text

    def wrong_length_keys(arr: np.ndarray, starts: np.ndarray, lines: np.ndarray, lengths: np.ndarray,
                          clean: pl.DataFrame) -> dict[int, str | None]:
        """The keys of records of the wrong length, read where the layout puts them when the record holds
        every byte up to its last key column, each decoding cleanly. A byte missing or extra after them
        moves nothing before it; one before or inside them would shift the key, which a shifted code
        rarely shows. So every column before the last key column that is not a key (団体コード, a
        record type) must hold a value the chunk's well-formed records hold there: a shift through it
        shows. Otherwise (or with no key columns) no key: nothing is read from bytes that may be shifted."""
        out: dict[int, str | None] = dict.fromkeys(lines.tolist())
        has = lengths >= key_end
        if not keys or not has.any():
            return out
        at = starts[has]
        got = pl.DataFrame({"_line": lines[has], **{
            n: unpad(_column_text(arr, at, at_of[n][0], at_of[n][1], enc)[0]).alias(n) for n in lead}})
        ok = readable_key(lead) & trusted_lead(clean)
        out.update(got.select("_line", pl.when(ok).then(key_expr(keys))).iter_rows())
        return out

    def trusted_lead(clean: pl.DataFrame) -> pl.Expr:
        """Every column before the last key column that is not a key (団体コード, a record type) holds a value
        the chunk's staged records (`clean`) hold there: a byte missing or extra before the key shows there."""
        return pl.all_horizontal([pl.lit(True), *[pl.col(n).is_in(clean[n].unique().implode())
                                                  for n in lead if n not in keys]])

    def misaligned(full: pl.DataFrame, clean: pl.DataFrame) -> list[dict]:
        """Back-to-back records: a finding on the first of each run of two or more records whose columns
        before the key hold values no staged record holds (`trusted_lead`): a byte missing or extra in an
        earlier record shifted them, so their values and keys are not where the layout says."""
        checked = [n for n in lead if n not in keys]
        if not checked or clean.height == 0 or full.height < 2:
            return []
        m = ~trusted_lead(clean)
        runs = (full.select("_line", m.alias("_m"))
                .with_columns((pl.col("_m") & ~pl.col("_m").shift(1, fill_value=False)).cum_sum().alias("_run"))
                .filter("_m").group_by("_run").agg(pl.col("_line").min().alias("first"),
                                                  pl.col("_line").max().alias("last"), pl.len().alias("n"))
                .filter(pl.col("n") >= 2).sort("first"))
        out = []
        for first, last_, n in runs.select("first", "last", "n").iter_rows():   # one per run: a few
            ja_from, en_from = ((f"記録 {first - 1} かそれより前", f"record {first - 1} or before") if first > 1
                                else ("ファイルの先頭", "the start of the file"))
            out.append({"source_line": first, "column": None, "rule": "extract.misaligned", "value": None,
                        "message_ja": f"記録 {first} から記録 {last_} までの {n} 件は、キーより前の項目 "
                                      f"({', '.join(checked)}) に他のレコードにない値があります: {ja_from}で"
                                      "バイトが欠けているか余分にあり、以降のレコードの位置がずれている可能性があります "
                                      "(これらの記録のキーは読めないものとします)",
                        "message_en": f"records {first} to {last_} ({n}) hold values no other record holds in the "
                                      f"columns before the key ({', '.join(checked)}): a byte is probably missing or "
                                      f"extra in {en_from}, so the records from {first} on are shifted (their keys "
                                      "are taken as unreadable)"})
        return out

    def chunk_rows(chunk_offset: int, chunk: bytes, line: int, first: bool,
                   last: bool) -> tuple[pl.DataFrame, list[dict]]:
        """One chunk of whole records → its staging rows and its bad records (no shared state)."""
        bad_rows: list[dict] = []
        mark = len(chunk) - len(chunk.rstrip(b"\x1a")) if last else 0
        if mark and (unterminated or (mark < len(chunk) and chunk[-mark - 1] not in b"\r\n")):
            # the end-of-file mark right after the last record (a mark on its own line is a line, below)
            chunk = chunk[:-mark]
            at = chunk_offset + len(chunk)
            bad_rows.append({"source_line": line + (len(chunk) // rec if unterminated else count_lines(chunk)),
                             "column": None, "rule": "extract.eof_marker", "value": None, "severity": "warning",
                             "_at": at,
                             "message_ja": f"ファイルはファイル先頭から {at} バイト目からの DOS のファイル終端記号 (0x1A) "
                                           "で終わります (レコードの一部ではないので読み飛ばしました)",
                             "message_en": f"the file ends with a DOS end-of-file mark (0x1A) at file offset {at}, "
                                           "not part of a record: skipped"})
        arr = np.frombuffer(chunk, dtype=np.uint8)
        starts, ends = _record_bounds(arr, rec) if unterminated else _line_bounds(arr, rec)
        lines = np.arange(line, line + len(starts), dtype=np.int64)
        record_at = starts + chunk_offset          # where each record (line) starts in the file
        ok = (ends - starts) == rec
        if not unterminated:   # a line of pad blanks only, of any length: not a record, like an empty line
            blank = blank_only(arr, starts, ends, enc, chars=PAD_BLANKS)
            for ln in lines[blank].tolist():   # the blank lines only
                bad_rows.append({"source_line": ln, "column": None, "rule": "extract.blank_line", "value": None,
                                 "severity": "warning",
                                 "message_ja": "空白だけの行です (レコードではないので読み飛ばしました)",
                                 "message_en": "a line of blanks only (not a record: skipped)"})
            if blank.any():
                starts, ends, lines, ok = starts[~blank], ends[~blank], lines[~blank], ok[~blank]
        if types:   # header / trailer records leave before any check (their layout differs); an unknown type is held
            keep = types.fixed(arr, starts, ends, lines, chunk_offset=chunk_offset, first=first, last=last,
                               findings=bad_rows)
            starts, ends, lines, ok = starts[keep], ends[keep], lines[keep], ok[keep]
        n_blank = 0
        last_of_file = last
        wrong: list[tuple[int, int, int]] = []   # (start, line, length) of the records of a wrong length
        for s, e, ln in zip(starts[~ok], ends[~ok], lines[~ok]):   # wrong-length lines only
            raw = chunk[s:e]
            if e == s:         # an empty line: not a record
                n_blank += 1
                bad_rows.append({"source_line": int(ln), "column": None, "rule": "extract.blank_line", "value": None,
                                 "severity": "warning", "message_ja": "空行です (レコードではないので読み飛ばしました)",
                                 "message_en": "an empty line (not a record: skipped)"})
            elif ln == lines[-1] and last_of_file and not raw.strip(b"\x1a"):
                n_blank += 1   # the DOS end-of-file mark: not a record
                bad_rows.append({"source_line": int(ln), "column": None, "rule": "extract.eof_marker", "value": None,
                                 "severity": "warning",
                                 "message_ja": "最後は DOS のファイル終端記号 (0x1A) です (レコードではないので読み飛ばしました)",
                                 "message_en": "the file ends with a DOS end-of-file mark (0x1A), "
                                               "not a record: skipped"})
            else:
                if unterminated:   # only the file's last record can be short
                    rule, ja, en = ("extract.truncated", f"最後のレコードが {e - s} バイトで切れています",
                                    f"the last record is cut short at {e - s} bytes")
                else:
                    rule, ja, en = ("extract.record_length", f"レコード長が {e - s} バイトです",
                                    f"record is {e - s} bytes")
                wrong.append((int(s), int(ln), int(e - s)))
                bad_rows.append({
                    "source_line": int(ln), "column": None, "rule": rule,
                    "value": raw.decode(enc, errors="backslashreplace"),
                    "message_ja": f"{ja} (レイアウトでは {rec} バイト)", "message_en": f"{en}, the layout has {rec}",
                })
        if first and len(starts) - n_blank >= 2 and not ok.any():
            raise LayoutError(f"{source_name}: layout {layout.name} ({rec} bytes per record) does not match "
                              f"{path.name}: none of its first {len(starts)} lines has that length", run_id=run_id,
                              ja=f"{source_name}: レイアウト {layout.name} (レコード長 {rec} バイト) は {path.name} と"
                                 f"一致しません: 先頭の {len(starts)} 行のどれもその長さではありません "
                                 "(レイアウトの各列の幅とエンコーディングを確認してください)")
        starts, lines = starts[ok], lines[ok]
        cols: dict[str, pl.Series] = {"_line": pl.Series("_line", lines)}
        bad_any = np.zeros(len(starts), dtype=bool)
        suspect = may_hold_controls(chunk, "", enc) or \
            unterminated and (b"\n" in chunk or b"\r" in chunk) or \
            chunk.count(b"\r") != chunk.count(b"\r\n")   # C0 controls, a CR or LF inside a record (a lone CR)
        for c, off in zip(layout.columns, offsets):
            text, odd = _column_text(arr, starts, off, c.width, enc)
            suspect = suspect or odd
            bad = text.str.contains("\ufffd", literal=True).to_numpy()
            if bad.any() and c.name in unread:
                # bytes that are no character hold nothing here: a field is cut by its bytes. But a character cut by
                # the field's end runs on into the next field, whose value would be read shifted: held, as ever
                split = bad & _is_lead(arr[starts + off + c.width - 1])
                bad_rows += _bad_field_rows(arr, starts, lines, chunk_offset, c.name, off, c.width, split, enc)
                bad_any |= split
                bad_rows += collapse_not_held([not_held(f) for f in _bad_field_rows(
                    arr, starts, lines, chunk_offset, c.name, off, c.width, bad & ~split, enc)])
            elif bad.any():
                bad_rows += _bad_field_rows(arr, starts, lines, chunk_offset, c.name, off, c.width, bad, enc)
                bad_any |= bad
            cols[c.name] = unpad(text).alias(c.name)
        df = full = pl.DataFrame(cols)
        df = df.filter(pl.Series(~bad_any))
        if suspect:   # characters that are not text (NUL, TAB, ESC, a CR inside a record …)
            df, ctl = control_findings(df, checked, enc, line_breaks=False)
            bad_rows += ctl
            if unread:   # the columns not migrated: listed, the record stays
                bad_rows += collapse_not_held([not_held(f) for f in control_findings(df, unchecked, enc,
                                                                                   line_breaks=False)[1]])
        df, over = overlong_findings(df, layout, enc)
        bad_rows += over
        # pad blanks inside a value read (a warning, the record stays): a width off by as much as its neighbour's
        bad_rows += inner_padding_frame(df, checked, PAD_BLANKS).to_dicts()
        w = np.array(wrong, dtype=np.int64).reshape(-1, 3)
        key_of = wrong_length_keys(arr, w[:, 0], w[:, 1], w[:, 2], df)   # df: the staged records
        if unterminated and keys:
            bad_rows += misaligned(full, df)
        if keys and bad_rows:   # a key value that is not text gives no key (key_expr); back to back, a record
            # may be shifted by a byte missing or extra before it: its key only when the columns before it are
            # trusted, as for a record of the wrong length (a line's start anchors its key: no such doubt)
            at = [f["source_line"] for f in bad_rows if f["source_line"] not in key_of]
            key_of.update(full.filter(pl.col("_line").is_in(at)).select(
                "_line", pl.when(trusted_lead(df) if unterminated else pl.lit(True)).then(key_expr(keys))
            ).iter_rows())
        for f in bad_rows:
            f["record_key"] = None if f["rule"] in NOT_A_RECORD else key_of.get(f["source_line"])
            if f.pop("_at", None) is not None:
                continue   # the end-of-file mark says where it is
            at = int(record_at[f["source_line"] - line])
            if f["rule"] == "extract.decode" and f.get("column") in at_of and not sample.full:
                off, width = at_of[f["column"]]   # the field's bytes: which encoding reads them (bounded)
                sample.add([chunk[at - chunk_offset + off:at - chunk_offset + off + width]])
            f["message_ja"] += f" (行の位置: ファイル先頭から {at} バイト目)"
            f["message_en"] += f" (record starts at file offset {at})"
        return to_staging(df, layout, path.name, base), bad_rows

    def jobs():
        line = 1
        chunks = _record_chunks(path, rec, chunk_bytes) if unterminated else _line_chunks(path, chunk_bytes)
        for i, ((chunk_offset, chunk), last) in enumerate(_last_flagged(chunks)):
            yield chunk_offset, chunk, line, i == 0, last
            line += (-(-len(chunk) // rec) if unterminated   # = its records, a partial last one included
                     else count_lines(chunk) + (0 if chunk.endswith((b"\n", b"\r")) else 1))

    def staged():
        nonlocal rows_ok
        for df, bad in in_order(chunk_rows, jobs()):   # chunks decode two at a time, yielded in order
            bad_rows.extend(bad)
            rows_ok += df.height
            yield df

    sink_batches(staged(), staging_schema(layout), out_path)
    quarantine = quarantine_frame(bad_rows, run_id=run_id, dantai_code=dantai_code, target_table=target_table,
                                    origin=path.name, base=base)
    likely = sample.likely(enc)   # every undecodable field reads in one other encoding: the layout's is wrong
    quarantine = with_likely_encoding(quarantine, likely)
    result = file_result(source_name=source_name, path=path, out_path=out_path, rows_ok=rows_ok,
                         quarantine=quarantine, seconds=time.perf_counter() - t0, size=size, encoding=enc)
    if likely:
        result.extra["likely_encoding"] = likely
    return types.finish(result, path) if types else result   # the trailer's count checked: a mismatch stops the run
