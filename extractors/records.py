"""Records, not lines: where each record of a delimited file starts and ends, found on its bytes.

A record is one line, unless a quoted field holds a line break: then it runs on until the quote
closes. Lines end in CR LF, LF or CR alone, mixed in one file if need be (a CR-only file of 2,129
records is 2,129 records). Line numbers count those line breaks, so `_source_line` is the line an
editor shows where the record starts.

Quoting follows the common CSV reading (RFC 4180 as Python's csv module and pyarrow read it): a
quote opens a quoted field only at the start of a field; inside one, a doubled quote is a quote
and a quote followed by the delimiter or the end of the line closes it; a quote inside an unquoted
field is data (kept, listed as the warning `extract.stray_quote`); text after a closing quote
(`"ab"cd`) is `extract.bad_quote`. A quote that does not close confines its damage to its own
line: that line is quarantined (`extract.unclosed_quote`) and the next line is read as a record.
A quoted line break is believed only when the record it makes closes within `MAX_RECORD_LINES`
lines, is well formed and has the layout's number of fields; such a record is staged with its
line breaks kept when the layout says `quoted_newlines: true` (in a column not marked `line_breaks: true`
a break then holds the record at extract: `extract.control_char`), else quarantined whole as
`extract.quoted_newline` (one record, not two broken halves).

How, without a Python loop over the bytes: CR, LF, the quote and an ASCII delimiter below 0x40
are never part of a multi-byte character in CP932, Shift_JIS-2004 or UTF-8, so they are found with
numpy on the raw bytes. Each quote is checked against its neighbours for both of the roles it may
play (opening / closing); taking the quotes in order, the role alternates, so the quoting state at
every line end is the parity of the quotes before it, and the first quote out of place is found
with one suffix minimum. Only around such a quote (rare) does a small scanner read the decoded
text of that record; lines whose quotes all sit inside unquoted fields (`コーポ"A"棟`, an inch mark),
however many, are recognised together without it (`_QuotedFinder._run_with_stray_lines`). Blank
lines are not records (`extract.blank_line`, a warning: empty, or nothing but ASCII spaces, TABs and
full-width spaces, `blank_only`), nor is a DOS end-of-file mark (0x1A) ending the file, on a line of its
own or right after the last record (`extract.eof_marker`).

Chunks: `iter_chunks` cuts the file at a record boundary, never inside a quoted field; a record
still open at the end of a block is carried into the next read (bounded by `MAX_RECORD_LINES`
and `MAX_RECORD_BYTES`), so a quoted line break may fall on any chunk boundary.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ikou.errors import LayoutError

LF, CR, SUB = 0x0A, 0x0D, 0x1A

# record kinds
RECORD = 0     # a record (staged unless a check holds it)
BLANK = 1      # an empty line, or one of blanks only (`blank_only`): not a record
EOF_MARK = 2   # 0x1A on the last line: not a record
HEADER = 3     # the header line
BAD = 4        # a record that cannot be split into fields: quarantined whole

MAX_LINE_BYTES = 64 << 20      # no legacy record is this long: a file without line breaks is not read whole
MAX_RECORD_LINES = 1000        # a quoted field spanning more line breaks is taken for an unclosed quote
MAX_RECORD_BYTES = 1 << 20     # … and so is one whose record would be longer than this (multi-line records)

# encodings whose double-byte characters may hold bytes 0x40–0xFC as their second byte
_SJIS_FAMILY = {"cp932", "ms932", "mskanji", "ms_kanji", "windows_31j", "shift_jis", "shiftjis", "sjis", "s_jis",
                "shift_jis_2004", "shiftjis2004", "sjis_2004", "s_jis_2004", "shift_jisx0213", "shiftjisx0213",
                "sjisx0213", "s_jisx0213"}


@dataclass
class Issue:
    rule: str
    severity: str          # error / warning
    ja: str
    en: str
    field: int | None = None   # 0-based field index the finding is about, when known


@dataclass
class Records:
    """The records of `data[:end]`; positions are byte offsets into the chunk, lines 0-based in it."""
    end: int
    n_lines: int
    start: np.ndarray            # int64: where each record starts
    stop: np.ndarray             # int64: where its content ends (before its last line break)
    line: np.ndarray             # int64: its first line
    kind: np.ndarray             # int8: RECORD, BLANK, EOF_MARK, HEADER, BAD
    issues: dict[int, Issue] = field(default_factory=dict)   # record index → finding of the finder
    multi: np.ndarray | None = None   # bool: the record spans lines (a quoted line break); None: none does
    unterminated: bool = False   # the last record ends the file without a line break
    eof_mark: int = 0            # bytes of a DOS end-of-file mark right after the last record, not in `end`
    # quotes inside unquoted fields found in bulk (`_QuotedFinder.run`): (record indices, field index of the
    # first such quote), each a STRAY_QUOTE warning; listed among `issues` by record index
    strays: tuple[np.ndarray, np.ndarray] | None = None


def delimiter_is_byte_safe(delimiter: str, encoding: str) -> bool:
    """Whether the delimiter's byte can never be half of a double-byte character of the encoding."""
    b = ord(delimiter)
    return b < 0x40 or encoding.lower().replace("-", "_") not in _SJIS_FAMILY


