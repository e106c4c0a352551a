"""`ikou moji …`: build the dictionary, identify and shrink text files (the acceptance contract)."""
from __future__ import annotations

import codecs
import re
from pathlib import Path

import polars as pl

from ikou.errors import ConfigError
from ikou.reports.csvsafe import neutralised, safe_for_csv


class MissingInputError(ConfigError):
    ja = "入力ファイルがありません"


class MissingLedgerError(ConfigError):
    ja = "同定台帳のフォルダがありません"


class CharError(ConfigError):
    ja = "--char には1文字 (またはそのコードポイント) を指定してください"


class InputEncodingError(ConfigError):
    ja = "入力ファイルを指定の文字コードで読めません (--encoding を確認してください)"


# One character as the 同定台帳 keys it (moji.identify.CHAR_RE): a base code point and at most one variation
# selector (SVS/IVS) or combining mark.
_ONE_CHAR = re.compile(r"(?s).[\uFE00-\uFE0F\U000E0100-\U000E01EF\u0300-\u036F\u3099\u309A]?")


def _input_file(path: str, option: str) -> Path:
    """A file the command reads: refused in one line when it is not there."""
    p = Path(path)
    if not p.is_file():
        raise MissingInputError(f"{option} {path}: no such file")
    return p


def _existing_ledger(path: str, command: str) -> Path:
    """The 同定台帳 folder a command reads or records into must exist: a mistyped path would otherwise
    start a new, empty ledger that no run reads. A run creates it (runs/<団体コード>/moji_ledger)."""
    d = Path(path)
    if not d.is_dir():
        raise MissingLedgerError(f"ikou moji {command}: --ledger {path}: no such ledger folder (a run creates "
                          "runs/<団体コード>/moji_ledger; create the folder to start a new ledger)")
    return d


def _one_char(value: str) -> str:
    """--char: one character (or its code points `U+E700`, `U+8FBB U+E0100`), with at most one
    variation selector, as the ledger records it."""
    text = value.strip()
    if text.upper().startswith("U+"):
        try:
            char = "".join(chr(int(cp[2:], 16)) for cp in text.split() if cp.upper().startswith("U+"))
            if len(char) != len(text.split()):
                raise ValueError(text)
        except (ValueError, OverflowError):
            raise CharError(f"--char {value!r}: not code points like U+E700 or 'U+8FBB U+E0100'") from None
    else:
        char = value
    if any(0xD800 <= ord(c) <= 0xDFFF for c in char):
        raise CharError(f"--char {value!r}: a UTF-16 surrogate (U+D800–U+DFFF) is not a character",
                        ja=f"--char {value!r}: サロゲート (U+D800–U+DFFF) は文字ではありません")
    if not _ONE_CHAR.fullmatch(char):
        raise CharError(f"--char {value!r}: one character expected (with at most one variation selector), "
                          f"got {len(char)} code points")
    return char


def _read_lines(path: str, encoding: str = "utf-8") -> pl.DataFrame:
    """The file's lines in order (no CSV parsing: a name may hold commas or quotes), decoded with
    `encoding`; in UTF-8 a BOM at the start is no part of the first name (utf-8-sig). Lines end at LF,
    CR LF or CR only: a U+2028 or U+0085 inside a name stays in its line, where 文字同定 finds it
    (str.splitlines would cut the name in two). Undecodable bytes are one line naming the file and line."""
    p = _input_file(path, "--text-file")
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise InputEncodingError(f"--encoding {encoding}: unknown encoding") from None
    codec = "utf-8-sig" if codec == "utf-8" else codec
    raw = p.read_bytes()
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        line = len(_LINE_END.split(raw[:exc.start].decode(codec, errors="replace")))
        bad = " ".join(f"0x{b:02X}" for b in raw[exc.start:min(exc.end, exc.start + 4)])
        raise InputEncodingError(f"--text-file {path}: line {line} is not valid {encoding} (bytes {bad}); "
                                 "another --encoding (utf-8, cp932, shift_jis_2004 …) or damaged bytes") from None
    if codec == "cp932" and (bad := _CP932_UNDEFINED.search(text)):
        # Python's cp932 reads these single bytes as U+0080 and U+F8F0–F8F3 (private use: a reviewer would take
        # them for 外字); they are no CP932 characters, and the extract holds them (extract.undefined_byte)
        line = len(_LINE_END.split(text[:bad.start()]))
        byte = _CP932_UNDEFINED_BYTES[bad.group()]
        raise InputEncodingError(f"--text-file {path}: line {line}: byte 0x{byte:02X} is not a CP932 character "
                                 "(undefined byte; damaged data or another --encoding)",
                                 ja=f"--text-file {path}: {line} 行目: バイト 0x{byte:02X} は CP932 の文字ではありません")
    lines = _LINE_END.split(text) if text else []
    if lines and lines[-1] == "":
        lines.pop()   # the line end of the last line
    return pl.DataFrame({"input": pl.Series(lines, dtype=pl.String)}).with_row_index("_row_id").with_columns(
        pl.col("_row_id").cast(pl.Int64))


