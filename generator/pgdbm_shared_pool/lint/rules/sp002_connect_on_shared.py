"""SP002: connect() on a manager that borrows the shared pool."""

from __future__ import annotations

from collections.abc import Iterator

from ..project import Project
from ..sources import Hit

CODE = "SP002"
NAME = "connect-on-pool-manager"
MESSAGE = "connect() on a manager built with pool=: pgdbm raises PoolError"
RATIONALE = (
    "A manager built with `AsyncDatabaseManager(pool=..., schema=...)` borrows the shared pool. "
    "In pgdbm 0.5.0 its `connect()` raises `PoolError: Cannot call connect() when using an "
    "external pool. The pool lifecycle is managed by the pool owner.`, and its `disconnect()` "
    "is a silent no-op: only `pool.close()` closes the pool."
)
EXEMPT_TESTS = True

FIX = "Delete the connect() call: the shared pool is already open; its creator closes it."
GOOD_EXAMPLES = [
    """\
from pgdbm import AsyncDatabaseManager


def users_database(pool) -> AsyncDatabaseManager:
    return AsyncDatabaseManager(pool=pool, schema="users")
""",
    """\
from pgdbm import AsyncDatabaseManager, DatabaseConfig


async def open_reports(config: DatabaseConfig) -> AsyncDatabaseManager:
    reports = AsyncDatabaseManager(config)
    await reports.connect()
    return reports
""",
]
BAD_EXAMPLES = [
    """\
from pgdbm import AsyncDatabaseManager


async def users_database(pool):
    db = AsyncDatabaseManager(pool=pool, schema="users")
    await db.connect()  # SP002
    return db
""",
    """\
import pgdbm


class UsersService:
    def __init__(self, pool):
        self.db = pgdbm.AsyncDatabaseManager(pool=pool, schema="users")

    async def start(self):
        await self.db.connect()  # SP002
""",
]


def check(project: Project) -> Iterator[Hit]:
    for module in project.modules():
        yield from map(module.source.hit, module.manager_calls("connect", pool_based=True))
