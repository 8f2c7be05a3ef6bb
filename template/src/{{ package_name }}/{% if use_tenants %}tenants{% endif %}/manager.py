"""Provision, look up, migrate and drop tenants, each in a schema of its own.

Provisioning is race-free within a process (a lock per tenant) and across processes (an
advisory lock per tenant, database.migration_lock), and bounded by a semaphore so that it
never holds the whole pool. Inside a request every wait for those locks ends with the
request's budget (TimeoutError, answered 503); the CLI may wait MIGRATION_LOCK_TIMEOUT.
A failed migration leaves the tenant `failed` with the error recorded; provisioning it
again resumes where it stopped.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from ..config import Settings
from ..database import (
    APP_NAME,
    MigrationFailed,
    ServiceDatabase,
    close_pool,
    create_pool,
    migrate_schema,
    migration_lock,
)
from ..deadline import holding, remaining
from ..service import Service
from . import MIGRATIONS_PATH, REGISTRY_SCHEMA
from .ids import tenant_schema
from .registry import DELETE_TENANT, Tenant, TenantRegistry, TenantStatus

logger = logging.getLogger(__name__)


class TenantNotFound(LookupError):
    """No such tenant, or not active: requests are never served from (nor create) its schema."""


class TenantBusy(RuntimeError):
    """The tenant is being dropped: finish the drop before provisioning it again."""


class ProvisioningFailed(RuntimeError):
    """A tenant migration failed; the tenant is `failed` and its registry row holds the error."""


class DropNotConfirmed(ValueError):
    """Dropping deletes a customer's data: the caller must repeat the tenant id to confirm."""


@dataclass(frozen=True)
class MigrationProgress:
    done: int
    total: int
    tenant_id: str
    applied: list[str]
    error: str | None


@dataclass
class MigrationReport:
    migrated: dict[str, list[str]] = field(default_factory=dict)  # tenant -> files applied
    failed: dict[str, str] = field(default_factory=dict)  # tenant -> error


def provisioning_limit(pool_max_size: int) -> int:
    """Each provisioning holds one connection (its lock's, which it migrates on): leave one free."""
    return max(1, min(2, pool_max_size - 1))


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


class OnConnection(ServiceDatabase):
    """A ServiceDatabase on one connection the caller holds: the work under a tenant's lock
    (registry, DDL, migrations) runs on the lock's own connection, without going back to
    the pool between statements."""

    def __init__(self, pool: asyncpg.Pool, connection: asyncpg.Connection, schema: str) -> None:
        super().__init__(pool, schema, acquire_timeout=0.0)  # never waits for the pool
        self.connection = connection

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        yield self.connection


