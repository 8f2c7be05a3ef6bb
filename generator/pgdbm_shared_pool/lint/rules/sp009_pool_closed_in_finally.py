"""SP009: every pool is closed on every path."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..lifecycle import (
    Opening,
    closed_elsewhere,
    closed_on_failure,
    closes,
    follows_directly,
    is_generator,
    openings,
    protects,
    statement_of,
)
from ..owners import PoolOwner, own_attribute
from ..project import Project
from ..sources import Hit, PythonSource

CODE = "SP009"
NAME = "pool-closed-in-finally"
MESSAGE = "the pool is not closed on every path (close it in `finally`)"
RATIONALE = (
    "The skill's lifespan closes the pool after `yield`, not in `finally`: when start-up fails "
    "(in pgdbm 0.5.0 a failed migration raises `MigrationError`; a missing schema raises "
    "`InvalidSchemaNameError`) the pool stays open, measured at 10 connections left on the "
    "server per failed boot. `manager.disconnect()` on a pool-based manager is a no-op; only "
    "`pool.close()` closes it. The same holds for an own-pool manager after `connect()` "
    "(closed by `disconnect()`), and for an object that opens a pool for the lifespan "
    "(`await db.initialize()`): a lifespan must close what it opened, in `finally`. A pool kept "
    "on `app.state` must be closed somewhere in the app; an object whose `close()` checks an "
    "`_initialized` flag set only at the end of `initialize()` never closes a pool opened by a "
    "half-finished `initialize()`. Pools returned to the caller are the caller's to close."
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
    """\
from fastapi import FastAPI
from pgdbm import AsyncDatabaseManager, DatabaseConfig

app = FastAPI()


@app.on_event("startup")
async def open_pool() -> None:
    app.state.pool = await AsyncDatabaseManager.create_shared_pool(DatabaseConfig())


@app.on_event("shutdown")
async def close_pool() -> None:
    await app.state.pool.close()
""",
    """\
from pgdbm import AsyncDatabaseManager, DatabaseConfig


class EventStore:
    def __init__(self, config: DatabaseConfig) -> None:
        self.db = AsyncDatabaseManager(config)
        self._connected = False

    async def initialize(self) -> None:
        await self.db.connect()
        self._connected = True  # before anything that can fail
        await self.db.execute("CREATE TABLE IF NOT EXISTS {{tables.events}} (id int)")

    async def close(self) -> None:
        if self._connected:
            await self.db.disconnect()
            self._connected = False
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
    """\
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pgdbm import AsyncDatabaseManager, DatabaseConfig


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.pool = await AsyncDatabaseManager.create_shared_pool(DatabaseConfig())  # SP009
    app.state.users = AsyncDatabaseManager(pool=app.state.pool, schema="users")
    yield
""",
    """\
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pgdbm import AsyncDatabaseManager, DatabaseConfig


class Database:
    def __init__(self) -> None:
        self.pool = None

    async def initialize(self) -> None:
        self.pool = await AsyncDatabaseManager.create_shared_pool(DatabaseConfig())

    async def close(self) -> None:
        await self.pool.close()


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.database = Database()
    await app.state.database.initialize()  # SP009
    yield
""",
    """\
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pgdbm import AsyncDatabaseManager, DatabaseConfig


@asynccontextmanager
async def lifespan(app: FastAPI):
    db = AsyncDatabaseManager(DatabaseConfig(schema="app"))
    await db.connect()  # SP009
    await db.execute("CREATE TABLE IF NOT EXISTS {{tables.events}} (id int)")
    yield
    await db.disconnect()
""",
    """\
from pgdbm import AsyncDatabaseManager, DatabaseConfig


class EventStore:
    def __init__(self, config: DatabaseConfig) -> None:
        self.db = AsyncDatabaseManager(config)
        self._initialized = False

    async def initialize(self) -> None:
        await self.db.connect()  # SP009
        await self.db.execute("CREATE TABLE IF NOT EXISTS {{tables.events}} (id int)")
        self._initialized = True

    async def close(self) -> None:
        if self._initialized:
            await self.db.disconnect()
""",
]


def check(project: Project) -> Iterator[Hit]:
    for module in project.modules():
        main_functions = project.facts.processes.main_functions[module.source.path]
        for opening in openings(project, module):
            problem = _problem(project, opening, main_functions)
            if problem is not None:
                yield module.source.hit(opening.call, problem)
        for owner in project.facts.owners:
            if owner.module is module.syntax:
                yield from _half_open(module.source, owner)


