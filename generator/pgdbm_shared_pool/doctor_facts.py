"""The facts `shared-pool doctor` judges: migration files and settings on disk, and what a
read-only connection (plus one probe connection shaped like pgdbm's pool) sees on the server.

No pgdbm import: the doctor must run where only this package and asyncpg are installed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from .pgdbm_facts import (
    MAX_CONNECTIONS,
    MIGRATION_FILE_GLOB,
    MIGRATIONS_TABLE,
    MIGRATIONS_TABLE_COLUMNS,
    STARTUP_PARAMETERS,
    migration_checksum,
)
from .source_tree import walk
from .template import ANSWERS_FILE, copier_config, load_answers

APPLICATION_NAME = "shared-pool-doctor"
CONNECT_TIMEOUT_SECONDS = 10
QUERY_TIMEOUT_SECONDS = 30
# Role/database default levels, weakest first, as the server applies them.
LEVEL_ORDER = ("database", "role", "role in database")
ENV_FILES = (".env", ".env.example")
# How far up from --app (a package dir such as src/acme) to look for the project's config files.
PROJECT_ROOT_SEARCH_DEPTH = 3


def read_migration_files(folder: Path) -> dict[str, str]:
    """filename -> checksum for the files pgdbm would apply from `folder`, in its order."""
    files = sorted(
        p for p in folder.glob(MIGRATION_FILE_GLOB) if p.is_file() and not p.name.startswith(".")
    )
    # read_text (universal newlines) exactly as pgdbm reads them, so lone CRs hash alike.
    return {p.name: migration_checksum(p.read_text(encoding="utf-8")) for p in files}


@dataclass(frozen=True)
class MigrationSet:
    """One migrations folder: for one schema (a service, the tenant registry), or for every
    schema named tenant_prefix + id (the tenants' set)."""

    kind: str  # "service", "tenant registry" or "tenants"
    path: Path
    files: dict[str, str]
    schema: str | None = None
    tenant_prefix: str | None = None


@dataclass(frozen=True)
class ProjectSettings:
    pool_max: int | None
    pool_max_source: str | None
    statement_cache_size: int | None
    statement_cache_source: str | None


def _string_constant(init_file: Path, name: str) -> str | None:
    """The literal `NAME = "..."` of a package's __init__.py, read without importing it."""
    try:
        tree = ast.parse(init_file.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        value = getattr(node, "value", None)
        if (
            any(isinstance(t, ast.Name) and t.id == name for t in targets)
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            return value.value
    return None


def tenant_defaults(app: Path) -> tuple[str, str]:
    """(tenant schema prefix, registry schema) when tenants/__init__.py does not say: the
    project's recorded answers, else copier.yml's defaults."""
    root = _project_root(app)
    answers = (load_answers(root) if root is not None else None) or {}
    config = copier_config()
    prefix = answers.get("tenant_schema_prefix", config["tenant_schema_prefix"]["default"])
    registry = answers.get("tenant_registry_schema", config["tenant_registry_schema"]["default"])
    return str(prefix), str(registry)


def _migration_set(folder: Path, tenants: tuple[str, str]) -> MigrationSet | None:
    package, init = folder.parent, folder.parent / "__init__.py"
    if package.name == "tenants" and folder.name == "migrations":
        prefix = _string_constant(init, "SCHEMA_PREFIX") or tenants[0]
        return MigrationSet("tenants", folder, read_migration_files(folder), tenant_prefix=prefix)
    if package.name == "tenants" and folder.name == "registry_migrations":
        schema = _string_constant(init, "REGISTRY_SCHEMA") or tenants[1]
        return MigrationSet("tenant registry", folder, read_migration_files(folder), schema)
    if folder.name == "migrations" and init.is_file():
        schema = _string_constant(init, "SCHEMA") or package.name
        return MigrationSet("service", folder, read_migration_files(folder), schema)
    return None


def find_migration_sets(root: Path) -> list[MigrationSet]:
    """Every migrations folder under `root` of a service package or of the tenants package."""
    tenants = tenant_defaults(root)
    sets: list[MigrationSet] = []
    for folder, _files in walk(root):
        migration_set = _migration_set(folder, tenants) if folder != root else None
        if migration_set is not None:
            sets.append(migration_set)
    return sets


def _env_file_value(path: Path, key: str) -> str | None:
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip().removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and name.strip().upper() == key:
            return value.split(" #")[0].strip().strip("'\"") or None
    return None


def _project_root(app: Path) -> Path | None:
    """The nearest directory at or above --app holding the answers file or an env file."""
    start = app if app.is_dir() else app.parent
    for root in [start, *start.parents][: PROJECT_ROOT_SEARCH_DEPTH + 1]:
        if any((root / name).is_file() for name in (ANSWERS_FILE, *ENV_FILES)):
            return root
    return None


def _int_setting(root: Path, env_key: str, from_answers: object) -> tuple[int | None, str | None]:
    """An integer setting as the app reads it: .env, then .env.example, then the template's
    default for the recorded answers."""
    env_files = [root / name for name in ENV_FILES if (root / name).is_file()]
    candidates = [(path, _env_file_value(path, env_key)) for path in env_files]
    for path, value in [*candidates, (root / ANSWERS_FILE, from_answers)]:
        if value is not None and str(value).isdigit():
            return int(str(value)), str(path)
    return None, None


def read_project_settings(app: Path) -> ProjectSettings:
    """Settings of the project around --app that the doctor judges against the server."""
    root = _project_root(app)
    if root is None:
        return ProjectSettings(None, None, None, None)
    answers = load_answers(root) or {}
    # The template's default: 0 when generated for PgBouncer, else pgdbm's 1000.
    cache_default = {"pgbouncer": 0, "none": 1000}.get(str(answers.get("pooler")))
    return ProjectSettings(
        *_int_setting(root, "POOL_MAX_SIZE", answers.get("pool_max_size")),
        *_int_setting(root, "STATEMENT_CACHE_SIZE", cache_default),
    )


def resolve_pool_max(flag: int | None, settings: ProjectSettings | None) -> tuple[int, str]:
    """The per-process pool max and where it came from: flag, project config, pgdbm default."""
    if flag is not None:
        return flag, "--pool-max"
    if settings is not None and settings.pool_max is not None:
        return settings.pool_max, settings.pool_max_source or ""
    return MAX_CONNECTIONS, "pgdbm's default (no --pool-max, no project setting)"


def mask_dsn(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _connect(dsn: str, server_settings: dict[str, str]) -> asyncpg.Connection:
    return await asyncpg.connect(
        dsn,
        timeout=CONNECT_TIMEOUT_SECONDS,
        command_timeout=QUERY_TIMEOUT_SECONDS,
        statement_cache_size=0,  # safe behind a transaction-mode pooler
        server_settings={**server_settings, "application_name": APPLICATION_NAME},
    )


SERVER_SQL = """
SELECT current_setting('server_version') AS version,
       current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved,
       coalesce(current_setting('reserved_connections', true), '0')::int AS reserved,
       current_user AS role, current_database() AS database, pg_backend_pid() AS backend_pid
"""
CONNECTIONS_SQL = """
SELECT coalesce(nullif(application_name, ''), '(none)') AS application, count(*)::int AS n
FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1 ORDER BY 2 DESC, 1
"""
# pgdbm tracking tables, found through pg_catalog (information_schema is slow with many schemas).
TRACKING_TABLES_SQL = """
SELECT n.nspname AS schema,
       has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT') AS readable
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = $1 AND c.relkind IN ('r', 'p')
  AND (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND NOT a.attisdropped
       AND a.attname = ANY($2::text[])) = cardinality($2::text[])
ORDER BY 1
"""
ROLE_SETTINGS_SQL = """
SELECT CASE WHEN s.setrole = 0 THEN 'database' WHEN s.setdatabase = 0 THEN 'role'
            ELSE 'role in database' END AS level,
       unnest(s.setconfig) AS item
FROM pg_db_role_setting s
WHERE (s.setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user) OR s.setrole = 0)
  AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
"""
SETTINGS_SQL = "SELECT name, setting, source FROM pg_settings WHERE name = ANY($1::text[])"


async def _read_tracking_tables(conn: asyncpg.Connection) -> dict[str, list[dict[str, Any]] | None]:
    """schema -> its tracking rows, oldest first; None where this role may not read them."""
    tracking: dict[str, list[dict[str, Any]] | None] = {}
    columns = list(MIGRATIONS_TABLE_COLUMNS)
    for table in await conn.fetch(TRACKING_TABLES_SQL, MIGRATIONS_TABLE, columns):
        schema = table["schema"]
        tracking[schema] = None
        if table["readable"]:
            rows = await conn.fetch(
                f"SELECT {', '.join(columns)} FROM {quote_ident(schema)}.{MIGRATIONS_TABLE}"
                " ORDER BY applied_at, filename"
            )
            tracking[schema] = [dict(row) for row in rows]
    return tracking


async def read_database(dsn: str) -> dict[str, Any]:
    """Everything the report needs from the server, in one read-only transaction."""
    conn = await _connect(dsn, {})
    try:
        async with conn.transaction(readonly=True):
            server = dict(await conn.fetchrow(SERVER_SQL))
            connections = {r["application"]: r["n"] for r in await conn.fetch(CONNECTIONS_SQL)}
            tracking = await _read_tracking_tables(conn)
            role_settings: dict[str, dict[str, str]] = {}
            for row in await conn.fetch(ROLE_SETTINGS_SQL):
                name, _, value = row["item"].partition("=")
                role_settings.setdefault(name, {})[row["level"]] = value
            session = {
                r["name"]: dict(r) for r in await conn.fetch(SETTINGS_SQL, list(STARTUP_PARAMETERS))
            }
            read_only = await conn.fetchval("SELECT current_setting('transaction_read_only')")
        announced_pid = conn.get_server_pid()
    finally:
        await conn.close()
    return {
        "server": server,
        "connections": connections,
        "tracking": tracking,
        "role_settings": role_settings,
        "session_defaults": session,
        "read_only": read_only == "on",
        "announced_pid": announced_pid,
        "startup_probe": await probe_pgdbm_startup(dsn),
    }


async def probe_pgdbm_startup(dsn: str) -> dict[str, Any]:
    """Connect as pgdbm's shared pool would and see which startup parameters took effect."""
    try:
        conn = await _connect(dsn, STARTUP_PARAMETERS)
    except asyncpg.PostgresError as error:  # PgBouncer: "unsupported startup parameter: jit"
        return {"status": "rejected", "error": str(error), "dropped": list(STARTUP_PARAMETERS)}
    try:
        async with conn.transaction(readonly=True):
            rows = await conn.fetch(SETTINGS_SQL, list(STARTUP_PARAMETERS))
    finally:
        await conn.close()
    settings = {r["name"]: r for r in rows}
    dropped = [name for name in STARTUP_PARAMETERS if settings[name]["source"] != "client"]
    return {
        "status": "dropped" if dropped else "applied",
        "dropped": dropped,
        "search_path": settings["search_path"]["setting"],
    }


def role_default(db: dict[str, Any], name: str) -> dict[str, str] | None:
    """The role/database default that wins for setting `name`, if any."""
    levels = db["role_settings"].get(name, {})
    for level in reversed(LEVEL_ORDER):
        if level in levels:
            return {"value": levels[level], "level": level}
    return None


def schema_state(schema: str, rows: list[dict[str, Any]] | None) -> dict[str, Any]:
    """One schema's tracking table summarised per module_name (None rows: not readable)."""
    if rows is None:
        return {"schema": schema, "readable": False, "modules": {}}
    modules: dict[str, dict[str, Any]] = {}
    for row in rows:  # ordered by applied_at: the last row of a module is its latest
        module = modules.setdefault(str(row["module_name"]), {"applied": []})
        module["applied"].append(row["filename"])
        module["last_applied_at"] = row["applied_at"].isoformat(sep=" ", timespec="seconds")
    return {"schema": schema, "readable": True, "modules": modules}
