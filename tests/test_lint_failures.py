"""The failures behind the corpus's SP002/3/6/7/8/9/10/14/15 true positives, each run on
the structure its labels describe (tests/corpus/labels.txt names the test as
[verified: <id>]): PostgreSQL with pgdbm 0.5.0, as the corpus's code would meet it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from lint_runtime import assert_left_open, config, end_leaked, open_connections, shared_pool
from pgdbm import AsyncDatabaseManager, AsyncMigrationManager, DatabaseConfig
from pgdbm.errors import PoolError


@pytest.fixture
async def pool(fresh_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with shared_pool(fresh_database_url) as opened:
        yield opened


async def test_schema_missing(pool: asyncpg.Pool, tmp_path: Path) -> None:
    (tmp_path / "001_items.sql").write_text("CREATE TABLE {{tables.items}} (id int);")
    db = AsyncDatabaseManager(pool=pool, schema="users")
    migrations = AsyncMigrationManager(db, migrations_path=str(tmp_path), module_name="users")
    with pytest.raises(asyncpg.InvalidSchemaNameError, match='schema "users" does not exist'):
        await migrations.apply_pending_migrations()


async def test_cwd_relative(
    pool: asyncpg.Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same code applies the migration from the app's folder and silently nothing from
    any other folder."""
    app, elsewhere = tmp_path / "app", tmp_path / "elsewhere"
    (app / "migrations").mkdir(parents=True)
    elsewhere.mkdir()
    (app / "migrations" / "001_items.sql").write_text("CREATE TABLE {{tables.items}} (id int);")
    await pool.execute("CREATE SCHEMA svc")
    db = AsyncDatabaseManager(pool=pool, schema="svc")
    monkeypatch.chdir(elsewhere)
    result = await AsyncMigrationManager(
        db, "migrations", module_name="svc"
    ).apply_pending_migrations()
    assert (result["status"], result["applied"]) == ("up_to_date", [])
    monkeypatch.chdir(app)
    result = await AsyncMigrationManager(
        db, "migrations", module_name="svc"
    ).apply_pending_migrations()
    assert len(result["applied"]) == 1


async def test_pool_has_no_stats(pool: asyncpg.Pool) -> None:
    with pytest.raises(AttributeError, match="get_pool_stats"):
        await pool.get_pool_stats()  # type: ignore[attr-defined]


async def test_connect_external_pool(pool: asyncpg.Pool) -> None:
    with pytest.raises(PoolError):
        await AsyncDatabaseManager(pool=pool, schema="users").connect()


