"""The code blocks of skills/*/SKILL.md, each run against a fresh database (see skill_blocks.py)."""

import pytest
from skill_blocks import B, Check, Fails, Run, SameAs, execute

TENANT_SETUP = """
import asyncio
import os
from pathlib import Path

from pgdbm import AsyncDatabaseManager, DatabaseConfig


async def new_pool() -> object:
    return await AsyncDatabaseManager.create_shared_pool(DatabaseConfig(
        connection_string=os.environ["DATABASE_URL"], min_connections=1, max_connections=5
    ))

pool = await new_pool()
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
(MIGRATIONS / "tenant").mkdir(parents=True)
(MIGRATIONS / "tenant" / "001_create_notes.sql").write_text(BLOCKS["tenant-migration"])


async def schemas() -> list[str]:
    rows = await pool.fetch("SELECT nspname::text FROM pg_namespace ORDER BY 1")
    return [row[0] for row in rows]
"""

HOSTILE_IDS = """
hostile = [
    'x"; CREATE TABLE public.pwned (id int); CREATE SCHEMA "y', "ACME", "Acme", "acme-corp",
    "", " acme", "acme ", "acme\\n", "ácme", "\\u0430cme", "1acme", "_acme", "acme;", "acme--",
    "a\\\\b", "acme'", 'acme"', "a" * 57, "acme.public", "acme\\x00",
]
before = await schemas()
for tenant_id in hostile:
    try:
        tenant_schema(tenant_id)
    except ValueError:
        continue
    raise AssertionError(f"accepted {tenant_id!r}")
assert tenant_schema("a" * 56) == "tenant_" + "a" * 56  # exactly 63 bytes
assert await schemas() == before
"""

CONCURRENT_FIRST_REQUESTS = """
other_process_pool = await new_pool()  # a second process has its own pool
managers = [TenantManager(pool, MIGRATIONS / "tenant"), TenantManager(other_process_pool,
            MIGRATIONS / "tenant")]
calls = [managers[i % 2].get_tenant_db("acme") for i in range(16)]
calls += [managers[i % 2].get_tenant_db(f"other{i}") for i in range(4)]
results = await asyncio.gather(*calls, return_exceptions=True)
errors = [r for r in results if isinstance(r, BaseException)]
assert not errors, errors
assert [s for s in await schemas() if s.startswith("tenant_")] == [
    "tenant_acme", "tenant_other0", "tenant_other1", "tenant_other2", "tenant_other3"
]
applied = await pool.fetchval("SELECT count(*) FROM tenant_acme.schema_migrations")
assert applied == 1, applied
"""

ISOLATION = """
beta = await tenants.get_tenant_db("beta")
assert await beta.fetch_value("SELECT count(*) FROM {{tables.notes}}") == 0
try:
    await tenants.get_tenant_db('x"; DROP SCHEMA tenant_acme CASCADE; --')
except ValueError:
    pass
assert await acme.fetch_value("SELECT count(*) FROM {{tables.notes}}") == 1
"""

TENANT_BLOCKS = (B("tenant-schema-name"), B("tenant-manager"))

# What skills/pgdbm-operations says its blocks start from: a pool and a plain connection.
OPERATIONS_SETUP = """
import os

import asyncpg
from pgdbm import AsyncDatabaseManager, DatabaseConfig

pool = await AsyncDatabaseManager.create_shared_pool(DatabaseConfig(
    connection_string=os.environ["DATABASE_URL"], min_connections=1, max_connections=3
))
connection = await asyncpg.connect(os.environ["DATABASE_URL"])
"""

BUDGET = """
settings = await connection.fetch(
    "SELECT name, setting::int FROM pg_settings"
    " WHERE name IN ('max_connections', 'superuser_reserved_connections')"
)
available = {row[0]: row[1] for row in settings}
available = available["max_connections"] - available["superuser_reserved_connections"]
assert await connection_budget(connection, 20, 4, 3) == {
    "available": available, "needed": 240, "fits": 240 <= available
}
assert (await connection_budget(connection, 2, 1, 1))["fits"] is True
"""

CHECKS: dict[str, Check] = {
    "tenant-schema-name": Run(TENANT_SETUP, B("tenant-schema-name"), HOSTILE_IDS),
    "tenant-manager": Run(TENANT_SETUP, *TENANT_BLOCKS, CONCURRENT_FIRST_REQUESTS),
    "tenant-migration": Run(TENANT_SETUP, B("tenant-migration"), *TENANT_BLOCKS, B("tenant-usage")),
    "tenant-usage": Run(TENANT_SETUP, *TENANT_BLOCKS, B("tenant-usage"), ISOLATION),
    # skills/pgdbm-testing: excerpts of the generated project's tests, run by its own suite.
    "testing-migrated-template": SameAs("tests/conftest.py"),
    "testing-database-per-test": SameAs("tests/conftest.py"),
    "testing-app-fixture": SameAs("tests/conftest.py"),
    "testing-loop-scope": SameAs("pyproject.toml"),
    "wrong-pgdbm-testing-conftest": Run(
        Fails(
            B("wrong-pgdbm-testing-conftest"),
            "ModuleNotFoundError",
            "'pgdbm.testing' is not a package",
        )
    ),
    # skills/pgdbm-operations
    "ops-connection-budget": Run(OPERATIONS_SETUP, B("ops-connection-budget"), BUDGET),
    "ops-acquire-timeout": Run(OPERATIONS_SETUP, B("ops-acquire-timeout")),
    "ops-activity-by-application": Run(
        OPERATIONS_SETUP,
        B("ops-activity-by-application"),
        "assert ('app_pool', 'idle', 1) in [tuple(row) for row in rows], rows",
    ),
}


SMOKE = ("tenant-manager",)  # also run against a self-provisioned server in CI


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=[pytest.mark.smoke] if n in SMOKE else [])
        for n, c in CHECKS.items()
        if isinstance(c, Run)
    ],
)
def test_block_runs_as_the_companion_says(name: str, fresh_database_url: str) -> None:
    execute(CHECKS[name], fresh_database_url)
