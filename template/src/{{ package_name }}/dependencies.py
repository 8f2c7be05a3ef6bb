"""FastAPI dependencies: the shared pool and one schema-bound database per service.

They are `async def` although they do no I/O: FastAPI runs a plain `def` dependency in its
threadpool, a thread hand-off on every request for an attribute lookup.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, cast

import asyncpg
from fastapi import Depends, Request

from .database import ServiceDatabase


async def get_pool(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


def database_for(schema: str) -> Callable[[Request], Awaitable[ServiceDatabase]]:
    """A dependency returning the manager bound to `schema`, created once in the lifespan."""

    async def service_database(request: Request) -> ServiceDatabase:
        return cast(ServiceDatabase, request.app.state.databases[schema])

    return service_database


Pool = Annotated[asyncpg.Pool, Depends(get_pool)]
