"""`shared-pool check`: the skill's checklist as lint rules (one module per rule, `spNNN_*.py`).

Static analysis only (Python AST and SQL text, no database), reported ruff-style.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from ._core import (
    Finding,
    Project,
    PythonSource,
    Rule,
    SqlSource,
    UnknownCode,
    all_rules,
    run_rules,
    select_rules,
)

__all__ = ["Finding", "Rule", "all_rules", "check_paths", "load_project", "register"]

SKIPPED_DIRS = frozenset(
    {".venv", "venv", "__pycache__", ".git", "node_modules", "build", "dist", ".tox"}
    | {".mypy_cache", ".ruff_cache", ".pytest_cache", "site-packages"}
)


class UsageError(ValueError):
    pass


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        rules = select_rules(_codes(args.select), _codes(args.ignore))
        project, unparsable = load_project(args.paths)
    except (UsageError, UnknownCode) as error:
        print(f"shared-pool check: error: {error}", file=sys.stderr)
        return 2
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


def check_paths(
    paths: Sequence[str | os.PathLike[str]], rules: Sequence[Rule] | None = None
) -> list[Finding]:
    """Findings for these files and directories (all rules unless `rules` is given)."""
    project, _ = load_project(paths)
    return run_rules(project, all_rules() if rules is None else rules)


def load_project(paths: Sequence[str | os.PathLike[str]]) -> tuple[Project, list[str]]:
    """The project to check, and a message per Python file that does not parse."""
    python: list[PythonSource] = []
    sql: list[SqlSource] = []
    unparsable: list[str] = []
    for path in _files(paths):
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".sql":
            sql.append(SqlSource(str(path), text))
            continue
        try:
            python.append(PythonSource(str(path), text))
        except SyntaxError as error:
            where = f"{path}:{error.lineno or 1}:{error.offset or 1}"
            unparsable.append(f"{where}: not checked, Python cannot parse it: {error.msg}")
        except RecursionError:
            unparsable.append(f"{path}:1:1: not checked, nested too deeply for Python's parser")
    return Project(python, sql), unparsable


def _files(paths: Sequence[str | os.PathLike[str]]) -> Iterator[Path]:
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates: Iterator[Path] = _walk(path)
        elif path.is_file():
            if path.suffix not in (".py", ".sql"):
                raise UsageError(f"{path}: not a Python (.py) or SQL (.sql) file")
            candidates = iter([path])
        else:
            raise UsageError(f"{path}: no such file or directory")
        for candidate in candidates:
            resolved = candidate.resolve()
            if resolved not in seen:
                seen.add(resolved)
                yield candidate


def _walk(root: Path) -> Iterator[Path]:
    """Python files, and .sql files below a `migrations` directory (pgdbm's migration sets)."""
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d not in SKIPPED_DIRS)
        in_migrations = "migrations" in Path(directory).parts
        for name in sorted(files):
            if name.endswith(".py") or (name.endswith(".sql") and in_migrations):
                yield Path(directory, name)
