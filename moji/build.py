"""`python -m moji.build [--out DIR] [--source DIR|npm]`: prepare the moji dictionary cache."""
from __future__ import annotations

import argparse
import sys

from ikou.moji.dictionary import build


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m moji.build", description="MJ文字辞書を構築する")
    p.add_argument("--out", help="output folder (default <repo>/.cache/moji or IKOU_MOJI_CACHE)")
    p.add_argument("--source", help="MJ source folder, or 'npm' for @mandel59/mojidata@1.8.1")
    a = p.parse_args(argv)
    out = build(a.out, a.source)
    print(f"moji dictionary written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
