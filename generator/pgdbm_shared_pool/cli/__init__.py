"""The `shared-pool` command line: every command's parsing and printing, over the libraries
beneath it (scaffold, lint, doctor), which never print.

Exit codes, for every command: 0 ok, 1 findings or failure, 2 usage error (a bad flag, a
missing argument, or an answer the template refuses).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from .. import __version__
from ._output import Parser, UsageError

# Command -> the module under cli/ that registers it. Only the module of the command being
# run is imported (`new` does not pay for the lint rules); help and unknown commands get all.
COMMANDS = {
    "new": "new",
    "add-service": "services",
    "remove-service": "services",
    "check": "check",
    "doctor": "doctor",
}


def build_parser(command: str | None = None) -> Parser:
    """The parser for `command` alone, or for every command."""
    parser = Parser(
        prog="shared-pool",
        description="Scaffold, lint and inspect FastAPI apps that share one pgdbm pool.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in wanted:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (argparse's own exits included)."""
    import sys

    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments[0] if arguments else None)
    try:
        args = parser.parse_args(arguments)
        try:
            return int(args.run(args))
        except UsageError as error:
            args.parser.error(str(error))
    except SystemExit as exit_:  # --help, --version and every usage error
        return exit_.code if isinstance(exit_.code, int) else 1
    return 2  # not reached: Parser.error exits
