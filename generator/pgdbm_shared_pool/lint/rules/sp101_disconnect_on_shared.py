"""SP101: disconnect() on a manager that borrows the shared pool does nothing."""

from __future__ import annotations

from collections.abc import Iterator

from ..project import Project
from ..sources import Hit

CODE = "SP101"
NAME = "disconnect-on-pool-manager"
MESSAGE = "disconnect() on a manager built with pool= does nothing: the pool stays open"
RATIONALE = (
    "In pgdbm 0.5.0 `disconnect()` on a manager built with `pool=` only logs 'Using external "
    "pool - skipping disconnect' at debug level and returns: no connection is released and the "
    "shared pool stays open, so a shutdown that disconnects each service's manager instead of "
    "closing the pool leaks every connection. Only `pool.close()` (by the pool's creator) "
    "closes it."
)
EXEMPT_TESTS = True

FIX = "Remove the disconnect() call and close the pool itself once, in the finally of its creator."
GOOD_EXAMPLES = [
    """\
from pgdbm import AsyncDatabaseManager, DatabaseConfig


async def export_report(url: str) -> None:
    reports = AsyncDatabaseManager(DatabaseConfig(connection_string=url))
    await reports.connect()
    try:
        await reports.execute("SELECT 1")
    finally:
        await reports.disconnect()
""",
]
BAD_EXAMPLES = [
    """\
from pgdbm import AsyncDatabaseManager


async def shutdown(pool) -> None:
    users = AsyncDatabaseManager(pool=pool, schema="users")
    await users.disconnect()  # SP101
""",
]


def check(project: Project) -> Iterator[Hit]:
    for module in project.modules():
        yield from map(module.source.hit, module.manager_calls("disconnect", pool_based=True))
