"""What pgdbm 0.5.0 does, as the rest of this package relies on it: one place, checked by
tests/test_pgdbm_facts.py against the installed pgdbm and a real server.

Nothing here imports pgdbm: `check` and `doctor` run where only this package is installed.
Each fact names where pgdbm 0.5.0 defines it (pgdbm/core.py, pgdbm/migrations.py).
"""

from __future__ import annotations

import hashlib

VERSION = "0.5.0"

# --- DatabaseConfig defaults (core.py) ----------------------------------------------------
MIN_CONNECTIONS = 10  # DatabaseConfig.min_connections
MAX_CONNECTIONS = 20  # DatabaseConfig.max_connections
COMMAND_TIMEOUT_SECONDS = 60.0  # DatabaseConfig.command_timeout (asyncpg's, client side)
STATEMENT_CACHE_SIZE = 1000  # DatabaseConfig.statement_cache_size
STATEMENT_TIMEOUT_MS = 60_000  # DatabaseConfig.statement_timeout_ms
LOCK_TIMEOUT_MS = 5_000  # DatabaseConfig.lock_timeout_ms
IDLE_IN_TRANSACTION_SESSION_TIMEOUT_MS = 60_000  # ..._session_timeout_ms

# A shared pool pins search_path to a value that resolves no user schema, so an unqualified
# table fails loudly (DatabaseConfig.shared_pool_search_path = NEUTRAL_SEARCH_PATH). After
# connecting, create_shared_pool compares `SHOW search_path` entry by entry and refuses a
# pool where the pin did not take effect (behind PgBouncer it must be a role default).
SEARCH_PATH_PIN = "pg_catalog"

# The startup parameters create_shared_pool sends on every connection with the defaults
# above (DatabaseConfig.get_server_settings plus the pin). PgBouncer rejects unknown startup
# parameters, so each one must be in its ignore_startup_parameters -- and then is lost.
STARTUP_PARAMETERS: dict[str, str] = {
    "jit": "off",
    "statement_timeout": str(STATEMENT_TIMEOUT_MS),
    "lock_timeout": str(LOCK_TIMEOUT_MS),
    "idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_SESSION_TIMEOUT_MS),
    "search_path": SEARCH_PATH_PIN,
}
# asyncpg sends this one itself; PgBouncer must ignore it too.
ASYNCPG_STARTUP_PARAMETERS = ("extra_float_digits",)

# pgdbm's own identifier check (core.SCHEMA_NAME_PATTERN): it rejects only some of the names
# that break it -- see naming.py for the rule this package applies.
SCHEMA_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]{0,62}$"
MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1: longer names are truncated silently

# --- migrations (migrations.py) -----------------------------------------------------------
MIGRATIONS_TABLE = "schema_migrations"  # AsyncMigrationManager(migrations_table=...) default
MIGRATIONS_TABLE_COLUMNS = ("filename", "checksum", "module_name", "applied_at")
MIGRATION_FILE_GLOB = "*.sql"  # non-recursive, dot files skipped, sorted by name
MIGRATION_LOCK_PREFIX = "pgdbm_migration_"  # pg_advisory_xact_lock(hashtext(prefix || module))

# PostgreSQL key words that cannot be an unquoted schema name (pg_get_keywords() catcode R
# and T, PostgreSQL 15-18). pgdbm writes `<schema>.schema_migrations` unquoted, so a schema
# named like one breaks its tracking SQL. copier.yml's pg_reserved_words is this list.
RESERVED_WORDS = frozenset(
    """
    all analyse analyze and any array as asc asymmetric authorization binary both case cast
    check collate collation column concurrently constraint create cross current_catalog
    current_date current_role current_schema current_time current_timestamp current_user
    default deferrable desc distinct do else end except false fetch for foreign freeze from
    full grant group having ilike in initially inner intersect into is isnull join lateral
    leading left like limit localtime localtimestamp natural not notnull null offset on only
    or order outer overlaps placing primary references returning right select session_user
    similar some symmetric system_user table tablesample then to trailing true union unique
    user using variadic verbose when where window with
    """.split()  # noqa: SIM905 (a word list reads best as words)
)


def migration_checksum(text: str) -> str:
    """AsyncMigrationManager._calculate_checksum: sha256 of the text, CRLF -> LF, stripped.

    pgdbm reads files with read_text (universal newlines), so lone CRs hash as LF too.
    """
    normalized = text.replace("\r\n", "\n").strip()
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def split_search_path(value: str) -> list[str]:
    """Entry by entry, as pgdbm compares the pin (the server re-spaces a value set by SET)."""
    return [entry.strip() for entry in value.split(",")]