_LINE_END = re.compile(r"\r\n|\r|\n")
_CP932_UNDEFINED_BYTES = {"\u0080": 0x80, "\uf8f0": 0xA0, "\uf8f1": 0xFD, "\uf8f2": 0xFE, "\uf8f3": 0xFF}
_CP932_UNDEFINED = re.compile("[" + "".join(_CP932_UNDEFINED_BYTES) + "]")


def _dictionary(args):
    from ikou.moji.dictionary import ensure_dictionary
    return ensure_dictionary(Path(args.dictionary) if args.dictionary else None)


def cmd_build(args) -> int:
    from ikou.moji.dictionary import build
    out = build(args.out, args.source)
    print(f"moji dictionary written to {out}")
    return 0


def cmd_identify(args) -> int:
    from ikou.moji.identify import identify_frame, load_gaiji_table, mj_names
    from ikou.moji.ledger import Ledger
    _input_file(args.text_file, "--text-file")
    d = _dictionary(args)
    gaiji = load_gaiji_table(_input_file(args.gaiji, "--gaiji"), d) if args.gaiji else None
    ledger = Ledger.load(Path(args.ledger)) if args.ledger else None
    df = _read_lines(args.text_file, args.encoding)
    res = identify_frame(df.with_columns(pl.col("input").alias("output")), ["output"], dictionary=d,
                         gaiji=gaiji, ledger=ledger, key_columns=["_row_id"])
    invalid, unresolved = (r["_row_id"].unique().implode() for r in (res.invalid_rows, res.unresolved_rows))
    out = res.frame.with_columns(mj_names(res.frame, "output", res).alias("mj_names")).with_columns(
        pl.when(pl.col("_row_id").is_in(invalid)).then(pl.lit("invalid"))   # a run would hold it
        .when(pl.col("_row_id").is_in(unresolved)).then(pl.lit("unresolved"))
        .otherwise(pl.lit("ok")).alias("status"))
    # a CSV for people: a line starting like a formula gets a leading ' (reports.csvsafe), as every CSV we write
    # (the text columns only: mj_names is our own token list, '- - -' for three kana)
    out = out.with_columns(neutralised(pl.col(c)).alias(c) for c in ("input", "output"))
    out.select("input", "output", "mj_names", "status").write_csv(args.out)
    if ledger is not None:
        ledger.update(res, dictionary=d)
        ledger.save(Path(args.ledger))
    c = res.counts
    print(f"{df.height} lines: " + ", ".join(f"{k}={v}" for k, v in c.items()))
    return 0


def cmd_shrink(args) -> int:
    from ikou.moji.identify import load_gaiji_table
    from ikou.moji.shrink import ShrinkPolicy, shrink_text
    _input_file(args.text_file, "--text-file")
    d = _dictionary(args)
    gaiji = load_gaiji_table(_input_file(args.gaiji, "--gaiji"), d) if args.gaiji else None
    if args.policy and Path(args.policy).suffix in (".yaml", ".yml"):
        policy = ShrinkPolicy.load(_input_file(args.policy, "--policy"))
    else:
        policy = ShrinkPolicy.preset(args.policy or "seiji")
    df = _read_lines(args.text_file, args.encoding)
    res = shrink_text(df["input"], target=args.target, dictionary=d, policy=policy, gaiji=gaiji)
    safe_for_csv(res).write_csv(args.out)
    return 0


