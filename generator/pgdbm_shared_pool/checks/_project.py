"""Facts that carry meaning across modules, matched by simple name."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from ._ast import FUNCTION_NODES, MANAGER, PGDBM_CLASSES, is_create_shared_pool, simple_name

if TYPE_CHECKING:
    from ._core import PythonSource


class ProjectFacts:
    """Names that carry meaning across modules, matched by simple name."""

    def __init__(self, sources: Sequence[PythonSource]) -> None:
        classes: list[tuple[str, list[str]]] = []
        functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        for source in sources:
            for node in ast.walk(source.tree):
                if isinstance(node, ast.ClassDef):
                    bases = [simple_name(base) or "" for base in node.bases]
                    classes.append((node.name, bases))
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    functions.append(node)
        self.manager_classes = {name for name, target in PGDBM_CLASSES.items() if target == MANAGER}
        grew = True
        while grew:
            before = len(self.manager_classes)
            self.manager_classes |= {
                name for name, bases in classes if self.manager_classes.intersection(bases)
            }
            grew = len(self.manager_classes) != before
        self.pool_factories: set[str] = set()
        grew = True
        while grew:
            before = len(self.pool_factories)
            self.pool_factories |= {
                function.name for function in functions if self._returns_pool(function)
            }
            grew = len(self.pool_factories) != before
        self.pool_closers = {function.name for function in functions if _closes_parameter(function)}

    def _returns_pool(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        for node in _own_nodes(function):
            if isinstance(node, ast.Return) and node.value is not None:
                value = node.value.value if isinstance(node.value, ast.Await) else node.value
                if is_create_shared_pool(value) or (
                    isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Name)
                    and value.func.id in self.pool_factories
                ):
                    return True
        return False


def _closes_parameter(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    parameters = {arg.arg for arg in (*function.args.posonlyargs, *function.args.args)}
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("close", "terminate")
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in parameters
        for node in _own_nodes(function)
    )


def _own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a function body, not descending into nested functions or classes."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (*FUNCTION_NODES, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
