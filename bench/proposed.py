"""Changes to the generated app, measured by the benchmarks and proposed for the template
(not applied there). Importable only once a project is rendered as bench_app.

async_database_for: the generated dependencies are plain `def`s, which FastAPI runs in its
threadpool, a thread hand-off per request for an attribute lookup. As `async def` they run
inline on the event loop; nothing else changes (they do no I/O).

CachedServiceDatabase remembers each expanded query: pgdbm runs prepare_query (two regexes,
two replaces) on every call. Safe because the expansion depends only on (schema, query
text), both in the key; bounded, so SQL built dynamically cannot grow it without limit.

TimeoutScopeServiceDatabase also bounds only the wait for a connection, with
asyncio.timeout(), instead of pool.acquire(timeout=...): asyncpg wraps the latter in one
more coroutine and a timeout scope, and reuses the timeout on release (a second scope
around the connection reset). Cancellation is safe either way: asyncpg puts the holder
back in the queue. Trade-off: the reset on release is no longer bounded by the timeout,
as with any plain pool.acquire().
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

from bench_app.database import ServiceDatabase
from fastapi import Request


def async_database_for(schema: str) -> Callable[[Request], Awaitable[ServiceDatabase]]:
    """The generated database_for(), as a coroutine dependency."""

    async def service_database(request: Request) -> ServiceDatabase:
        return cast(ServiceDatabase, request.app.state.databases[schema])

    return service_database


class CachedServiceDatabase(ServiceDatabase):
    max_cached_queries = 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepared: dict[tuple[str | None, str], str] = {}

    def prepare_query(self, query: str) -> str:
        key = (self.schema, query)
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = super().prepare_query(query)
            if len(self._prepared) < self.max_cached_queries:
                self._prepared[key] = prepared
        return prepared


class TimeoutScopeServiceDatabase(CachedServiceDatabase):
    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with asyncio.timeout(self.acquire_timeout):
            connection = await self.shared_pool.acquire()
        try:
            yield connection
        finally:
            await self.shared_pool.release(connection)
