"""What every command shares: the one usage-error path, failures, paths and JSON as printed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

EXIT_FAILED, EXIT_USAGE = 1, 2  # and 0: ok


class UsageError(Exception):
    """Raised by a command for a bad invocation or a refused answer: exit 2, one line."""


class Parser(argparse.ArgumentParser):
    """argparse with the one usage-error format: `shared-pool CMD: error: why` + a hint."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\nSee `{self.prog} --help`.\n")


def fail(command: str, message: str) -> int:
    """A failure that is not the caller's typing: one line on stderr, exit 1."""
    print(f"shared-pool {command}: error: {message}", file=sys.stderr)
    return EXIT_FAILED


def progress(message: str) -> None:
    print(f"shared-pool: {message}", file=sys.stderr, flush=True)


def shown(path: str | os.PathLike[str]) -> str:
    """A path as a person wants to read it: relative below the current folder, else absolute,
    and never with `..` or `.` segments."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return absolute if relative.startswith("..") else relative


def print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=_jsonable))


def _jsonable(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
