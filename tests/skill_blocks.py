"""Executed guidance: every code block an agent reads in this skill is run or pinned by a test.

The markdown an agent reads (each ``skills/<name>/SKILL.md`` and its ``references/*.md``) is split
into fenced blocks. Every ``python``, ``sql`` and ``bash`` block carries a name, written as an HTML
comment on the line just before its fence (invisible when rendered)::

    <!-- block: wrong-positional-table -->
    ```python
    ...
    ```

Names are unique across all files. The ``test_skill_blocks_*.py`` modules each hold a ``CHECKS``
registry that maps block names to how they are covered, and ``test_skill_blocks.py`` fails when a
block has no entry, an entry names no block, or two entries cover the same block:

``Run(*steps)``
    A program assembled from steps and run against a fresh, empty database. A step is either a
    block, ``B("name")``, or a string of test code (set-up that the prose states in words, and the
    assertions). Python steps share one namespace and one event loop, and may use top-level
    ``await``: they are compiled with ``PyCF_ALLOW_TOP_LEVEL_AWAIT``, so a block can be exactly
    the fragment a reader would paste. A ``sql`` block is not executed by itself: its text is put in
    the ``BLOCKS`` dict of the namespace, and the test code around it runs it (as a migration
    file, usually). The program runs in its own interpreter (``python skill_blocks.py SPEC``),
    with ``DATABASE_URL`` pointing at the fresh database and a temporary working directory; the
    namespace's ``__file__`` is ``<workdir>/app.py``, so ``Path(__file__).parent`` is the workdir.

``Fails(B("name"), "module.ExceptionType", "message fragment", cause=None)``
    A step that must raise exactly that exception type (qualified name), with the fragment in its
    message, and optionally a ``__cause__`` of the given type. This is how every WRONG block is
    executed: the text quotes the exception and fragment, a test asserts that the prose leading
    to the block quotes them too, and later steps can assert the damage the block left behind
    (rows in ``public``, a leaked pool's backends in ``pg_stat_activity``, ...).

``SameAs("relative/path", render=...)``
    The block is a verbatim region of a file of a project rendered from the copier template (the
    template's own tests execute that file). Used where the skill shows the generated code;
    ``python tests/skill_excerpts.py`` refreshes them after a template change.

``Shell()``
    A shell block, run verbatim by ``test_skill_installed.py`` from an installed copy of the skill
    (and by ``test_skill_install_npm.py`` from copies the real ``skills`` CLI installed).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import linecache
import os
import re
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SKILLS_DIR = REPO_ROOT / "skills"  # one folder per skill, as `npx skills add` installs them
MAIN_SKILL = "pgdbm-shared-pool"
EXECUTED_LANGUAGES = frozenset({"python", "sql", "bash"})
_BLOCK_NAME = re.compile(r"^<!--\s*block:\s*([a-z0-9][a-z0-9-]*)\s*-->\s*$")
_FENCE = re.compile(r"^(```+)([A-Za-z0-9_+-]*)\s*$")
_PROGRAM_TIMEOUT_S = 120


@dataclass(frozen=True)
class Block:
    name: str | None
    language: str
    text: str
    path: Path
    line: int  # 1-based line of the opening fence
    lead: str  # the prose just before the fence: from the last heading or fence to it


def doc_files(skills_dir: Path = SKILLS_DIR) -> list[Path]:
    """The markdown an agent reads: each skill's SKILL.md and references, the main skill first.

    `skills_dir` holds the skill folders: this checkout's skills/, or an agent's installed
    `.claude/skills/`.
    """
    folders = sorted(skills_dir.iterdir(), key=lambda folder: (folder.name != MAIN_SKILL, folder))
    files = []
    for folder in folders:
        files += [folder / "SKILL.md", *sorted((folder / "references").glob("*.md"))]
    return [f for f in files if f.is_file()]


def repository_files() -> list[Path]:
    """The files a clone of this repository has: tracked ones plus new, not ignored ones."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [Path(name) for name in listed.split("\0") if name and (REPO_ROOT / name).is_file()]


def parse_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    blocks: list[Block] = []
    lead_start = 0  # the prose leading to the next block starts after a heading or a fence
    i = 0
    while i < len(lines):
        if lines[i].startswith("#"):
            lead_start = i
        match = _FENCE.match(lines[i].rstrip("\n"))
        if not match:
            i += 1
            continue
        fence, language = match.groups()
        end = i + 1
        while end < len(lines) and lines[end].rstrip("\n") != fence:
            end += 1
        if end == len(lines):
            raise ValueError(f"{path}:{i + 1}: unclosed code fence")
        name_match = _BLOCK_NAME.match(lines[i - 1].rstrip("\n")) if i else None
        blocks.append(
            Block(
                name=name_match.group(1) if name_match else None,
                language=language,
                text="".join(lines[i + 1 : end]),
                path=path,
                line=i + 1,
                lead="".join(lines[lead_start:i]),
            )
        )
        i = lead_start = end + 1
    return blocks


def all_blocks(skills_dir: Path = SKILLS_DIR) -> list[Block]:
    return [block for path in doc_files(skills_dir) for block in parse_blocks(path)]


def named_blocks(skills_dir: Path = SKILLS_DIR) -> dict[str, Block]:
    blocks: dict[str, Block] = {}
    for block in all_blocks(skills_dir):
        if block.name is None:
            continue
        if block.name in blocks:
            raise ValueError(f"block name {block.name!r} used twice")
        blocks[block.name] = block
    return blocks


# --- the registry vocabulary --------------------------------------------------------------


