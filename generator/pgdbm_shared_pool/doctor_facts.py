"""The facts `shared-pool doctor` judges: migration files and settings on disk, and what a
read-only connection (plus one probe connection shaped like pgdbm's pool) sees on the server.

No pgdbm import: the doctor must run where only this package and asyncpg are installed.
"""

from __future__ import annotations

import ast
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import yaml

APPLICATION_NAME = "shared-pool-doctor"
CONNECT_TIMEOUT_SECONDS = 10
QUERY_TIMEOUT_SECONDS = 30
PGDBM_PIN = "pg_catalog"  # DatabaseConfig.shared_pool_search_path default in pgdbm 0.5
PGDBM_DEFAULT_POOL_MAX = 20  # DatabaseConfig.max_connections default
# The startup parameters pgdbm 0.5's create_shared_pool sends (DatabaseConfig defaults).
PGDBM_STARTUP_SETTINGS = {
    "jit": "off",
    "statement_timeout": "60000",
    "lock_timeout": "5000",
    "idle_in_transaction_session_timeout": "60000",
    "search_path": PGDBM_PIN,
}
# Role/database default levels, weakest first, as the server applies them.
LEVEL_ORDER = ("database", "role", "role in database")
# Folders never searched for migrations: tool caches, virtualenvs, installed packages.
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "venv"})
# copier.yml's tenant_schema_prefix default and tenant_registry_schema.
DEFAULT_TENANT_PREFIX = "tenant_"
DEFAULT_REGISTRY_SCHEMA = "tenancy"
ANSWERS_FILE = ".copier-answers.yml"
ENV_FILES = (".env", ".env.example")
# How far up from --app (a package dir such as src/acme) to look for the project's config files.
PROJECT_ROOT_SEARCH_DEPTH = 3


def migration_checksum(text: str) -> str:
    """pgdbm 0.5.0's checksum (AsyncMigrationManager._calculate_checksum), reimplemented."""
    normalized = text.replace("\r\n", "\n").strip()
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def read_migration_files(folder: Path) -> dict[str, str]:
    """filename -> checksum for the files pgdbm would apply from `folder`, in its order."""
    files = sorted(p for p in folder.glob("*.sql") if p.is_file() and not p.name.startswith("."))
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


def _migration_set(folder: Path) -> MigrationSet | None:
    package, init = folder.parent, folder.parent / "__init__.py"
    if package.name == "tenants" and folder.name == "migrations":
        prefix = _string_constant(init, "SCHEMA_PREFIX") or DEFAULT_TENANT_PREFIX
        return MigrationSet("tenants", folder, read_migration_files(folder), tenant_prefix=prefix)
    if package.name == "tenants" and folder.name == "registry_migrations":
        schema = _string_constant(init, "REGISTRY_SCHEMA") or DEFAULT_REGISTRY_SCHEMA
        return MigrationSet("tenant registry", folder, read_migration_files(folder), schema)
    if folder.name == "migrations" and init.is_file():
        schema = _string_constant(init, "SCHEMA") or package.name
        return MigrationSet("service", folder, read_migration_files(folder), schema)
    return None


def find_migration_sets(root: Path) -> list[MigrationSet]:
    """Every migrations folder under `root` of a service package or of the tenants package."""
    sets: list[MigrationSet] = []
    for current, dirnames, _files in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS)
        migration_set = _migration_set(Path(current)) if Path(current) != root else None
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


def _read_answers(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    answers = yaml.safe_load(path.read_text(encoding="utf-8"))
    return answers if isinstance(answers, dict) else {}


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
    answers = _read_answers(root / ANSWERS_FILE)
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
    return PGDBM_DEFAULT_POOL_MAX, "pgdbm's default (no --pool-max, no project setting)"


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
WHERE c.relname = 'schema_migrations' AND c.relkind IN ('r', 'p')
  AND (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND NOT a.attisdropped
       AND a.attname IN ('filename', 'checksum', 'module_name', 'applied_at')) = 4
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
    for table in await conn.fetch(TRACKING_TABLES_SQL):
        schema = table["schema"]
        tracking[schema] = None
        if table["readable"]:
            rows = await conn.fetch(
                "SELECT filename, checksum, module_name, applied_at"
                f" FROM {quote_ident(schema)}.schema_migrations ORDER BY applied_at, filename"
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
                r["name"]: dict(r)
                for r in await conn.fetch(SETTINGS_SQL, list(PGDBM_STARTUP_SETTINGS))
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
        conn = await _connect(dsn, PGDBM_STARTUP_SETTINGS)
    except asyncpg.PostgresError as error:  # PgBouncer: "unsupported startup parameter: jit"
        return {"status": "rejected", "error": str(error), "dropped": list(PGDBM_STARTUP_SETTINGS)}
    try:
        async with conn.transaction(readonly=True):
            rows = await conn.fetch(SETTINGS_SQL, list(PGDBM_STARTUP_SETTINGS))
    finally:
        await conn.close()
    settings = {r["name"]: r for r in rows}
    dropped = [name for name in PGDBM_STARTUP_SETTINGS if settings[name]["source"] != "client"]
    return {
        "status": "dropped" if dropped else "applied",
        "dropped": dropped,
        "search_path": settings["search_path"]["setting"],
    }


def split_search_path(value: str) -> list[str]:
    """Entry by entry, as pgdbm compares it (the server re-spaces a value applied by SET)."""
    return [entry.strip() for entry in value.split(",")]


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
