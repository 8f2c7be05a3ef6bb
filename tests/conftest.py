"""Fixtures for our suite: one PostgreSQL server per session, a fresh database per test.

No server available fails the session with PostgresUnavailable's instructions (never a skip).
A test that needs a missing program skips, naming its install command (`-ra` lists them);
TEST_NO_SKIP=1 (CI sets it) turns every skip into a failure.
"""

import os
from collections.abc import AsyncIterator, Generator, Iterator
from typing import TYPE_CHECKING

import pytest
from pgbouncer import pgbouncer_binary, pgbouncer_missing
from pgdbm_shared_pool.testing import DatabaseSupply, PostgresServer, start_postgres_server

if TYPE_CHECKING:
    from generated import Renders

NO_SKIP = "TEST_NO_SKIP"
LONG_TEST_SECONDS = 10.0


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (stable): with xdist handing out one test at a time (Makefile), the
    longest start early and the short ones fill the gaps at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


class LongTestProgress:
    """A line as each long test ends (a generated project's suite, mypy on a render), in the
    main process: with xdist it receives every worker's reports."""

    def __init__(self, reporter: pytest.TerminalReporter) -> None:
        self.reporter = reporter

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.duration >= LONG_TEST_SECONDS:
            line = f"{report.duration:6.1f} s {report.outcome:>7}  {report.nodeid}"
            self.reporter.write_line(line)


@pytest.hookimpl(trylast=True)  # after the terminal reporter is registered
def pytest_configure(config: pytest.Config) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and not hasattr(config, "workerinput"):  # not in an xdist worker
        config.pluginmanager.register(LongTestProgress(reporter), "long-test-progress")


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
    supply.close()


@pytest.fixture
async def fresh_database_url(
    pg_server: PostgresServer, empty_databases: DatabaseSupply
) -> AsyncIterator[str]:
    name = await empty_databases.take()
    try:
        yield pg_server.dsn_for(name)
    finally:
        empty_databases.give_back(name)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> "Renders":
    """generated.RENDERED's projects, each rendered once per test process."""
    from generated import Renders

    return Renders(tmp_path_factory.mktemp("rendered"))


@pytest.fixture(scope="session")
def pgbouncer_installed() -> None:
    if pgbouncer_binary() is None:
        pytest.skip(pgbouncer_missing())
