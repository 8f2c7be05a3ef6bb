"""SP009: the shared pool is closed on every path."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..module_facts import ModuleFacts
from ..project import Project
from ..sources import Hit
from ..syntax import dotted, is_create_shared_pool, simple_name

CODE = "SP009"
NAME = "pool-closed-in-finally"
MESSAGE = "the shared pool is not closed on every path (close it in `finally`)"
RATIONALE = (
    "The skill's lifespan closes the pool after `yield`, not in `finally`: when start-up fails "
    "(in pgdbm 0.5.0 a failed migration raises `MigrationError`; a missing schema raises "
    "`InvalidSchemaNameError`) the pool stays open, measured at 10 connections left on the "
    "server per failed boot. `manager.disconnect()` on a pool-based manager is a no-op; only "
    "`pool.close()` closes it. Pools handed to an object (`self._pool`, `app.state.pool`) or "
    "returned to the caller are the owner's to close."
)
EXEMPT_TESTS = True

FIX = (
    "Wrap everything after create_shared_pool in try/finally (or an async with / AsyncExitStack) "
    "and close the pool in the finally block."
)
GOOD_EXAMPLES = [
    """\
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pgdbm import AsyncDatabaseManager, DatabaseConfig


@asynccontextmanager
async def lifespan(app: FastAPI):
    pool = await AsyncDatabaseManager.create_shared_pool(DatabaseConfig())
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()
""",
    """\
from contextlib import AsyncExitStack

from pgdbm import AsyncDatabaseManager


async def main(config, work) -> None:
    async with AsyncExitStack() as stack:
        pool = await AsyncDatabaseManager.create_shared_pool(config)
        stack.push_async_callback(pool.close)
        await work(pool)
""",
    """\
import asyncio

from pgdbm import AsyncDatabaseManager


class SharedDatabase:
    def __init__(self) -> None:
        self._pool = None
        self._lock = asyncio.Lock()

    async def initialize(self, config) -> None:
        async with self._lock:
            if self._pool is None:
                self._pool = await AsyncDatabaseManager.create_shared_pool(config)

    async def close(self) -> None:
        async with self._lock:
            pool, self._pool = self._pool, None
            if pool is not None:
                await pool.close()
""",
    """\
import pytest_asyncio
from pgdbm import AsyncDatabaseManager


@pytest_asyncio.fixture
async def pool(config):
    pool = None
    try:
        pool = await AsyncDatabaseManager.create_shared_pool(config)
        yield pool
    finally:
        if pool is not None:
            await pool.close()
""",
    """\
from pgdbm import AsyncDatabaseManager


async def pool_accepted(config) -> bool:
    pool = await AsyncDatabaseManager.create_shared_pool(config)
    await pool.close()  # nothing in between can fail
    return True
""",
]
BAD_EXAMPLES = [
    """\
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pgdbm import AsyncDatabaseManager, DatabaseConfig


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.pool = await AsyncDatabaseManager.create_shared_pool(DatabaseConfig())  # SP009
    yield
    await app.state.pool.close()
""",
    """\
from pgdbm import AsyncDatabaseManager


async def migrate(config, migrate_all) -> None:
    pool = await AsyncDatabaseManager.create_shared_pool(config)  # SP009
    await migrate_all(pool)
""",
    """\
from pgdbm import AsyncDatabaseManager


async def serve(config, migrate_all, serve_forever) -> None:
    pool = await AsyncDatabaseManager.create_shared_pool(config)  # SP009
    await migrate_all(pool)
    try:
        await serve_forever(pool)
    finally:
        await pool.close()
