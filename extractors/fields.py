"""Bad records described in bulk: the fields of many records found at once on their bytes, and many byte
slices decoded in one call.

A record the parser could not cut into fields (a byte that does not decode, a field too many) is still
described field by field: which column holds the bad bytes, which key names the record. The cut is the
lenient one of `csv_file._fields_of`: a field that starts with the quote runs to its closing quote (a
doubled quote inside is data; none closing: to the end of the record), then on to the next delimiter;
any other field runs to the next delimiter. Here it is computed with numpy for all the bad records of a
chunk together, looping only over the quoted fields of one record (a handful), never over records.

Why the bytes give the same fields as the decoded text: in the encodings this applies to (`columnar`)
the delimiter and the quote are ASCII bytes that no character holds (CP932 and Shift_JIS-2004 bytes
below 0x40, any ASCII byte in UTF-8), and a byte that does not decode is never ASCII (tested: the
codecs report 1 byte for a bad lead byte before an ASCII one), so each delimiter and quote of the text
is one such byte and the other way round.
"""
from __future__ import annotations

import codecs
import threading
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ikou.extractors.records import delimiter_is_byte_safe

_SJIS_FAMILY = {"cp932", "ms932", "mskanji", "ms_kanji", "windows_31j", "shift_jis", "shiftjis", "sjis", "s_jis",
                "shift_jis_2004", "shiftjis2004", "sjis_2004", "s_jis_2004", "shift_jisx0213", "shiftjisx0213",
                "sjisx0213", "s_jisx0213"}
_UTF8 = {"utf_8", "utf8", "u8", "utf_8_sig"}
# separators for decoding many slices in one call: ASCII controls first (never inside a character)
_SEPARATORS = (0x0A, 0x1F, 0x1E, 0x1D, 0x1C, *range(0x01, 0x0A), *range(0x0B, 0x1C), 0x00, 0x7F)


def columnar(encoding: str, delimiter: str, quote: str | None) -> bool:
    """Whether bad records of this encoding and layout can be described in bulk (else record by record)."""
    enc = encoding.lower().replace("-", "_")
    if enc not in _SJIS_FAMILY and enc not in _UTF8:
        return False
    return delimiter_is_byte_safe(delimiter, enc) and (quote is None or delimiter_is_byte_safe(quote, enc))


@dataclass
class Split:
    """The fields of records, record after record: field k of record r is index first[r] + k."""
    a: np.ndarray        # int64: where each field starts (byte offset in the data)
    b: np.ndarray        # int64: where it ends
    first: np.ndarray    # int64, per record: its first field
    count: np.ndarray    # int64, per record: its number of fields


def positions(s: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """The positions s[k] … s[k] + lens[k] - 1 of every k, one after the other."""
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, np.int64)
    before = np.zeros(len(lens), np.int64)
    np.cumsum(lens[:-1], out=before[1:])
    return np.repeat(s - before, lens) + np.arange(total, dtype=np.int64)


def split_fields(arr: np.ndarray, s: np.ndarray, e: np.ndarray, delimiter: int, quote: int | None) -> Split:
    """The fields of the records arr[s[r]:e[r]] (disjoint, in order) as `csv_file._fields_of` cuts them.

    Few bad bytes: the records are copied side by side first; many: found where they are."""
    s = np.asarray(s, np.int64)
    e = np.asarray(e, np.int64)
    lens = e - s
    if int(lens.sum()) * 4 >= len(arr):
        return _split(arr, s, e, delimiter, quote)
    S = np.zeros(len(s) + 1, np.int64)
    np.cumsum(lens, out=S[1:])
    sp = _split(arr[positions(s, lens)], S[:-1], S[1:], delimiter, quote)
    shift = np.repeat(s - S[:-1], sp.count)
    return Split(sp.a + shift, sp.b + shift, sp.first, sp.count)