@dataclass(frozen=True)
class B:
    """A step that is a block of the skill, by name."""

    name: str


@dataclass(frozen=True)
class Fails:
    """A step (a block, or test code driving one) that must raise `error` with `fragment`."""

    step: B | str
    error: str
    fragment: str
    cause: str | None = None


Step = B | Fails | str


@dataclass(frozen=True)
class Run:
    steps: tuple[Step, ...]

    def __init__(self, *steps: Step) -> None:
        object.__setattr__(self, "steps", steps)

    def block_names(self) -> list[str]:
        refs = [s.step if isinstance(s, Fails) else s for s in self.steps]
        return [ref.name for ref in refs if isinstance(ref, B)]

    def failures(self) -> list[Fails]:
        return [step for step in self.steps if isinstance(step, Fails)]


@dataclass(frozen=True)
class SameAs:
    """The block is a verbatim region of `path` in a project rendered with `services`."""

    path: str
    services: tuple[str, ...] = ("users", "orders")
    use_tenants: bool = False


@dataclass(frozen=True)
class Shell:
    """A shell block run verbatim by test_skill_installed.py."""


Check = Run | SameAs | Shell


# --- running a program --------------------------------------------------------------------


@dataclass
class StepResult:
    label: str
    error_chain: list[tuple[str, str]] = field(default_factory=list)  # (qualified type, message)
    traceback: str = ""


def _labelled_steps(run: Run, blocks: dict[str, Block]) -> Iterator[tuple[Step, str, str]]:
    """(step, label, python source) for each executed step; sql blocks are data, not steps."""
    for index, step in enumerate(run.steps):
        ref = step.step if isinstance(step, Fails) else step
        if isinstance(ref, str):
            yield step, f"step {index}: test code", ref
            continue
        block = blocks[ref.name]
        if block.language != "sql":
            where = f"{block.path.relative_to(REPO_ROOT)}:{block.line}"
            yield step, f"step {index}: block {block.name} ({where})", block.text


def run_program(run: Run, blocks: dict[str, Block], database_url: str) -> list[StepResult]:
    """Run `run` in a new interpreter against `database_url`; return each step's outcome."""
    steps = [
        # Set-up and assertions must not fail: later steps would only add noise.
        {"label": label, "source": source, "stop_on_error": isinstance(step, str)}
        for step, label, source in _labelled_steps(run, blocks)
    ]
    sql = {name: block.text for name, block in blocks.items() if block.language == "sql"}
    with tempfile.TemporaryDirectory(prefix="skill-block-") as workdir:
        spec = Path(workdir) / "spec.json"
        result = Path(workdir) / "result.json"
        spec.write_text(json.dumps({"steps": steps, "sql": sql, "result": str(result)}))
        env = {**os.environ, "DATABASE_URL": database_url, "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), str(spec)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=_PROGRAM_TIMEOUT_S,
        )
        if not result.exists():
            raise RuntimeError(f"driver crashed:\n{proc.stdout}\n{proc.stderr}")
        raw = json.loads(result.read_text())
    return [StepResult(r["label"], [tuple(e) for e in r["errors"]], r["traceback"]) for r in raw]


def check_outcomes(run: Run, blocks: dict[str, Block], results: list[StepResult]) -> None:
    """Assert every step ran cleanly, except Fails steps, which raised exactly as declared."""
    by_label = {r.label: r for r in results}
    for step, label, _ in _labelled_steps(run, blocks):
        result = by_label.get(label)
        if result is None:
            failed = next((r for r in results if r.error_chain), None)
            raise AssertionError(
                f"step {label} never ran; an earlier step failed:\n"
                + (failed.traceback if failed else "(no traceback)")
            )
        if isinstance(step, Fails):
            if not result.error_chain:
                raise AssertionError(f"{label}: expected {step.error}, but it succeeded")
            (error, message), *causes = result.error_chain
            assert error == step.error, f"{label}: raised {error}, not {step.error}\n{message}"
            assert step.fragment in message, f"{label}: {step.fragment!r} not in {message!r}"
            if step.cause is not None:
                assert causes and causes[0][0] == step.cause, f"{label}: causes {causes}"
        elif result.error_chain:
            raise AssertionError(f"{label} failed:\n{result.traceback}")


def execute(run: Run, database_url: str) -> None:
    blocks = named_blocks()
    check_outcomes(run, blocks, run_program(run, blocks, database_url))


def _qualified(exc: BaseException) -> str:
    module = type(exc).__module__
    return type(exc).__qualname__ if module == "builtins" else f"{module}.{type(exc).__qualname__}"


async def _drive(spec: dict) -> list[dict]:
    namespace: dict = {
        "__name__": "__skill_block__",
        "__file__": str(Path.cwd() / "app.py"),
        "BLOCKS": spec["sql"],
    }
    results = []
    for step in spec["steps"]:
        label, source = step["label"], step["source"]
        linecache.cache[label] = (len(source), None, source.splitlines(True), label)
        outcome: dict = {"label": label, "errors": [], "traceback": ""}
        results.append(outcome)
        try:
            code = compile(source, label, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            value = eval(code, namespace)  # the whole point: run the block as written
            if inspect.iscoroutine(value):
                await value
        except Exception as exc:
            chain: list[BaseException] = [exc]
            while chain[-1].__cause__ is not None and len(chain) < 5:
                chain.append(chain[-1].__cause__)
            outcome["errors"] = [[_qualified(e), str(e)] for e in chain]
            outcome["traceback"] = traceback.format_exc()
            if step["stop_on_error"]:
                break
    return results


def _main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    results = asyncio.run(_drive(spec))
    Path(spec["result"]).write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
