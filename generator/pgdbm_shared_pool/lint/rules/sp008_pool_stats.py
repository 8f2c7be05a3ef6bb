"""SP008: get_pool_stats() exists on managers, not on the pool."""

from __future__ import annotations

from collections.abc import Iterator

from ..project import Project
from ..sources import Hit
from ..syntax import simple_name

CODE = "SP008"
NAME = "pool-stats-on-pool"
MESSAGE = "get_pool_stats() on the shared pool: an asyncpg.Pool has no such method (AttributeError)"
RATIONALE = (
    "`create_shared_pool` returns a plain `asyncpg.Pool` in pgdbm 0.5.0, so the skill's "
    "`await shared_pool.get_pool_stats()` raises `AttributeError: 'Pool' object has no attribute "
    "'get_pool_stats'`. The manager's `get_pool_stats()` runs a query (it hangs when the pool is "
    "exhausted, exactly when you need it) and reports `current_schema()`, which is `pg_catalog` "
    "under the 0.5.0 pin."
)
EXEMPT_TESTS = True

FIX = (
    "Read the pool without a round trip: size, idle = pool.get_size(), pool.get_idle_size(); "
    "usage = (size - idle) / pool.get_max_size(); or call get_pool_stats() on a manager."
)
GOOD_EXAMPLES = [
    """\
import asyncpg


def pool_usage(pool: asyncpg.Pool) -> float:
    size, idle = pool.get_size(), pool.get_idle_size()
    return (size - idle) / pool.get_max_size()
""",
    """\
from pgdbm import AsyncDatabaseManager


async def users_stats(db: AsyncDatabaseManager) -> dict:
    return await db.get_pool_stats()
""",
]
BAD_EXAMPLES = [
    """\
import asyncpg


async def pool_usage(pool: asyncpg.Pool) -> float:
    stats = await pool.get_pool_stats()  # SP008
    return stats["used_size"] / stats["size"]
""",
    """\
from fastapi import APIRouter, Request

router = APIRouter()


@router.get("/health/pool")
async def pool_health(request: Request) -> dict:
    return await request.app.state.pool.get_pool_stats()  # SP008
""",
    """\
async def log_usage(shared_pool, logger) -> None:
    stats = await shared_pool.get_pool_stats()  # SP008
    logger.info("pool usage %s/%s", stats["used_size"], stats["size"])
""",
]


def check(project: Project) -> Iterator[Hit]:
    for module in project.modules():
        for call, receiver in module.method_calls("get_pool_stats"):
            value = module.value_of(receiver)
            if value is not None:
                is_pool = value.kind == "pool"
            else:  # untyped: named like a pool (shared_pool, app.state.pool), it is one
                is_pool = "pool" in (simple_name(receiver) or "").lower()
            if is_pool:
                yield module.source.hit(call)
