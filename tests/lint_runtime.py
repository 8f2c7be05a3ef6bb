"""What the corpus's runtime checks share: a small pgdbm config with its own
application_name, and counting (then ending) the connections a piece of code left open in
the test's own database: pg_stat_activity is the whole server's, and on a server the xdist
workers share, another test may be running the same code at the same time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from pgdbm import AsyncDatabaseManager, DatabaseConfig


def config(url: str, application_name: str = "lint-corpus") -> DatabaseConfig:
    return DatabaseConfig(
        connection_string=url,
        min_connections=1,
        max_connections=2,
        server_settings={"application_name": application_name},
    )


@asynccontextmanager
async def shared_pool(url: str) -> AsyncIterator[asyncpg.Pool]:
    """A shared pool as pgdbm 0.5.0 makes it (search_path pinned to pg_catalog)."""
    opened = await AsyncDatabaseManager.create_shared_pool(config(url))
    try:
        yield opened
    finally:
        await opened.close()


async def open_connections(url: str, application_name: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = $1 AND datname = current_database()",
                application_name,
            )
        )
    finally:
        await connection.close()


async def end_leaked(url: str, application_name: str) -> None:
    """What the leaking code never closed: end it so the database can be dropped."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = $1 AND datname = current_database()",
            application_name,
        )
    finally:
        await connection.close()


async def assert_left_open(url: str, application_name: str) -> None:
    """The code under test left a connection of `application_name` open; end it after."""
    try:
        assert await open_connections(url, application_name) >= 1
    finally:
        await end_leaked(url, application_name)
