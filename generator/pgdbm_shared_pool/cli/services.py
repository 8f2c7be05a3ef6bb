"""`shared-pool add-service` and `remove-service`: change a generated project's services."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from ._output import Parser, UsageError, fail, print_json, progress, shown


def add_arguments(parser: Parser, command: str) -> None:
    verb = command.removesuffix("-service").capitalize()
    parser.description = (
        f"{verb} a service: the project's own template version is rendered with the old and "
        "the new list of services and the difference is merged into PROJECT, keeping user "
        "edits. Neither the template nor PROJECT needs to be a git repository. Exit 0: done, "
        "1: failed or conflicting edits (nothing changed), 2: usage error or a name the "
        "template refuses."
    )
    parser.add_argument("project", type=Path, metavar="PROJECT", help="the generated project")
    parser.add_argument("name", metavar="NAME", help="service name")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from ..scaffold import InvalidAnswers, ScaffoldError, add_service, remove_service

    function = add_service if args.command == "add-service" else remove_service
    try:
        result = function(args.project, args.name, progress=progress)
    except InvalidAnswers as error:
        raise UsageError(str(error)) from error
    except ScaffoldError as error:
        return fail(args.command, str(error))
    if args.json:
        print_json(asdict(result))
    else:
        print(f"Services of {shown(result.dest)}: {', '.join(result.answers['services'])}")
        for label, paths in (("created", result.created), ("changed", result.changed)):
            print(f"{label}: {', '.join(map(str, paths)) or 'nothing'}")
        print(f"removed: {len(result.removed)} files")
    return 0
