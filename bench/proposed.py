"""A change to the generated app that the benchmarks measure and propose for the template
(not applied there). Importable only once a project is rendered as bench_app.

TimeoutScopeServiceDatabase bounds only the wait for a connection, with asyncio.timeout(),
instead of pool.acquire(timeout=...): asyncpg wraps the latter in one more coroutine and a
timeout scope, and reuses the timeout on release (a second scope around the connection
reset). Cancellation is safe either way: asyncpg puts the holder back in the queue.
Trade-off: the reset on release is no longer bounded by the timeout, as with any plain
pool.acquire().
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bench_app.database import ServiceDatabase


class TimeoutScopeServiceDatabase(ServiceDatabase):
    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with asyncio.timeout(self.acquire_timeout):
            connection = await self.shared_pool.acquire()
        try:
            yield connection
        finally:
            await self.shared_pool.release(connection)
