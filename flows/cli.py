"""The `ikou` command line.

Stage packages contribute their own sub-commands through `register(subparsers)` in their
`cli.py` (moji, reports …), so this file only wires them in.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Packages that add sub-commands; each has `cli.register(subparsers)`.
SUBCOMMAND_PACKAGES = ("ikou.flows.run_cli", "ikou.flows.campaign_cli", "ikou.moji.cli", "ikou.reports.cli", "ikou.sample.generate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ikou", description="自治体 基幹業務データ移行 (ikou)")
    sub = parser.add_subparsers(dest="command", required=True)
    for modname in SUBCOMMAND_PACKAGES:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name and modname.startswith(exc.name):
                continue  # package not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a sub-command; an ikou error ends it with one line (Japanese and English), a traceback only
    with --debug (or IKOU_DEBUG=1)."""
    import os

    from ikou.errors import IkouError, message_ja, one_line

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except IkouError as exc:
        if getattr(args, "debug", False) or os.environ.get("IKOU_DEBUG"):
            raise
        print(f"ikou: 失敗: {message_ja(exc)} — failed: {one_line(exc)}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
