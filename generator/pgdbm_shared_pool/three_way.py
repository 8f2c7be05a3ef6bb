"""Carry a change of the template's answers into a project, keeping the user's edits.

Copier's update is a three-way merge: `old` is the template rendered with the project's
recorded answers (what the project looked like when generated), `new` the same template with
the changed answers, and the project is `old` plus the user's edits. Only paths that differ
between `old` and `new` are touched, so this needs neither a git template nor a git project;
a file both sides changed is merged with `git merge-file`. Nothing is written unless every
path merges cleanly, and a failure while writing puts every touched path back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

IGNORED_DIRS = frozenset({".git", "__pycache__"})
_STAGED = ".shared-pool-new"  # suffix of a file written next to its target before the swap


class MergeConflict(Exception):
    """Paths where the user's edits and the template's change overlap; nothing was written."""

    def __init__(self, reasons: dict[Path, str]) -> None:
        self.reasons = reasons
        super().__init__("; ".join(f"{path}: {why}" for path, why in sorted(reasons.items())))


@dataclass
class Plan:
    """What applying the change does to the project."""

    writes: dict[Path, bytes] = field(default_factory=dict)  # new contents by relative path
    modes: dict[Path, int] = field(default_factory=dict)  # of the files the change creates
    deletes: list[Path] = field(default_factory=list)

    @property
    def created(self) -> list[Path]:
        return sorted(self.modes)

    @property
    def changed(self) -> list[Path]:
        return sorted(self.writes.keys() - self.modes.keys())


def files(root: Path) -> dict[Path, Path]:
    """Relative path -> file, for every file under `root` (not .git, not __pycache__)."""
    found = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in IGNORED_DIRS]
        for name in names:
            path = Path(folder) / name
            found[path.relative_to(root)] = path
    return found


def plan(project: Path, old: Path, new: Path, generated: frozenset[Path] = frozenset()) -> Plan:
    """The writes and deletions that carry old -> new into `project`; MergeConflict if any
    path cannot be merged (the project is not touched). `generated` paths are the tool's own
    records (copier's answers file): the new render's version replaces the project's."""
    old_files, new_files = files(old), files(new)
    result, conflicts = Plan(), {}
    for path in sorted(old_files.keys() | new_files.keys()):
        base = _read(old_files.get(path))
        theirs = _read(new_files.get(path))
        if base == theirs and path not in generated:
            continue  # the change does not touch this path
        ours = _read(project / path)
        if ours == theirs:
            continue  # already as the change makes it
        if ours == base or path in generated:
            if theirs is None:
                result.deletes.append(path)
            else:
                result.writes[path] = theirs
                if base is None:
                    result.modes[path] = new_files[path].stat().st_mode
        elif ours is None:
            continue  # the user deleted it: copier does not bring such files back either
        elif base is None:
            conflicts[path] = "the project has its own file where the template adds one"
        elif theirs is None:
            conflicts[path] = "it would be deleted, but you changed it: delete it yourself first"
        else:
            try:
                merged = merge_text(ours, base, theirs)
            except OSError:
                conflicts[path] = "you and the template changed it; merging needs git (not found)"
                continue
            if merged is None:
                conflicts[path] = "your edits and the template's change touch the same lines"
            else:
                result.writes[path] = merged
    if conflicts:
        raise MergeConflict(conflicts)
    return result


def merge_text(ours: bytes, base: bytes, theirs: bytes) -> bytes | None:
    """`git merge-file` of three versions; None when they conflict (OSError without git)."""
    with tempfile.TemporaryDirectory(prefix="shared-pool-merge-") as scratch:
        paths = []
        for name, content in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(scratch) / name
            path.write_bytes(content)
            paths.append(str(path))
        done = subprocess.run(
            ["git", "merge-file", "--stdout", *paths], capture_output=True, check=False
        )
    return done.stdout if done.returncode == 0 else None


def apply(project: Path, change: Plan) -> None:
    """Write the plan: every new content is staged beside its target first, then swapped in;
    if anything fails, every path touched so far gets its previous content back."""
    touched = [*change.writes, *change.deletes]
    previous = {path: _read(project / path) for path in touched}
    made_dirs = _missing_dirs(project, change.writes)
    staged: list[Path] = []
    try:
        for path, content in change.writes.items():
            target = project / path
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(target.name + _STAGED)
            temporary.write_bytes(content)
            staged.append(temporary)
            if path in change.modes:
                os.chmod(temporary, change.modes[path])
            elif target.exists():
                shutil.copymode(target, temporary)
        for path in change.writes:
            target = project / path
            os.replace(target.with_name(target.name + _STAGED), target)
        for path in change.deletes:
            (project / path).unlink()
    except BaseException:
        for temporary in staged:
            temporary.unlink(missing_ok=True)
        _restore(project, previous)
        for folder in sorted(made_dirs, key=lambda d: len(d.parts), reverse=True):
            _remove_if_empty(folder)
        raise
    _prune_empty_dirs(project, change.deletes)


def _read(path: Path | None) -> bytes | None:
    if path is None or not path.is_file():
        return None
    return path.read_bytes()


def _missing_dirs(project: Path, paths: Iterable[Path]) -> set[Path]:
    missing = set()
    for path in paths:
        folder = (project / path).parent
        while not folder.exists():
            missing.add(folder)
            folder = folder.parent
    return missing


def _restore(project: Path, previous: dict[Path, bytes | None]) -> None:
    for path, content in previous.items():
        target = project / path
        if content is None:
            target.unlink(missing_ok=True)
        elif _read(target) != content:
            target.write_bytes(content)


def _prune_empty_dirs(project: Path, deleted: list[Path]) -> None:
    """Remove the folders the deletions emptied (a removed service's package), up to the
    project root; a folder left with nothing but a bytecode cache counts as empty."""
    folders = {parent for path in deleted for parent in (project / path).parents}
    for folder in sorted(folders, key=lambda d: len(d.parts), reverse=True):
        if not folder.is_relative_to(project) or folder == project or not folder.is_dir():
            continue
        if {entry.name for entry in folder.iterdir()} == {"__pycache__"}:
            shutil.rmtree(folder / "__pycache__", ignore_errors=True)
        _remove_if_empty(folder)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (or gone): leave it
        folder.rmdir()
