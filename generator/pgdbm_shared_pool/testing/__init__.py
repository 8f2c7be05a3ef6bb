"""Real PostgreSQL for tests.

postgres_server.py and throwaway_databases.py are symlinks to the files of template/tests/:
generated projects get the same files.
"""

from .postgres_server import (
    PROVIDERS,
    PostgresServer,
    PostgresUnavailable,
    start_postgres_server,
)
from .throwaway_databases import (
    DatabaseSupply,
    create_database,
    drop_database,
    unique_database_name,
)

__all__ = [
    "PROVIDERS",
    "DatabaseSupply",
    "PostgresServer",
    "PostgresUnavailable",
    "create_database",
    "drop_database",
    "start_postgres_server",
    "unique_database_name",
]