async def test_third_positional(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """AsyncMigrationManager(db, path, "users"): "users" becomes the tracking table."""
    (tmp_path / "001_users.sql").write_text("CREATE TABLE {{tables.users}} (id int);")
    await pool.execute("CREATE SCHEMA users")
    db = AsyncDatabaseManager(pool=pool, schema="users")
    migrations = AsyncMigrationManager(db, str(tmp_path), "users")
    assert migrations.migrations_table == "users"
    with pytest.raises(Exception, match="already exists"):
        await migrations.apply_pending_migrations()


async def test_schema_reassigned(pool: asyncpg.Pool) -> None:
    db = AsyncDatabaseManager(pool=pool, schema="tenant1")
    db.schema = "tenant2"
    assert db.prepare_query("SELECT * FROM {{tables.data}}") == 'SELECT * FROM "tenant2".data'


async def test_tenant_injection(pool: asyncpg.Pool) -> None:
    """The skill's TenantManager.get_tenant_db() CREATE SCHEMA with a crafted tenant id."""
    tenant_id = 'x"; CREATE TABLE public.pwned (id int); CREATE SCHEMA "y'
    schema = f"tenant_{tenant_id}"
    admin_db = AsyncDatabaseManager(pool=pool)
    await admin_db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    assert await pool.fetchval("SELECT to_regclass('public.pwned') IS NOT NULL")


Opener = Callable[[DatabaseConfig], Coroutine[Any, Any, Callable[[], Coroutine[Any, Any, None]]]]


async def open_shared(settings: DatabaseConfig) -> Callable[[], Coroutine[Any, Any, None]]:
    opened = await AsyncDatabaseManager.create_shared_pool(settings)
    return opened.close


async def open_own(settings: DatabaseConfig) -> Callable[[], Coroutine[Any, Any, None]]:
    db = AsyncDatabaseManager(settings)
    await db.connect()
    return db.disconnect


async def migrations_fail() -> None:
    raise RuntimeError("migration 002 failed")


@pytest.mark.parametrize("opener", [open_shared, open_own], ids=["shared", "own"])
async def test_failed_startup_leak(fresh_database_url: str, opener: Opener) -> None:
    """open; await something that fails; close after yield (or in a finally that starts
    later, or never, when the pool was to be returned): the pool stays open."""

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        close = await opener(config(fresh_database_url, "leak-startup"))
        await migrations_fail()
        yield
        await close()

    with pytest.raises(RuntimeError):
        async with lifespan():
            pass
    await assert_left_open(fresh_database_url, "leak-startup")


class SharedDatabaseManager:
    """The microservices example's singleton: a pool opened on first use, closed by close()."""

    _instance: SharedDatabaseManager | None = None
    url = ""

    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None

    @classmethod
    async def get_instance(cls) -> SharedDatabaseManager:
        if cls._instance is None:
            cls._instance = cls()
            cls._instance.pool = await AsyncDatabaseManager.create_shared_pool(
                config(cls.url, "leak-lifespan")
            )
        return cls._instance

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()


async def test_lifespan_never_closes(fresh_database_url: str) -> None:
    SharedDatabaseManager.url, SharedDatabaseManager._instance = fresh_database_url, None

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await SharedDatabaseManager.get_instance()
        yield  # a service's lifespan: nothing closes the singleton's pool

    async with lifespan():
        pass
    try:
        await assert_left_open(fresh_database_url, "leak-lifespan")
    finally:
        SharedDatabaseManager._instance = None


async def test_flag_guarded_close(fresh_database_url: str) -> None:
    """llmbridge's LLMDatabase: connect(), a step that fails, then _initialized = True;
    close() checks _initialized."""

    class Database:
        def __init__(self) -> None:
            self.db = AsyncDatabaseManager(config(fresh_database_url, "leak-flag"))
            self._initialized = False

        async def initialize(self) -> None:
            await self.db.connect()
            await migrations_fail()
            self._initialized = True

        async def close(self) -> None:
            if self._initialized:
                await self.db.disconnect()

    database = Database()
    try:
        with pytest.raises(RuntimeError):
            await database.initialize()
    finally:
        await database.close()
    await assert_left_open(fresh_database_url, "leak-flag")


async def test_singleton_race(fresh_database_url: str) -> None:
    """production-app's DatabaseInfrastructure.initialize(): check, then await, no lock."""

    class DatabaseInfrastructure:
        def __init__(self) -> None:
            self.shared_pool: asyncpg.Pool | None = None

        async def initialize(self) -> None:
            if self.shared_pool is not None:
                return
            self.shared_pool = await AsyncDatabaseManager.create_shared_pool(
                config(fresh_database_url, "race")
            )

    infrastructure = DatabaseInfrastructure()
    await asyncio.gather(infrastructure.initialize(), infrastructure.initialize())
    try:
        assert await open_connections(fresh_database_url, "race") == 2  # two pools of min 1
    finally:
        assert infrastructure.shared_pool is not None
        await infrastructure.shared_pool.close()
        await end_leaked(fresh_database_url, "race")


async def test_singleton_closed_pool(fresh_database_url: str) -> None:
    """The published skill's SharedDatabaseManager: close() keeps _initialized."""

    class SharedDatabase:
        def __init__(self) -> None:
            self._pool: asyncpg.Pool | None = None
            self._initialized = False

        async def initialize(self) -> None:
            if self._initialized:
                return
            self._pool = await AsyncDatabaseManager.create_shared_pool(config(fresh_database_url))
            self._initialized = True

        def get_pool(self) -> asyncpg.Pool:
            assert self._pool is not None
            return self._pool

        async def close(self) -> None:
            if self._pool:
                await self._pool.close()

    database = SharedDatabase()
    await database.initialize()
    await database.close()
    await database.initialize()  # returns early
    with pytest.raises(asyncpg.InterfaceError, match="pool is closed"):
        await database.get_pool().fetchval("SELECT 1")


async def test_second_pool(fresh_database_url: str) -> None:
    settings = config(fresh_database_url, "second-pool")
    shared = await AsyncDatabaseManager.create_shared_pool(settings)
    standalone = AsyncDatabaseManager(settings)
    await standalone.connect()
    try:
        assert await open_connections(fresh_database_url, "second-pool") == 2
    finally:
        await standalone.disconnect()
        await shared.close()


async def test_lifespan_flag_guarded_close(fresh_database_url: str, tmp_path: Path) -> None:
    """aweb's and beadhub's standalone lifespans: `db_initialized = True` after
    initialize() returns, `if db_initialized: close()` on failure. beadhub's initialize() opens
    the pool, then its first migration fails (CREATE EXTENSION pgcrypto on the pinned pool):
    the pool stays open."""
    (tmp_path / "001_initial.sql").write_text("CREATE EXTENSION IF NOT EXISTS pgcrypto;\n")

    class DatabaseInfra:
        def __init__(self) -> None:
            self._shared_pool: asyncpg.Pool | None = None

        async def initialize(self) -> None:
            pool = await AsyncDatabaseManager.create_shared_pool(
                config(fresh_database_url, "leak-flag-lifespan")
            )
            self._shared_pool = pool
            db = AsyncDatabaseManager(pool=pool, schema="server")
            await db.execute('CREATE SCHEMA IF NOT EXISTS "server"')
            await AsyncMigrationManager(
                db, migrations_path=str(tmp_path), module_name="server"
            ).apply_pending_migrations()

        async def close(self) -> None:
            if self._shared_pool is not None:
                await self._shared_pool.close()

    infra = DatabaseInfra()

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        db_initialized = False
        try:
            await infra.initialize()
            db_initialized = True
        except Exception:
            if db_initialized:
                await infra.close()
            raise
        try:
            yield
        finally:
            await infra.close()

    with pytest.raises(Exception, match="already exists"):
        async with lifespan():
            pass
    await assert_left_open(fresh_database_url, "leak-flag-lifespan")
