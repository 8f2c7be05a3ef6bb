"""SP009: every pool is closed on every path."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..lifecycle import (
    Opening,
    closed_elsewhere,
    closed_on_failure,
    closes,
    failure_flag,
    follows_directly,
    is_generator,
    openings,
    protects,
    statement_of,
)
from ..owners import half_open
from ..project import Project
from ..sources import Hit
from ..syntax import dotted

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
    "half-finished `initialize()`, and neither does a lifespan that closes the object on failure "
    "only `if started`, set after `initialize()` returned. Pools returned to the caller are the "
    "caller's to close."
)
EXEMPT_TESTS = True

FIX = (
    "Wrap everything after opening the pool (create_shared_pool, connect(), initialize()) in "
    "try/finally, or an async with / AsyncExitStack, and close it in the finally block; mark an "
    "object open right after its pool opens, so its close() never skips a half-opened pool."
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
    """\
from pgdbm import AsyncDatabaseManager, DatabaseConfig


async def open_events(config: DatabaseConfig) -> AsyncDatabaseManager:
    db = AsyncDatabaseManager(config)
    await db.connect()
    try:
        await db.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
    except BaseException:
        await db.disconnect()
        raise
    return db
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
    """\
from pgdbm import AsyncDatabaseManager, DatabaseConfig


async def open_events(config: DatabaseConfig) -> AsyncDatabaseManager:
    db = AsyncDatabaseManager(config)
    await db.connect()  # SP009
    await db.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
    return db
""",
    """\
from contextlib import asynccontextmanager

from pgdbm import AsyncDatabaseManager, DatabaseConfig


class Database:
    async def initialize(self) -> None:
        self.pool = await AsyncDatabaseManager.create_shared_pool(DatabaseConfig())
        await self.pool.execute('CREATE SCHEMA IF NOT EXISTS "app"')

    async def close(self) -> None:
        await self.pool.close()


@asynccontextmanager
async def lifespan(app):
    database, started = Database(), False
    try:
        await database.initialize()  # SP009
        started = True
    except Exception:
        if started:
            await database.close()
        raise
    try:
        yield
    finally:
        await database.close()
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
        for opening, closing, flag in half_open(owner):
            opens, closes_ = opening.method.name, closing.method.name
            yield owner.module.source.hit(
                opening.call,
                f"if {opens}() fails after this line, {closes_}() skips the open pool: "
                f"it checks self.{flag}, set only at the end",
            )


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
            flag = failure_flag(module, close, opening)
            if flag is None:
                return None  # closed by `except BaseException:`, returned otherwise
            return (
                f"closed on failure only if `{flag}`, set after this returns: when it fails "
                "half-way, the pool it opened stays open (close it unconditionally)"
            )
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
    returned = [value for value in returns if dotted(value) in names]
    if returned:  # the caller's to close, once it has it
        handed = statement_of(module, returned[0])
        if follows_directly(module, opening.statement, handed):
            return None
        return (
            "when anything between opening the pool and returning it fails, nobody can close "
            "it: close it in `except BaseException:` before re-raising"
        )
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