def _lines(arr: np.ndarray, eof: bool, cut: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Start, content end and next start of every complete line (the last one too at end of file).
    A CR ending the data ends a line at end of file or when the data was `cut` after it."""
    n = len(arr)
    lf = np.flatnonzero(arr == LF)
    cr = np.flatnonzero(arr == CR)
    if len(cr):
        after = cr + 1
        lone = cr[(after >= n) | (arr[np.minimum(after, n - 1)] != LF)]
        if not (eof or cut) and len(lone) and lone[-1] == n - 1:
            lone = lone[:-1]     # a CR ending the block: its LF may be the next byte read
        terms = np.sort(np.concatenate([lf, lone])) if len(lone) else lf
        cend = terms - ((arr[terms] == LF) & (terms > 0) & (arr[np.maximum(terms - 1, 0)] == CR))
    else:
        terms, cend = lf, lf
    starts = np.empty(len(terms), np.int64)
    if len(terms):
        starts[0] = 0
        starts[1:] = terms[:-1] + 1
    nexts = (terms + 1).astype(np.int64)
    cend = cend.astype(np.int64)
    tail = int(nexts[-1]) if len(nexts) else 0
    unterminated = bool(eof and tail < n)
    if unterminated:
        starts = np.append(starts, tail)
        cend = np.append(cend, n)
        nexts = np.append(nexts, n)
    return starts, cend, nexts, unterminated


BLANKS = " \t\u3000"   # what a line of nothing but blanks holds: ASCII spaces, TABs, full-width spaces


def blank_only(arr: np.ndarray, start: np.ndarray, stop: np.ndarray, encoding: str, *,
               chars: str = BLANKS) -> np.ndarray:
    """Whether each line arr[start[k]:stop[k]] (not empty) holds nothing but `chars`: a line of blanks left at
    the end of an export is no record, as an empty line is none. Found with numpy: the lines whose first and
    last bytes are bytes of those characters, then those made of nothing else (one `logical_or.reduceat` over
    the chunk); only they (a few) are decoded, as the bytes of a full-width space may be the halves of two
    other characters (CP932 81 81 40 is ＝@)."""
    start, stop = np.asarray(start, np.int64), np.asarray(stop, np.int64)
    out = np.zeros(len(start), bool)
    if not len(start):
        return out
    allowed = np.zeros(256, bool)
    for ch in chars:
        try:
            allowed[np.frombuffer(ch.encode(encoding), np.uint8)] = True
        except (UnicodeEncodeError, LookupError):
            pass   # an encoding without the character: no line holds it
    full = stop > start
    ends = np.flatnonzero(full)
    ends = ends[allowed[arr[start[ends]]] & allowed[arr[stop[ends] - 1]]]
    if not len(ends):
        return out
    bounds = np.stack([start[ends], stop[ends]], 1).ravel()
    if bounds[-1] == len(arr):
        bounds = bounds[:-1]   # the last line runs to the end of the chunk: reduceat's last segment does
    other = np.logical_or.reduceat(~allowed[arr], bounds)[::2]   # a byte of anything else in the line
    for k in ends[~other].tolist():   # lines of blank bytes only: rare
        out[k] = not arr[start[k]:stop[k]].tobytes().decode(encoding, "replace").strip(chars)
    return out


def _mark_blanks(recs: Records, data: bytes, encoding: str, delimiter: str) -> None:
    """Records of one line holding blanks only (`blank_only`; the delimiter is no blank: a TAB-separated
    line of TABs is a record of empty fields) are BLANK, as an empty line."""
    cand = recs.kind == RECORD
    if recs.multi is not None:
        cand &= ~recs.multi
    idx = np.flatnonzero(cand & (recs.stop > recs.start))
    if not len(idx):
        return
    arr = np.frombuffer(data, np.uint8)
    blank = idx[blank_only(arr, recs.start[idx], recs.stop[idx], encoding,
                           chars=BLANKS.replace(delimiter, ""))]
    recs.kind[blank] = BLANK
    for i in blank.tolist():
        recs.issues.pop(i, None)


def _lone_crs(chunk: bytes) -> int:
    arr = np.frombuffer(chunk, np.uint8)
    after = np.flatnonzero(arr == CR) + 1
    return int(np.count_nonzero((after >= len(arr)) | (arr[np.minimum(after, len(arr) - 1)] != LF)))


def has_lone_cr(chunk: bytes) -> bool:
    """Whether a CR in the chunk is not followed by LF."""
    return b"\r" in chunk and _lone_crs(chunk) > 0


def count_lines(chunk: bytes) -> int:
    """Line breaks in a chunk that ends on one (CR LF counts once, a lone CR once)."""
    n = chunk.count(b"\n")
    return n + _lone_crs(chunk) if b"\r" in chunk else n


class _Scanner:
    """The quoting rules read on decoded text, for the few records where a quote is out of place."""

    OK, OPEN, BAD_QUOTE = 0, 1, 2

    def __init__(self, delimiter: str, quote: str):
        self.d, self.q = delimiter, quote
        self.unquoted = re.compile(f"[^{re.escape(delimiter)}\\r\\n]*")

    def scan(self, t: str) -> tuple[int, int, int, int | None]:
        """(status, line breaks inside quotes, fields, field index of a stray quote or of the bad quote)."""
        d, q, n = self.d, self.q, len(t)
        i, fields, breaks, stray = 0, 1, 0, None
        while True:
            if i < n and t[i] == q:
                j = i + 1
                while True:
                    k = t.find(q, j)
                    if k < 0:
                        return self.OPEN, breaks, fields, None
                    if k + 1 < n and t[k + 1] == q:
                        j = k + 2
                        continue
                    break
                body = t[i + 1:k]
                if "\n" in body or "\r" in body:
                    breaks += body.count("\n") + body.count("\r") - body.count("\r\n")
                i = k + 1
                if i >= n or t[i] in "\r\n":
                    return self.OK, breaks, fields, stray
                if t[i] == d:
                    fields, i = fields + 1, i + 1
                    continue
                return self.BAD_QUOTE, breaks, fields, fields - 1
            j = self.unquoted.match(t, i).end()
            if stray is None and t.find(q, i, j) >= 0:
                stray = fields - 1
            i = j
            if i >= n or t[i] != d:
                return self.OK, breaks, fields, stray
            fields, i = fields + 1, i + 1


STRAY_QUOTE = Issue("extract.stray_quote", "warning",
                    "引用符で囲まれていない項目の中に引用符があります (値はそのまま読み込みました)",
                    "a quote inside an unquoted field (the value is kept as it is)")


def _unclosed(line_is_last_unterminated: bool) -> Issue:
    if line_is_last_unterminated:
        return Issue("extract.truncated", "error", "最終行が途中で切れています (引用符が閉じないまま改行なしでファイルが終わります)",
                     "the last line is cut short (a quote is still open where the file ends without a line break)")
    return Issue("extract.unclosed_quote", "error",
                 "引用符が閉じていません (この行だけを保留し、次の行から読み直しました)",
                 "a quote does not close (this line alone is held; reading resumed at the next line)")


_QUOTED_NEWLINE = ("extract.quoted_newline", "error",
                   "引用符の中に改行があります (レイアウトは quoted_newlines: false です。改行を含む項目が正しい場合は "
                   "レイアウトに quoted_newlines: true を、その項目に line_breaks: true を指定してください)",
                   "a quoted field holds a line break, and the layout says quoted_newlines: false (set it to true, "
                   "and line_breaks: true on the columns that may hold line breaks, if the vendor's fields may)")


def find_records(data: bytes, *, eof: bool, delimiter: str, quote: str | None, quoted_newlines: bool, n_fields: int,
                 encoding: str, cut: bool = False) -> Records:
    """The records of a block that starts at a record boundary. Not at end of file (`eof` False),
    a record still open where the block ends is left out (`Records.end` says where it starts);
    `cut`: the block is a chunk `iter_chunks` cut after a line break (a CR ending it is one).

    At end of file, 0x1A bytes that end the file right after a record (`…,9990001\x1a`, no line break
    between) are the DOS end-of-file mark, not part of that record: they are left out (`Records.eof_mark`
    says how many; the caller drops them from the chunk). On a line of their own they are an EOF_MARK
    record, as before."""
    glued = 0
    if eof:
        glued = len(data) - len(data.rstrip(b"\x1a"))
        if glued == len(data) or data[len(data) - glued - 1] in (LF, CR):
            glued = 0
        else:
            data = data[:len(data) - glued]
    recs = _find_records(data, eof=eof, delimiter=delimiter, quote=quote, quoted_newlines=quoted_newlines,
                         n_fields=n_fields, encoding=encoding, cut=cut)
    recs.eof_mark = glued
    if n_fields > 1:   # as an empty line: with one field, it may be a record whose value is blank
        _mark_blanks(recs, data, encoding, delimiter)
    return recs


def _find_records(data: bytes, *, eof: bool, delimiter: str, quote: str | None, quoted_newlines: bool,
                  n_fields: int, encoding: str, cut: bool) -> Records:
    arr = np.frombuffer(data, np.uint8)
    starts, cend, nexts, unterminated = _lines(arr, eof, cut)
    n_lines = len(starts)
    complete = int(nexts[-1]) if n_lines else 0
    if quote is None or data.find(quote.encode("ascii"), 0, complete) < 0:
        kind = np.zeros(n_lines, np.int8)
        if n_fields > 1:
            kind[cend == starts] = BLANK
        recs = Records(end=complete, n_lines=n_lines, start=starts, stop=cend,
                       line=np.arange(n_lines, dtype=np.int64), kind=kind, unterminated=unterminated)
        _mark_eof(recs, data, eof)
        return recs
    return _QuotedFinder(data, arr, starts, cend, nexts, unterminated, eof=eof, delimiter=delimiter, quote=quote,
                         quoted_newlines=quoted_newlines, n_fields=n_fields, encoding=encoding).run()


def _mark_eof(recs: Records, data: bytes, eof: bool) -> None:
    """A last line made of 0x1A only (the DOS end-of-file mark) is not a record."""
    if not eof or not len(recs.kind) or recs.end != len(data):
        return
    i = len(recs.kind) - 1
    s, e = int(recs.start[i]), int(recs.stop[i])
    if e > s and recs.line[i] == recs.n_lines - 1 and not data[s:e].strip(b"\x1a"):
        recs.kind[i] = EOF_MARK
        recs.issues.pop(i, None)


class _QuotedFinder:
    def __init__(self, data, arr, starts, cend, nexts, unterminated, *, eof, delimiter, quote, quoted_newlines,
                 n_fields, encoding):
        self.data, self.arr = data, arr
        self.starts, self.cend, self.nexts = starts, cend, nexts
        self.unterminated, self.eof = unterminated, eof
        self.n_lines = len(starts)
        self.quoted_newlines, self.n_fields, self.encoding = quoted_newlines, n_fields, encoding
        self.D, self.Q = ord(delimiter), ord(quote)
        self.scanner = _Scanner(delimiter, quote)
        complete = int(nexts[-1]) if self.n_lines else 0
        self.qpos = np.flatnonzero(arr[:complete] == self.Q)
        self.safe = delimiter_is_byte_safe(delimiter, encoding)

    # -------------------------------------------------------------- the quotes, vectorised
    def _analyse(self) -> None:
        arr, qpos, n = self.arr, self.qpos, len(self.arr)
        nq = len(qpos)
        if self.safe:
            # a quote's neighbours: a line starts after LF or CR, and ends before CR or LF
            prev = arr[np.maximum(qpos - 1, 0)]
            opens_ok = (qpos == 0) | (prev == self.D) | (prev == LF) | (prev == CR) | (prev == self.Q)
            nextb = arr[np.minimum(qpos + 1, n - 1)]
            closes_ok = (qpos + 1 >= n) | (nextb == self.D) | (nextb == CR) | (nextb == LF) | (nextb == self.Q)
            self._ok = (opens_ok, closes_ok)
            self.bad: list[np.ndarray | None] = [None, None]
        else:   # the delimiter byte may be half of a double-byte character: every quote is read by the scanner
            self.bad = [np.arange(nq), np.arange(nq)]
        self.q_before = np.searchsorted(qpos, self.starts)    # quotes before each line
        q_through = np.searchsorted(qpos, self.nexts)         # quotes up to each line's end
        self.ends_by_parity = (np.flatnonzero(q_through % 2 == 0), np.flatnonzero(q_through % 2 == 1))

    def _next_bad(self, parity: int, k0: int) -> int:
        """Index of the first quote at or after k0 that is out of place when quote k0 opens (len: none)."""
        b = self.bad[parity]
        if b is None:   # the quotes out of place when the quote of even index opens (parity 0), or the odd one (1)
            opens_ok, closes_ok = self._ok
            o, c = (0, 1) if parity == 0 else (1, 0)
            b = self.bad[parity] = np.sort(np.concatenate([np.flatnonzero(~opens_ok[o::2]) * 2 + o,
                                                           np.flatnonzero(~closes_ok[c::2]) * 2 + c]))
        i = int(b.searchsorted(k0))
        return int(b[i]) if i < len(b) else len(self.qpos)

    def _fields(self, firsts: np.ndarray, lasts: np.ndarray, parity: int) -> np.ndarray:
        """Fields of multi-line records: delimiters outside quotes + 1 (the quoting parity is known)."""
        s, e = self.starts[firsts], self.cend[lasts]
        lens = e - s
        if not lens.sum():
            return np.ones(len(firsts), np.int64)
        pos = np.repeat(s - np.cumsum(np.concatenate([[0], lens[:-1]])), lens) + np.arange(lens.sum())
        is_d = self.arr[pos] == self.D
        outside = np.zeros(len(pos), bool)
        outside[is_d] = np.searchsorted(self.qpos, pos[is_d]) % 2 == parity
        per = np.add.reduceat(outside, np.concatenate([[0], np.cumsum(lens)[:-1]])) if len(lens) else outside
        per = np.where(lens > 0, per, 0)
        return per.astype(np.int64) + 1

    # -------------------------------------------------------------- the walk over segments
    def run(self) -> Records:
        """The records; lines whose quotes all sit inside unquoted fields are read in bulk (below)."""
        if self.safe and len(self.qpos):
            recs = self._run_with_stray_lines()
            if recs is not None:
                return recs
        return self._walk()

    def _run_with_stray_lines(self) -> Records | None:
        """A line none of whose quotes can open a field (each follows a byte other than the delimiter, a line
        break or a quote: `コーポ"A"棟`) is, when it starts a record, one record whose quotes are data: the
        walk would stop at each such quote and read the line with the scanner (a stray_quote warning on the
        field of its first quote). Here those quotes are left out of the walk and the warnings are found for
        all such lines at once. That reading holds when, walked without them, every such line starts a
        record of one line and no quote left open before it could have closed in it (no unclosed quote, no
        record carried over to the next block before it); otherwise (None) the walk is done with every quote."""
        qpos, arr = self.qpos, self.arr
        prev = arr[np.maximum(qpos - 1, 0)]
        can_open = (qpos == 0) | (prev == self.D) | (prev == LF) | (prev == CR) | (prev == self.Q)
        line_of = np.searchsorted(self.starts, qpos, side="right") - 1
        quotes = np.bincount(line_of, minlength=self.n_lines)
        openers = np.bincount(line_of[can_open], minlength=self.n_lines)
        stray_lines = np.flatnonzero((quotes > 0) & (openers == 0))
        if not len(stray_lines):
            return None
        drop = np.zeros(self.n_lines, bool)
        drop[stray_lines] = True
        self.qpos = qpos[~drop[line_of]]
        try:
            recs = self._walk()
        finally:
            self.qpos = qpos
        last = int(stray_lines[-1])
        if last >= recs.n_lines:
            return None
        at = np.searchsorted(recs.line, stray_lines)
        if not ((at < len(recs.line)) & (recs.line[np.minimum(at, len(recs.line) - 1)] == stray_lines)).all():
            return None
        if recs.multi is not None and recs.multi[at].any():
            return None
        if any(issue.rule in ("extract.unclosed_quote", "extract.truncated") and int(recs.line[i]) < last
               for i, issue in recs.issues.items()):
            return None
        # the field of each line's first quote: the delimiters before it (every field before it is unquoted)
        s = self.starts[stray_lines]
        fq = qpos[np.searchsorted(qpos, s)]
        lens = fq - s
        before = np.zeros(len(lens), np.int64)
        np.cumsum(lens[:-1], out=before[1:])
        pos = np.repeat(s - before, lens) + np.arange(int(lens.sum()), dtype=np.int64)
        is_d = (arr[pos] == self.D).astype(np.int64)
        csum = np.zeros(len(is_d) + 1, np.int64)
        np.cumsum(is_d, out=csum[1:])
        field = csum[before + lens] - csum[before]
        recs.strays = (at.astype(np.int64), field)
        return recs

    def _walk(self) -> Records:
        self._analyse()
        firsts: list[np.ndarray] = []
        lasts: list[np.ndarray] = []
        issues: dict[int, Issue] = {}   # by first line
        n_lines, nq = self.n_lines, len(self.qpos)
        j, stop_line = 0, n_lines

        def single(line: int, issue: Issue) -> None:
            firsts.append(np.array([line]))
            lasts.append(np.array([line]))
            issues[line] = issue

        while j < n_lines:
            k0 = int(self.q_before[j])
            parity = k0 & 1
            kv = self._next_bad(parity, k0)
            lv = int(self.starts.searchsorted(self.qpos[kv], side="right")) - 1 if kv < nq else n_lines
            ends_all = self.ends_by_parity[parity]
            ends = ends_all[ends_all.searchsorted(j):ends_all.searchsorted(lv)]
            if len(ends):
                fs = np.empty_like(ends)
                fs[0] = j
                fs[1:] = ends[:-1] + 1
                multi = np.flatnonzero(ends > fs)
                if len(multi):
                    mf, ml = fs[multi], ends[multi]
                    wrong = ((ml - mf + 1 > MAX_RECORD_LINES) | (self.cend[ml] - self.starts[mf] > MAX_RECORD_BYTES)
                             | (self._fields(mf, ml, parity) != self.n_fields))
                    if wrong.any():
                        m = int(multi[np.argmax(wrong)])
                        firsts.append(fs[:m])
                        lasts.append(ends[:m])
                        single(int(fs[m]), _unclosed(False))
                        j = int(fs[m]) + 1
                        continue
                firsts.append(fs)
                lasts.append(ends)
                j = int(ends[-1]) + 1
                if j >= n_lines:
                    break
            if kv < nq:    # the record from line j holds a quote out of place: read it with the scanner
                got = self._scan(j, lv)
                if got is None:
                    stop_line = j
                    break
                status, breaks, n_fields, at = got
                if status == _Scanner.OK and (breaks == 0 or (n_fields == self.n_fields
                                                              and breaks < MAX_RECORD_LINES)):
                    firsts.append(np.array([j]))
                    lasts.append(np.array([j + breaks]))
                    if at is not None:
                        issues[j] = Issue(STRAY_QUOTE.rule, STRAY_QUOTE.severity, STRAY_QUOTE.ja, STRAY_QUOTE.en, at)
                    j += breaks + 1
                elif status == _Scanner.BAD_QUOTE and breaks == 0:
                    single(j, Issue("extract.bad_quote", "error",
                                    f"{at + 1} 番目の項目で、閉じた引用符の後に区切り文字ではない文字が続いています",
                                    f"field {at + 1}: text follows its closing quote before the delimiter", at))
                    j += 1
                else:
                    single(j, _unclosed(self.unterminated and j == n_lines - 1))
                    j += 1
            else:          # a quote opened on line j closes nowhere in this block
                if self.eof or n_lines - j > MAX_RECORD_LINES or \
                        int(self.cend[-1]) - int(self.starts[j]) > MAX_RECORD_BYTES:
                    single(j, _unclosed(self.unterminated and j == n_lines - 1))
                    j += 1
                else:
                    stop_line = j
                    break
        return self._records(firsts, lasts, issues, stop_line)

    def _scan(self, j: int, lv: int):
        """Scan the record from line j (through the quote out of place on line lv); None: more bytes needed."""
        n_lines = self.n_lines
        w = lv - j + 1
        while True:
            last = min(j + w, n_lines) - 1
            text = self.data[self.starts[j]:self.nexts[last]].decode(self.encoding, "surrogateescape")
            got = self.scanner.scan(text)
            if got[0] != _Scanner.OPEN:
                return got
            if last == n_lines - 1:
                if self.eof or n_lines - j > MAX_RECORD_LINES or \
                        int(self.cend[-1]) - int(self.starts[j]) > MAX_RECORD_BYTES:
                    return got
                return None
            if w > MAX_RECORD_LINES or int(self.cend[last]) - int(self.starts[j]) > MAX_RECORD_BYTES:
                return got
            w *= 2

    def _records(self, firsts, lasts, issues: dict[int, Issue], stop_line: int) -> Records:
        f = np.concatenate(firsts).astype(np.int64) if firsts else np.empty(0, np.int64)
        la = np.concatenate(lasts).astype(np.int64) if lasts else np.empty(0, np.int64)
        kind = np.zeros(len(f), np.int8)
        out_issues: dict[int, Issue] = {}
        multi = la > f
        if multi.any() and not self.quoted_newlines:
            kind[multi] = BAD
            for i in np.flatnonzero(multi).tolist():
                out_issues[i] = Issue(*_QUOTED_NEWLINE)
        if self.n_fields > 1:
            kind[(la == f) & (self.cend[f] == self.starts[f])] = BLANK
        if issues:
            pos = np.searchsorted(f, np.fromiter(issues, np.int64, len(issues)))
            for i, issue in zip(pos.tolist(), issues.values()):
                out_issues[i] = issue
                if issue.severity == "error":
                    kind[i] = BAD
        end = int(self.starts[stop_line]) if stop_line < self.n_lines else (int(self.nexts[-1]) if self.n_lines else 0)
        recs = Records(end=end, n_lines=stop_line, start=self.starts[f], stop=self.cend[la], line=f, kind=kind,
                       issues=out_issues, multi=multi if multi.any() else None,
                       unterminated=self.unterminated and stop_line == self.n_lines)
        _mark_eof(recs, self.data, self.eof)
        return recs


def _cut(data: bytes) -> int:
    """End of the last complete line of a block (0: none); a CR ending the block waits for the next byte."""
    return max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1


def iter_chunks(path: Path, chunk_bytes: int, *, skip: int = 0, quote: str | None,
                find: Callable[[bytes, bool], Records], source_name: str = "",
                max_line_bytes: int | None = None) -> Iterator[tuple[int, bytes, int, Records | None, bool]]:
    """Yield (file offset, chunk, its first line, its records or None, is last) for chunks of whole records.

    A chunk ends where a record ends. Without a quote in the block that is its last line break; with
    one, the records are found here (and handed on, so the worker does not find them again) and the
    chunk ends after the last complete one: a record still open is carried into the next read. A line
    longer than `max_line_bytes` stops the read (LayoutError): a file without line breaks would
    otherwise be held in memory whole.
    """
    qb = quote.encode("ascii") if quote else None
    max_line_bytes = max_line_bytes or MAX_LINE_BYTES
    with open(path, "rb") as f:
        if skip:
            f.seek(skip)
        offset, carry, line = skip, b"", 1
        block = f.read(chunk_bytes)
        while True:
            if not block:
                if carry:
                    yield offset, carry, line, None, True
                return
            data = carry + block
            block = f.read(chunk_bytes)
            if not block:
                yield offset, data, line, None, True
                return
            recs = find(data, False) if qb is not None and qb in data else None
            cut = recs.end if recs is not None else _cut(data)
            if cut == 0:
                if len(data) > max_line_bytes:
                    raise LayoutError(f"{source_name}: no line break (LF or CR) in {len(data):,} bytes from file "
                                      f"offset {offset:,}: records without terminators, or not a text file?",
                                      ja=f"{source_name}: {Path(path).name} のファイル先頭から {offset:,} バイト目"
                                         f"以降の {len(data):,} バイトに"
                                         "改行 (LF・CR) がありません: レコードの区切りがないか、テキストファイルでは"
                                         "ありません。ソースのファイルと形式を確認してください")
                carry = data
                continue
            chunk = data[:cut]
            yield offset, chunk, line, recs, False
            line += recs.n_lines if recs is not None else count_lines(chunk)
            offset += cut
            carry = data[cut:]
