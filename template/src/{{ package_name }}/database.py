"""The shared pool, the service databases on it, and their migrations."""

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg
import pgdbm
from pgdbm import (
    AsyncDatabaseManager,
    AsyncMigrationManager,
    DatabaseConfig,
    MigrationError,
)
from pgdbm.core import SchemaManager

from .config import Settings
from .deadline import WATCHDOGS
from .service import Service

APP_NAME = __name__.split(".")[0]
MIGRATION_LOCK_KEY = f"{APP_NAME}:migrations"

logger = logging.getLogger(__name__)


class MigrationFailed(RuntimeError):
    """A migration could not be applied; the message names the service and the file."""


@dataclass(frozen=True)
class DatabaseTarget:
    """What a DSN connects to, as asyncpg reads it (PG* variables fill the gaps); no password."""

    host: str
    port: int
    database: str
    user: str

    @classmethod
    def of(cls, dsn: str) -> "DatabaseTarget":
        parts = urlsplit(dsn)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        try:
            host, port = parts.hostname, parts.port
        except ValueError:  # several hosts (h1:5432,h2:5432): show them as written
            host, port = parts.netloc.rpartition("@")[2], None
        user = unquote(parts.username or "") or query.get("user") or os.environ.get("PGUSER")
        user = user or "postgres"
        return cls(
            host=host or query.get("host") or os.environ.get("PGHOST") or "localhost",
            port=port or int(query.get("port") or os.environ.get("PGPORT") or 5432),
            database=unquote(parts.path.lstrip("/")) or os.environ.get("PGDATABASE") or user,
            user=user,
        )

    def __str__(self) -> str:
        return f"{self.host}:{self.port}, database {self.database!r} as {self.user!r}"


class DatabaseUnreachable(RuntimeError):
    """No connection could be made. The message is one line: where (never the password),
    the server's or the network's answer, and what usually fixes it."""

    def __init__(self, target: DatabaseTarget, error: BaseException) -> None:
        reason = " ".join(str(error).split()) or type(error).__name__
        if isinstance(error, asyncpg.InvalidCatalogNameError):
            host, port, user = target.host, target.port, target.user
            reason += f"; create it: createdb -h {host} -p {port} -U {user} {target.database}"
        elif isinstance(error, OSError):
            reason += "; is PostgreSQL running and listening there?"
        super().__init__(f"cannot connect to PostgreSQL at {target}: {reason}")


class ServiceDatabase(AsyncDatabaseManager):
    """A schema-bound pgdbm manager on the shared pool whose wait for a connection is bounded.

    pgdbm acquires without a timeout, so an exhausted pool would make requests hang;
    here the wait ends with TimeoutError, which the API maps to 503.
    """

    max_cached_queries = 1024

    def __init__(self, pool: asyncpg.Pool, schema: str, acquire_timeout: float) -> None:
        super().__init__(pool=pool, schema=schema)
        self.shared_pool = pool
        self.acquire_timeout = acquire_timeout
        self._expanded: dict[tuple[str | None, str], str] = {}

    def prepare_query(self, query: str) -> str:
        """pgdbm expands {{tables.x}} on every call (two regexes, two replaces); the result
        depends only on the schema and the text, so remember it. Bounded: SQL built at run
        time cannot grow it without limit."""
        key = (self.schema, query)
        expanded = self._expanded.get(key)
        if expanded is None:
            expanded = super().prepare_query(query)
            if len(self._expanded) < self.max_cached_queries:
                self._expanded[key] = expanded
        return expanded

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        pool = self.shared_pool
        # Bounded by the app's watchdog (deadline.py), not pool.acquire(timeout=...): its
        # timer, and the one asyncpg then sets around the connection reset, cost more than
        # the rest of the call. The reset stays bounded, by the pool's command_timeout.
        watch = WATCHDOGS.watch(self.acquire_timeout)
        try:
            try:
                connection = await pool.acquire()
            finally:
                waited_too_long = WATCHDOGS.unwatch(watch)
        except asyncio.CancelledError:
            if not waited_too_long:
                raise
            wait, size = self.acquire_timeout, pool.get_max_size()
            raise TimeoutError(f"no free connection within {wait} s (pool of {size})") from None
        try:
            yield connection
        finally:
            await pool.release(connection)


