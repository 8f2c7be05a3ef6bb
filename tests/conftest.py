"""Fixtures for our suite: one PostgreSQL server per session, a fresh database per test.

No server available fails the session with PostgresUnavailable's instructions (never a skip).
A test that needs a missing program skips, naming its install command (`-ra` lists them);
TEST_NO_SKIP=1 (CI sets it) turns every skip into a failure.
"""

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from pgbouncer import pgbouncer_binary, pgbouncer_missing
from pgdbm_shared_pool.testing import (
    PostgresServer,
    create_database,
    drop_database,
    start_postgres_server,
    unique_database_name,
)

NO_SKIP = "TEST_NO_SKIP"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
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


@pytest.fixture
async def fresh_database_url(pg_server: PostgresServer) -> AsyncIterator[str]:
    name = unique_database_name()
    await create_database(pg_server.dsn, name)
    try:
        yield pg_server.dsn_for(name)
    finally:
        await drop_database(pg_server.dsn, name)


@pytest.fixture(scope="session")
def pgbouncer_installed() -> None:
    if pgbouncer_binary() is None:
        pytest.skip(pgbouncer_missing())
