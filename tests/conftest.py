"""Fixtures for our suite: one PostgreSQL server per session, a fresh database per test.

No server available fails the session with PostgresUnavailable's instructions (never a skip).
"""

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# Import this checkout's generator, whatever is installed in the venv.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "generator"))

from pgdbm_shared_pool.testing import (
    PostgresServer,
    create_database,
    drop_database,
    start_postgres_server,
    unique_database_name,
)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = start_postgres_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def fresh_database_url(pg_server: PostgresServer) -> AsyncIterator[str]:
    name = unique_database_name()
    await create_database(pg_server.dsn, name)
    try:
        yield pg_server.dsn_for(name)
    finally:
        await drop_database(pg_server.dsn, name)
