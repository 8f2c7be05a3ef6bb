"""The code blocks of references/*.md, each run against a fresh database (see skill_blocks.py)."""

import pytest
from skill_blocks import B, Check, Fails, Run, SameAs, Shell, execute

# What references/migrations.md says its blocks start from.
MIGRATIONS_SETUP = """
import os
from pathlib import Path

from pgdbm import AsyncDatabaseManager, AsyncMigrationManager, DatabaseConfig
from pgdbm.core import SchemaManager

config = DatabaseConfig(
    connection_string=os.environ["DATABASE_URL"], min_connections=1, max_connections=4
)
pool = await AsyncDatabaseManager.create_shared_pool(config)
users = AsyncDatabaseManager(pool=pool, schema="users")
await SchemaManager(users).ensure_schema_exists()
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
(MIGRATIONS / "users").mkdir(parents=True)
(MIGRATIONS / "users" / "001_create_users.sql").write_text(BLOCKS["sql-users-migration"])
"""

AFTER_FAILURE = """
applied = await pool.fetch("SELECT filename FROM users.schema_migrations ORDER BY 1")
assert [r[0] for r in applied] == ["001_create_users.sql", "002_add_name.sql"], applied
columns = await pool.fetch(
    "SELECT attname::text FROM pg_attribute WHERE attrelid = 'users.users'::regclass"
    " AND attnum > 0"
)
names = {c[0] for c in columns}
assert "name" in names and "age" not in names, names
"""

# What references/fastapi.md's lock-timeout block starts from: a table another session locked.
LOCKED_TABLE_SETUP = """
import os

import asyncpg
from pgdbm import AsyncDatabaseManager, DatabaseConfig, QueryError
from pgdbm.core import SchemaManager

config = DatabaseConfig(
    connection_string=os.environ["DATABASE_URL"],
    min_connections=1,
    max_connections=2,
    lock_timeout_ms=200,
)
pool = await AsyncDatabaseManager.create_shared_pool(config)
db = AsyncDatabaseManager(pool=pool, schema="app")
await SchemaManager(db).ensure_schema_exists()
await db.execute("CREATE TABLE {{tables.items}} (id INT)")
blocker = await asyncpg.connect(os.environ["DATABASE_URL"])
await blocker.execute("BEGIN; LOCK TABLE app.items IN ACCESS EXCLUSIVE MODE")
"""

CHECKS: dict[str, Check] = {
    # references/projects.md: run by test_skill_installed.py from an installed copy.
    "remove-service-command": Shell(),
    "copier-command": Shell(),
    "migrations-templating": Run(MIGRATIONS_SETUP, B("migrations-templating")),
    "migrations-results": Run(MIGRATIONS_SETUP, B("migrations-results")),
    "migrations-failure": Run(
        MIGRATIONS_SETUP,
        B("migrations-results"),
        Fails(
            B("migrations-failure"),
            "pgdbm.errors.MigrationError",
            "Failed to apply migration '003_broken.sql'",
        ),
        AFTER_FAILURE,
    ),
    "wrong-edit-applied-migration": Run(
        MIGRATIONS_SETUP,
        B("migrations-results"),
        Fails(
            B("wrong-edit-applied-migration"),
            "pgdbm.errors.MigrationError",
            "Migration '001_create_users.sql' has been modified after being applied!",
        ),
    ),
    "migrations-own-pool": Run(MIGRATIONS_SETUP, B("migrations-own-pool")),
    "wrong-relative-path": Run(
        MIGRATIONS_SETUP,
        "os.chdir(MIGRATIONS.parent.parent)  # the process started somewhere else",
        B("wrong-relative-path"),
        "assert result['status'] == 'up_to_date' and result['applied'] == [], result\n"
        "assert await pool.fetchval(\"SELECT to_regclass('users.users')\") is None",
    ),
    "wrong-reserved-schema": Run(
        MIGRATIONS_SETUP,
        Fails(
            B("wrong-reserved-schema"),
            "asyncpg.exceptions.PostgresSyntaxError",
            'syntax error at or near "user"',
        ),
        Fails(
            "upper = AsyncDatabaseManager(pool=pool, schema='Audit')\n"
            "await SchemaManager(upper).ensure_schema_exists()\n"
            "await AsyncMigrationManager(upper, migrations_path=str(MIGRATIONS / 'users'),\n"
            "                            module_name='Audit').apply_pending_migrations()",
            "asyncpg.exceptions.InvalidSchemaNameError",
            'schema "audit" does not exist',
        ),
    ),
    # references/fastapi.md: a table locked by another session, with a short lock_timeout.
    "wrong-lock-timeout-mapping": Run(
        LOCKED_TABLE_SETUP,
        Fails(
            B("wrong-lock-timeout-mapping"),
            "pgdbm.errors.QueryError",
            "canceling statement due to lock timeout",
            cause="asyncpg.exceptions.LockNotAvailableError",
        ),
        "await blocker.close()",
    ),
    "lock-timeout-is-retryable": Run(
        LOCKED_TABLE_SETUP,
        B("lock-timeout-is-retryable"),
        "assert (status, headers) == (503, {'Retry-After': '1'})\n"
        "try:\n"
        "    await db.fetch_all('SELECT * FROM {{tables.items}}')\n"
        "except QueryError as again:\n"
        "    assert type(again.__cause__) is asyncpg.LockNotAvailableError, again.__cause__\n"
        "    assert not isinstance(again.__cause__, asyncpg.QueryCanceledError)\n"
        "await blocker.close()",
    ),
    # references/fastapi.md: excerpts of the generated project, run by its own suite.
    "template-service-schema": SameAs("src/acme_api/services/users/schema.py"),
    "template-services-registry": SameAs("src/acme_api/services/__init__.py"),
    "template-database-for": SameAs("src/acme_api/dependencies.py"),
    "template-router-dependency": SameAs("src/acme_api/services/users/router.py"),
    "template-query-failed": SameAs("src/acme_api/errors.py"),
    "template-install-error-handlers": SameAs("src/acme_api/errors.py"),
    "template-ready": SameAs("src/acme_api/health.py"),
    "template-singleton": SameAs("src/acme_api/singleton.py"),
    "template-timeout-settings": SameAs("src/acme_api/config.py"),
    "template-timeout-order": SameAs("src/acme_api/config.py"),
    "template-deadline-remaining": SameAs("src/acme_api/deadline.py"),
}


@pytest.mark.parametrize("name", [n for n, c in CHECKS.items() if isinstance(c, Run)])
def test_block_runs_as_the_reference_says(name: str, fresh_database_url: str) -> None:
    execute(CHECKS[name], fresh_database_url)
