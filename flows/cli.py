"""The `ikou` command line.

Stage packages contribute their own sub-commands through `register(subparsers)` in their
`cli.py` (moji, reports …), so this file only wires them in.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Packages that add sub-commands; each has `cli.register(subparsers)`.
SUBCOMMAND_PACKAGES = ("ikou.flows.run_cli", "ikou.flows.campaign_cli", "ikou.moji.cli", "ikou.reports.cli",
                       "ikou.sample.generate", "ikou.reference")


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


def _sub_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._subparsers._group_actions:   # argparse keeps its sub-parsers there
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


# The unexpected error's own message is cut to this many characters: enough to say what failed, little
# room for a record's content (a driver or parser may quote a value).
UNEXPECTED_MAX_CHARS = 200


def _debug(args) -> bool:
    import os

    return bool(getattr(args, "debug", False) or os.environ.get("IKOU_DEBUG"))


def main(argv: list[str] | None = None) -> int:
    """Run a sub-command; any error ends it with one line (Japanese and English) and exit code 2, a
    traceback only with --debug (or IKOU_DEBUG=1). An error that is not ikou's own is named by its
    kind and the first line of its message (cut short)."""
    from ikou.errors import IkouError, message_ja, one_line

    args = None
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:   # named with the sub-command's own usage, not the list of sub-commands
            _sub_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
        rc = args.func(args)
    except KeyboardInterrupt:   # before a run began (or a command that has no cancel of its own): one line
        print("ikou: 中断しました — cancelled", file=sys.stderr, flush=True)
        return 130
    except IkouError as exc:
        if _debug(args):
            raise
        print(f"ikou: 失敗: {message_ja(exc)} — failed: {one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:   # noqa: BLE001 - anything else: one line too, never a traceback without --debug
        if _debug(args):
            raise
        line = one_line(exc)
        if len(line) > UNEXPECTED_MAX_CHARS:
            line = line[:UNEXPECTED_MAX_CHARS] + "…"
        print(f"ikou: 失敗: {message_ja(exc)} — failed: unexpected error {line} (--debug shows the traceback)",
              file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
