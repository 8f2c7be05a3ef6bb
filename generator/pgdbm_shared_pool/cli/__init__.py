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

# Command -> (the module under cli/ that parses and runs it, its line in `shared-pool --help`).
# Each module defines add_arguments(parser, command) and run(args). Only the module of the
# command being run is imported (`new` does not pay for the lint rules); --help imports all.
COMMANDS = {
    "new": ("new", "create a project from the template (copier copy, non-interactive)"),
    "add-service": (
        "services",
        "add a service of a generated project (a three-way update, as copier's)",
    ),
    "remove-service": (
        "services",
        "remove a service of a generated project (a three-way update, as copier's)",
    ),
    "check": (
        "check",
        "lint a project that uses pgdbm's shared pool (the skill's checklist as rules)",
    ),
    "doctor": (
        "doctor",
        "read-only check of a live database: migrations, pool budget, PgBouncer, pin",
    ),
}


def build_parser(command: str | None = None) -> Parser:
    """The parser for every command, with the arguments of `command` (all of them: None)."""
    parser = Parser(
        prog="shared-pool",
        description="Scaffold, lint and inspect FastAPI apps that share one pgdbm pool.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, summary) in COMMANDS.items():
        subparser = subparsers.add_parser(name, help=summary)
        if command in (name, None):
            module = importlib.import_module(f"{__name__}.{module_name}")
            module.add_arguments(subparser, name)
            # The parser is reachable from the args, for UsageError.
            subparser.set_defaults(run=module.run, parser=subparser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (argparse's own exits included)."""
    import sys

    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments[0] if arguments and arguments[0] in COMMANDS else None)
    try:
        args = parser.parse_args(arguments)
        try:
            return int(args.run(args))
        except UsageError as error:
            args.parser.error(str(error))
    except SystemExit as exit_:  # --help, --version and every usage error
        return exit_.code if isinstance(exit_.code, int) else 1
    return 2  # not reached: Parser.error exits
