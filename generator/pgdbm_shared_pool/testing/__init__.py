"""Real PostgreSQL for tests.

postgres_server.py is a symlink to template/tests/postgres_server.py: generated projects get
the same file as tests/postgres_server.py.
"""

from .postgres_server import (
    PROVIDERS,
    PostgresServer,
    PostgresUnavailable,
    create_database,
    drop_database,
    start_postgres_server,
    unique_database_name,
)

__all__ = [
    "PROVIDERS",
    "PostgresServer",
    "PostgresUnavailable",
    "create_database",
    "drop_database",
    "start_postgres_server",
    "unique_database_name",
]
