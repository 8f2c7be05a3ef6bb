"""The limits skills/pgdbm-operations states about many tenant schemas, shown on a real server.

pg_dump takes a lock on every table it dumps, all in one transaction, so the server's lock table
(about max_locks_per_transaction * (max_connections + ...) slots) must hold them all.
"""

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from pgdbm_shared_pool.testing import PostgresServer, start_postgres_server

pytestmark = pytest.mark.slow

SCHEMAS = 200
TABLES_PER_SCHEMA = 10


@pytest.fixture
def throwaway_server() -> Iterator[PostgresServer]:
    """A cluster of our own: its settings change and it restarts."""
    server = start_postgres_server(providers=["local", "embedded"])
    try:
        yield server
    finally:
        server.stop()


async def _configure(dsn: str, max_locks_per_transaction: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            f"ALTER SYSTEM SET max_locks_per_transaction = {max_locks_per_transaction}"
        )
        await connection.execute("ALTER SYSTEM SET max_connections = 20")
    finally:
        await connection.close()


async def _create_tenant_tables(dsn: str) -> Path:
    """Tenant-like schemas of small tables; returns the server's own pg_dump."""
    connection = await asyncpg.connect(dsn)
    try:
        for schema in range(SCHEMAS):
            tables = "".join(
                f"CREATE TABLE tenant_{schema}.t_{table} (id bigint PRIMARY KEY, body text);"
                for table in range(TABLES_PER_SCHEMA)
            )
            await connection.execute(f"CREATE SCHEMA tenant_{schema}; {tables}")
        # The pg_config view answers with the running server's binaries (local or embedded).
        bindir = await connection.fetchval("SELECT setting FROM pg_config WHERE name = 'BINDIR'")
    finally:
        await connection.close()
    return Path(bindir) / "pg_dump"


async def _setting(dsn: str, name: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        return str(await connection.fetchval(f"SHOW {name}"))
    finally:
        await connection.close()


def _restart(server: PostgresServer) -> None:
    server.stop_server()
    server.start_server()


def _schema_only_dump(pg_dump: Path, dsn: str, *options: str) -> subprocess.CompletedProcess[str]:
    # A client needs no particular OS user: pg_dump connects over the server's DSN.
    return subprocess.run(
        [str(pg_dump), "--schema-only", *options, "--dbname", dsn],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_pg_dump_needs_max_locks_per_transaction_raised_for_many_tables(
    throwaway_server: PostgresServer,
) -> None:
    dsn = throwaway_server.dsn
    asyncio.run(_configure(dsn, max_locks_per_transaction=10))
    _restart(throwaway_server)
    assert asyncio.run(_setting(dsn, "max_locks_per_transaction")) == "10"
    pg_dump = asyncio.run(_create_tenant_tables(dsn))

    too_few_locks = _schema_only_dump(pg_dump, dsn)
    assert too_few_locks.returncode != 0, "pg_dump locked every table within 10 locks per slot"
    error = too_few_locks.stderr[:1000]  # the failing LOCK TABLE statement lists every table
    assert "out of shared memory" in error, error
    assert "increase max_locks_per_transaction" in error.replace('"', ""), error

    one_tenant = _schema_only_dump(pg_dump, dsn, "--schema", "tenant_0")
    assert one_tenant.returncode == 0, one_tenant.stderr  # it locks only the tables it dumps
    assert "CREATE TABLE tenant_0.t_0" in one_tenant.stdout
    assert "tenant_1." not in one_tenant.stdout

    asyncio.run(_configure(dsn, max_locks_per_transaction=256))
    _restart(throwaway_server)
    enough_locks = _schema_only_dump(pg_dump, dsn)
    assert enough_locks.returncode == 0, enough_locks.stderr
    last_table = f"CREATE TABLE tenant_{SCHEMAS - 1}.t_{TABLES_PER_SCHEMA - 1}"
    assert last_table in enough_locks.stdout
