"""One shared pool per process for code outside requests: workers, scripts, CLIs.

Inside the FastAPI app use the dependencies instead; the lifespan owns that pool.
"""

import asyncio

import asyncpg

from .config import Settings, get_settings
from .database import ServiceDatabase, close_pool, create_pool, open_databases
from .services import SERVICES


class SharedDatabase:
    """Race-free: concurrent initialize() calls create one pool; close() then
    initialize() gives a working pool again."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._pool: asyncpg.Pool | None = None
        self._databases: dict[str, ServiceDatabase] = {}
        self._grace = 10.0

    async def initialize(self, settings: Settings | None = None) -> None:
        async with self._lock:
            if self._pool is not None:
                return
            config = settings or get_settings()
            pool = await create_pool(config)
            self._databases = open_databases(pool, SERVICES, config)
            self._grace = config.shutdown_grace
            self._pool = pool

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("SharedDatabase is not initialized: await initialize() first")
        return self._pool

    def database(self, schema: str) -> ServiceDatabase:
        """The manager bound to a service's schema, on the shared pool."""
        if self._pool is None:
            raise RuntimeError("SharedDatabase is not initialized: await initialize() first")
        return self._databases[schema]

    async def close(self) -> None:
        async with self._lock:
            pool, self._pool, self._databases = self._pool, None, {}
            if pool is not None:
                await close_pool(pool, grace=self._grace)


shared_database = SharedDatabase()