""",
]

_CLOSE_METHODS = frozenset({"close", "terminate"})
# What leaves a block early in practice: I/O that fails (awaits), suspension, jumps. Plain
# calls between creating the pool and its try (building managers) are let through.
_INTERRUPTIONS = (
    ast.Await,
    ast.Yield,
    ast.YieldFrom,
    ast.Return,
    ast.Raise,
    ast.Break,
    ast.Continue,
)
_EXIT_STACK_METHODS = frozenset(
    {"push_async_callback", "callback", "push_async_exit", "enter_async_context"}
)


def check(project: Project) -> Iterator[Hit]:
    for module in project.modules():
        for call in module.calls:
            if is_create_shared_pool(call) or (
                isinstance(call.func, ast.Name) and call.func.id in project.facts.pool_factories
            ):
                main_functions = project.facts.processes.main_functions[module.source.path]
                problem = _problem(module, call, project.facts.pool_closers, main_functions)
                if problem is not None:
                    yield module.source.hit(call, problem)


def _problem(
    module: ModuleFacts, creation: ast.Call, closers: set[str], main_functions: set[str]
) -> str | None:
    statement = _statement(module, creation)
    if isinstance(statement, ast.Return | ast.AsyncWith | ast.With) or isinstance(
        module.parents.get(_outer(module, creation)), ast.withitem
    ):
        return None  # returned to the caller, or managed by a context manager
    if not isinstance(statement, ast.Assign | ast.AnnAssign):
        return None
    function = module.enclosing_function(creation)
    if function is module.source.tree:
        return None  # top-level await: a notebook or a snippet, not a program with a lifetime
    if getattr(function, "name", None) in main_functions:
        return None  # run by the script's __main__ block: a failure ends the process, and its pool
    names = _aliases(module, statement, function)
    all_closes = list(_closes(module, function, names, closers))
    closes = [
        (c, registered) for c, registered in all_closes if module.enclosing_function(c) is function
    ]
    if not closes:
        # Stored on an object, returned, or closed by a nested function (a shutdown hook):
        # closed elsewhere, by its owner.
        escapes = any("." in name for name in names) or _returned(module, function, names)
        return None if escapes or all_closes else "the shared pool is never closed"
    for close, registered in closes:
        if registered:
            return None
        guard = module.in_finally(close, function)
        if guard is not None and _protects(module, guard, statement):
            return None
        if _follows_directly(module, statement, _statement(module, close)):
            return None  # created and closed with nothing in between that could fail
    if any(module.in_finally(close, function) for close, _ in closes):
        return "an await between create_shared_pool and the try whose finally closes it can leak it"
    return "the shared pool is closed only when nothing fails: close it in `finally`"


def _outer(module: ModuleFacts, call: ast.Call) -> ast.AST:
    parent = module.parents.get(call)
    return parent if isinstance(parent, ast.Await) else call


def _statement(module: ModuleFacts, node: ast.AST) -> ast.AST | None:
    return next((a for a in module.ancestors(node) if isinstance(a, ast.stmt)), None)


def _aliases(
    module: ModuleFacts, statement: ast.Assign | ast.AnnAssign, function: ast.AST
) -> set[str]:
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
    names = {name for target in targets if (name := dotted(target)) is not None}
    scope = module.syntax.scopes[function]
    assignments = [
        (dotted(target), dotted(value) if value is not None else None)
        for target, value in scope.assignments
    ]
    # for pool in pools: ...  (pools created in a comprehension, closed in a loop)
    assignments += [
        (dotted(loop.target), dotted(loop.iter)) for inner in scope.within() for loop in inner.loops
    ]
    grew = True
    while grew:
        before = len(names)
        for target, value in assignments:
            if value in names and target is not None:
                names.add(target)
        grew = len(names) != before
    return names


def _closes(
    module: ModuleFacts, function: ast.AST, names: set[str], closers: set[str]
) -> Iterator[tuple[ast.Call, bool]]:
    """Calls in `function` (or nested in it) that close the pool, each with whether it is
    registered on an exit stack."""
    for call in (c for scope in module.syntax.scopes[function].within() for c in scope.calls):
        method = simple_name(call.func) or ""
        if isinstance(call.func, ast.Attribute) and dotted(call.func.value) in names:
            if method in _CLOSE_METHODS:
                yield call, False
        elif method in _EXIT_STACK_METHODS and any(_refers(arg, names) for arg in call.args):
            yield call, True
        elif (method in closers or "close" in method) and any(
            dotted(arg) in names for arg in call.args
        ):
            yield call, False


def _refers(node: ast.expr, names: set[str]) -> bool:
    """`pool` or `pool.close`."""
    return dotted(node) in names or (
        isinstance(node, ast.Attribute) and dotted(node.value) in names
    )


def _returned(module: ModuleFacts, function: ast.AST, names: set[str]) -> bool:
    return any(dotted(value) in names for value in module.syntax.scopes[function].returns)


def _protects(module: ModuleFacts, guard: ast.Try | ast.TryStar, creation: ast.AST) -> bool:
    """The try covers the creation: it is inside the try, or only plain statements lie between."""
    if any(ancestor is guard for ancestor in module.ancestors(creation)):
        return True
    return _follows_directly(module, creation, guard)


def _follows_directly(module: ModuleFacts, first: ast.AST, later: ast.AST | None) -> bool:
    """`later` comes after `first` in the same block, and nothing in between can skip it."""
    parent = module.parents.get(first)
    block: list[ast.stmt] = next(
        (
            getattr(parent, name)
            for name in ("body", "orelse", "finalbody")
            if any(node is first for node in getattr(parent, name, []))
        ),
        [],
    )
    start = next((i for i, node in enumerate(block) if node is first), None)
    end = next((i for i, node in enumerate(block) if node is later), None)
    if start is None or end is None or start > end:
        return False
    return not any(
        isinstance(node, _INTERRUPTIONS)
        for statement in block[start + 1 : end]
        for node in ast.walk(statement)
    )
