"""The `shared-pool` command line: every command's parsing and printing, over the libraries
beneath it (scaffold, checks, doctor), which never print.

Exit codes, for every command: 0 ok, 1 findings or failure, 2 usage error (a bad flag, a
missing argument, or an answer the template refuses).
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import __version__
from ._output import Parser, UsageError


def build_parser() -> Parser:
    from . import check, doctor, new, services

    parser = Parser(
        prog="shared-pool",
        description="Scaffold, lint and inspect FastAPI apps that share one pgdbm pool.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (new, services, check, doctor):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (argparse's own exits included)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        try:
            return int(args.run(args))
        except UsageError as error:
            args.parser.error(str(error))
    except SystemExit as exit_:  # --help, --version and every usage error
        return exit_.code if isinstance(exit_.code, int) else 1
    return 2  # not reached: Parser.error exits