def cmd_decide(args) -> int:
    """Record a reviewer's decision in a 団体's 同定台帳; the next run applies it."""
    from ikou.moji.dictionary import load_dictionary
    from ikou.moji.ledger import Ledger

    if args.workbook:
        from ikou.moji.review import apply_workbook
        workbook = _input_file(args.workbook, "--workbook")
        ledger = Ledger.load(_existing_ledger(args.ledger, "decide"))
        dictionary = load_dictionary(Path(args.dictionary) if args.dictionary else None)
        res = apply_workbook(ledger, workbook, default_by=args.by, dictionary=dictionary, ahead=args.ahead)
        ledger.validate(dictionary)
        ledger.save(Path(args.ledger))
        withdrawn = f" ({res.withdrawn} withdrawn)" if res.withdrawn else ""
        print(f"{res.recorded} decision(s){withdrawn} from {args.workbook} recorded in {args.ledger}")
        if res.unsigned:   # an emptied 判断 may be a slip: it withdraws only with the reviewer's name
            print(f"注意: 判断が消されたが判断者がないため取り下げていません — not withdrawn, 判断 emptied without "
                  f"判断者: {', '.join(res.unsigned)} (write 判断者 to withdraw)")
        return 0
    if not args.char:
        raise ConfigError("ikou moji decide: give --char (with --mj or --withdraw) or --workbook")

    char = _one_char(args.char)
    mj = None if args.withdraw else args.mj
    if mj is None and not args.withdraw:
        raise ConfigError("ikou moji decide: give --mj MJxxxxxx or --withdraw")
    dictionary = load_dictionary(Path(args.dictionary) if args.dictionary else None)
    probe = Ledger()   # the decision itself is checked first (an unknown MJ name) …
    probe.decide(char, mj, decided_by=args.by)
    probe.validate(dictionary)
    ledger = Ledger.load(_existing_ledger(args.ledger, "decide"))   # … then where it is recorded
    # … and that it can ever apply, for the source it is for (a 外字 code is each vendor's own)
    source = ledger.check_decision(char, mj, dictionary=dictionary, ahead=args.ahead, source=args.source)
    version = ledger.decide(char, mj, decided_by=args.by, note=args.note or "", source=source)
    ledger.validate(dictionary)
    ledger.save(Path(args.ledger))
    print(f"{args.char} → {mj or '(withdrawn)'} (version {version}"
          + (f", source {source}" if source else "") + f") recorded in {args.ledger}")
    return 0


def cmd_glyphs(args) -> int:
    """Build the glyph index from IPAmj明朝 and the Adobe-Japan1 crosswalk (into <repo>/.cache/glyphs)."""
    from ikou.errors import ConfigError
    from ikou.moji import crosswalk as X
    from ikou.moji import glyphs as G
    try:
        out = G.build_index(Path(args.out) if args.out else None, Path(args.font) if args.font else None)
    except ConfigError as exc:
        if args.optional:
            print(f"note: glyph index not built: {exc}")
            return 0
        raise
    ix = G.load_index(out)
    print(f"glyph index: {ix.meta['glyphs']} MJ glyphs from {ix.meta['font']} ({ix.meta['font_version']}) "
          f"in {ix.meta['build_seconds']} s → {out}")
    lacking = pl.read_csv(out / "lacking.csv")
    print(f"MJ glyphs the font lacks or draws from an older shape: {lacking.height} "
          f"({', '.join(f'{r}: {n}' for r, n in lacking['reason'].value_counts().iter_rows()) or 'none'}; "
          f"{out / 'lacking.csv'})")
    if not args.no_crosswalk:
        try:
            xw = X.build_crosswalk(out, index=ix)
        except ConfigError as exc:
            print(f"note: Adobe-Japan1 crosswalk not built: {exc}")
            return 0
        print(f"Adobe-Japan1 crosswalk: {xw['seq'].n_unique()} sequences with MJ glyphs of their base, "
              f"{xw.filter(pl.col('rank').is_null()).height} the font cannot draw → {out / 'adobe_japan1.csv'}")
    return 0


