"""Which modules run in one process: an entry point and everything it imports.

An entry point is a module with `if __name__ == "__main__":`, a `__main__.py`, or a module that
builds an ASGI app (`FastAPI(...)`, `Starlette(...)`) or a CLI (click, typer). A repository with
two example apps, a CLI and a server holds several processes, not one. Modules no entry point
reaches (a library) form one process per top-level package.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import PurePath

from .module_syntax import ImportedFrom, ModuleSyntax
from .syntax import simple_name

_APP_FACTORIES = frozenset({"FastAPI", "Starlette", "Quart", "Litestar", "Typer"})
_CLI_DECORATORS = frozenset({"command", "group", "callback"})
# pgdbm's own code (checked in its own repository) is a library the programs use, not part
# of them: its own-pool CREATE SCHEMA is not the app's.
_LIBRARIES = frozenset({"pgdbm", "asyncpg"})


class Processes:
    def __init__(self, modules: Sequence[ModuleSyntax]) -> None:
        self._by_path = {module.source.path: module for module in modules}
        self._index = _ModuleIndex([module.source.path for module in modules])
        self._imports = {
            module.source.path: self._resolve(module.source.path, module.imports)
            for module in modules
        }
        entries = [m.source.path for m in modules if _is_entry(m) and not m.source.is_test]
        self._closures = [self._closure(entry) for entry in entries]
        self._entries = len(self._closures)  # the first closures are those of entry points
        self.main_functions = {m.source.path: _main_functions(m) for m in modules}
        reached = set().union(*self._closures) if self._closures else set()
        libraries: dict[str, set[str]] = {}
        for module in modules:
            path = module.source.path
            if path not in reached and not module.source.is_test:
                libraries.setdefault(self._index.package_root(path), set()).add(path)
        self._closures += [
            set().union(*(self._closure(path) for path in paths)) for paths in libraries.values()
        ]

    def of(self, path: str, *, entries_only: bool = False) -> list[set[str]]:
        """The processes (sets of module paths) that run the module at `path`."""
        closures = self._closures[: self._entries] if entries_only else self._closures
        return [closure for closure in closures if path in closure]

    def together(self, first: str, second: str) -> bool:
        return any(first in closure and second in closure for closure in self._closures)

    def site_together(self, first: tuple[str, str], second: tuple[str, str]) -> bool:
        """Two call sites (module path, function name) in one process. A function only the
        module's `__main__` block calls runs only when that module is the program."""
        if first[1] in self.main_functions[first[0]]:
            return first[0] == second[0] or second[0] in self._closure(first[0])
        if second[1] in self.main_functions[second[0]]:
            return first[0] == second[0] or first[0] in self._closure(second[0])
        return self.together(first[0], second[0])

    def _resolve(self, path: str, imports: list[ImportedFrom]) -> set[str]:
        found: set[str] = set()
        for imported in imports:
            base = self._index.absolute(path, imported)
            if base is None or base.split(".")[0] in _LIBRARIES:
                continue
            targets = [f"{base}.{name}" for name in imported.names] + [base]
            for target in targets:
                module = self._index.find(target, near=path)
                if module is not None:
                    found.add(module)
        found.discard(path)
        return found

    def _closure(self, start: str) -> set[str]:
        seen = {start}
        stack = [start]
        while stack:
            for imported in self._imports.get(stack.pop(), ()):
                if imported not in seen:
                    seen.add(imported)
                    stack.append(imported)
        return seen


class _ModuleIndex:
    """Dotted names for project files, matched by suffix (no sys.path to consult)."""

    def __init__(self, paths: list[str]) -> None:
        self._by_suffix: dict[str, list[str]] = {}
        self._dotted: dict[str, list[str]] = {}
        for path in paths:
            parts = list(PurePath(path).with_suffix("").parts)
            if parts and parts[-1] == "__init__":
                parts.pop()
            self._dotted[path] = parts
            for start in range(len(parts)):
                self._by_suffix.setdefault(".".join(parts[start:]), []).append(path)

    def absolute(self, path: str, imported: ImportedFrom) -> str | None:
        if imported.level == 0:
            return imported.module or None
        parts = self._dotted[path]
        package = parts[:-1] if not path.endswith("__init__.py") else parts
        if imported.level - 1 > len(package):
            return None
        base = package[: len(package) - (imported.level - 1)]
        return ".".join([*base, imported.module] if imported.module else base) or None

    def find(self, dotted: str, near: str) -> str | None:
        """The project file for `dotted`; of several, the one sharing most folders with `near`."""
        candidates = self._by_suffix.get(dotted)
        if not candidates:
            return None
        near_parts = PurePath(near).parts
        return max(candidates, key=lambda c: _common(PurePath(c).parts, near_parts))

    def package_root(self, path: str) -> str:
        parts = self._dotted[path]
        return "/".join(parts[:-1]) if len(parts) > 1 else path


def _common(first: tuple[str, ...], second: tuple[str, ...]) -> int:
    count = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        count += 1
    return count


def _is_entry(module: ModuleSyntax) -> bool:
    if PurePath(module.source.path).name == "__main__.py":
        return True
    if any(
        isinstance(statement, ast.If) and _is_main_guard(statement.test)
        for statement in module.source.tree.body
    ):
        return True
    if any(simple_name(call.func) in _APP_FACTORIES for call in module.calls):
        return True
    return any(
        simple_name(decorator.func if isinstance(decorator, ast.Call) else decorator)
        in _CLI_DECORATORS
        for functions in module.functions.values()
        for function in functions
        for decorator in function.decorator_list
    )


def _main_functions(module: ModuleSyntax) -> set[str]:
    """Functions the module's `if __name__ == "__main__":` block calls, directly or through
    other functions of the module (asyncio.run(main()), main() -> demo())."""
    guards = [
        statement
        for statement in module.source.tree.body
        if isinstance(statement, ast.If) and _is_main_guard(statement.test)
    ]
    names = _called_names(guards)
    pending = list(names)
    while pending:  # each function's body is read once
        bodies = module.functions.get(pending.pop(), [])
        for called in _called_names(bodies) - names:
            names.add(called)
            pending.append(called)
    return names


def _called_names(nodes: Sequence[ast.AST]) -> set[str]:
    return {
        node.func.id
        for root in nodes
        for node in ast.walk(root)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )
