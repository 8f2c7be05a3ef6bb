"""Liveness, readiness and pool usage probes."""

from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pgdbm import QueryError

from .database import pending_migrations
from .dependencies import Pool
from .errors import CONNECTION_LOST

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict[str, str]:
    """The process is up. No I/O: a slow database must not get the process restarted."""
    return {"status": "ok"}


NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"description": "Not ready: the database is unreachable or migrations are pending"},
}


@router.get("/ready", response_model=None, responses=NOT_READY)
async def ready(request: Request) -> dict[str, Any] | JSONResponse:
    """The database answers and every service's migrations are applied."""
    databases = request.app.state.databases
    pending: dict[str, list[str]] = {}
    try:
        for service in request.app.state.services:
            files = await pending_migrations(databases[service.schema], service)
            if files:
                pending[service.schema] = files
    except (*CONNECTION_LOST, asyncpg.PostgresError, QueryError) as error:
        return JSONResponse(
            {"status": "not ready", "reason": f"database unreachable ({type(error).__name__})"},
            status_code=503,
        )
    if pending:
        return JSONResponse({"status": "not ready", "pending_migrations": pending}, 503)
    return {"status": "ready"}


@router.get("/pool")
async def pool_usage(pool: Pool) -> dict[str, float]:
    """Usage computed from the pool itself: no database round trip, so it answers even
    when every connection is busy (pgdbm's get_pool_stats() runs a query and would wait)."""
    size, idle, maximum = pool.get_size(), pool.get_idle_size(), pool.get_max_size()
    used = size - idle
    return {"size": size, "idle": idle, "used": used, "max": maximum, "usage": used / maximum}