def _split(data: np.ndarray, s: np.ndarray, e: np.ndarray, delimiter: int, quote: int | None) -> Split:
    n = len(s)
    rec_ids = np.arange(n, dtype=np.int64)
    dpos = np.flatnonzero(data == delimiter)
    if quote is not None:
        qall = np.flatnonzero(data == quote)
        qlo, qhi = np.searchsorted(qall, s), np.searchsorted(qall, e)
        qp = qall[positions(qlo, qhi - qlo)]
        rec_q = np.repeat(rec_ids, qhi - qlo)
        if len(qp):
            at_start = qp == s[rec_q]
            # runs of quotes next to each other within one record
            new_run = np.ones(len(qp), bool)
            new_run[1:] = (qp[1:] != qp[:-1] + 1) | at_start[1:]
            run_first = qp[new_run]
            run_id = np.cumsum(new_run) - 1
            run_len = np.bincount(run_id).astype(np.int64)
            run_rec = rec_q[new_run]
            odd = np.flatnonzero(run_len % 2 == 1)
            # a quote opens a field at the start of a record or right after a delimiter (then it starts its run)
            prev = data[np.maximum(run_first - 1, 0)]
            opener = at_start[new_run] | ((run_first > s[run_rec]) & (prev == delimiter))
            cand_run = np.flatnonzero(opener)
            cand = run_first[cand_run]
            # where each opener's field closes: its own run if that is even (the opener and pairs), else the
            # end of the next run of odd length in the record (pairs, then the closing quote); none: the end
            L = run_len[cand_run]
            if len(odd):
                r2 = odd[np.minimum(np.searchsorted(odd, cand_run, side="right"), len(odd) - 1)]
                ok2 = (r2 > cand_run) & (run_rec[r2] == run_rec[cand_run])
            else:
                r2, ok2 = cand_run, np.zeros(len(cand_run), bool)
            after = np.where(L % 2 == 0, cand + L, np.where(ok2, run_first[r2] + run_len[r2], e[run_rec[cand_run]]))
            # the opener taken in each record: the first at or after where the last quoted field closed (one
            # round per quoted field of a record)
            pos = s.copy()
            active = np.unique(run_rec[cand_run])
            got_a, got_b = [], []
            while len(active):
                j = np.searchsorted(cand, pos[active])
                ok = j < len(cand)
                jj = np.minimum(j, len(cand) - 1)
                ok &= cand[jj] < e[active]
                active, jj = active[ok], jj[ok]
                got_a.append(cand[jj])
                got_b.append(after[jj])
                pos[active] = after[jj]
            if got_a and len(dpos):   # delimiters inside a quoted field end no field
                reg_a, reg_b = np.concatenate(got_a), np.concatenate(got_b)
                lo, hi = np.searchsorted(dpos, reg_a), np.searchsorted(dpos, reg_b)
                keep = np.ones(len(dpos), bool)
                keep[positions(lo, hi - lo)] = False
                dpos = dpos[keep]
    lo, hi = np.searchsorted(dpos, s), np.searchsorted(dpos, e)
    cnt = hi - lo
    d = dpos[positions(lo, cnt)]              # each record's field ends, record after record
    count = cnt + 1
    first = np.zeros(n, np.int64)
    np.cumsum(count[:-1], out=first[1:])
    rec_d = np.repeat(rec_ids, cnt)
    at = rec_d + np.arange(len(d), dtype=np.int64)   # field k of record r at first[r] + k
    a = np.empty(int(count.sum()), np.int64)
    b = np.empty_like(a)
    a[first] = s
    a[at + 1] = d + 1
    b[at] = d
    b[first + count - 1] = e
    return Split(a, b, first, count)


