"""The code blocks of the main SKILL.md (and the mistakes and set-up excerpts it moved to
references/), each run against a fresh database (see skill_blocks.py)."""

import pytest
from skill_blocks import B, Check, Fails, Run, SameAs, Shell, execute

# What the prose says the WRONG blocks start from: `config`, `pool`, `users`, `MIGRATIONS`
# and the users migration file, on an empty database.
MISTAKE_SETUP = """
import asyncio
import os
from contextlib import asynccontextmanager
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from fastapi import FastAPI
from pgdbm import AsyncDatabaseManager, AsyncMigrationManager, DatabaseConfig
from pgdbm.core import SchemaManager

config = DatabaseConfig(
    connection_string=os.environ["DATABASE_URL"], min_connections=2, max_connections=10
)
pool = await AsyncDatabaseManager.create_shared_pool(config)
users = AsyncDatabaseManager(pool=pool, schema="users")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
(MIGRATIONS / "users").mkdir(parents=True)
(MIGRATIONS / "users" / "001_create_users.sql").write_text(BLOCKS["sql-users-migration"])


async def backends() -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    )
"""

APP_SETUP = """
from pathlib import Path

for name, sql in (("users", BLOCKS["sql-users-migration"]),
                  ("orders", "CREATE TABLE {{tables.orders}} (id bigserial PRIMARY KEY);")):
    (Path(__file__).parent / "migrations" / name).mkdir(parents=True)
    (Path(__file__).parent / "migrations" / name / "001_init.sql").write_text(sql)
"""

APP_DRIVE = """
import httpx
from asgi_lifespan import LifespanManager

async with LifespanManager(app) as manager:
    transport = httpx.ASGITransport(app=manager.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        created = await client.post("/users", params={"email": "ann@example.com"})
        assert created.status_code == 201 and created.json() == {"id": 1}, created.text
        duplicate = await client.post("/users", params={"email": "ann@example.com"})
        assert duplicate.status_code == 409, duplicate.text
        pool = app.state.pool
        app.state.dbs["users"].acquire_timeout = 0.2
        held = [await pool.acquire() for _ in range(pool.get_max_size())]
        busy = await client.post("/users", params={"email": "bob@example.com"})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1", busy.text
        health = await client.get("/health/pool")
        expected = {"size": 10, "idle": 0, "used": 10, "max": 10, "usage": 1.0}
        assert health.json() == expected, health.text
        for connection in held:
            await pool.release(connection)
        assert (await client.post("/users", params={"email": "bob@example.com"})).status_code == 201
        tables = await pool.fetch(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('users', 'orders')"
            " ORDER BY 1, 2"
        )
        assert [tuple(t) for t in tables] == [
            ("orders", "orders"), ("orders", "schema_migrations"),
            ("users", "schema_migrations"), ("users", "users"),
        ]
assert pool._closed  # the lifespan's finally ran
"""

MIGRATE_BLOCKS = (
    B("setup-imports"),
    B("template-migration-lock"),
    B("setup-migrate"),
    "from typing import Any",  # the prose names it
    B("template-watchdog"),
    B("template-service-database"),
)
APP_BLOCKS = (*MIGRATE_BLOCKS, B("fastapi-lifespan"), B("fastapi-routes"))

CONCURRENT_BOOT = """
import httpx
from asgi_lifespan import LifespanManager

async def boot() -> None:
    fresh = FastAPI(lifespan=lifespan)
    async with LifespanManager(fresh):
        pass

# Four pools on one fresh database, as four processes booting at once would have.
await asyncio.gather(*(boot() for _ in range(4)))
check = await asyncpg.connect(os.environ["DATABASE_URL"])
for schema in SERVICES:
    applied = await check.fetchval(f"SELECT count(*) FROM {schema}.schema_migrations")
    assert applied == 1, (schema, applied)
await check.close()
"""

EXHAUSTED_STATS_WAIT = """
held += [await pool.acquire() for _ in range(8)]  # now all ten are busy
try:
    await asyncio.wait_for(users.get_pool_stats(), 1)
except TimeoutError:
    pass  # still waiting for a connection after a second
else:
    raise AssertionError("get_pool_stats() answered with the pool exhausted")
"""

EXTENSION_SCHEMA = """
(MIGRATIONS / "users" / "002_ext.sql").write_text(BLOCKS[EXTENSION_BLOCK])
await SchemaManager(users).ensure_schema_exists()
await AsyncMigrationManager(
    users, migrations_path=str(MIGRATIONS / "users"), module_name="users"
).apply_pending_migrations()
extension_schema = await pool.fetchval(
    "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'uuid-ossp'"
)
"""

