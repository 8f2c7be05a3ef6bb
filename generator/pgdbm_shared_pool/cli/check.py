"""`shared-pool check`: the lint rules over files and folders, reported ruff-style."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._output import UsageError, add_command


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    from ..checks import all_rules

    parser = add_command(
        subparsers,
        "check",
        run,
        help="lint a project that uses pgdbm's shared pool (the skill's checklist as rules)",
        description=(
            "Report pgdbm shared-pool mistakes as `path:line:col: CODE message` with a fix hint.\n"
            "Silence one with `# noqa: CODE` (`-- noqa: CODE` in .sql).\n"
            "Exit codes: 0 clean, 1 findings (or a file Python cannot parse), 2 usage error."
        ),
        epilog="rules:\n" + "\n".join(f"  {r.CODE}  {r.MESSAGE}" for r in all_rules()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="*",
        default=["."],
        help="files or directories (default: .); directories yield *.py and migrations/**/*.sql",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--select", default="", help="comma-separated codes or prefixes (SP0)")
    parser.add_argument("--ignore", default="", help="comma-separated codes or prefixes to skip")


def run(args: argparse.Namespace) -> int:
    from ..checks import UnknownCode, load_project, run_rules, select_rules
    from ..checks import UsageError as BadPath

    try:
        rules = select_rules(_codes(args.select), _codes(args.ignore))
        project, unparsable = load_project(args.paths)
    except (BadPath, UnknownCode) as error:
        raise UsageError(str(error)) from error
    for problem in unparsable:
        print(problem, file=sys.stderr)
    findings = run_rules(project, rules)
    if args.format == "json":
        print(json.dumps([finding.as_json() for finding in findings], indent=2))
    else:
        for finding in findings:
            print(
                f"{finding.path}:{finding.line}:{finding.column}: {finding.code} {finding.message}"
            )
            print(f"    help: {finding.fix}")
        print(_summary(len(findings), len(unparsable)))
    # A file that does not parse was not checked: never report that as clean.
    return 1 if findings or unparsable else 0


def _summary(findings: int, unparsable: int) -> str:
    if findings:
        return f"Found {findings} finding{'s' if findings != 1 else ''}."
    if unparsable:
        files = f"{unparsable} file{'s' if unparsable != 1 else ''}"
        return f"No findings, but {files} could not be parsed."
    return "All checks passed."


def _codes(text: str) -> list[str]:
    return [code.strip().upper() for code in text.split(",") if code.strip()]
