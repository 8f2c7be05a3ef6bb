"""Which files a run reads: the walk over the paths given, and loading them into a Project.

Anything that is not a readable regular file (a symlink loop, a dangling link, a FIFO, a
device) is skipped with a note instead of a traceback or a read that never returns.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..source_tree import walk
from .engine import Finding
from .project import Project
from .sources import PythonSource, SqlSource

UNPARSABLE = "E999"  # flake8's code for a file Python cannot parse
UNPARSABLE_FIX = "Fix the syntax error, or leave the file out: nothing in it was checked."


class UsageError(ValueError):
    pass


@dataclass
class Selection:
    """The project to check, files that could not be parsed, and files skipped (with why)."""

    project: Project
    unparsable: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.project.python or self.project.sql or self.unparsable)


def load(paths: Sequence[str | os.PathLike[str]]) -> Selection:
    """Read every selected file; raise UsageError for a path that does not exist."""
    python: list[PythonSource] = []
    sql: list[SqlSource] = []
    selection = Selection(Project(python, sql))
    for path in _selected(paths, selection.skipped):
        text = _read(path, selection.skipped)
        if text is None:
            continue
        if path.suffix == ".sql":
            sql.append(SqlSource(str(path), text))
            continue
        try:
            python.append(PythonSource(str(path), text))
        except SyntaxError as error:
            selection.unparsable.append(
                _unparsable(path, error.lineno or 1, error.offset or 1, error.msg)
            )
        except (RecursionError, MemoryError):
            selection.unparsable.append(
                _unparsable(path, 1, 1, "nested too deeply for Python's parser")
            )
    selection.project = Project(python, sql)
    return selection


def _unparsable(path: Path, line: int, column: int, why: str) -> Finding:
    message = f"not checked, Python cannot parse it: {why}"
    return Finding(str(path), line, column, UNPARSABLE, message, UNPARSABLE_FIX)


def _read(path: Path, skipped: list[str]) -> str | None:
    """The file's text if it is a readable regular file (stat first: a FIFO would block)."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            skipped.append(f"{path}: skipped, not a regular file ({_kind(mode)})")
            return None
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        skipped.append(f"{path}: skipped, {_os_problem(path, error)}")
        return None
    return data.decode("utf-8", errors="replace")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a directory" if stat.S_ISDIR(mode) else "not a file"


def _os_problem(path: Path, error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "a symbolic link loop"
    if error.errno == errno.ENOENT and path.is_symlink():
        return f"a dangling symbolic link (to {os.readlink(path)})"
    return error.strerror or str(error)


def _selected(paths: Sequence[str | os.PathLike[str]], skipped: list[str]) -> Iterator[Path]:
    seen: set[tuple[int, int] | str] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates: Iterator[Path] = _walk(path, skipped)
        elif path.is_symlink() and not path.exists():
            candidates = iter([path])  # a dangling link or a loop: _read says which
        elif path.exists() and not path.is_file():
            candidates = iter([path])  # a FIFO or a device: _read says it is skipped
        elif path.is_file():
            if path.suffix not in (".py", ".sql"):
                raise UsageError(f"{path}: not a Python (.py) or SQL (.sql) file")
            candidates = iter([path])
        else:
            raise UsageError(f"{path}: no such file or directory")
        for candidate in candidates:
            try:
                info = os.stat(candidate)
                key: tuple[int, int] | str = (info.st_dev, info.st_ino)
            except OSError:
                key = str(candidate)
            if key not in seen:
                seen.add(key)
                yield candidate


def _walk(root: Path, skipped: list[str]) -> Iterator[Path]:
    """Python files, and .sql files below a `migrations` directory (pgdbm's migration sets).

    Symbolic links to directories are not followed (no loops); linked files are read.
    """

    def unreadable(error: OSError) -> None:
        skipped.append(f"{error.filename}: skipped, {error.strerror or error}")

    for directory, files in walk(root, onerror=unreadable):
        in_migrations = "migrations" in directory.parts
        for name in files:
            if name.endswith(".py") or (name.endswith(".sql") and in_migrations):
                yield directory / name
