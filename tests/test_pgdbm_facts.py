"""pgdbm_facts.py against the pgdbm 0.5.0 this suite installs, run on a real server, and the
generated PgBouncer profile against pgdbm_facts.py."""

from __future__ import annotations

import configparser
import inspect
import re
from importlib.metadata import version
from pathlib import Path

import asyncpg
from pgdbm import AsyncDatabaseManager, AsyncMigrationManager, DatabaseConfig
from pgdbm.core import SchemaManager
from pgdbm_shared_pool import pgdbm_facts as facts
from pgdbm_shared_pool.doctor.judge import ROLE_DEFAULTS_BEHIND_POOLER, role_defaults_wanted
from pgdbm_shared_pool.doctor.project import read_project
from pgdbm_shared_pool.template import template_root

PGBOUNCER_DIR = template_root() / "template" / "{% if pooler == 'pgbouncer' %}deploy{% endif %}"


# Sent by asyncpg itself (or the driver's defaults), not by pgdbm.
ASYNCPG_OWN = ["application_name", "client_encoding", "DateStyle", "TimeZone", "extra_float_digits"]


def small_pool(dsn: str) -> DatabaseConfig:
    return DatabaseConfig(connection_string=dsn, min_connections=1, max_connections=2)


def test_the_installed_pgdbm_is_the_one_described() -> None:
    assert version("pgdbm") == facts.VERSION


def test_database_config_defaults() -> None:
    config = DatabaseConfig()
    assert config.min_connections == facts.MIN_CONNECTIONS
    assert config.max_connections == facts.MAX_CONNECTIONS
    assert config.command_timeout == facts.COMMAND_TIMEOUT_SECONDS
    assert config.statement_cache_size == facts.STATEMENT_CACHE_SIZE
    assert config.statement_timeout_ms == facts.STATEMENT_TIMEOUT_MS
    assert config.lock_timeout_ms == facts.LOCK_TIMEOUT_MS
    assert config.idle_in_transaction_session_timeout_ms == (
        facts.IDLE_IN_TRANSACTION_SESSION_TIMEOUT_MS
    )
    assert config.shared_pool_search_path == facts.SEARCH_PATH_PIN


def test_migration_manager_defaults() -> None:
    parameters = inspect.signature(AsyncMigrationManager).parameters
    assert parameters["migrations_table"].default == facts.MIGRATIONS_TABLE


async def test_a_shared_pool_connection_carries_exactly_the_startup_parameters(
    fresh_database_url: str,
) -> None:
    config = DatabaseConfig(
        connection_string=fresh_database_url, min_connections=1, max_connections=2
    )
    pool = await AsyncDatabaseManager.create_shared_pool(config)
    try:
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT name, setting FROM pg_settings WHERE source = 'client' AND name <> ALL($1)",
                [
                    "application_name",
                    "client_encoding",
                    "DateStyle",
                    "TimeZone",
                    "extra_float_digits",
                ],
            )
    finally:
        await pool.close()
    sent = {row["name"]: row["setting"] for row in rows}
    assert sent == facts.STARTUP_PARAMETERS


async def test_tracking_table_and_checksum(fresh_database_url: str, tmp_path: Path) -> None:
    """pgdbm records the checksum facts.migration_checksum computes (CRLF and padding too)."""
    text = "\n-- items\r\nCREATE TABLE {{tables.items}} (id int);\r\n\n"
    (tmp_path / "001_items.sql").write_bytes(text.encode())
    (tmp_path / ".hidden.sql").write_text("not a migration")
    (tmp_path / "notes.txt").write_text("not a migration")
    config = DatabaseConfig(
        connection_string=fresh_database_url, min_connections=1, max_connections=2
    )
    pool = await AsyncDatabaseManager.create_shared_pool(config)
    try:
        db = AsyncDatabaseManager(pool=pool, schema="facts")
        await SchemaManager(db).ensure_schema_exists()
        await AsyncMigrationManager(
            db, migrations_path=str(tmp_path), module_name="facts"
        ).apply_pending_migrations()
    finally:
        await pool.close()
    conn = await asyncpg.connect(fresh_database_url)
    try:
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'facts' AND table_name = $1",
            facts.MIGRATIONS_TABLE,
        )
        rows = await conn.fetch(f"SELECT filename, checksum FROM facts.{facts.MIGRATIONS_TABLE}")
    finally:
        await conn.close()
    assert set(facts.MIGRATIONS_TABLE_COLUMNS) <= {c["column_name"] for c in columns}
    # read as pgdbm reads it (universal newlines), then hashed
    universal = (tmp_path / "001_items.sql").read_text()
    assert [(r["filename"], r["checksum"]) for r in rows] == [
        ("001_items.sql", facts.migration_checksum(universal))
    ]


def test_the_pgbouncer_profile_ignores_every_startup_parameter() -> None:
    ini = configparser.ConfigParser()
    ini.read_string((PGBOUNCER_DIR / "pgbouncer" / "pgbouncer.ini.jinja").read_text())
    ignored = ini["pgbouncer"]["ignore_startup_parameters"].split(",")
    assert sorted(ignored) == sorted([*facts.ASYNCPG_STARTUP_PARAMETERS, *facts.STARTUP_PARAMETERS])


def test_the_pgbouncer_role_defaults_restore_every_startup_parameter(tmp_path: Path) -> None:
    sql = (PGBOUNCER_DIR / "pgbouncer" / "roles.sql").read_text()
    role_defaults = dict(re.findall(r"SET (\w+) = '?([^';]+)'?;", sql))
    assert set(role_defaults) == set(facts.STARTUP_PARAMETERS)
    # What the doctor asks for, for a project whose .env carries the generated timeouts.
    env_example = (template_root() / "template" / ".env.example.jinja").read_text()
    (tmp_path / ".env").write_text(env_example)
    project = read_project(tmp_path)
    assert project.lock_timeout_ms is not None and project.statement_timeout_ms is not None
    assert role_defaults == role_defaults_wanted(project)
    untouched = {k: v for k, v in ROLE_DEFAULTS_BEHIND_POOLER.items() if not k.endswith("_timeout")}
    assert untouched.items() <= role_defaults.items()  # pgdbm's own values for the rest