def cmd_suggest(args) -> int:
    """MJ candidates for every private-use glyph of a 外字 font: CSV code,rank,mj,score."""
    from ikou.moji import glyphs as G
    r = G.suggest(Path(args.font), G.parse_codes(args.codes), top=args.top)
    r.select("code", "rank", "mj", "score").write_csv(args.out)
    if args.evidence:
        r.write_csv(args.evidence)
    print(f"{r['code'].n_unique()} 外字 ranked ({args.top} candidates each) → {args.out}")
    return 0


def cmd_review(args) -> int:
    """The 同定台帳 as a self-contained HTML page and an Excel workbook for reviewers."""
    from ikou.moji import crosswalk as X
    from ikou.moji.ledger import Ledger
    from ikou.moji.review import render_html, write_workbook
    d = _existing_ledger(args.ledger, "review")
    ledger = Ledger.load(d)
    html_out = Path(args.html) if args.html else d / "review.html"
    xlsx_out = Path(args.xlsx) if args.xlsx else d / "review.xlsx"
    ledger.save_identity(d)   # a ledger from before identities gets one: the workbook names it
    render_html(ledger, html_out, crosswalk=X.load_crosswalk())
    write_workbook(ledger, xlsx_out)
    print(f"{ledger.entries.height} row(s) → {html_out}, {xlsx_out}")
    return 0


