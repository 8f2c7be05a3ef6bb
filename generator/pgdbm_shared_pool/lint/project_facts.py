"""Facts that carry meaning across modules, matched by simple name."""

from __future__ import annotations

import ast
from collections.abc import Sequence

from .module_syntax import ModuleSyntax
from .syntax import MANAGER, PGDBM_CLASSES, is_create_shared_pool


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


def _closure(step, start: set[str]) -> set[str]:  # type: ignore[no-untyped-def]
    """Grow `start` by `step(known)` until nothing new appears."""
    known = set(start)
    while True:
        grown = known | step(known)
        if grown == known:
            return known
        known = grown
