"""Gathering from the server: what one read-only connection, plus one probe connection shaped
like pgdbm's shared pool, can see. Every query runs inside BEGIN READ ONLY (the startup
parameter default_transaction_read_only would be rejected by PgBouncer).

No pgdbm import: the doctor must run where only this package and asyncpg are installed.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ..naming import quote_ident
from ..pgdbm_facts import MIGRATIONS_TABLE, MIGRATIONS_TABLE_COLUMNS, STARTUP_PARAMETERS
from .facts import (
    DatabaseFacts,
    Level,
    RoleDefault,
    Server,
    Setting,
    StartupOutcome,
    StartupProbe,
    TrackingRow,
    TrackingTable,
)

APPLICATION_NAME = "shared-pool-doctor"
CONNECT_TIMEOUT_SECONDS = 10
QUERY_TIMEOUT_SECONDS = 30


def mask_dsn(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


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


async def read_database(dsn: str) -> DatabaseFacts:
    """Everything the report needs from the server, in one read-only transaction."""
    conn = await _connect(dsn, {})
    try:
        async with conn.transaction(readonly=True):
            server = Server(**dict(await conn.fetchrow(SERVER_SQL)))
            connections = {r["application"]: r["n"] for r in await conn.fetch(CONNECTIONS_SQL)}
            tracking = await _read_tracking_tables(conn)
            role_defaults = _winning_defaults(await conn.fetch(ROLE_SETTINGS_SQL))
            names = list(STARTUP_PARAMETERS)
            session = {
                r["name"]: Setting(r["setting"], r["source"])
                for r in await conn.fetch(SETTINGS_SQL, names)
            }
            read_only = await conn.fetchval("SELECT current_setting('transaction_read_only')")
        announced_pid = conn.get_server_pid()
    finally:
        await conn.close()
    return DatabaseFacts(
        server=server,
        connections=connections,
        tracking=tracking,
        role_defaults=role_defaults,
        session_defaults=session,
        read_only=read_only == "on",
        announced_pid=announced_pid,
        startup_probe=await probe_pgdbm_startup(dsn),
    )


async def _read_tracking_tables(conn: asyncpg.Connection) -> tuple[TrackingTable, ...]:
    """Every schema's tracking table, rows oldest first (None where this role may not read)."""
    tables = []
    columns = list(MIGRATIONS_TABLE_COLUMNS)
    for table in await conn.fetch(TRACKING_TABLES_SQL, MIGRATIONS_TABLE, columns):
        rows = None
        if table["readable"]:
            fetched = await conn.fetch(
                f"SELECT {', '.join(columns)} FROM {quote_ident(table['schema'])}."
                f"{MIGRATIONS_TABLE} ORDER BY applied_at, filename"
            )
            rows = tuple(TrackingRow(**dict(row)) for row in fetched)
        tables.append(TrackingTable(table["schema"], rows))
    return tuple(tables)


def _winning_defaults(rows: list[asyncpg.Record]) -> dict[str, RoleDefault]:
    """setting -> the role/database default the server applies (the most specific level)."""
    defaults: dict[str, RoleDefault] = {}
    order = list(Level)
    for row in rows:
        name, _, value = row["item"].partition("=")
        level = Level(row["level"])
        current = defaults.get(name)
        if current is None or order.index(level) > order.index(current.level):
            defaults[name] = RoleDefault(value, level)
    return defaults


async def probe_pgdbm_startup(dsn: str) -> StartupProbe:
    """Connect as pgdbm's shared pool would and see which startup parameters took effect."""
    names = list(STARTUP_PARAMETERS)
    try:
        conn = await _connect(dsn, STARTUP_PARAMETERS)
    except asyncpg.PostgresError as error:  # PgBouncer: "unsupported startup parameter: jit"
        return StartupProbe(StartupOutcome.REJECTED, tuple(names), None, str(error))
    try:
        async with conn.transaction(readonly=True):
            rows = await conn.fetch(SETTINGS_SQL, names)
    finally:
        await conn.close()
    settings = {r["name"]: r for r in rows}
    dropped = tuple(name for name in names if settings[name]["source"] != "client")
    outcome = StartupOutcome.DROPPED if dropped else StartupOutcome.APPLIED
    return StartupProbe(outcome, dropped, settings["search_path"]["setting"])
