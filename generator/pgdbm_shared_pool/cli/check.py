"""`shared-pool check`: the lint rules over files and folders, reported ruff-style."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._output import Parser, UsageError

if TYPE_CHECKING:
    from ..lint import Finding, Selection


def add_arguments(parser: Parser, command: str) -> None:
    from ..lint import all_rules

    parser.description = (
        "Report pgdbm shared-pool mistakes as `path:line:col: CODE message` with a fix hint.\n"
        "Silence one with `# noqa: CODE` (`-- noqa: CODE` in .sql).\n"
        "Exit codes: 0 clean, 1 findings (or a file Python cannot parse), 2 usage error."
    )
    parser.epilog = "rules:\n" + "\n".join(f"  {r.CODE}  {r.MESSAGE}" for r in all_rules())
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
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
    from ..lint import UnknownCode, collector_paused, load, run_rules, select_rules
    from ..lint import UsageError as BadPath

    with collector_paused():
        try:
            rules = select_rules(_codes(args.select), _codes(args.ignore))
            selection = load(args.paths)
        except (BadPath, UnknownCode) as error:
            raise UsageError(str(error)) from error
        for note in selection.skipped:
            print(note, file=sys.stderr)
        findings = run_rules(selection.project, rules)
    # A file that does not parse was not checked: never report that as clean.
    status = 1 if findings or selection.unparsable else 0
    try:
        _print(args.format, findings, selection, args.paths)
        sys.stdout.flush()
    except BrokenPipeError:  # `check | head`: the reader has all it wants
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return status


def _print(
    output: str, findings: Sequence[Finding], selection: Selection, paths: Sequence[str]
) -> None:
    if selection.empty:
        print(
            f"shared-pool check: nothing to check in {' '.join(paths)}: no *.py files, "
            "and no .sql files below a migrations/ folder",
            file=sys.stderr,
        )
    if output == "json":
        everything = sorted([*findings, *selection.unparsable])
        print(json.dumps([finding.as_json() for finding in everything], indent=2))
        return
    for problem in selection.unparsable:
        print(f"{problem.path}:{problem.line}:{problem.column}: {problem.message}", file=sys.stderr)
    for finding in findings:
        print(f"{finding.path}:{finding.line}:{finding.column}: {finding.code} {finding.message}")
        print(f"    help: {finding.fix}")
    print(_summary(len(findings), selection))


def _summary(findings: int, selection: Selection) -> str:
    """One line: the findings, then what was not checked (never "passed" for those)."""
    unparsable, skipped = len(selection.unparsable), len(selection.skipped)
    if findings:
        parts = [f"Found {_count(findings, 'finding')}"]
    elif selection.empty:
        parts = ["No files checked"]
    elif unparsable or skipped:
        parts = ["No findings in the files read"]
    else:
        parts = ["All checks passed"]
    if unparsable:
        parts.append(f"{_count(unparsable, 'file')} could not be parsed")
    if skipped:
        parts.append(f"{_count(skipped, 'file')} skipped (not readable regular files)")
    return "; ".join(parts) + "."


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def _codes(text: str) -> list[str]:
    return [code.strip().upper() for code in text.split(",") if code.strip()]
