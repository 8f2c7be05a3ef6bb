"""Walking a user's project: which folders `check` and `doctor` never look into."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

# Virtualenvs, installed packages, build output and caches: not the project's own code.
# Hidden folders (.git, .venv, .tox, .mypy_cache, ...) are skipped as well.
SKIPPED_DIRS = frozenset({"venv", "__pycache__", "node_modules", "site-packages", "build", "dist"})


def walk(
    root: Path, onerror: Callable[[OSError], None] | None = None
) -> Iterator[tuple[Path, list[str]]]:
    """(folder, sorted file names) for `root` and every folder below it worth reading.

    Symbolic links to folders are not followed (no loops); `onerror` gets unreadable ones.
    """
    for directory, subdirectories, files in os.walk(root, onerror=onerror):
        subdirectories[:] = sorted(
            d for d in subdirectories if not d.startswith(".") and d not in SKIPPED_DIRS
        )
        yield Path(directory), sorted(files)
