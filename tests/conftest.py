"""Fixtures for our suite: one PostgreSQL server per session, a fresh database per test.

No server available fails the session with PostgresUnavailable's instructions (never a skip).
A test that needs a missing program skips, naming its install command (`-ra` lists them);
TEST_NO_SKIP=1 (CI sets it) turns every skip into a failure.
"""

import asyncio
import os
from collections.abc import AsyncIterator, Generator, Iterator

import pytest
from pgbouncer import pgbouncer_binary, pgbouncer_missing
from pgdbm_shared_pool.testing import DatabaseSupply, PostgresServer, start_postgres_server

NO_SKIP = "TEST_NO_SKIP"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and os.environ.get(NO_SKIP) and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, and {NO_SKIP} is set: {reason}"
    return report


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = start_postgres_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def empty_databases(pg_server: PostgresServer) -> Iterator[DatabaseSupply]:
    """Created and dropped in batches: much faster on a server that syncs to disk."""
    supply = DatabaseSupply(pg_server.dsn)
    yield supply
    asyncio.run(supply.close())


@pytest.fixture
async def fresh_database_url(
    pg_server: PostgresServer, empty_databases: DatabaseSupply
) -> AsyncIterator[str]:
    name = await empty_databases.take()
    try:
        yield pg_server.dsn_for(name)
    finally:
        await empty_databases.give_back(name)


@pytest.fixture(scope="session")
def pgbouncer_installed() -> None:
    if pgbouncer_binary() is None:
        pytest.skip(pgbouncer_missing())