def cmd_adopt_crosswalk(args) -> int:
    """Adopt the Adobe-Japan1 crosswalk's rank-1 glyphs as decisions (those in the ledger, or --all)."""
    from ikou.moji import crosswalk as X
    from ikou.moji.dictionary import load_dictionary
    from ikou.moji.ledger import Ledger
    d = _existing_ledger(args.ledger, "adopt-crosswalk")
    xw = X.load_crosswalk()
    if xw is None:
        raise ConfigError("ikou moji adopt-crosswalk: no crosswalk: run `ikou moji glyphs` first")
    ledger = Ledger.load(d)
    best = xw.filter((pl.col("rank") == 1) & (pl.col("score") >= args.min_score))
    if not args.all:
        best = best.filter(pl.col("codepoints").is_in(ledger.entries["codepoints"].implode()))
    active = ledger.active().select("codepoints", pl.col("mj").alias("_active"))
    best = best.join(active, on="codepoints", how="left").filter(pl.col("_active").is_null())
    for seq, mj, score in best.select("seq", "mj", "score").iter_rows():  # decisions, not records
        ledger.decide(seq, mj, decided_by=args.by, note=f"Adobe-Japan1 crosswalk, score {score:.4f}")
    ledger.validate(load_dictionary(Path(args.dictionary) if args.dictionary else None))
    ledger.save(Path(args.ledger))
    print(f"{best.height} Adobe-Japan1 sequence(s) adopted into {args.ledger}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("moji", help="文字同定 (MJ) と縮退")
    sub = p.add_subparsers(dest="moji_command", required=True)

    b = sub.add_parser("build", help="MJ文字辞書を構築する")
    b.add_argument("--out", help="output folder (default <repo>/.cache/moji)")
    b.add_argument("--source", help="MJ source folder, or 'npm'")
    b.set_defaults(func=cmd_build)

    i = sub.add_parser("identify", help="テキストの文字同定")
    i.add_argument("--text-file", required=True)
    i.add_argument("--encoding", default="utf-8",
                   help="of --text-file: utf-8 (default; a BOM is dropped), cp932, shift_jis_2004 …")
    i.add_argument("--gaiji", help="外字 table CSV code,mj")
    i.add_argument("--ledger", help="同定台帳 folder: decisions applied, unresolved recorded")
    i.add_argument("--out", required=True)
    i.add_argument("--dictionary", help="built dictionary folder (default <repo>/.cache/moji)")
    i.set_defaults(func=cmd_identify)

    d = sub.add_parser("decide", help="同定台帳に判断を記録する (次の実行から適用)")
    d.add_argument("--ledger", required=True, help="the 団体's ledger folder, e.g. runs/<団体コード>/moji_ledger")
    d.add_argument("--char", help="the character, or its code points like 'U+E700'")
    d.add_argument("--workbook", help="a review workbook (ikou moji review) whose 判断 column to record")
    d.add_argument("--mj", help="MJ文字図形名 chosen by the reviewer")
    d.add_argument("--withdraw", action="store_true", help="withdraw the current decision")
    d.add_argument("--source", help="for a 外字 (private-use code): the source the decision is for (required "
                                    "when several sources hold the code unresolved, or none does and several hold "
                                    "a decision for it; a vendor's 外字 is its own)")
    d.add_argument("--ahead", action="store_true",
                   help="decide a character no run has found yet (not in the ledger), ahead of the data")
    d.add_argument("--by", required=True, help="reviewer (recorded with the decision; the workbook's 判断者 wins)")
    d.add_argument("--note", default="")
    d.add_argument("--dictionary")
    d.set_defaults(func=cmd_decide)

    g = sub.add_parser("glyphs", help="IPAmj明朝 の字形索引と Adobe-Japan1 対応表を構築する")
    g.add_argument("--font", help="ipamjm.ttf (default: fonts-ipamj-mincho, or IKOU_IPAMJ_FONT)")
    g.add_argument("--out", help="index folder (default <repo>/.cache/glyphs)")
    g.add_argument("--no-crosswalk", action="store_true", help="skip the Adobe-Japan1 crosswalk")
    g.add_argument("--optional", action="store_true", help="exit 0 with a note when the font is missing")
    g.set_defaults(func=cmd_glyphs)

    sg = sub.add_parser("suggest", help="外字フォントの字形から MJ 候補を順位付けする")
    sg.add_argument("--font", required=True, help="the vendor's 外字 font (TrueType/OpenType, .TTE)")
    sg.add_argument("--codes", help="U+E000-U+E0FF[,U+E700…] (default: every private-use glyph)")
    sg.add_argument("--top", type=int, default=10)
    sg.add_argument("--out", required=True, help="CSV code,rank,mj,score")
    sg.add_argument("--evidence", help="also write the evidence (distance, strokes, 部首) to this CSV")
    sg.set_defaults(func=cmd_suggest)

    rv = sub.add_parser("review", help="同定台帳のレビュー用 HTML と Excel を書く")
    rv.add_argument("--ledger", required=True)
    rv.add_argument("--html", help="default <ledger>/review.html")
    rv.add_argument("--xlsx", help="default <ledger>/review.xlsx")
    rv.set_defaults(func=cmd_review)

    ax = sub.add_parser("adopt-crosswalk", help="Adobe-Japan1 対応表の第1候補を判断として採用する")
    ax.add_argument("--ledger", required=True)
    ax.add_argument("--by", required=True)
    ax.add_argument("--min-score", type=float, default=0.99)
    ax.add_argument("--all", action="store_true", help="every sequence, not only those in the ledger")
    ax.add_argument("--dictionary")
    ax.set_defaults(func=cmd_adopt_crosswalk)

    s = sub.add_parser("shrink", help="JIS X 0208/0213 への縮退")
    s.add_argument("--text-file", required=True)
    s.add_argument("--encoding", default="utf-8", help="of --text-file (default utf-8; a BOM is dropped)")
    s.add_argument("--target", required=True, choices=["jisx0208", "jisx0213"])
    s.add_argument("--out", required=True)
    s.add_argument("--gaiji", help="外字 table CSV code,mj")
    s.add_argument("--policy", help="preset seiji (default) or preserve, or a YAML policy file")
    s.add_argument("--dictionary")
    s.set_defaults(func=cmd_shrink)

    for c in (b, i, d, g, sg, rv, ax, s):
        c.add_argument("--debug", action="store_true", help="show the traceback of a failure")