async def create_pool(
    settings: Settings, database_url: str | None = None, *, migrations: bool = False
) -> asyncpg.Pool:
    """Create a shared pool on `database_url` (default: settings.database_url), or raise
    DatabaseUnreachable. Its statements run under the request timeouts, or with
    `migrations` under MIGRATION_STATEMENT_TIMEOUT_MS.

    pgdbm 0.5 pins its search_path to pg_catalog, so SQL that forgets {{tables.x}}
    fails loudly instead of landing in public.
    """
    dsn = database_url or settings.database_url
    target = DatabaseTarget.of(dsn)
    statement_ms = (
        settings.migration_statement_timeout_ms if migrations else settings.statement_timeout_ms
    )
    config = DatabaseConfig(
        connection_string=dsn,
        # Only for pgdbm's log lines, which otherwise name its defaults (localhost, postgres).
        host=target.host,
        port=target.port,
        database=target.database,
        user=target.user,
        min_connections=settings.pool_min_size,
        max_connections=settings.pool_max_size,
        statement_cache_size=settings.statement_cache_size,
        statement_timeout_ms=statement_ms,
        lock_timeout_ms=settings.lock_timeout_ms,
        # asyncpg's own limit per call, for a server that stops answering: after the
        # server's statement_timeout, which says more when it fires.
        command_timeout=statement_ms / 1000 + 1,
        retry_attempts=1,  # fail fast, in one line; compose and orchestrators restart us
        server_settings={"application_name": APP_NAME},
    )
    try:
        return await AsyncDatabaseManager.create_shared_pool(config)
    except pgdbm.ConnectionError as error:
        raise DatabaseUnreachable(target, error.__cause__ or error) from error


async def close_pool(pool: asyncpg.Pool, grace: float) -> None:
    """Close the pool, waiting at most `grace` seconds for connections in use."""
    try:
        await asyncio.wait_for(pool.close(), grace)
    except TimeoutError:
        logger.warning("pool still busy after %.1f s; terminating its connections", grace)
        pool.terminate()


def open_databases(
    pool: asyncpg.Pool, services: Iterable[Service], settings: Settings
) -> dict[str, ServiceDatabase]:
    """One manager per service, each bound to the service's schema."""
    return {
        service.schema: ServiceDatabase(pool, service.schema, settings.pool_acquire_timeout)
        for service in services
    }


@asynccontextmanager
async def migration_lock(
    pool: asyncpg.Pool, key: str, *, timeout: float
) -> AsyncIterator[asyncpg.Connection]:
    """Hold a session advisory lock on one pooled connection for the duration of the block;
    yields that connection.

    pgdbm's own lock is taken after an unlocked CREATE TABLE IF NOT EXISTS and gives up
    after lock_timeout (5 s), so processes booting together on a fresh database crash.
    Polling pg_try_advisory_lock serialises them with a deadline of our own, unaffected
    by the pool's lock and statement timeouts.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with pool.acquire(timeout=timeout) as connection:
        while not await connection.fetchval(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key
        ):
            if loop.time() >= deadline:
                raise TimeoutError(f"lock {key!r} still held by another process after {timeout} s")
            await asyncio.sleep(0.05)
        try:
            yield connection
        finally:
            await connection.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)


async def migrate_schema(db: AsyncDatabaseManager, schema: str, migrations_path: Path) -> list[str]:
    """Create `schema` (db's), apply its pending migrations, return the files applied.

    Callers hold a migration_lock: pgdbm's own steps are not safe to run concurrently.
    """
    if not migrations_path.is_dir():
        # pgdbm would log a warning and report "up to date" with no tables.
        raise MigrationFailed(f"{schema}: no migrations folder {migrations_path}")
    await SchemaManager(db).ensure_schema_exists()  # pgdbm never creates it on a shared pool
    migrations = AsyncMigrationManager(db, migrations_path=str(migrations_path), module_name=schema)
    try:
        result = await migrations.apply_pending_migrations()
    except MigrationError as error:
        raise MigrationFailed(f"{schema}: {error}") from error
    return [migration["filename"] for migration in result["applied"]]


async def migrate_services(
    pool: asyncpg.Pool, services: Sequence[Service], settings: Settings
) -> dict[str, list[str]]:
    """Migrate every service under one lock, so concurrent start-ups apply each file once."""
    databases = open_databases(pool, services, settings)
    async with migration_lock(pool, MIGRATION_LOCK_KEY, timeout=settings.migration_lock_timeout):
        applied = {}
        for service in services:
            applied[service.schema] = await migrate_schema(
                databases[service.schema], service.schema, service.migrations_path
            )
            if applied[service.schema]:
                logger.info("%s: applied %s", service.schema, ", ".join(applied[service.schema]))
        return applied


async def pending_migrations(
    connection: asyncpg.Connection,
    databases: Mapping[str, AsyncDatabaseManager],
    services: Iterable[Service],
) -> dict[str, list[str]]:
    """Per service, the files in its migrations folder its schema has not applied yet."""
    pending = {}
    for service in services:
        query = databases[service.schema].prepare_query(
            "SELECT filename FROM {{tables.schema_migrations}} WHERE module_name = $1"
        )
        try:
            rows = await connection.fetch(query, service.schema)
        except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
            rows = []  # never migrated
        applied = {row["filename"] for row in rows}
        files = sorted(path.name for path in service.migrations_path.glob("*.sql"))
        if missing := [name for name in files if name not in applied]:
            pending[service.schema] = missing
    return pending