class TenantManager:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        taken_schemas: Collection[str] = (),
        *,
        migrations_path: Path = MIGRATIONS_PATH,
        max_concurrent_provisioning: int | None = None,
        migration_pool: asyncpg.Pool | None = None,
    ) -> None:
        self.pool = pool  # serves the tenants' requests
        self.migration_pool = migration_pool or pool  # locks, DDL and migrations
        self.settings = settings
        self.taken_schemas = frozenset(taken_schemas)  # the services' schemas
        self.migrations_path = migrations_path
        self.registry = TenantRegistry(self._database(REGISTRY_SCHEMA))
        self._active: dict[str, ServiceDatabase] = {}  # tenant id -> its database
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._provisioning = asyncio.Semaphore(
            max_concurrent_provisioning or provisioning_limit(settings.pool_max_size)
        )

    def _database(self, schema: str) -> ServiceDatabase:
        return ServiceDatabase(self.pool, schema, self.settings.pool_acquire_timeout)

    def _on(self, connection: asyncpg.Connection, schema: str) -> OnConnection:
        return OnConnection(self.migration_pool, connection, schema)

    def schema_for(self, tenant_id: str) -> str:
        """The tenant's schema; InvalidTenantId before any SQL if the id is not acceptable."""
        return tenant_schema(tenant_id, self.taken_schemas)

    async def get(self, tenant_id: str) -> ServiceDatabase:
        """The database of an active tenant; TenantNotFound otherwise. Never provisions."""
        db = self._active.get(tenant_id)
        if db is not None:
            return db
        self.schema_for(tenant_id)
        tenant = await self.registry.get(tenant_id)
        if tenant is None or tenant.status is not TenantStatus.ACTIVE:
            status = "unknown" if tenant is None else tenant.status
            raise TenantNotFound(f"no active tenant {tenant_id!r} ({status})")
        return self._active.setdefault(tenant_id, self._database(tenant.schema_name))

    async def still_active(self, tenant_id: str) -> bool:
        """Re-read the registry; forget the cached database of a tenant no longer active
        (another process dropped it, so this one's cache is stale)."""
        tenant = await self.registry.get(tenant_id)
        if tenant is not None and tenant.status is TenantStatus.ACTIVE:
            return True
        self._active.pop(tenant_id, None)
        return False

    async def list_tenants(self) -> list[Tenant]:
        return await self.registry.all()

    async def provision(self, tenant_id: str) -> tuple[Tenant, bool]:
        """Create and migrate the tenant's schema; (tenant, True) if this call activated it."""
        schema = self.schema_for(tenant_id)
        async with self._locked(tenant_id):
            tenant = await self.registry.get(tenant_id)
            if tenant is not None and tenant.status is TenantStatus.ACTIVE:
                return tenant, False
            async with self._exclusive(tenant_id) as connection:
                registry = TenantRegistry(self._on(connection, REGISTRY_SCHEMA))
                tenant = await registry.get(tenant_id)  # another process may have done it
                if tenant is not None and tenant.status is TenantStatus.ACTIVE:
                    return tenant, False
                if tenant is not None and tenant.status is TenantStatus.DROPPING:
                    raise TenantBusy(f"tenant {tenant_id!r} is being dropped; drop it again first")
                if tenant is None or tenant.status is TenantStatus.FAILED:  # (re)starting
                    tenant = await registry.start_provisioning(tenant_id, schema)
                tenant, _ = await self._migrate(tenant, connection)
        if tenant.status is TenantStatus.FAILED:
            raise ProvisioningFailed(f"tenant {tenant_id!r}: {tenant.error}")
        return tenant, True

    async def migrate_tenant(self, tenant_id: str) -> tuple[Tenant, list[str]]:
        """Apply the tenant's pending migrations: (tenant, files applied)."""
        async with self._locked(tenant_id), self._exclusive(tenant_id) as connection:
            tenant = await TenantRegistry(self._on(connection, REGISTRY_SCHEMA)).get(tenant_id)
            if tenant is None or tenant.status is TenantStatus.DROPPING:
                raise TenantNotFound(f"tenant {tenant_id!r} was dropped meanwhile")
            return await self._migrate(tenant, connection)

    async def migrate_all(
        self,
        parallelism: int,
        progress: Callable[[MigrationProgress], None] = lambda _: None,
    ) -> MigrationReport:
        """Migrate every tenant, `parallelism` at a time; one tenant's failure stops no other."""
        tenants = [t for t in await self.registry.all() if t.status is not TenantStatus.DROPPING]
        report = MigrationReport()
        queue = iter(tenants)  # shared by the workers: each tenant is taken once

        async def worker() -> None:
            for tenant in queue:
                applied: list[str] = []
                try:
                    migrated, applied = await self.migrate_tenant(tenant.tenant_id)
                    error = migrated.error if migrated.status is TenantStatus.FAILED else None
                except Exception as exception:  # a timeout or lost connection: report, go on
                    error = f"{type(exception).__name__}: {one_line(exception)}"
                if error is None:
                    report.migrated[tenant.tenant_id] = applied
                else:
                    report.failed[tenant.tenant_id] = error
                done = len(report.migrated) + len(report.failed)
                progress(MigrationProgress(done, len(tenants), tenant.tenant_id, applied, error))

        async with asyncio.TaskGroup() as workers:
            for _ in range(max(1, min(parallelism, len(tenants)))):
                workers.create_task(worker())
        return report

    async def drop(self, tenant_id: str, confirm: str) -> None:
        """Drop the tenant's schema and its registry row, together, in one transaction."""
        if confirm != tenant_id:
            raise DropNotConfirmed(f"to drop tenant {tenant_id!r}, confirm with its id")
        self.schema_for(tenant_id)
        async with self._locked(tenant_id), self._exclusive(tenant_id) as connection:
            registry = TenantRegistry(self._on(connection, REGISTRY_SCHEMA))
            tenant = await registry.get(tenant_id)
            if tenant is None:
                raise TenantNotFound(f"no tenant {tenant_id!r}")
            self._active.pop(tenant_id, None)
            # Committed first, so that if the drop fails (a lock timeout) the tenant is
            # left visibly `dropping`, unserved, and dropping it again finishes the job.
            await registry.set_status(tenant_id, TenantStatus.DROPPING)
            async with self._on(connection, tenant.schema_name).transaction() as transaction:
                await transaction.execute("DROP SCHEMA IF EXISTS {{schema}} CASCADE")
                delete = registry.db.prepare_query(DELETE_TENANT)
                await transaction.connection.execute(delete, tenant_id)
        logger.info("tenant %s dropped (schema %s)", tenant_id, tenant.schema_name)

    def _locked(self, tenant_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the tenant's lock in this process."""
        lock_wait = self.settings.migration_lock_timeout
        return holding(self._locks[tenant_id], lock_wait, f"tenant {tenant_id!r}")

    @asynccontextmanager
    async def _exclusive(self, tenant_id: str) -> AsyncIterator[asyncpg.Connection]:
        """Hold the tenant's cross-process lock, within the provisioning bound; yields the
        lock's connection, on which the work under the lock runs."""
        key = f"{APP_NAME}:tenant:{tenant_id}"
        lock_wait = self.settings.migration_lock_timeout
        async with (
            holding(self._provisioning, lock_wait, "tenant provisioning"),
            migration_lock(self.migration_pool, key, timeout=remaining(lock_wait)) as connection,
        ):
            yield connection

    async def _migrate(
        self, tenant: Tenant, connection: asyncpg.Connection
    ) -> tuple[Tenant, list[str]]:
        """Migrate a registered tenant on the connection holding its lock, and record the
        outcome."""
        registry = TenantRegistry(self._on(connection, REGISTRY_SCHEMA))
        db = self._on(connection, tenant.schema_name)
        try:
            applied = await migrate_schema(db, tenant.schema_name, self.migrations_path)
        except MigrationFailed as error:
            self._active.pop(tenant.tenant_id, None)
            logger.error("tenant %s: %s", tenant.tenant_id, error)
            failed = await registry.set_status(
                tenant.tenant_id, TenantStatus.FAILED, one_line(error)
            )
            return failed, []
        if applied or tenant.status is not TenantStatus.ACTIVE:
            tenant = await registry.set_status(tenant.tenant_id, TenantStatus.ACTIVE)
        self._active[tenant.tenant_id] = self._database(tenant.schema_name)
        return tenant, applied


@asynccontextmanager
async def open_tenants(
    pool: asyncpg.Pool, settings: Settings, services: Iterable[Service]
) -> AsyncIterator[TenantManager]:
    """The app's TenantManager, for the lifespan.

    Provisioning holds a session advisory lock, which a transaction pooler does not keep
    exclusive: when MIGRATION_DATABASE_URL is set apart, locks and DDL go through a small
    direct pool of their own, closed with the app.
    """
    schemas = {service.schema for service in services}
    if settings.migration_database_url == settings.database_url:
        yield TenantManager(pool, settings, schemas)
        return
    limit = provisioning_limit(settings.pool_max_size)
    direct_settings = settings.model_copy(update={"pool_min_size": 0, "pool_max_size": limit})
    direct = await create_pool(direct_settings, settings.migration_database_url, migrations=True)
    try:
        yield TenantManager(pool, settings, schemas, migration_pool=direct)
    finally:
        await close_pool(direct, grace=settings.shutdown_grace)
