"""Delimited legacy files (中間標準レイアウト CSV …) described by a layout, read in bounded chunks.

Why not one `read_csv(encoding='cp932')`: one undecodable byte or one short row would fail the
whole file, or (utf8-lossy) silently corrupt it. Here each chunk is decoded by Python's codec at C
speed; a line that does not decode is cut out and quarantined with its line, byte offset and
column. Each remaining line is prefixed with its physical line number (a vectorised Polars
`format`), so pyarrow's parser can tell us exactly which line had the wrong number of fields.
Lines with NUL bytes and fields longer than the layout's `max_bytes` (counted in bytes of the
source encoding) are quarantined too; a last line cut short is `extract.truncated`. Encodings are
Python codecs (cp932, shift_jis_2004, utf-8 with or without BOM); quoted fields may hold the
delimiter and doubled quotes, not line breaks (legacy exports here never do).
"""
from __future__ import annotations

import io
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from extractors.checks import nul_findings, overlong_findings
from extractors.layout import Layout
from extractors.lineage import (
    ROW_ID,
    SOURCE,
    SOURCE_LINE,
    in_order,
    row_id_base,
    sink_batches,
)
from extractors.result import ExtractResult, file_result
from ikou import quarantine as q
from ikou.errors import LayoutError

# 8 MB: as fast as 32 MB here (3.26 s per 100 MB either way) at half the peak memory (0.5 vs 1.1 GB).
CHUNK_BYTES = 8 << 20


def _bad_line(raw: bytes, line_no: int, line_offset: int, err_pos: int, reason: str,
              layout: Layout, encoding: str) -> dict:
    """Describe an undecodable line: which field holds the bad bytes, shown escaped."""
    delim = layout.delimiter.encode("ascii")
    before = raw[:err_pos]
    field_index = before.count(delim)
    fields = raw.split(delim)
    field_bytes = fields[field_index] if field_index < len(fields) else raw
    column = layout.names[field_index] if field_index < len(layout.names) else None
    shown = field_bytes.decode(encoding, errors="backslashreplace")
    bad_hex = " ".join(f"0x{b:02X}" for b in raw[err_pos:err_pos + 2])
    return {
        "source_line": line_no,
        "column": column,
        "rule": "extract.decode",
        "value": shown,
        "message_ja": f"{encoding} として読めないバイト列 ({bad_hex}) があります (行頭から {err_pos} バイト目, ファイル先頭から {line_offset + err_pos} バイト目)",
        "message_en": f"bytes ({bad_hex}) are not valid {encoding} at byte {err_pos} of the line (file offset {line_offset + err_pos})",
    }


def _decode_chunk(chunk: bytes, encoding: str, first_line: int, chunk_offset: int,
                  layout: Layout) -> tuple[list[tuple[str, int]], list[dict]]:
    """Decode a chunk of whole lines; return decodable segments (text, first line no) and bad lines."""
    segments: list[tuple[str, int]] = []
    bad: list[dict] = []
    pos, line = 0, first_line
    n = len(chunk)
    while pos < n:
        try:
            segments.append((chunk[pos:].decode(encoding), line))
            break
        except UnicodeDecodeError as exc:
            err = pos + exc.start
            ls = max(chunk.rfind(b"\n", pos, err) + 1, pos)
            le = chunk.find(b"\n", err)
            le = n if le == -1 else le + 1
            if ls > pos:
                segments.append((chunk[pos:ls].decode(encoding), line))
                line += chunk.count(b"\n", pos, ls)
            raw = chunk[ls:le].rstrip(b"\r\n")
            bad.append(_bad_line(raw, line, chunk_offset + ls, err - ls, exc.reason, layout, encoding))
            line += 1
            pos = le
    return segments, bad


