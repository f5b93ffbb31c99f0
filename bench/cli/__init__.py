"""The command line: one module per sub-command, one parser, one way errors are reported.

Bad input is one line on stderr naming the bad value and the accepted ones, with exit status 2
and no traceback. Plugin problems are warnings: the rest of the registry keeps working.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from bench.errors import FaultError, UsageError

__all__ = ["main"]

COMMANDS = ("run", "list", "leaderboard", "compare", "show", "cite", "check-real")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line instead of usage plus message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _Parser(
        prog="bench",
        description="transferbench: does transfer help, by how much, at what cost, and when does it hurt?",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the harness does")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"bench.cli.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(func=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    except FaultError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbench: interrupted; finished runs are saved, the same command resumes", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
