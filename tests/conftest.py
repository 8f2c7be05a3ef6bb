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
SERVER_USED = pytest.StashKey[str]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if SERVER_USED in item.config.stash:  # travels to xdist's main process with the report
        report.user_properties.append(("postgres", item.config.stash[SERVER_USED]))
    if report.skipped and os.environ.get(NO_SKIP) and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, and {NO_SKIP} is set: {reason}"
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (stable): with xdist handing out one test at a time (Makefile), the
    longest start early and the short ones fill the gaps at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


class RunReport:
    """A line as each long test ends (a generated project's suite, mypy on a render), and at
    the end which PostgreSQL the tests used; in the main process: with xdist it receives every
    worker's reports."""

    def __init__(self, reporter: pytest.TerminalReporter) -> None:
        self.reporter = reporter
        self.servers: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.servers.update(value for key, value in report.user_properties if key == "postgres")
        if report.when == "call" and report.duration >= LONG_TEST_SECONDS:
            line = f"{report.duration:6.1f} s {report.outcome:>7}  {report.nodeid}"
            self.reporter.write_line(line)

    def pytest_terminal_summary(self) -> None:
        for server in sorted(self.servers):
            self.reporter.write_line(f"PostgreSQL: {server}")


@pytest.hookimpl(trylast=True)  # after the terminal reporter is registered
def pytest_configure(config: pytest.Config) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and not hasattr(config, "workerinput"):  # not in an xdist worker
        config.pluginmanager.register(RunReport(reporter), "run-report")


@pytest.fixture(scope="session")
def pg_server(pytestconfig: pytest.Config) -> Iterator[PostgresServer]:
    server = start_postgres_server()
    pytestconfig.stash[SERVER_USED] = server.description
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