def _lines_frame(segments: list[tuple[str, int]]) -> pl.DataFrame:
    frames = []
    for text, first in segments:
        s = pl.Series("text", [text]).str.split("\n").explode()
        if text.endswith("\n"):
            s = s.head(s.len() - 1)
        frames.append(pl.DataFrame({"line": pl.int_range(first, first + s.len(), eager=True), "text": s}))
    if not frames:
        return pl.DataFrame(schema={"line": pl.Int64, "text": pl.String})
    df = pl.concat(frames).with_columns(pl.col("line").cast(pl.Int64), pl.col("text").str.strip_suffix("\r"))
    return df


def _parse(lines: pl.DataFrame, layout: Layout) -> tuple[pa.Table, list[dict]]:
    """Parse prefixed lines with pyarrow; rows with a wrong field count come back as quarantine dicts."""
    names = ["_line", *layout.names]
    invalid: list[dict] = []
    delim = layout.delimiter

    def on_invalid(row) -> str:
        line_txt, _, rest = row.text.partition(delim)
        invalid.append({
            "source_line": int(line_txt),
            "column": None,
            "rule": "extract.field_count",
            "value": rest,
            "message_ja": f"項目数が {row.actual_columns - 1} 個です (レイアウトでは {row.expected_columns - 1} 個)",
            "message_en": f"{row.actual_columns - 1} fields, the layout has {row.expected_columns - 1}",
        })
        return "skip"

    if lines.height == 0:
        return pa.table({n: pa.array([], pa.int64() if n == "_line" else pa.string()) for n in names}), invalid
    body = lines.select(pl.format("{}" + delim.replace("{", "{{") + "{}", "line", "text").str.join("\n")).item()
    table = pacsv.read_csv(
        io.BytesIO(body.encode("utf-8")),
        read_options=pacsv.ReadOptions(column_names=names, block_size=16 << 20),
        parse_options=pacsv.ParseOptions(
            delimiter=delim,
            quote_char=layout.quote or False,
            newlines_in_values=False,
            invalid_row_handler=on_invalid,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: (pa.int64() if n == "_line" else pa.string()) for n in names},
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    )
    return table, invalid


def _add_line_offsets(findings: list[dict], chunk: bytes, chunk_offset: int, first_line: int) -> None:
    """Say where in the file each bad line starts (byte offset), computed only when a chunk has some."""
    if not findings:
        return
    import numpy as np

    starts = np.concatenate([[0], np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 0x0A) + 1])
    for f in findings:
        at = chunk_offset + int(starts[f["source_line"] - first_line])
        f["message_ja"] += f" (行の位置: ファイル先頭から {at} バイト目)"
        f["message_en"] += f" (line starts at file offset {at})"


def _iter_chunks(path: Path, chunk_bytes: int):
    """Yield (offset, bytes) chunks that end on a line break (the last one may not)."""
    with open(path, "rb") as f:
        offset, carry = 0, b""
        while True:
            block = f.read(chunk_bytes)
            if not block:
                if carry:
                    yield offset, carry
                return
            data = carry + block
            cut = data.rfind(b"\n")
            if cut == -1:
                carry = data
                continue
            yield offset, data[: cut + 1]
            offset += cut + 1
            carry = data[cut + 1:]


