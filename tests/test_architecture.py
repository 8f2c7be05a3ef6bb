"""docs/architecture.md tells the truth: its file trees match this repository and a generated
project. Every entry exists; a folder whose contents are listed has all of them listed."""

from __future__ import annotations

import ast
import re
import subprocess
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from pgdbm_shared_pool.scaffold import new_project

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "architecture.md"
ENTRY = re.compile(r"^(?P<indent> *)(?P<name>\S+)")
INDENT = 4


def tree_blocks(markdown: str) -> list[list[str]]:
    """The fenced blocks of the document, as lines."""
    return [block.splitlines() for block in re.findall(r"^```\n(.*?)^```$", markdown, re.M | re.S)]


def listed_paths(lines: list[str]) -> set[str]:
    """Paths the tree names, relative to its base (folders end with /), as fnmatch patterns.

    An entry is indented at most one step deeper than the entry above it; a line indented
    further continues that entry's text.
    """
    stack: list[tuple[int, str]] = []  # (indent, folder path) of the enclosing folders
    last_indent = -INDENT
    paths: set[str] = set()
    for line in lines:
        match = ENTRY.match(line)
        if match is None:
            continue
        indent = len(match["indent"])
        if indent > last_indent + INDENT:
            continue  # a continuation line
        last_indent = indent
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = (stack[-1][1] if stack else "") + pattern(match["name"])
        paths.update(_with_parents(path))
        if path.endswith("/"):
            stack.append((indent, path))
    return paths


def pattern(name: str) -> str:
    return re.sub(r"<[^>]+>", "*", name).replace("NNN", "[0-9][0-9][0-9]")


def _with_parents(path: str) -> list[str]:
    parts = path.rstrip("/").split("/")
    parents = ["/".join(parts[:i]) + "/" for i in range(1, len(parts))]
    return [*parents, path]


def actual_paths(files: list[str]) -> set[str]:
    """Files and their folders (with a trailing /), relative to the base."""
    return {p for f in files for p in _with_parents(f)}


def compare(listed: set[str], actual: set[str]) -> tuple[list[str], list[str]]:
    """(listed entries that match nothing, actual entries missing from a listed folder)."""
    missing = sorted(p for p in listed if not any(fnmatchcase(a, p) for a in actual))
    described = {p.rstrip("/").rpartition("/")[0] + "/" for p in listed if "/" in p.rstrip("/")}
    described |= {"/"} if any("/" not in p.rstrip("/") for p in listed) else set()
    unlisted = []
    for path in sorted(actual):
        parent = path.rstrip("/").rpartition("/")[0] + "/"
        in_described = any(fnmatchcase(parent, folder) for folder in described)
        if in_described and not any(fnmatchcase(path, p) for p in listed):
            unlisted.append(path)
    return missing, unlisted


def repository_files() -> list[str]:
    done = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("not a git checkout: the tree cannot be listed as git sees it")
    return [f for f in done.stdout.splitlines() if (REPO / f).exists() or (REPO / f).is_symlink()]


def test_listing_rules() -> None:
    lines = ["a/", "    b.py     text", "                 more text", "    c/", "        d.py", "e"]
    assert listed_paths(lines) == {"a/", "a/b.py", "a/c/", "a/c/d.py", "e"}
    assert compare({"a/", "a/b.py"}, {"a/", "a/b.py", "a/x.py"}) == ([], ["a/x.py"])
    assert compare({"a/", "a/z.py"}, {"a/", "a/b.py"}) == (["a/z.py"], ["a/b.py"])


def test_the_repository_tree_is_true() -> None:
    blocks = tree_blocks(DOC.read_text(encoding="utf-8"))
    missing, unlisted = compare(listed_paths(blocks[0]), actual_paths(repository_files()))
    assert missing == [], "docs/architecture.md lists what does not exist"
    assert unlisted == [], "docs/architecture.md lists these folders, but not these entries"


def test_the_generated_project_tree_is_true(tmp_path: Path) -> None:
    project = tmp_path / "acme"
    result = new_project(
        project, services=["users", "orders"], use_tenants=True, extra={"pooler": "pgbouncer"}
    )
    files = [str(p) for p in result.created]
    blocks = tree_blocks(DOC.read_text(encoding="utf-8"))
    missing, unlisted = compare(listed_paths(blocks[1]), actual_paths(files))
    assert missing == [], "docs/architecture.md lists what a project does not have"
    assert unlisted == [], "docs/architecture.md lists these folders, but not these entries"


def test_nothing_beneath_the_cli_parses_arguments_or_prints() -> None:
    package = REPO / "generator" / "pgdbm_shared_pool"
    offenders = []
    for module in package.rglob("*.py"):
        if "cli" in module.relative_to(package).parts:
            continue
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            imported = isinstance(node, ast.Import | ast.ImportFrom) and any(
                (getattr(node, "module", None) or alias.name) == "argparse" for alias in node.names
            )
            printed = isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
            if imported or printed:
                offenders.append(f"{module.relative_to(package)}:{node.lineno}")
    assert offenders == []


def module_imports(package: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports at run time (TYPE_CHECKING blocks excluded)."""
    graph: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        current_package = name if parts[-1] == "__init__" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = {
            id(child)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for child in ast.walk(node)
        }
        targets = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.ImportFrom):
                base = current_package.split(".")
                base = base[: len(base) - node.level + 1] if node.level else []
                module = ".".join([*base, node.module] if node.module else base)
                if node.module:  # `from . import x` imports the submodule x, not the package
                    targets.add(module)
                targets.update(f"{module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = targets
    return {
        name: {t for t in targets if t in graph and t != name} for name, targets in graph.items()
    }


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    visiting: list[str] = []
    done: set[str] = set()
    cycles = []

    def visit(module: str) -> None:
        if module in done:
            return
        if module in visiting:
            cycles.append([*visiting[visiting.index(module) :], module])
            return
        visiting.append(module)
        for target in sorted(graph[module]):
            visit(target)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    return cycles


def test_import_cycles_are_found() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert import_cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles_and_layers_point_down() -> None:
    graph = module_imports(REPO / "generator" / "pgdbm_shared_pool")
    assert len(graph) > 40 and graph["pgdbm_shared_pool.doctor"]  # the graph was really built
    assert import_cycles(graph) == []
    root = "pgdbm_shared_pool"
    for module, targets in graph.items():
        if not module.startswith(f"{root}.cli"):
            assert not {t for t in targets if t.startswith(f"{root}.cli")}, module
    gathering = {f"{root}.doctor.database", f"{root}.doctor.project"}
    judging = {f"{root}.doctor.judge", f"{root}.doctor.report"}
    for module in gathering:
        assert not graph[module] & judging, module
    for module in judging:
        assert not graph[module] & gathering, module