CHECKS: dict[str, Check] = {
    "install-commands": Shell(),
    "model-managers": Run(B("model-managers"), "await pool.close()"),
    "sql-users-migration": Run(B("sql-users-migration"), APP_SETUP, *APP_BLOCKS, APP_DRIVE),
    "setup-imports": Run(B("setup-imports"), "assert MIGRATIONS.is_absolute()"),
    "template-migration-lock": SameAs("src/acme_api/database.py"),
    "setup-migrate": Run(APP_SETUP, *APP_BLOCKS, CONCURRENT_BOOT),
    "template-service-database": SameAs("src/acme_api/database.py"),
    "template-watchdog": SameAs("src/acme_api/deadline.py"),
    "fastapi-lifespan": Run(
        "from pathlib import Path\n"
        "(Path(__file__).parent / 'migrations' / 'users').mkdir(parents=True)\n"
        "(Path(__file__).parent / 'migrations/users/001_bad.sql').write_text('SELECT 1/0;')",
        *APP_BLOCKS,
        Fails(
            "from asgi_lifespan import LifespanManager\nasync with LifespanManager(app):\n    pass",
            "pgdbm.errors.MigrationError",
            "division by zero",
        ),
        "assert app.state.pool._closed",
    ),
    "fastapi-routes": Run(APP_SETUP, *APP_BLOCKS, APP_DRIVE),
    "wrong-no-schema": Run(
        MISTAKE_SETUP,
        Fails(
            B("wrong-no-schema"),
            "asyncpg.exceptions.InvalidSchemaNameError",
            'schema "users" does not exist',
        ),
    ),
    "wrong-positional-table": Run(
        MISTAKE_SETUP,
        Fails(
            B("wrong-positional-table"),
            "pgdbm.errors.QueryError",
            'column "email" of relation "users" does not exist',
            cause="asyncpg.exceptions.UndefinedColumnError",
        ),
        # users.users is pgdbm's tracking table, not the users table.
        'assert await pool.fetchval("SELECT count(*) FROM users.users") == 1',
        "tracked = await pool.fetchval('SELECT filename FROM users.users')\n"
        "assert tracked == '001_create_users.sql', tracked",
    ),
    "wrong-module-name-shared-schema": Run(
        MISTAKE_SETUP,
        "for name in ('billing', 'audit'):\n"
        "    (MIGRATIONS / name).mkdir()\n"
        "    (MIGRATIONS / name / '001_create_users.sql').write_text(\n"
        "        f'CREATE TABLE {{{{tables.{name}_users}}}} (id int);')",
        # In different schemas the default module_name (the schema) never collides.
        "for schema in ('first', 'second'):\n"
        "    db = AsyncDatabaseManager(pool=pool, schema=schema)\n"
        "    await SchemaManager(db).ensure_schema_exists()\n"
        "    result = await AsyncMigrationManager(\n"
        "        db, migrations_path=str(MIGRATIONS / 'billing')).apply_pending_migrations()\n"
        "    assert result['status'] == 'success', result",
        Fails(
            B("wrong-module-name-shared-schema"),
            "pgdbm.errors.MigrationError",
            "Migration '001_create_users.sql' has been modified after being applied!",
        ),
        # With equal contents the second set is skipped silently instead.
        "(MIGRATIONS / 'copy').mkdir()\n"
        "(MIGRATIONS / 'copy' / '001_create_users.sql').write_text(\n"
        "    (MIGRATIONS / 'billing' / '001_create_users.sql').read_text())\n"
        "result = await AsyncMigrationManager(\n"
        "    shared, migrations_path=str(MIGRATIONS / 'copy')).apply_pending_migrations()\n"
        "assert result['status'] == 'up_to_date' and result['applied'] == [], result",
    ),
    "right-module-name-shared-schema": Run(
        MISTAKE_SETUP,
        "for name in ('billing', 'audit'):\n"
        "    (MIGRATIONS / name).mkdir()\n"
        "    (MIGRATIONS / name / '001_create_users.sql').write_text(\n"
        "        f'CREATE TABLE {{{{tables.{name}_users}}}} (id int);')\n"
        "shared = AsyncDatabaseManager(pool=pool, schema='shared')\n"
        "await SchemaManager(shared).ensure_schema_exists()",
        B("right-module-name-shared-schema"),
        "rows = await pool.fetch('SELECT module_name FROM shared.schema_migrations ORDER BY 1')\n"
        "assert [r[0] for r in rows] == ['shared_audit', 'shared_billing']\n"
        "assert await pool.fetchval(\"SELECT to_regclass('shared.audit_users')::text\")",
    ),
    "wrong-pool-stats": Run(
        MISTAKE_SETUP,
        Fails(
            B("wrong-pool-stats"),
            "AttributeError",
            "'Pool' object has no attribute 'get_pool_stats'",
        ),
    ),
    "wrong-usage-formula": Run(
        MISTAKE_SETUP,
        "held = [await pool.acquire() for _ in range(2)]  # two of ten connections busy",
        B("wrong-usage-formula"),
        "assert usage == 1.0 and pool.get_max_size() == 10  # really 20 %",
        EXHAUSTED_STATS_WAIT,
    ),
    "right-usage-formula": Run(
        MISTAKE_SETUP,
        "held = [await pool.acquire() for _ in range(2)]",
        B("right-usage-formula"),
        "assert usage == 0.2, usage",
    ),
    "wrong-lifespan-no-finally": Run(
        MISTAKE_SETUP,
        "(MIGRATIONS / 'users' / '002_broken.sql').write_text('SELECT 1/0;')\n"
        "await pool.close()  # only the leaky lifespan's pool remains\n"
        "before = await asyncpg.connect(os.environ['DATABASE_URL'])",
        *MIGRATE_BLOCKS,
        B("fastapi-lifespan"),
        B("wrong-lifespan-no-finally"),
        Fails(
            "from asgi_lifespan import LifespanManager\n"
            "async with LifespanManager(FastAPI(lifespan=leaky_lifespan)):\n    pass",
            "pgdbm.errors.MigrationError",
            "Failed to apply migration",
        ),
        "leaked = await before.fetchval(\n"
        "    'SELECT count(*) FROM pg_stat_activity'\n"
        "    ' WHERE datname = current_database() AND pid <> pg_backend_pid()')\n"
        "assert leaked == 2, leaked  # the pool's min_connections, still open",
    ),
    "wrong-disconnect": Run(
        MISTAKE_SETUP,
        B("wrong-disconnect"),
        "assert await backends() == 2 and not pool._closed\n"
        "assert await users.fetch_value('SELECT 1') == 1  # still open and serving",
    ),
    "wrong-unqualified-sql": Run(
        MISTAKE_SETUP,
        "await SchemaManager(users).ensure_schema_exists()\n"
        "await users.execute('CREATE TABLE {{tables.users}} (email text)')",
        Fails(
            B("wrong-unqualified-sql"),
            "pgdbm.errors.QueryError",
            'relation "users" does not exist',
            cause="asyncpg.exceptions.UndefinedTableError",
        ),
        # The same statement with the pin off writes to public.users.
        "await pool.execute('CREATE TABLE public.users (email text)')\n"
        "unpinned = await AsyncDatabaseManager.create_shared_pool(\n"
        "    config.model_copy(update={'shared_pool_search_path': None}))\n"
        "users = AsyncDatabaseManager(pool=unpinned, schema='users')",
        B("wrong-unqualified-sql"),
        "assert await pool.fetchval('SELECT count(*) FROM public.users') == 1\n"
        "assert await pool.fetchval('SELECT count(*) FROM users.users') == 0",
    ),
    "wrong-create-extension": Run(
        MISTAKE_SETUP,
        B("wrong-create-extension"),
        "EXTENSION_BLOCK = 'wrong-create-extension'",
        EXTENSION_SCHEMA,
        "assert extension_schema == 'pg_catalog', extension_schema",
    ),
    "right-create-extension": Run(
        MISTAKE_SETUP,
        B("right-create-extension"),
        "EXTENSION_BLOCK = 'right-create-extension'",
        EXTENSION_SCHEMA,
        "assert extension_schema == 'public', extension_schema",
        "await users.execute('INSERT INTO {{tables.tokens}} DEFAULT VALUES')\n"
        "assert await users.fetch_value('SELECT count(*) FROM {{tables.tokens}}') == 1",
    ),
    "wrong-second-pool": Run(
        MISTAKE_SETUP,
        "assert await backends() == 2",
        B("wrong-second-pool"),
        "assert await backends() == 4  # the shared pool's 2 and the second pool's 2\n"
        "await reports.disconnect()",
        Fails(
            "await users.connect()",
            "pgdbm.errors.PoolError",
            "Cannot call connect() when using an external pool",
        ),
    ),
    "wrong-singleton": Run(
        MISTAKE_SETUP,
        B("wrong-singleton"),
        "await asyncio.gather(SharedDatabase.initialize(), SharedDatabase.initialize())\n"
        "assert await backends() == 2 + 2 + 2  # the prelude's pool and two singleton pools\n"
        "await SharedDatabase.close()\n"
        "assert await backends() == 2 + 2  # close() closed one of them; the other leaked\n"
        "await SharedDatabase.initialize()",
        Fails(
            "await SharedDatabase._pool.fetchval('SELECT 1')",
            "asyncpg.exceptions._base.InterfaceError",
            "pool is closed",
        ),
    ),
    "wrong-tenant-fstring": Run(
        MISTAKE_SETUP,
        B("wrong-tenant-fstring"),
        "pwned = await pool.fetchval(\"SELECT to_regclass('public.pwned')::text\")\n"
        "assert pwned == 'public.pwned', pwned",
    ),
}


SMOKE = ("fastapi-routes", "setup-migrate")  # also run against a self-provisioned server in CI


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=[pytest.mark.smoke] if n in SMOKE else [])
        for n, c in CHECKS.items()
        if isinstance(c, Run)
    ],
)
def test_block_runs_as_the_skill_says(name: str, fresh_database_url: str) -> None:
    execute(CHECKS[name], fresh_database_url)
