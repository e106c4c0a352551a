"""Delimited legacy files (中間標準レイアウト CSV …) described by a layout, read in bounded chunks.

Why not one `read_csv(encoding='cp932')`: one undecodable byte or one short row would fail the
whole file, or (utf8-lossy) silently corrupt it. Here each chunk is decoded by Python's codec at C
speed; a line that does not decode is cut out and quarantined with its line, byte offset and
column. Each remaining line is prefixed with its physical line number (a vectorised Polars
`format`), so pyarrow's parser can tell us exactly which line had the wrong number of fields.
"""
from __future__ import annotations

import io
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from extractors.layout import Layout
from extractors.lineage import ROW_ID, SOURCE, SOURCE_LINE, STAGING_COMPRESSION, row_id_base, sha256_file
from extractors.result import ExtractResult
from ikou import quarantine as q
from ikou.errors import LayoutError

CHUNK_BYTES = 32 << 20


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


def extract_csv(path: Path, layout: Layout, *, out_path: Path, source_name: str, source_ordinal: int,
                target_table: str, run_id: str, dantai_code: str, encoding: str | None = None,
                chunk_bytes: int = CHUNK_BYTES) -> ExtractResult:
    t0 = time.perf_counter()
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"{source_name}: source file not found: {path}", run_id=run_id)
    enc = encoding or layout.encoding
    base = row_id_base(source_ordinal)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(ROW_ID, pa.int64()), (SOURCE, pa.string()), (SOURCE_LINE, pa.int64())]
                       + [(n, pa.string()) for n in layout.names])
    bad_rows: list[dict] = []
    rows_ok = 0
    line = 1
    header_pending = layout.header
    with pq.ParquetWriter(out_path, schema, compression=STAGING_COMPRESSION) as writer:
        for offset, chunk in _iter_chunks(path, chunk_bytes):
            if offset == 0 and enc.lower().replace("-", "_") in ("utf_8", "utf8", "utf_8_sig"):
                if chunk.startswith(b"\xef\xbb\xbf"):
                    chunk = chunk[3:]
                    offset = 3
            segments, bad = _decode_chunk(chunk, enc, line, offset, layout)
            line += chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
            bad_rows += bad
            lines = _lines_frame(segments)
            if header_pending and lines.height:
                header = lines.row(0, named=True)
                if header["line"] == 1:
                    got = header["text"].split(layout.delimiter)
                    if [g.strip().strip('"') for g in got] != layout.names:
                        raise LayoutError(f"{path.name}: header {got[:5]}… does not match layout {layout.name}",
                                          run_id=run_id)
                    lines = lines.slice(1)
                header_pending = False
            table, invalid = _parse(lines, layout)
            bad_rows += invalid
            n = table.num_rows
            lines_col = table.column("_line")
            table = table.drop_columns(["_line"])
            table = pa.Table.from_arrays(
                [pc.add(lines_col, base), pc.fill_null(pa.nulls(n, pa.string()), path.name),
                 lines_col, *table.columns],
                schema=schema,
            )
            writer.write_table(table)
            rows_ok += n
    quarantine = q.conform(pl.DataFrame(bad_rows, schema_overrides={"source_line": pl.Int64}, infer_schema_length=None)
                           if bad_rows else q.empty())
    quarantine = quarantine.with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(dantai_code).alias("dantai_code"), pl.lit("extract").alias("stage"),
        pl.lit(target_table).alias("table"), pl.lit(path.name).alias("source"),
        (pl.col("source_line") + base).alias("row_id"), pl.lit("error").alias("severity"),
    ).sort("source_line")
    return ExtractResult(
        source=source_name, origin=path.name, staging=out_path, rows_read=rows_ok + quarantine.height,
        rows_ok=rows_ok, quarantine=q.conform(quarantine), sha256=sha256_file(path),
        seconds=time.perf_counter() - t0,
    )
