"""Header, data and trailer records in one file (レコード区分), told apart by a column: layout `record_types`.

Why here and before every other check: a header (1 + 団体コード + 作成日 + title) or a trailer (9 + 団体コード +
件数) has its own layout, so read as a data record it is a person with a split character or a 宛名番号 that is
the record count. Both extractors (fixed-width, csv) hand each chunk's records here first: the type column is
read on its own (for fixed-width on the bytes, each distinct value decoded once; for csv from the lenient
split of `extractors.fields`), header and trailer records leave the chunk (counted, never staged, their other
columns never checked), a record of an undeclared type is held as `extract.record_type` without a key (its
layout, so its key, is unknown), and the data records go on to the usual checks. A record too short to hold
the type column is left to them (a data record cut short: `extract.record_length`, `extract.field_count`).

`trailer_count`: the trailer's count of data records is compared at the end with the data records read
(staged and held); a different count, a missing trailer or data records after the last one stop the run
(LayoutError): the export is incomplete or damaged, and nothing in the file says whose records are missing,
so no held record could stand for them. A file of header and trailer only is an empty export, like a csv
holding its header only (0 records: a sign-off blocker, refused by the load over a loaded target).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ikou.errors import LayoutError
from ikou.extractors.layout import Layout
from ikou.extractors.result import ExtractResult

DATA, HEADER, TRAILER, OTHER, SHORT, SKIP = range(6)   # SHORT: too short to hold the type column; SKIP: no record
_BLANKS = " \u3000"
RULE = "extract.record_type"


@dataclass
class _Tally:
    counts: np.ndarray                                        # records per kind
    trailers: list[tuple[int, str | None, int]] = field(default_factory=list)   # (line, count text, data before)


class RecordTypes:
    """The layout's `record_types` applied to the chunks of one file; `finish` checks the trailer counts."""

    def __init__(self, layout: Layout, encoding: str, *, source_name: str, run_id: str):
        self.layout, self.rt, self.enc = layout, layout.record_types, encoding
        self.source_name, self.run_id = source_name, run_id
        self.kind_of = {**dict.fromkeys(self.rt.data, DATA), **dict.fromkeys(self.rt.header, HEADER),
                        **dict.fromkeys(self.rt.trailer, TRAILER)}
        self._tallies: dict[int, _Tally] = {}   # chunk offset → its tally (chunks run on two threads)
        if layout.format == "fixed":
            ends = np.cumsum([c.width for c in layout.columns]).tolist()
            self.at = {c.name: (e - c.width, c.width) for c, e in zip(layout.columns, ends)}

    # ------------------------------------------------------------------ one chunk
    def fixed(self, arr: np.ndarray, starts: np.ndarray, ends: np.ndarray, lines: np.ndarray, *, chunk_offset: int,
              first: bool, last: bool, findings: list[dict]) -> np.ndarray:
        """The records (starts/ends in `arr`, numbered `lines`) a fixed-width chunk goes on with (data records,
        and what is no record: blank lines, the end-of-file mark); a held one's finding is added to `findings`."""
        n = len(starts)
        lens = ends - starts
        kind = np.full(n, SHORT, np.int8)
        kind[lens == 0] = SKIP
        if last and n and lens[-1] and bool((arr[starts[-1]:ends[-1]] == 0x1A).all()):
            kind[-1] = SKIP   # the DOS end-of-file mark on a line of its own
        off, width = self.at[self.rt.column]
        idx = np.flatnonzero((lens >= off + width) & (kind != SKIP))
        texts: list[str] = []
        inv = np.zeros(0, np.int64)
        if len(idx):
            block = arr[starts[idx][:, None] + off + np.arange(width)]
            if width <= 2:   # the usual 1-byte レコード区分: a lookup table, no sort (1M records: ~10 ms)
                code = block[:, 0].astype(np.int64) if width == 1 else block[:, 0].astype(np.int64) * 256 + block[:, 1]
                present = np.flatnonzero(np.bincount(code))
                lut = np.zeros(int(present[-1]) + 1, np.int64)
                lut[present] = np.arange(len(present))
                inv = lut[code]
                uniq = [bytes([int(p)]) if width == 1 else bytes([int(p) >> 8, int(p) & 255]) for p in present]
                uniq = [np.frombuffer(u, np.uint8) for u in uniq]
            elif width <= 8:   # the bytes as one number: a 1-D unique is ~5x faster than unique rows
                packed = np.zeros(len(idx), np.uint64)
                for k in range(width):
                    packed = (packed << np.uint64(8)) | block[:, k].astype(np.uint64)
                u, first_at, inv = np.unique(packed, return_index=True, return_inverse=True)
                uniq = block[first_at]
            else:
                uniq, inv = np.unique(block, axis=0, return_inverse=True)   # a handful of distinct type values
            texts = [r.tobytes().decode(self.enc, "backslashreplace").strip(_BLANKS) for r in uniq]
            inv = inv.reshape(-1)
            kind[idx] = np.array([self.kind_of.get(t, OTHER) for t in texts], np.int8)[inv]
        other = np.flatnonzero(kind[idx] == OTHER)
        self._first_check(first, kind[idx], [texts[i] for i in np.unique(inv[other]).tolist()])
        for j, t in zip(idx[other].tolist(), inv[other].tolist()):
            findings.append({"source_line": int(lines[j]), **self._finding(texts[t])})
        counts = []
        if self.rt.trailer_count:
            c_off, c_w = self.at[self.rt.trailer_count.column]
            for j in np.flatnonzero(kind == TRAILER).tolist():
                raw = arr[starts[j] + c_off:starts[j] + c_off + c_w] if lens[j] >= c_off + c_w else None
                counts.append(None if raw is None else raw.tobytes().decode(self.enc, "backslashreplace"))
        self._tally(chunk_offset, kind, lines, counts)
        return (kind == DATA) | (kind == SHORT) | (kind == SKIP)

    def csv(self, c, *, first: bool) -> None:
        """Mark a csv chunk's (`csv_file._Chunk`) header and trailer records, and those of an undeclared type
        (held, their finding added), as the header line is marked: left out of the parse and of every check."""
        import polars as pl

        from ikou.extractors.records import BAD, HEADER as NOT_PARSED, RECORD

        recs = c.recs
        kind = np.full(len(c.kind), SKIP, np.int8)
        cand = np.flatnonzero(c.kind == RECORD)
        values = self._csv_fields(c, cand, self.layout.names.index(self.rt.column)).str.strip_chars(_BLANKS)
        kind[cand] = pl.select(pl.when(values.is_null()).then(SHORT).otherwise(
            values.replace_strict(self.kind_of, default=OTHER, return_dtype=pl.Int8))).to_series().to_numpy()
        has = cand[values.is_not_null().to_numpy()]
        other = np.flatnonzero(kind[cand] == OTHER)
        self._first_check(first, kind[has], values.gather(other).to_list() if len(other) == len(has) else [])
        for i, v in zip(cand[other].tolist(), values.gather(other).to_list()):
            c.add(i, self._finding(v))
        c.kind[(kind == HEADER) | (kind == TRAILER) | (kind == OTHER)] = NOT_PARSED
        kind[c.kind == BAD] = SHORT   # held whole by the record finder (a quote left open): a data record read
        counts = []
        if self.rt.trailer_count:
            t = np.flatnonzero(kind == TRAILER)
            counts = self._csv_fields(c, t, self.layout.names.index(self.rt.trailer_count.column)).to_list()
        self._tally(c.offset, kind, c.first_line + recs.line, counts)

    def _csv_fields(self, c, idx: np.ndarray, j: int):
        """Field j (unquoted) of the records idx of a csv chunk, as a Polars Series; null where a record has
        fewer fields."""
        import polars as pl

        layout = self.layout
        if not len(idx):
            return pl.Series("v", [], pl.String)
        if not c.columnar:
            from ikou.extractors.csv_file import _fields_of

            out = []
            for i in idx.tolist():   # the encodings `fields.columnar` does not cover
                text = c.raw(i).decode(self.enc, "backslashreplace")
                spans = _fields_of(text, layout.delimiter, layout.quote)
                out.append(_unquote(text[slice(*spans[j])], layout.quote) if j < len(spans) else None)
            return pl.Series("v", out, pl.String)
        from ikou.extractors.fields import decode_each, split_fields

        Q = ord(layout.quote) if layout.quote else None
        arr, s, e = c.arr, c.recs.start[idx], c.recs.stop[idx]
        # the j-th delimiter of each record, found on the bytes (no full split: 2.5x the extract's time);
        # right wherever no quote comes before the field's end, else the records are split (`fields`)
        dl = np.flatnonzero(arr == ord(layout.delimiter))
        k = np.searchsorted(dl, s)
        nd = np.searchsorted(dl, e) - k
        has = nd >= j
        top = max(len(dl) - 1, 0)
        a = s if j == 0 else np.where(has, dl[np.minimum(k + j - 1, top)] + 1, s) if len(dl) else s
        b = np.where(nd > j, dl[np.minimum(k + j, top)], e) if len(dl) else e
        quoted = np.zeros(len(idx), bool)
        if Q is not None:
            qp = np.flatnonzero(arr == Q)
            slow = np.flatnonzero(np.searchsorted(qp, b) > np.searchsorted(qp, s))
            if len(slow):
                sp = split_fields(arr, s[slow], e[slow], ord(layout.delimiter), Q)
                fi = sp.first + np.minimum(j, sp.count - 1)
                a, b, has = a.copy(), b.copy(), has.copy()
                a[slow], b[slow], has[slow] = sp.a[fi], sp.b[fi], sp.count > j
                top = max(len(arr) - 1, 0)
                quoted = (b - a >= 2) & (arr[np.minimum(a, top)] == Q) & (arr[np.clip(b - 1, 0, top)] == Q)
        a, b = a + quoted, b - quoted
        v = pl.Series("v", decode_each(arr, a, b, lambda x: x.decode(self.enc, "backslashreplace")), pl.String)
        if quoted.any():
            qq = layout.quote
            v = pl.select(pl.when(pl.Series(quoted)).then(v.str.replace_all(qq + qq, qq, literal=True))
                          .otherwise(v)).to_series()
        return pl.select(pl.when(pl.Series(has)).then(v)).to_series().alias("v")

    def _first_check(self, first: bool, kinds: np.ndarray, values: list[str]) -> None:
        """A type column holding none of the declared values in the first chunk: the wrong column or layout,
        not a file of unknown records (each would be held, and the run fail as 'a mapping mistake')."""
        if first and len(kinds) >= 2 and bool((kinds == OTHER).all()):
            # the values are not shown: in the wrong column they may be names or the digits of a 個人番号
            lens = sorted({len(v) for v in values})
            shown = f"{len(set(values)):,} distinct values of {lens[0]}–{lens[-1]} characters" if lens else "none"
            shown_ja = f"{len(set(values)):,} 種類、{lens[0]}〜{lens[-1]} 文字" if lens else "なし"
            rt = self.rt
            raise LayoutError(
                f"{self.source_name}: none of the first {len(kinds):,} records holds a declared record type in "
                f"column {rt.column} (data {rt.data}, header {rt.header}, trailer {rt.trailer}; found {shown}): "
                f"check record_types in layout {self.layout.name}", run_id=self.run_id,
                ja=f"{self.source_name}: 先頭の {len(kinds):,} 件のどのレコードも、レコード区分の列 {rt.column} に"
                   f"レイアウトで宣言した値 (data {rt.data}、header {rt.header}、trailer {rt.trailer}) を持ちません "
                   f"(あった値: {shown_ja}): レイアウト {self.layout.name} の record_types を確認してください")

    def _finding(self, value: str) -> dict:
        rt = self.rt
        declared = [*rt.data, *rt.header, *rt.trailer]
        return {"column": rt.column, "rule": RULE, "value": value,
                "message_ja": f"レコード区分 ({rt.column}) の値 {value!r} はレイアウトの record_types で宣言されていません "
                              f"(宣言された値: {declared}): このレコードの形式が分からないため、データとして読まずに"
                              "保留します (キーも読みません)",
                "message_en": f"record type ({rt.column}) {value!r} is not declared in the layout's record_types "
                              f"(declared: {declared}): the record's layout is unknown, so it is held, not read as "
                              "data (nor its key)"}

    def _tally(self, chunk_offset: int, kind: np.ndarray, lines: np.ndarray, counts: list[str | None]) -> None:
        data = (kind == DATA) | (kind == SHORT)
        before = np.cumsum(data) - data
        t = np.flatnonzero(kind == TRAILER)
        self._tallies[chunk_offset] = _Tally(
            np.bincount(kind, minlength=6),
            [(int(lines[j]), cnt, int(before[j])) for j, cnt in zip(t.tolist(), counts or [None] * len(t))])

    # ------------------------------------------------------------------ the whole file
    def finish(self, result: ExtractResult, path) -> ExtractResult:
        """Put the counts per type into the result's metrics (`record_types`: summary.json's sources), after
        checking the trailer counts (`trailer_count`): a mismatch stops the run."""
        tallies = [self._tallies[k] for k in sorted(self._tallies)]
        total = sum((t.counts for t in tallies), np.zeros(6, np.int64))
        n_data = int(total[DATA] + total[SHORT])
        if self.rt.trailer_count:
            self._check_counts(tallies, n_data, int(total[OTHER]), path.name)
        result.extra["record_types"] = {"header": int(total[HEADER]), "data": n_data, "trailer": int(total[TRAILER]),
                                        "undeclared": int(total[OTHER])}
        return result

    def _check_counts(self, tallies: list[_Tally], n_data: int, n_other: int, name: str) -> None:
        col = self.rt.trailer_count.column
        hint_en = (f" ({n_other:,} record(s) of an undeclared type were held: if they are data records, declare "
                   "their value in record_types.data)") if n_other else ""
        hint_ja = (f" (宣言されていないレコード区分の {n_other:,} 件を保留しました: データレコードなら、その値を "
                   "record_types.data に宣言してください)") if n_other else ""

        def stop(en: str, ja: str):
            raise LayoutError(f"{self.source_name}: {name}: {en}{hint_en}: the export is incomplete or damaged; "
                              "export it again", run_id=self.run_id,
                              ja=f"{self.source_name}: {name}: {ja}{hint_ja}: 出力 (エクスポート) が不完全か壊れています。"
                                 "出力をやり直してください")

        done = 0   # data records before the chunk
        since = 0  # data records up to the last trailer
        last_line = None
        for t in tallies:
            for line, text, before in t.trailers:
                got = done + before - since
                value = None if text is None else text.strip(_BLANKS)
                if value is None or not (value.isascii() and value.isdigit()):
                    shown = "missing (the record ends before it)" if value is None else repr(value[:20])
                    shown_ja = "ありません (レコードがその前で終わります)" if value is None else repr(value[:20])
                    stop(f"the trailer record on line {line} holds no count of data records in column {col}: "
                         f"{shown}",
                         f"{line} 行目のトレーラレコードの {col} 列にデータ件数がありません: {shown_ja}")
                if int(value) != got:
                    stop(f"the trailer record on line {line} counts {int(value):,} data records, but {got:,} were "
                         f"read{' since the trailer before it' if last_line else ''}",
                         f"{line} 行目のトレーラレコードのデータ件数は {int(value):,} 件ですが、読んだデータレコードは "
                         f"{'その前のトレーラ以降 ' if last_line else ''}{got:,} 件です")
                since, last_line = done + before, line
            done += int(t.counts[DATA] + t.counts[SHORT])
        if last_line is None:
            stop(f"no trailer record (record_types.trailer: {self.rt.trailer}) although the layout declares its "
                 f"count; {n_data:,} data records were read",
                 f"レイアウトはトレーラレコードの件数を宣言していますが、トレーラレコード (record_types.trailer: "
                 f"{self.rt.trailer}) がありません (読んだデータレコード {n_data:,} 件)")
        if n_data > since:
            stop(f"{n_data - since:,} data records follow the last trailer record (line {last_line})",
                 f"最後のトレーラレコード ({last_line} 行目) の後に {n_data - since:,} 件のデータレコードがあります")


def _unquote(field: str, quote: str | None) -> str:
    if quote and len(field) >= 2 and field[0] == quote and field[-1] == quote:
        return field[1:-1].replace(quote + quote, quote)
    return field


def record_types(layout: Layout, encoding: str, *, source_name: str, run_id: str) -> RecordTypes | None:
    """The layout's record types for one file's extract, or None when the layout declares none."""
    if layout.record_types is None:
        return None
    return RecordTypes(layout, encoding, source_name=source_name, run_id=run_id)
