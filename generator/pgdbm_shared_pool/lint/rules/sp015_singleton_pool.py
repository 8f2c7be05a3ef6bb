"""SP015: a pool singleton is race-free and usable again after close()."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..owners import Opening, PoolOwner, guard_attributes, is_locked
from ..project import Project
from ..sources import Hit

CODE = "SP015"
NAME = "singleton-pool-lifecycle"
MESSAGE = "a pool singleton that opens two pools under concurrency, or keeps a closed pool"
RATIONALE = (
    "In pgdbm 0.5.0 every `create_shared_pool()` call opens a new `asyncpg.Pool`. A singleton "
    "whose `initialize()` checks `self._pool is None` (or an `_initialized` flag) and then awaits "
    "the pool without a lock lets two tasks pass the check together: two pools, and the first "
    "one assigned is never closed. A `close()` that closes the pool but keeps it (or keeps the "
    "flag) makes the next `initialize()` return early, and every query then fails with "
    "`InterfaceError: pool is closed`. The same holds for an own-pool manager's `connect()`. "
    "Test code is exempt."
)
EXEMPT_TESTS = True
FIX = (
    "Hold one asyncio.Lock around the check and the creation (and around close()); in close(), "
    "take the pool out first (pool, self._pool = self._pool, None), reset any flag, then close it."
)
GOOD_EXAMPLES = [
    """\
import asyncio

import asyncpg
from pgdbm import AsyncDatabaseManager, DatabaseConfig


class SharedDatabase:
    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._pool: asyncpg.Pool | None = None

    async def initialize(self, config: DatabaseConfig) -> None:
        async with self._lock:
            if self._pool is None:
                self._pool = await AsyncDatabaseManager.create_shared_pool(config)

    async def close(self) -> None:
        async with self._lock:
            pool, self._pool = self._pool, None
            if pool is not None:
                await pool.close()


shared_database = SharedDatabase()
""",
]
BAD_EXAMPLES = [
    """\
import asyncpg
from pgdbm import AsyncDatabaseManager, DatabaseConfig


class SharedDatabase:
    _pool: asyncpg.Pool | None = None

    @classmethod
    async def initialize(cls, config: DatabaseConfig) -> None:
        if cls._pool is None:
            cls._pool = await AsyncDatabaseManager.create_shared_pool(config)  # SP015

    @classmethod
    async def close(cls) -> None:
        if cls._pool is not None:
            await cls._pool.close()  # SP015
""",
    """\
from pgdbm import AsyncDatabaseManager, DatabaseConfig


class Database:
    def __init__(self) -> None:
        self.pool = None
        self._initialized = False

    async def initialize(self, config: DatabaseConfig) -> None:
        if self._initialized:
            return
        self.pool = await AsyncDatabaseManager.create_shared_pool(config)  # SP015
        self._initialized = True

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()  # SP015
            self.pool = None


database = Database()
""",
]


def check(project: Project) -> Iterator[Hit]:
    for owner in project.facts.owners:
        if owner.singleton:
            yield from _singleton(owner)


def _singleton(owner: PoolOwner) -> Iterator[Hit]:
    source = owner.module.source
    for opening in owner.openings:
        guards = guard_attributes(owner.module, opening.method, opening.call)
        if not guards:
            continue  # no lazy check: not the pattern this rule is about
        if not _locked(owner, opening):
            tested = ", ".join(f"{_receiver(opening.method)}.{name}" for name in sorted(guards))
            yield source.hit(
                opening.call,
                f"{opening.method.name}() checks {tested} and then awaits a new pool without a "
                "lock: two concurrent calls pass the check and open two pools",
            )
        for closing in owner.closings:
            if closing.attribute != opening.attribute:
                continue
            if not any(owner.assigns(closing.method, guard) for guard in guards):
                kept = " and ".join(f"{_receiver(closing.method)}.{n}" for n in sorted(guards))
                yield source.hit(
                    closing.call,
                    f"{closing.method.name}() closes the pool but keeps {kept}: the next "
                    f"{opening.method.name}() returns early and hands out the closed pool",
                )


def _receiver(method: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """`self`, or `cls` in a classmethod."""
    return method.args.args[0].arg if method.args.args else "self"


def _locked(owner: PoolOwner, opening: Opening) -> bool:
    """Under a lock in the method, or every caller in the class's module holds one."""
    module, method = owner.module, opening.method
    if is_locked(module, opening.call, method):
        return True
    acquires = [
        call
        for scope in module.scopes[method].within()
        for call in scope.calls
        if isinstance(call.func, ast.Attribute) and call.func.attr == "acquire"
    ]
    if any(call.lineno < opening.call.lineno for call in acquires):
        return True
    callers = [call for call, _ in module.method_calls(method.name)]
    return bool(callers) and all(is_locked(module, call, module.source.tree) for call in callers)
