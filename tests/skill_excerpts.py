"""The skill's excerpts of generated code (``SameAs`` checks, skill_blocks.py): rendering the
template as the checks need it, and refreshing the excerpts after a template change::

    python tests/skill_excerpts.py
"""

from __future__ import annotations

import ast
import sys
import tempfile
import textwrap
from pathlib import Path

from skill_blocks import SameAs, named_blocks


def render_project(services: tuple[str, ...], use_tenants: bool, destination: Path) -> Path:
    """A project rendered from this checkout's template (uncommitted changes included)."""
    from pgdbm_shared_pool.scaffold import new_project  # copier: imported when rendering

    new_project(destination, services=services, use_tenants=use_tenants, project_name="Acme API")
    return destination


def current_region(excerpt: str, rendered: str) -> str:
    """The rendered file's current text of the definitions `excerpt` shows: top-level ones,
    or (an indented excerpt) the members of one class."""
    dedented = textwrap.dedent(excerpt)
    names = [_node_names(node) for node in ast.parse(dedented).body]
    tree = ast.parse(rendered)
    bodies = [tree.body]
    if dedented != excerpt:
        bodies = [node.body for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    for body in bodies:
        nodes = [n for n in body if _node_names(n) in names]
        if [_node_names(n) for n in nodes] == names:
            lines = rendered.splitlines(keepends=True)
            start = min(getattr(d, "lineno", nodes[0].lineno) for d in _decorators(nodes[0]))
            return "".join(lines[start - 1 : nodes[-1].end_lineno])
    raise LookupError(f"{names} are not consecutive definitions any more")


def _node_names(node: ast.stmt) -> tuple[str, ...]:
    if isinstance(node, ast.Assign):
        return tuple(ast.unparse(t) for t in node.targets)
    if isinstance(node, ast.AnnAssign):
        return (ast.unparse(node.target),)
    return (getattr(node, "name", ast.unparse(node)),)


def _decorators(node: ast.stmt) -> list[ast.AST]:
    return [node, *getattr(node, "decorator_list", [])]


def sync(checks: dict[str, SameAs]) -> list[str]:
    """Rewrite every python SameAs block with its current text in a rendered project."""
    blocks = named_blocks()
    changed = []
    with tempfile.TemporaryDirectory(prefix="skill-sync-") as scratch:
        projects: dict[tuple[tuple[str, ...], bool], Path] = {}
        for name, check in checks.items():
            block = blocks[name]
            if block.language != "python":
                continue
            key = (check.services, check.use_tenants)
            if key not in projects:
                projects[key] = render_project(*key, Path(scratch) / str(len(projects)))
            rendered = (projects[key] / check.path).read_text(encoding="utf-8")
            fresh = current_region(block.text, rendered)
            if fresh != block.text:
                doc = block.path.read_text(encoding="utf-8")
                fence = f"<!-- block: {name} -->\n```python\n"
                doc = doc.replace(fence + block.text, fence + fresh, 1)
                block.path.write_text(doc, encoding="utf-8")
                changed.append(name)
    return changed


def _main() -> int:
    # Through the importable modules: run as a script, test_skill_blocks would otherwise see
    # a second copy of this one.
    import test_skill_blocks

    checks = test_skill_blocks.all_checks().items()
    excerpts = {name: check for name, check in checks if isinstance(check, SameAs)}
    print("updated:", ", ".join(sync(excerpts)) or "nothing")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
