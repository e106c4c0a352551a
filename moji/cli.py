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
    from moji.dictionary import ensure_dictionary
    return ensure_dictionary(Path(args.dictionary) if args.dictionary else None)


def cmd_build(args) -> int:
    from moji.dictionary import build
    out = build(args.out, args.source)
    print(f"moji dictionary written to {out}")
    return 0


def cmd_identify(args) -> int:
    from moji.identify import identify_frame, load_gaiji_table, mj_names
    from moji.ledger import Ledger
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
    from moji.identify import load_gaiji_table
    from moji.shrink import ShrinkPolicy, shrink_text
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

    s = sub.add_parser("shrink", help="JIS X 0208/0213 への縮退")
    s.add_argument("--text-file", required=True)
    s.add_argument("--target", required=True, choices=["jisx0208", "jisx0213"])
    s.add_argument("--out", required=True)
    s.add_argument("--gaiji", help="外字 table CSV code,mj")
    s.add_argument("--policy", help="preset seiji (default) or preserve, or a YAML policy file")
    s.add_argument("--dictionary")
    s.set_defaults(func=cmd_shrink)