def _problem(project: Project, opening: Opening, main_functions: set[str]) -> str | None:
    module, function, statement = opening.module, opening.function, opening.statement
    if isinstance(statement, ast.Return | ast.AsyncWith | ast.With):
        return None  # returned to the caller, or managed by a context manager
    if function is module.source.tree:
        return None  # top-level await: a notebook or a snippet, not a program with a lifetime
    if getattr(function, "name", None) in main_functions:
        return None  # run by the script's __main__ block: a failure ends the process, and its pool
    found = list(closes(opening))
    here = [(c, registered) for c, registered in found if module.enclosing_function(c) is function]
    if not here:
        return None if found else _unclosed(project, opening)
    for close, registered in here:
        if registered:
            return None
        guard = module.in_finally(close, function)
        if guard is not None and protects(module, guard, statement):
            return None
        if follows_directly(module, statement, statement_of(module, close)):
            return None  # opened and closed with nothing in between that could fail
        if closed_on_failure(module, close, statement):
            return None  # closed by `except BaseException:`, returned otherwise
    if any(module.in_finally(close, function) for close, _ in here):
        return "an await between opening the pool and the try whose finally closes it can leak it"
    if is_generator(module, function):
        return "closed after `yield` but not in `finally`: a failed start-up leaves the pool open"
    return "the pool is closed only when nothing fails: close it in `finally`"


def _unclosed(project: Project, opening: Opening) -> str | None:
    """Nothing in the function closes it: is it someone else's to close, or nobody's?"""
    module, names = opening.module, opening.names
    if any(name.split(".")[0] in ("self", "cls") for name in names):
        return None  # kept by an object: the object's close() (owners.py) is its owner
    returns = module.syntax.scopes[opening.function].returns
    if any(ast.unparse(value) in names for value in returns):
        return None  # the caller's to close
    kept = sorted(name for name in names if "." in name)
    if opening.owner is None and not kept:
        return "the pool is never closed"
    if closed_elsewhere(project, opening):
        return None  # a shutdown handler, or the owner's close() elsewhere in the app
    if opening.owner is not None:
        closers = " or ".join(f"{m}()" for m in sorted(opening.owner.closing_methods)) or "close()"
        return (
            f"{opening.owner.name} opens a pool here that nothing in the app closes: call its "
            f"{closers} in the lifespan's `finally`"
        )
    return f"the pool kept on {kept[0]} is never closed: nothing in the app closes it"


def _half_open(source: PythonSource, owner: PoolOwner) -> Iterator[Hit]:
    """initialize() opens the pool, awaits more, and only then sets the flag close() checks:
    when the awaits fail, close() skips the open pool."""
    for opening in owner.openings:
        flags = _flags_set_after_an_await(opening.method, opening.statement)
        if not flags:
            continue
        guarded = [
            closing
            for closing in owner.closings
            if closing.attribute == opening.attribute
            and _guarding_flags(owner, closing.method, closing.call) & flags
        ]
        if guarded and len(guarded) == sum(
            c.attribute == opening.attribute for c in owner.closings
        ):
            flag = sorted(_guarding_flags(owner, guarded[0].method, guarded[0].call) & flags)[0]
            yield source.hit(
                opening.call,
                f"if {opening.method.name}() fails after this line, {guarded[0].method.name}() "
                f"skips the open pool: it checks self.{flag}, set only at the end",
            )


def _flags_set_after_an_await(method: ast.AST, opening: ast.stmt) -> set[str]:
    """Attributes set to True after an await that follows the opening statement."""
    end = (opening.end_lineno or opening.lineno, opening.end_col_offset or 0)
    awaits = sorted(
        (node.lineno, node.col_offset)
        for node in ast.walk(method)
        if isinstance(node, ast.Await) and (node.lineno, node.col_offset) > end
    )
    if not awaits:
        return set()
    return {
        attribute
        for node in ast.walk(method)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and node.value.value is True
        and (node.lineno, node.col_offset) > awaits[0]
        for target in node.targets
        if (attribute := own_attribute(target)) is not None
    }


def _guarding_flags(owner: PoolOwner, method: ast.AST, close: ast.Call) -> set[str]:
    """Attributes tested by the ifs around `close`, or by an early `return` before it."""
    module = owner.module
    flags: set[str] = set()
    child: ast.AST = close
    for ancestor in module.ancestors(close):
        if ancestor is method:
            break
        if isinstance(ancestor, ast.If) and any(child is node for node in ancestor.body):
            flags |= _tested(ancestor.test)
        child = ancestor
    body = getattr(method, "body", [])
    for statement in body:
        if statement.lineno >= close.lineno:
            break
        if isinstance(statement, ast.If) and any(
            isinstance(node, ast.Return) for node in statement.body
        ):
            flags |= _tested(statement.test)
    return flags


def _tested(test: ast.expr) -> set[str]:
    return {
        attribute
        for node in ast.walk(test)
        if isinstance(node, ast.Attribute) and (attribute := own_attribute(node)) is not None
    }
