"""The skill's checklist as lint rules (one module per rule, `spNNN_*.py`), for `shared-pool check`.

Static analysis only (Python AST and SQL text, no database); cli/check.py reports ruff-style.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..source_tree import walk
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

__all__ = [
    "Finding",
    "Rule",
    "UnknownCode",
    "UsageError",
    "all_rules",
    "check_paths",
    "load_project",
    "run_rules",
    "select_rules",
]


class UsageError(ValueError):
    pass


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
    for directory, files in walk(root):
        in_migrations = "migrations" in directory.parts
        for name in files:
            if name.endswith(".py") or (name.endswith(".sql") and in_migrations):
                yield directory / name
