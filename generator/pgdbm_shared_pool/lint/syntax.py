"""Vocabulary shared by the Python rules: pgdbm's names, small AST helpers, Value and Scope."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field

MANAGER = "AsyncDatabaseManager"
MIGRATION_MANAGER = "AsyncMigrationManager"
CONFIG = "DatabaseConfig"
MANAGER_SUBCLASS = "subclass"  # a project class deriving from AsyncDatabaseManager
POOL_CLASS = "Pool"
PGDBM_CLASSES = {
    MANAGER: MANAGER,
    "MonitoredAsyncDatabaseManager": MANAGER,
    MIGRATION_MANAGER: MIGRATION_MANAGER,
    CONFIG: CONFIG,
}
# Methods taking SQL text, with the index of the query argument.
QUERY_METHODS = {
    "execute": 0,
    "executemany": 0,
    "execute_many": 0,
    "fetch_one": 0,
    "fetch_all": 0,
    "fetch_value": 0,
    "fetch_val": 0,
    "execute_and_return_id": 0,
    "fetch_as_model": 1,
    "fetch_all_as_model": 1,
}
ASYNCPG_QUERY_METHODS = {"fetch": 0, "fetchrow": 0, "fetchval": 0}
CONTAINERS = frozenset({"dict", "Dict", "Mapping", "MutableMapping", "list", "List", "Sequence"})
LOOPS = (
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)
FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def dotted(node: ast.AST) -> str | None:
    """`a.b.c` for a chain of attributes on a name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def simple_name(node: ast.AST) -> str | None:
    """The last identifier of a name or attribute chain."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def query_argument(call: ast.Call, methods: dict[str, int] = QUERY_METHODS) -> ast.expr | None:
    """The SQL argument of `x.execute(sql, ...)`-style calls."""
    if not isinstance(call.func, ast.Attribute) or call.func.attr not in methods:
        return None
    index = methods[call.func.attr]
    if len(call.args) > index and not isinstance(call.args[index], ast.Starred):
        return call.args[index]
    return next((kw.value for kw in call.keywords if kw.arg == "query"), None)


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def string_value(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def is_create_shared_pool(node: ast.AST) -> bool:
    """`<anything>.create_shared_pool(...)`: the name is distinctive enough on its own."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "create_shared_pool"
    )


@dataclass(frozen=True)
class Value:
    """What an expression holds, as far as the rules care."""

    kind: str  # "manager", "managers" (a container of them), "pool", "config", "owner"
    pool_based: bool | None = None  # for managers: built with pool= (None: unknown)
    schema: str | None = None  # for managers: the literal schema, if known
    has_schema: bool = True  # for managers: False if built without any schema
    owner: str | None = None  # for "owner": the project class keeping a pool (owners.py)


def elements(node: ast.AST) -> list[ast.expr]:
    """The element expressions of a container display or comprehension."""
    if isinstance(node, ast.Dict):
        return [value for value in node.values if value is not None]
    if isinstance(node, ast.DictComp):
        return [node.value]
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return list(node.elts)
    if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp):
        return [node.elt]
    return []


@dataclass(eq=False, repr=False)
class Scope:
    """A module or function body: what it binds and calls (nested functions have their own)."""

    node: ast.AST
    parent: Scope | None
    class_node: ast.ClassDef | None
    parameters: frozenset[str] = frozenset()
    values: dict[str, list[ast.expr]] = field(default_factory=dict)
    annotations: dict[str, ast.expr] = field(default_factory=dict)
    calls: list[ast.Call] = field(default_factory=list)
    assignments: list[tuple[ast.expr, ast.expr | None]] = field(default_factory=list)
    loops: list[ast.For | ast.AsyncFor] = field(default_factory=list)
    returns: list[ast.expr] = field(default_factory=list)
    children: list[Scope] = field(default_factory=list)

    def within(self) -> Iterator[Scope]:
        """This scope and every scope nested in it."""
        stack = [self]
        while stack:
            scope = stack.pop()
            yield scope
            stack.extend(scope.children)