def gather(arr: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[bytes, int] | None:
    """The slices arr[a[k]:b[k]] joined by a separator byte none of them holds: (joined, separator);
    None when every candidate separator is in them."""
    lens = np.asarray(b, np.int64) - np.asarray(a, np.int64)
    data = arr[positions(np.asarray(a, np.int64), lens)]
    present = np.bincount(data, minlength=256) if len(data) else np.zeros(256, np.int64)
    sep = next((x for x in _SEPARATORS if not present[x]), None)
    if sep is None:
        return None
    out = np.full(len(data) + len(lens), sep, np.uint8)
    out[np.arange(len(data), dtype=np.int64) + np.repeat(np.arange(len(lens), dtype=np.int64), lens)] = data
    return out[:-1].tobytes(), sep


def decode_each(arr: np.ndarray, a: np.ndarray, b: np.ndarray, fn: Callable[[bytes], str]) -> list[str]:
    """fn(arr[a[k]:b[k]]) for every k, in one call of `fn` on the slices joined by a separator byte.

    `fn` decodes (and may re-encode) in the source's encoding: an ASCII control byte between two slices
    decodes to itself, ends no character and starts none (`columnar`), so the joined result is the
    results of the slices joined by that character."""
    if len(a) == 0:
        return []
    got = gather(arr, a, b)
    if got is None:   # every ASCII control in the slices (never seen): one call per slice
        return [fn(arr[x:y].tobytes()) for x, y in zip(np.asarray(a).tolist(), np.asarray(b).tolist())]
    joined, sep = got
    parts = fn(joined).split(chr(sep))
    if len(parts) != len(a):   # never seen: the separator appeared in a result
        return [fn(arr[x:y].tobytes()) for x, y in zip(np.asarray(a).tolist(), np.asarray(b).tolist())]
    return parts


def code_points(text: str) -> np.ndarray:
    """The code points of a text (lone surrogates included) as a numpy array."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


def plain_codes(arr: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether each slice arr[a:b] is a code, a number or a date as `keys._PLAIN` says
    (`[+-]?[0-9A-Za-z]+(?:[._/:-][0-9A-Za-z]+)*`, ASCII only), computed on the bytes."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    n = len(a)
    if n == 0:
        return np.zeros(0, bool)
    lens = b - a
    data = arr[positions(a, lens)]
    alnum = ((data >= 0x30) & (data <= 0x39)) | ((data >= 0x41) & (data <= 0x5A)) | ((data >= 0x61) & (data <= 0x7A))
    sep = (data == 0x2E) | (data == 0x5F) | (data == 0x2F) | (data == 0x3A) | (data == 0x2D)
    A = np.zeros(len(data) + 1, np.int64)     # prefix sums over the joined slices
    np.cumsum(~(alnum | sep), out=A[1:])
    pair = np.zeros(len(data), bool)
    pair[:-1] = sep[:-1] & sep[1:]
    P = np.zeros(len(data) + 1, np.int64)
    np.cumsum(pair, out=P[1:])
    start = np.zeros(n, np.int64)
    np.cumsum(lens[:-1], out=start[1:])
    end = start + lens
    last = np.maximum(end - 1, 0)
    first_b = data[np.minimum(start, max(len(data) - 1, 0))] if len(data) else np.zeros(n, np.uint8)
    signed = (lens > 0) & ((first_b == 0x2B) | (first_b == 0x2D))
    st = start + signed
    ok = end > st
    stc = np.minimum(st, max(len(data) - 1, 0))
    if len(data):
        ok &= alnum[stc] & alnum[last]
    ok &= (A[end] - A[st]) == 0
    ok &= (P[np.maximum(end - 1, st)] - P[st]) == 0
    return ok


def decode_flagged(arr: np.ndarray, a: np.ndarray, b: np.ndarray, encoding: str):
    """The slices arr[a[k]:b[k]] decoded in one call, as text (a Polars Series) and whether each holds bytes
    that do not decode (those are shown with U+FFFD: the caller drops them); None: no separator byte free."""
    import polars as pl

    if len(a) == 0:
        return pl.Series([], dtype=pl.String), np.zeros(0, bool)
    got = gather(arr, a, b)
    if got is None:
        return None
    joined, sep = got
    text = joined.decode(encoding, "surrogateescape")
    cp = code_points(text)
    seg = np.cumsum(cp == sep)
    unreadable = np.zeros(len(a), bool)
    unreadable[seg[(cp >= 0xDC80) & (cp <= 0xDCFF)]] = True
    if unreadable.any():
        text = text.encode("utf-8", "replace").decode("utf-8")
    values = pl.Series([text]).str.split(chr(sep)).explode()
    if len(values) != len(a):   # never seen: the separator decoded from other bytes
        return None
    return values, unreadable


class _SkipContext(threading.local):
    """What the codec error handler `ikou.skip_record` needs, per thread (chunks decode two at a time)."""
    base = 0
    starts: np.ndarray | None = None
    stops: np.ndarray | None = None
    lists: tuple[list[int], list[int]] | None = None   # the same as lists, made at the first error
    found: list | None = None
    mark = ""


_SKIP = _SkipContext()


def _skip_record(exc: UnicodeDecodeError) -> tuple[str, int]:
    """Codec error handler: note where a record stops decoding (its index, the byte, how many bytes the codec
    rejects there) and go on after that record, as a fresh decode from there would (a line break or a
    separator byte ends every character in the encodings this is used for)."""
    ctx = _SKIP
    if ctx.lists is None:
        ctx.lists = (ctx.starts.tolist(), ctx.stops.tolist())
    starts, stops = ctx.lists
    e = ctx.base + exc.start
    i = bisect_right(starts, e) - 1
    ctx.found.append((i, e, exc.end - exc.start))
    return ctx.mark, max(stops[i] - ctx.base, exc.end)


codecs.register_error("ikou.skip_record", _skip_record)


def skip_bad_records(data, encoding: str, starts: np.ndarray, stops: np.ndarray, *, base: int = 0,
                     mark: str = "") -> tuple[str, list[tuple[int, int, int]]]:
    """Decode `data` (the bytes from offset `base` on) in one call, leaving out the rest of each record
    (starts[i] … stops[i], offsets of the whole) from its first byte that does not decode, `mark` in its
    place: (the text, and for each such record (its index, that byte's offset, how many bytes the codec
    rejected there)), in order. One handler call per bad record, from the codec; none when all decode."""
    ctx = _SKIP
    ctx.base, ctx.starts, ctx.stops, ctx.lists, ctx.found, ctx.mark = base, starts, stops, None, [], mark
    try:
        text = str(data, encoding, "ikou.skip_record")
        return text, ctx.found
    finally:
        ctx.starts = ctx.stops = ctx.lists = ctx.found = None