def _finish_quarantine(bad_rows: list[dict], *, run_id: str, dantai_code: str, target_table: str,
                       origin: str, base: int) -> pl.DataFrame:
    quarantine = q.conform(pl.DataFrame(bad_rows, schema_overrides={"source_line": pl.Int64}, infer_schema_length=None)
                           if bad_rows else q.empty())
    return q.conform(quarantine.with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(dantai_code).alias("dantai_code"), pl.lit("extract").alias("stage"),
        pl.lit(target_table).alias("table"), pl.lit(origin).alias("source"),
        (pl.col("source_line") + base).alias("row_id"), pl.lit("error").alias("severity"),
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
        raise LayoutError(f"{source_name}: source file not found: {path}", run_id=run_id)
    size = path.stat().st_size
    if size == 0:
        raise LayoutError(f"{source_name}: source file {path.name} is empty (0 bytes): an export that wrote "
                          "nothing is treated as a failed export", run_id=run_id)
    return size


def _is_utf8(enc: str) -> bool:
    return enc.lower().replace("-", "_") in ("utf_8", "utf8", "utf_8_sig", "u8")


def extract_csv(path: Path, layout: Layout, *, out_path: Path, source_name: str, source_ordinal: int,
                target_table: str, run_id: str, dantai_code: str, encoding: str | None = None,
                chunk_bytes: int = CHUNK_BYTES) -> ExtractResult:
    """Stream a delimited file to Parquet staging in chunks of ~chunk_bytes; bad records quarantined.

    Memory is bounded by the chunk size (plus the bad records), whatever the file size.
    """
    t0 = time.perf_counter()
    path = Path(path)
    size = check_source_file(path, source_name, run_id)
    enc = encoding or layout.encoding
    if _is_utf8(enc):
        enc = "utf-8"   # the BOM, if any, is cut below; utf-8-sig would not see it in later chunks anyway
    try:
        "".encode(enc)
    except LookupError:
        raise LayoutError(f"{source_name}: unknown encoding {enc!r} (layout {layout.name})", run_id=run_id) from None
    base = row_id_base(source_ordinal)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    bad_rows: list[dict] = []
    rows_ok = 0

    def chunk_rows(offset: int, chunk: bytes, first_line: int, is_first: bool) -> tuple[pl.DataFrame, list[dict]]:
        """One chunk of whole lines → its staging rows and its bad records (no shared state)."""
        segments, bad = _decode_chunk(chunk, enc, first_line, offset, layout)
        lines = _lines_frame(segments)
        if layout.header and is_first and lines.height and lines.row(0, named=True)["line"] == 1:
            got = lines.row(0, named=True)["text"].split(layout.delimiter)
            if [g.strip().strip('"') for g in got] != layout.names:
                raise LayoutError(f"{source_name}: header of {path.name} {got[:5]}… does not match layout "
                                  f"{layout.name} {layout.names[:5]}…", run_id=run_id)
            lines = lines.slice(1)
        lines, nul = nul_findings(lines, layout.delimiter, layout)
        table, invalid = _parse(lines, layout)
        if invalid and not chunk.endswith(b"\n"):   # only the file's last chunk can lack it
            last = first_line + chunk.count(b"\n")
            for r in invalid:
                if r["source_line"] == last:
                    r["rule"] = "extract.truncated"
                    r["message_ja"] = "最終行が途中で切れています (改行がなく項目数が合いません)"
                    r["message_en"] = "the last line is cut short (no line break, wrong field count)"
        if is_first and table.num_rows == 0 and lines.height >= 2 and len(invalid) == lines.height:
            raise LayoutError(
                f"{source_name}: layout {layout.name} ({len(layout.names)} fields) does not match {path.name}: "
                f"none of its first {lines.height} lines has that many fields", run_id=run_id)
        df, over = overlong_findings(pl.from_arrow(table), layout, enc)
        _add_line_offsets(nul + invalid + over, chunk, offset, first_line)
        return to_staging(df, layout, path.name, base), bad + nul + invalid + over

    def jobs():
        line = 1
        for i, (offset, chunk) in enumerate(_iter_chunks(path, chunk_bytes)):
            if offset == 0 and _is_utf8(enc) and chunk.startswith(b"\xef\xbb\xbf"):
                chunk, offset = chunk[3:], 3
            yield offset, chunk, line, i == 0
            line += chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)

    def staged():
        nonlocal rows_ok
        for df, bad in in_order(chunk_rows, jobs()):   # one chunk decodes while the one before is parsed
            bad_rows.extend(bad)
            rows_ok += df.height
            yield df

    sink_batches(staged(), staging_schema(layout), out_path)
    quarantine = _finish_quarantine(bad_rows, run_id=run_id, dantai_code=dantai_code, target_table=target_table,
                                    origin=path.name, base=base)
    return file_result(source_name=source_name, path=path, out_path=out_path, rows_ok=rows_ok,
                       quarantine=quarantine, seconds=time.perf_counter() - t0, size=size, encoding=enc)
