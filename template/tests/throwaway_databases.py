"""Throwaway databases on a test server: unique names, create (or clone), drop, in batches."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import asyncpg

_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def unique_database_name(prefix: str = "t") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _check_database_name(name)
    return name


async def create_database(admin_dsn: str, name: str, *, template: str | None = None) -> None:
    """CREATE DATABASE name [TEMPLATE template]; a template's sessions are ended first."""
    _check_database_name(name)
    sql = f'CREATE DATABASE "{name}"'
    if template is not None:
        _check_database_name(template)
        sql += f' TEMPLATE "{template}"'
    conn = await asyncpg.connect(admin_dsn)
    try:
        if template is not None:
            # Cloning fails while anyone is connected to the template.
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                template,
            )
        await conn.execute(sql)
    finally:
        await conn.close()


async def drop_database(admin_dsn: str, name: str) -> None:
    """DROP DATABASE IF EXISTS, ending its sessions first (tests often leak a pool)."""
    _check_database_name(name)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class DatabaseSupply:
    """Fresh databases, created `batch` at a time and dropped `batch` at a time in a thread of
    their own. On a server that syncs to disk each CREATE or DROP DATABASE waits for a flush
    or a checkpoint: concurrent ones share it, and nobody waits for a drop."""

    def __init__(
        self, admin_dsn: str, *, template: str | None = None, batch: int = 8, prefix: str = "t"
    ) -> None:
        self.admin_dsn, self.template, self.batch, self.prefix = admin_dsn, template, batch, prefix
        self._ready: list[str] = []
        self._used: list[str] = []
        self._dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop-databases")
        self._drops: list[Future[None]] = []

    async def take(self) -> str:
        """A database nobody has used yet (CREATE DATABASE ... TEMPLATE self.template)."""
        if not self._ready:
            names = [unique_database_name(self.prefix) for _ in range(self.batch)]
            create = (create_database(self.admin_dsn, n, template=self.template) for n in names)
            results = await asyncio.gather(*create, return_exceptions=True)
            created = zip(names, results, strict=True)
            self._ready = [name for name, result in created if result is None]
            _raise_first(results)
        return self._ready.pop()

    def give_back(self, name: str) -> None:
        """Drop `name` soon: with the next full batch, or at close()."""
        self._used.append(name)
        if len(self._used) >= self.batch:
            names, self._used = self._used, []
            self._drops.append(self._dropper.submit(asyncio.run, self._drop(names)))

    def wait_for_drops(self) -> None:
        """Wait until the batches given back so far are dropped; raise a drop's first error."""
        drops, self._drops = self._drops, []
        _raise_first([drop.exception() for drop in drops])

    def close(self) -> None:
        """Drop every database it made, used or not."""
        names, self._used, self._ready = self._used + self._ready, [], []
        self._drops.append(self._dropper.submit(asyncio.run, self._drop(names)))
        try:
            self.wait_for_drops()
        finally:
            self._dropper.shutdown()

    async def _drop(self, names: list[str]) -> None:
        drops = (drop_database(self.admin_dsn, name) for name in names)
        _raise_first(await asyncio.gather(*drops, return_exceptions=True))


def _raise_first(results: Sequence[object]) -> None:
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _check_database_name(name: str) -> None:
    if not _DATABASE_NAME.fullmatch(name):
        raise ValueError(f"database name {name!r} must match {_DATABASE_NAME.pattern}")
