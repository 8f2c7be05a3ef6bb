"""Helpers for the doctor's tests: a project written by hand, migrated by pgdbm itself."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from pgdbm import AsyncDatabaseManager, AsyncMigrationManager, DatabaseConfig
from pgdbm.core import SchemaManager
from pgdbm_shared_pool import cli

SERVICES = {
    "users": {
        "001_create_items.sql": "CREATE TABLE {{tables.items}} (id serial PRIMARY KEY, name text);"
    },
    "orders": {
        "001_create_items.sql": "CREATE TABLE {{tables.items}} (id serial PRIMARY KEY);\n",
        "002_add_total.sql": "ALTER TABLE {{tables.items}} ADD COLUMN total numeric;\n",
    },
}
TENANT_FILES = {"001_create_notes.sql": "CREATE TABLE {{tables.notes}} (id serial PRIMARY KEY);\n"}
REGISTRY_FILES = {
    "001_create_tenants.sql": "CREATE TABLE {{tables.tenants}} (id text PRIMARY KEY);"
}
POOL_MAX_IN_ANSWERS = 7


def write_project(root: Path, *, tenants: bool = False, tenant_prefix: str = "tenant_") -> Path:
    """A generated-project-shaped tree: src/acme/services/<name>/{__init__.py,migrations/},
    and with tenants src/acme/tenants/{__init__.py,migrations/,registry_migrations/}."""
    package = root / "src" / "acme"
    for service, files in SERVICES.items():
        service_dir = package / "services" / service
        (service_dir / "migrations").mkdir(parents=True)
        (service_dir / "__init__.py").write_text(f'SCHEMA = "{service}"\n')
        for name, sql in files.items():
            (service_dir / "migrations" / name).write_text(sql)
    if tenants:
        tenants_dir = package / "tenants"
        for folder, files in (
            ("migrations", TENANT_FILES),
            ("registry_migrations", REGISTRY_FILES),
        ):
            (tenants_dir / folder).mkdir(parents=True)
            for name, sql in files.items():
                (tenants_dir / folder / name).write_text(sql)
        (tenants_dir / "__init__.py").write_text(
            f'SCHEMA_PREFIX = "{tenant_prefix}"\nREGISTRY_SCHEMA = "tenancy"\n'
        )
    (root / ".copier-answers.yml").write_text(
        f"package_name: acme\npool_max_size: {POOL_MAX_IN_ANSWERS}\npooler: none\n"
    )
    return root


def service_migrations(project: Path, service: str) -> Path:
    return project / "src" / "acme" / "services" / service / "migrations"


async def apply_migrations(
    dsn: str, folders: dict[str, Path], module_name: str | None = None
) -> None:
    """Migrate each schema from its folder as a shared-pool app does (module_name = schema)."""
    config = DatabaseConfig(connection_string=dsn, min_connections=1, max_connections=2)
    pool = await AsyncDatabaseManager.create_shared_pool(config)
    try:
        for schema, folder in folders.items():
            db = AsyncDatabaseManager(pool=pool, schema=schema)
            await SchemaManager(db).ensure_schema_exists()
            await AsyncMigrationManager(
                db, migrations_path=str(folder), module_name=module_name or schema
            ).apply_pending_migrations()
    finally:
        await pool.close()


def invoke(*argv: str) -> int:
    """`shared-pool doctor ARGV` in-process; returns the exit code."""
    return cli.main(["doctor", *argv])


class Doctor:
    """Runs the doctor in a worker thread (it owns its event loop) and captures its output."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    async def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = await asyncio.to_thread(invoke, *argv)
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    async def json(self, *argv: str) -> tuple[int, dict[str, Any]]:
        code, out, _ = await self.run(*argv, "--json")
        return code, json.loads(out)


async def migrate_project(dsn: str, project: Path) -> str:
    await apply_migrations(dsn, {s: service_migrations(project, s) for s in SERVICES})
    return dsn


def dsn_as(dsn: str, user: str) -> str:
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def database_of(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


@asynccontextmanager
async def throwaway_role(admin_dsn: str, database_dsn: str) -> AsyncIterator[str]:
    """A LOGIN role with no privileges of its own; dropped with everything granted to it."""
    role = f"doctor_{uuid.uuid4().hex[:10]}"
    await execute(admin_dsn, f'CREATE ROLE "{role}" LOGIN')
    try:
        yield role
    finally:
        await execute(database_dsn, f'DROP OWNED BY "{role}"')  # its grants in that database
        await execute(admin_dsn, f'DROP ROLE "{role}"')


async def execute(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def checks_by_schema(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["schema"]: check for check in report["migrations"]["project"]}
