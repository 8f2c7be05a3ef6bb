"""The code blocks of skills/*/SKILL.md, each run against a fresh database (see skill_blocks.py)."""

import pytest
from skill_blocks import B, Check, Fails, Run, SameAs, execute

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

TENANTS = "src/acme_api/tenants/"  # in the project rendered with use_tenants

CHECKS: dict[str, Check] = {
    # skills/pgdbm-tenants: excerpts of the generated tenant extension, run by its own suite.
    "tenant-schema-name": SameAs(f"{TENANTS}ids.py", use_tenants=True),
    "tenant-registry-table": SameAs(
        f"{TENANTS}registry_migrations/001_create_tenants.sql", use_tenants=True
    ),
    "tenant-provision": SameAs(f"{TENANTS}manager.py", use_tenants=True),
    "tenant-locks": SameAs(f"{TENANTS}manager.py", use_tenants=True),
    "tenant-provisioning-limit": SameAs(f"{TENANTS}manager.py", use_tenants=True),
    "tenant-migration": SameAs(f"{TENANTS}migrations/001_create_notes.sql", use_tenants=True),
    "tenant-routing": SameAs(f"{TENANTS}router.py", use_tenants=True),
    "tenant-notes-endpoint": SameAs(f"{TENANTS}router.py", use_tenants=True),
    "tenant-drop": SameAs(f"{TENANTS}manager.py", use_tenants=True),
    "tenant-open": SameAs(f"{TENANTS}manager.py", use_tenants=True),
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


SMOKE = ("ops-connection-budget",)  # also run against a self-provisioned server in CI


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
