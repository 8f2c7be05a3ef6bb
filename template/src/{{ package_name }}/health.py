"""Liveness, readiness and pool usage probes."""

from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from .database import pending_migrations
from .dependencies import Pool
from .errors import CONNECTION_LOST

router = APIRouter(prefix="/health", tags=["health"])
# Orchestrators give a probe about a second: wait this long for a connection, and as
# long again for the database's answer.
PROBE_WAIT = 0.4
DATABASE_DOWN = (*CONNECTION_LOST, asyncpg.PostgresError)


class PoolUsage(BaseModel):
    size: int  # connections open
    idle: int
    used: int
    max: int
    usage: float  # used / max


class Readiness(BaseModel):
    status: str  # "ready" or "not ready"
    pool: PoolUsage
    busy: bool = False  # every connection in use: ready, but the database was not asked
    reason: str | None = None
    pending_migrations: dict[str, list[str]] | None = None


def usage_of(pool: asyncpg.Pool) -> PoolUsage:
    """Counted from the pool itself: no database round trip, so it answers even when every
    connection is busy (pgdbm's get_pool_stats() runs a query and would wait)."""
    size, idle, maximum = pool.get_size(), pool.get_idle_size(), pool.get_max_size()
    used = size - idle
    return PoolUsage(size=size, idle=idle, used=used, max=maximum, usage=used / maximum)


@router.get("/live")
async def live() -> dict[str, str]:
    """The process is up. No I/O: a slow database must not get the process restarted."""
    return {"status": "ok"}


NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {
        "model": Readiness,
        "description": "Not ready: the database does not answer or migrations are pending",
    },
}


@router.get(
    "/ready", response_model=Readiness, response_model_exclude_none=True, responses=NOT_READY
)
async def ready(request: Request) -> Readiness | JSONResponse:
    """Ready: this replica can serve. The database answers and every service's migrations
    are applied. A pool with every connection in use is busy, not broken: ready, with
    `busy` and the pool's figures, so a loaded replica stays in rotation."""
    state = request.app.state
    pool: asyncpg.Pool = state.pool
    try:
        connection = await pool.acquire(timeout=PROBE_WAIT)
    except TimeoutError:
        usage = usage_of(pool)
        if usage.used == usage.max:
            return Readiness(status="ready", pool=usage, busy=True)
        return not_ready(pool, reason=f"database did not accept a connection in {PROBE_WAIT} s")
    except DATABASE_DOWN as error:
        return not_ready(pool, reason=f"database unreachable ({type(error).__name__})")
    try:
        await connection.fetchval("SELECT 1", timeout=PROBE_WAIT)
        if not state.migrations_verified:  # applied files stay applied: asked until they are
            pending = await pending_migrations(connection, state.databases, state.services)
            if pending:
                return not_ready(pool, pending_migrations=pending)
            state.migrations_verified = True
    except DATABASE_DOWN as error:
        return not_ready(pool, reason=f"database unreachable ({type(error).__name__})")
    finally:
        await pool.release(connection)
    return Readiness(status="ready", pool=usage_of(pool))


def not_ready(pool: asyncpg.Pool, **why: Any) -> JSONResponse:
    body = Readiness(status="not ready", pool=usage_of(pool), **why)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=503)


@router.get("/pool")
async def pool_usage(pool: Pool) -> PoolUsage:
    return usage_of(pool)
