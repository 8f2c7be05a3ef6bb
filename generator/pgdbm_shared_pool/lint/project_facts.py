"""Facts that carry meaning across modules, matched by simple name."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import PurePath

from .module_syntax import ModuleSyntax
from .owners import PoolOwner, pool_owners
from .processes import Processes
from .syntax import MANAGER, PGDBM_CLASSES, is_create_shared_pool, simple_name


class ProjectFacts:
    """Manager subclasses, pool factories and pool closers defined anywhere in the tree."""

    def __init__(self, modules: Sequence[ModuleSyntax]) -> None:
        classes = [item for module in modules for item in module.classes]
        self.manager_classes = {name for name, kind in PGDBM_CLASSES.items() if kind == MANAGER}
        self.manager_classes |= _closure(
            lambda known: {name for name, bases in classes if known.intersection(bases)},
            self.manager_classes,
        )
        returns = [
            (function.name, value.value if isinstance(value, ast.Await) else value)
            for module in modules
            for function, value in module.returns
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        self.pool_factories = _closure(
            lambda known: {
                name
                for name, value in returns
                if is_create_shared_pool(value)
                or (
                    isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Name)
                    and value.func.id in known
                )
            },
            set(),
        )
        self.pool_closers = {name for module in modules for name in module.closing_functions}
        self.owners = pool_owners(
            modules,
            manager_classes=self.manager_classes,
            pool_factories=self.pool_factories,
            closers=self.pool_closers,
        )
        self.owner_names = {owner.name for owner in self.owners}
        self.instances: dict[str, list[tuple[str, str]]] = {}  # db = Database() at module level
        for module in modules:
            for name, values in module.module_scope.values.items():
                for value in values:
                    if (
                        isinstance(value, ast.Call)
                        and isinstance(value.func, ast.Name)
                        and value.func.id in self.owner_names
                    ):
                        found = (module.source.path, value.func.id)
                        self.instances.setdefault(name, []).append(found)
        self.processes = Processes(modules)
        self._paths = [module.source.path for module in modules if not module.source.is_test]
        self._pool_users = {
            module.source.path for module in modules if self._uses_shared_pool(module)
        }
        self._own_pool_users = {
            module.source.path for module in modules if self._uses_own_pool(module)
        }
        self.manager_functions = {
            function.name
            for module in modules
            for functions in module.functions.values()
            for function in functions
            if function.returns is not None and self._names_manager(function.returns)
        }

    def owner(self, name: str, near: str) -> PoolOwner | None:
        """The pool-owning class called `name` as seen from the module at `near`: the one in
        its process, else the one sharing most folders with it."""
        candidates = [owner for owner in self.owners if owner.name == name]
        if len(candidates) > 1:
            together = [
                owner
                for owner in candidates
                if self.processes.together(owner.module.source.path, near)
            ]
            candidates = together or candidates
        return max(
            candidates, key=lambda o: _shared_folders(o.module.source.path, near), default=None
        )

    def instance(self, name: str, near: str) -> str | None:
        """The owner class of a module-level instance imported by name (db_infrastructure)."""
        found = self.instances.get(name, [])
        together = [(path, cls) for path, cls in found if self.processes.together(path, near)]
        return (together or found or [(None, None)])[0][1]

    def on_shared_pool(self, path: str) -> bool:
        """Whether a process running this module creates or borrows a shared pool."""
        return any(process & self._pool_users for process in self.processes.of(path))

    def own_pools_only(self, path: str) -> bool:
        """Whether the processes running this module build own-pool managers and no shared
        pool: a manager of unknown origin there is one of those."""
        processes = self.processes.of(path)
        return any(process & self._own_pool_users for process in processes) and not any(
            process & self._pool_users for process in processes
        )

    def own_pools_only_near(self, sql_path: str) -> bool:
        """For a migration file: the Python modules of its app (the folder holding its
        migrations/ folder) all run on own pools only."""
        parts = PurePath(sql_path).parts
        if "migrations" not in parts:
            return False
        app = PurePath(*parts[: parts.index("migrations")])
        near = [path for path in self._paths if PurePath(path).is_relative_to(app)]
        return bool(near) and all(self.own_pools_only(path) for path in near)

    def _uses_own_pool(self, module: ModuleSyntax) -> bool:
        return any(
            simple_name(call.func) in self.manager_classes
            and (call.args or any(keyword.arg == "config" for keyword in call.keywords))
            and not any(keyword.arg == "pool" for keyword in call.keywords)
            for call in module.calls
        )

    def _uses_shared_pool(self, module: ModuleSyntax) -> bool:
        return any(
            is_create_shared_pool(call)
            or (isinstance(call.func, ast.Name) and call.func.id in self.pool_factories)
            or (
                simple_name(call.func) in self.manager_classes
                and any(keyword.arg == "pool" for keyword in call.keywords)
            )
            for call in module.calls
        )

    def _names_manager(self, annotation: ast.expr) -> bool:
        """A return annotation naming a manager class: Manager, Optional[Manager], 'Manager'."""
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            return annotation.value.strip("'\" ") in self.manager_classes
        if isinstance(annotation, ast.Subscript) and simple_name(annotation.value) == "Optional":
            return self._names_manager(annotation.slice)
        if isinstance(annotation, ast.BinOp):
            return self._names_manager(annotation.left) or self._names_manager(annotation.right)
        return simple_name(annotation) in self.manager_classes


def _shared_folders(first: str, second: str) -> int:
    count = 0
    for a, b in zip(PurePath(first).parts, PurePath(second).parts, strict=False):
        if a != b:
            break
        count += 1
    return count


def _closure(step, start: set[str]) -> set[str]:  # type: ignore[no-untyped-def]
    """Grow `start` by `step(known)` until nothing new appears."""
    known = set(start)
    while True:
        grown = known | step(known)
        if grown == known:
            return known
        known = grown
