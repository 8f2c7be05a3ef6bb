"""What `npx skills add` puts in an agent's project, modelled without Node, and how to run it.

The skills CLI (vercel-labs/skills 1.7.4, `copyDirectory`) copies each skill's folder from a
clone of the repository, following symlinks (`cp` with `dereference`), and leaves out only
directories named `.git`, `__pycache__`, `__pypackages__` and files named `metadata.json`. A
clone holds the files git knows, so so does the model. test_skill_install_npm.py checks the
model against the real CLI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from skill_blocks import REPO_ROOT, SKILLS_DIR, repository_files

EXCLUDED_DIRS = frozenset({".git", "__pycache__", "__pypackages__"})
EXCLUDED_FILES = frozenset({"metadata.json"})
SKILL_DIR_VARIABLE = "${CLAUDE_SKILL_DIR}"  # Claude Code replaces it in SKILL.md text
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def skill_names() -> list[str]:
    return sorted(folder.name for folder in SKILLS_DIR.iterdir() if folder.is_dir())


def installed_files(skill: str) -> dict[Path, Path]:
    """The copy of `skill` the CLI makes: installed path (relative) -> file in this checkout."""
    known = {(REPO_ROOT / f).resolve() for f in repository_files()}
    source = SKILLS_DIR / skill
    copied: dict[Path, Path] = {}
    for folder, dirs, files in os.walk(source, followlinks=True):
        dirs[:] = [d for d in dirs if d not in EXCLUDED_DIRS]
        for name in files:
            path = Path(folder) / name
            if name not in EXCLUDED_FILES and path.resolve() in known:
                copied[path.relative_to(source)] = path
    return copied


def install(target: Path, skills: list[str] | None = None) -> Path:
    """Copy the skills into `target` (an agent's skills folder, e.g. .claude/skills)."""
    for skill in skills or skill_names():
        for relative, source in installed_files(skill).items():
            destination = target / skill / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    return target


def start_here(skill_dir: Path, block: str) -> str:
    """A shell block of SKILL.md as Claude Code hands it to the agent: the variable filled in."""
    return block.replace(SKILL_DIR_VARIABLE, str(skill_dir))


def run_shell(
    script: str, cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def git_snapshot(dest: Path) -> str:
    """A git repository holding this checkout's files as they are (symlinks kept, uncommitted
    edits included) in one commit; its file:// URL is what `npx skills add` clones."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source, target = REPO_ROOT / name, dest / name
        if not (source.is_symlink() or source.is_file()):
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    git = ["git", "-c", "user.name=snapshot", "-c", "user.email=snapshot@example.invalid"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run([*git, *command], cwd=dest, check=True, capture_output=True)
    return dest.as_uri()


def broken_links(path: Path, root: Path) -> list[str]:
    """Relative links of the markdown file `path` whose target is missing or outside `root`."""
    broken = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        resolved = (path.parent / target.split("#")[0]).resolve()
        if not resolved.exists() or not resolved.is_relative_to(root.resolve()):
            broken.append(target)
    return broken
