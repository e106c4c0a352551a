"""`ikou moji …`: build the dictionary, identify and shrink text files (the acceptance contract)."""
from __future__ import annotations


from pathlib import Path

import polars as pl


def _read_lines(path: str) -> pl.DataFrame:
    """UTF-8 lines in order (no CSV parsing: a name may hold commas or quotes)."""
    text = Path(path).read_text(encoding="utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines() if text else []
    return pl.DataFrame({"input": pl.Series(lines, dtype=pl.String)}).with_row_index("_row_id").with_columns(
        pl.col("_row_id").cast(pl.Int64))


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
    d = _dictionary(args)
    gaiji = load_gaiji_table(Path(args.gaiji), d) if args.gaiji else None
    ledger = Ledger.load(Path(args.ledger)) if args.ledger else None
    df = _read_lines(args.text_file)
    res = identify_frame(df.with_columns(pl.col("input").alias("output")), ["output"], dictionary=d,
                         gaiji=gaiji, ledger=ledger, key_columns=["_row_id"])
    bad = res.unresolved_rows.select("_row_id").unique()
    out = res.frame.with_columns(mj_names(res.frame, "output", res).alias("mj_names")).with_columns(
        pl.when(pl.col("_row_id").is_in(bad["_row_id"].implode())).then(pl.lit("unresolved"))
        .otherwise(pl.lit("ok")).alias("status"))
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
    d = _dictionary(args)
    gaiji = load_gaiji_table(Path(args.gaiji), d) if args.gaiji else None
    if args.policy and Path(args.policy).suffix in (".yaml", ".yml"):
        policy = ShrinkPolicy.load(Path(args.policy))
    else:
        policy = ShrinkPolicy.preset(args.policy or "seiji")
    df = _read_lines(args.text_file)
    res = shrink_text(df["input"], target=args.target, dictionary=d, policy=policy, gaiji=gaiji)
    res.write_csv(args.out)
    return 0


def cmd_decide(args) -> int:
    """Record a reviewer's decision in a 団体's 同定台帳; the next run applies it."""
    from ikou.moji.dictionary import load_dictionary
    from ikou.moji.ledger import Ledger

    char = "".join(chr(int(cp.removeprefix("U+"), 16)) for cp in args.char.split()) \
        if args.char.upper().startswith("U+") else args.char
    ledger = Ledger.load(Path(args.ledger))
    mj = None if args.withdraw else args.mj
    if mj is None and not args.withdraw:
        raise SystemExit("ikou moji decide: give --mj MJxxxxxx or --withdraw")
    version = ledger.decide(char, mj, decided_by=args.by, note=args.note or "")
    ledger.validate(load_dictionary(Path(args.dictionary) if args.dictionary else None))
    ledger.save(Path(args.ledger))
    print(f"{args.char} → {mj or '(withdrawn)'} (version {version}) recorded in {args.ledger}")
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
    i.add_argument("--gaiji", help="外字 table CSV code,mj")
    i.add_argument("--ledger", help="同定台帳 folder: decisions applied, unresolved recorded")
    i.add_argument("--out", required=True)
    i.add_argument("--dictionary", help="built dictionary folder (default <repo>/.cache/moji)")
    i.set_defaults(func=cmd_identify)

    d = sub.add_parser("decide", help="同定台帳に判断を記録する (次の実行から適用)")
    d.add_argument("--ledger", required=True, help="the 団体's ledger folder, e.g. runs/<団体コード>/moji_ledger")
    d.add_argument("--char", required=True, help="the character, or its code points like 'U+E700'")
    d.add_argument("--mj", help="MJ文字図形名 chosen by the reviewer")
    d.add_argument("--withdraw", action="store_true", help="withdraw the current decision")
    d.add_argument("--by", required=True, help="reviewer (recorded with the decision)")
    d.add_argument("--note", default="")
    d.add_argument("--dictionary")
    d.set_defaults(func=cmd_decide)

    s = sub.add_parser("shrink", help="JIS X 0208/0213 への縮退")
    s.add_argument("--text-file", required=True)
    s.add_argument("--target", required=True, choices=["jisx0208", "jisx0213"])
    s.add_argument("--out", required=True)
    s.add_argument("--gaiji", help="外字 table CSV code,mj")
    s.add_argument("--policy", help="preset seiji (default) or preserve, or a YAML policy file")
    s.add_argument("--dictionary")
    s.set_defaults(func=cmd_shrink)
