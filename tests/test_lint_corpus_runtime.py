"""The corpus's true positives, run on PostgreSQL with pgdbm 0.5.0: each TP label names the
test here that shows it failing ([verified: <id>] in tests/corpus/labels.txt).

SP005, SP011 and SP013 labels are checked one by one on the flagged text itself (the query or
the migration statement from the corpus file). The other rules are shown on the structure the
labels describe (a lifespan that opens a pool and fails before its close, a singleton without
a lock, ...), once per structure.
"""

from __future__ import annotations

import ast
import asyncio
import re
import string
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from lint_corpus import LABELS, PROJECTS, Label, fetch, read_labels
from pgdbm import AsyncDatabaseManager, AsyncMigrationManager, DatabaseConfig
from pgdbm.errors import PoolError
from pgdbm_shared_pool.lint import sql
from pgdbm_shared_pool.lint.syntax import ASYNCPG_QUERY_METHODS, QUERY_METHODS, query_argument

VERIFIED = re.compile(r"\[verified: ([a-z0-9-]+)\]")
TEMPLATE = re.compile(r"\{\{tables\.([a-z0-9_]+)(?:\.([a-z0-9_]+))?\}\}")


def true_positives(verification: str) -> list[Label]:
    return [
        label
        for label in read_labels(LABELS)
        if label.verdict == "TP" and VERIFIED.search(label.note)
        and VERIFIED.search(label.note).group(1) == verification  # type: ignore[union-attr]
    ]  # fmt: skip


def label_id(label: Label) -> str:
    return f"{label.project}:{label.path}:{label.line}"


@cache
def corpus_file(project: str, path: str) -> str:
    [wanted] = [p for p in PROJECTS if p.name == project]
    return (fetch(wanted) / path).read_text(encoding="utf-8")


def config(url: str, application_name: str = "lint-corpus") -> DatabaseConfig:
    return DatabaseConfig(
        connection_string=url,
        min_connections=1,
        max_connections=2,
        server_settings={"application_name": application_name},
    )


@pytest.fixture
async def pool(fresh_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    shared = await AsyncDatabaseManager.create_shared_pool(config(fresh_database_url))
    try:
        yield shared
    finally:
        await shared.close()


async def open_connections(url: str, application_name: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
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
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            application_name,
        )
    finally:
        await connection.close()


def test_every_true_positive_names_a_verification_that_exists() -> None:
    tests = {name for name in globals() if name.startswith("test_")}
    for label in read_labels(LABELS):
        if label.verdict != "TP":
            continue
        found = VERIFIED.search(label.note)
        assert found, f"{label_id(label)}: say how it was verified ([verified: <id>])"
        assert f"test_{found.group(1).replace('-', '_')}" in tests, found.group(1)


# --- the flagged text itself -------------------------------------------------------------
def flagged_query(label: Label) -> str:
    """The literal SQL of the pgdbm/asyncpg call whose string spans the label's line."""
    tree = ast.parse(corpus_file(label.project, label.path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            query = query_argument(node, {**QUERY_METHODS, **ASYNCPG_QUERY_METHODS})
            if (
                isinstance(query, ast.Constant)
                and isinstance(query.value, str)
                and query.lineno <= label.line <= (query.end_lineno or query.lineno)
            ):
                return query.value
    raise AssertionError(f"{label_id(label)}: no literal query on that line")


@pytest.mark.parametrize("label", true_positives("pin-unqualified"), ids=label_id)
async def test_pin_unqualified(pool: asyncpg.Pool, label: Label) -> None:
    """The query as written, on a manager of the shared pool, with every table it names
    present in the manager's schema: the unqualified one is still not found."""
    query = flagged_query(label)
    db = AsyncDatabaseManager(pool=pool, schema="svc")
    await pool.execute("CREATE SCHEMA svc")
    unqualified = {
        token.text.strip('"')
        for statement in sql.statements(sql.tokenize(query))
        for token in sql.unqualified_tables(statement)
    }
    for schema, table in {("svc", t) for t in unqualified} | _templated_tables(query):
        await pool.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await pool.execute(f'CREATE TABLE IF NOT EXISTS "{schema}"."{table}" ()')
    async with pool.acquire() as connection:
        with pytest.raises(asyncpg.UndefinedTableError) as failure:
            await connection.prepare(db.prepare_query(query))
    assert any(f'relation "{table}" does not exist' in str(failure.value) for table in unqualified)


def _templated_tables(query: str) -> set[tuple[str, str]]:
    return {
        (first, second) if second else ("svc", first) for first, second in TEMPLATE.findall(query)
    }


def flagged_template(label: Label) -> str:
    """The text an f-string (or .format()) on the label's line sends, its values replaced."""
    tree = ast.parse(corpus_file(label.project, label.path))
    for node in ast.walk(tree):
        spans = getattr(node, "lineno", 0) <= label.line <= (getattr(node, "end_lineno", 0) or 0)
        if isinstance(node, ast.JoinedStr) and spans:
            return "".join(
                part.value if isinstance(part, ast.Constant) else "1" for part in node.values
            )
        if (
            spans
            and isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant)
        ):
            template = str(node.func.value.value)
            fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
            return template.format(*["1"] * len(fields))
    raise AssertionError(f"{label_id(label)}: no f-string or .format() on that line")


@pytest.mark.parametrize("label", true_positives("collapsed-braces"), ids=label_id)
async def test_collapsed_braces(pool: asyncpg.Pool, label: Label) -> None:
    sent = flagged_template(label)
    db = AsyncDatabaseManager(pool=pool, schema="svc")
    expanded = db.prepare_query(sent)
    assert "{tables." in expanded  # pgdbm left the single-brace template alone
    async with pool.acquire() as connection:
        with pytest.raises(asyncpg.PostgresSyntaxError) as failure:
            await connection.prepare(expanded)
    position = int(failure.value.position)  # type: ignore[attr-defined]
    assert expanded[position - 1] == "{", failure.value


def flagged_statement(label: Label) -> str:
    text = corpus_file(label.project, label.path)
    offset = sum(len(line) + 1 for line in text.split("\n")[: label.line - 1])
    for statement in sql.statements(sql.tokenize(text)):
        if statement[0].offset <= offset + len(text.split("\n")[label.line - 1]):
            last = statement[-1]
            if last.offset + len(last.text) >= offset:
                return text[statement[0].offset : last.offset + len(last.text)]
    raise AssertionError(f"{label_id(label)}: no statement on that line")


@pytest.mark.parametrize("label", true_positives("extension-pg-catalog"), ids=label_id)
async def test_extension_pg_catalog(pool: asyncpg.Pool, label: Label) -> None:
    """The migration's CREATE EXTENSION on a manager of the shared pool: it fails, or the
    extension lands in pg_catalog and a later `... SCHEMA public` + qualified call breaks."""
    statement = flagged_statement(label)
    extension = statement.split()[-1].strip('";')
    db = AsyncDatabaseManager(pool=pool, schema="public")
    try:
        await db.execute(statement)
    except Exception as error:  # pgcrypto: gen_random_uuid() is already in pg_catalog
        assert "already exists" in str(error)
        return
    where = await pool.fetchval(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = $1",
        extension,
    )
    assert where == "pg_catalog"
    await pool.execute(f'CREATE EXTENSION IF NOT EXISTS "{extension}" SCHEMA public')  # skipped
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await pool.fetchval("SELECT public.uuid_generate_v4()")


# --- the structures the labels describe ----------------------------------------------------
async def test_schema_missing(pool: asyncpg.Pool, tmp_path: Path) -> None:
    (tmp_path / "001_items.sql").write_text("CREATE TABLE {{tables.items}} (id int);")
    db = AsyncDatabaseManager(pool=pool, schema="users")
    migrations = AsyncMigrationManager(db, migrations_path=str(tmp_path), module_name="users")
    with pytest.raises(asyncpg.InvalidSchemaNameError, match='schema "users" does not exist'):
        await migrations.apply_pending_migrations()


async def test_cwd_relative(
    pool: asyncpg.Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same code applies the migration from the app's folder and silently nothing from
    any other folder."""
    app, elsewhere = tmp_path / "app", tmp_path / "elsewhere"
    (app / "migrations").mkdir(parents=True)
    elsewhere.mkdir()
    (app / "migrations" / "001_items.sql").write_text("CREATE TABLE {{tables.items}} (id int);")
    await pool.execute("CREATE SCHEMA svc")
    db = AsyncDatabaseManager(pool=pool, schema="svc")
    monkeypatch.chdir(elsewhere)
    result = await AsyncMigrationManager(
        db, "migrations", module_name="svc"
    ).apply_pending_migrations()
    assert (result["status"], result["applied"]) == ("up_to_date", [])
    monkeypatch.chdir(app)
    result = await AsyncMigrationManager(
        db, "migrations", module_name="svc"
    ).apply_pending_migrations()
    assert len(result["applied"]) == 1


async def test_pool_has_no_stats(pool: asyncpg.Pool) -> None:
    with pytest.raises(AttributeError, match="get_pool_stats"):
        await pool.get_pool_stats()  # type: ignore[attr-defined]


async def test_connect_external_pool(pool: asyncpg.Pool) -> None:
    with pytest.raises(PoolError):
        await AsyncDatabaseManager(pool=pool, schema="users").connect()


async def test_third_positional(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """AsyncMigrationManager(db, path, "users"): "users" becomes the tracking table."""
    (tmp_path / "001_users.sql").write_text("CREATE TABLE {{tables.users}} (id int);")
    await pool.execute("CREATE SCHEMA users")
    db = AsyncDatabaseManager(pool=pool, schema="users")
    migrations = AsyncMigrationManager(db, str(tmp_path), "users")
    assert migrations.migrations_table == "users"
    with pytest.raises(Exception, match="already exists"):
        await migrations.apply_pending_migrations()


async def test_schema_reassigned(pool: asyncpg.Pool) -> None:
    db = AsyncDatabaseManager(pool=pool, schema="tenant1")
    db.schema = "tenant2"
    assert db.prepare_query("SELECT * FROM {{tables.data}}") == 'SELECT * FROM "tenant2".data'


async def test_tenant_injection(pool: asyncpg.Pool) -> None:
    """The skill's TenantManager.get_tenant_db() CREATE SCHEMA with a crafted tenant id."""
    tenant_id = 'x"; CREATE TABLE public.pwned (id int); CREATE SCHEMA "y'
    schema = f"tenant_{tenant_id}"
    admin_db = AsyncDatabaseManager(pool=pool)
    await admin_db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    assert await pool.fetchval("SELECT to_regclass('public.pwned') IS NOT NULL")


Opener = Callable[[DatabaseConfig], Coroutine[Any, Any, Callable[[], Coroutine[Any, Any, None]]]]


async def open_shared(settings: DatabaseConfig) -> Callable[[], Coroutine[Any, Any, None]]:
    opened = await AsyncDatabaseManager.create_shared_pool(settings)
    return opened.close


async def open_own(settings: DatabaseConfig) -> Callable[[], Coroutine[Any, Any, None]]:
    db = AsyncDatabaseManager(settings)
    await db.connect()
    return db.disconnect


async def migrations_fail() -> None:
    raise RuntimeError("migration 002 failed")


@pytest.mark.parametrize("opener", [open_shared, open_own], ids=["shared", "own"])
async def test_failed_startup_leak(fresh_database_url: str, opener: Opener) -> None:
    """open; await something that fails; close after yield (or in a finally that starts
    later, or never, when the pool was to be returned): the pool stays open."""

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        close = await opener(config(fresh_database_url, "leak-startup"))
        await migrations_fail()
        yield
        await close()

    with pytest.raises(RuntimeError):
        async with lifespan():
            pass
    try:
        assert await open_connections(fresh_database_url, "leak-startup") >= 1
    finally:
        await end_leaked(fresh_database_url, "leak-startup")


class SharedDatabaseManager:
    """The microservices example's singleton: a pool opened on first use, closed by close()."""

    _instance: SharedDatabaseManager | None = None
    url = ""

    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None

    @classmethod
    async def get_instance(cls) -> SharedDatabaseManager:
        if cls._instance is None:
            cls._instance = cls()
            cls._instance.pool = await AsyncDatabaseManager.create_shared_pool(
                config(cls.url, "leak-lifespan")
            )
        return cls._instance

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()


async def test_lifespan_never_closes(fresh_database_url: str) -> None:
    SharedDatabaseManager.url, SharedDatabaseManager._instance = fresh_database_url, None

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await SharedDatabaseManager.get_instance()
        yield  # a service's lifespan: nothing closes the singleton's pool

    async with lifespan():
        pass
    try:
        assert await open_connections(fresh_database_url, "leak-lifespan") >= 1
    finally:
        await end_leaked(fresh_database_url, "leak-lifespan")
        SharedDatabaseManager._instance = None


async def test_flag_guarded_close(fresh_database_url: str) -> None:
    """llmbridge's LLMDatabase: connect(), a step that fails, then _initialized = True;
    close() checks _initialized."""

    class Database:
        def __init__(self) -> None:
            self.db = AsyncDatabaseManager(config(fresh_database_url, "leak-flag"))
            self._initialized = False

        async def initialize(self) -> None:
            await self.db.connect()
            await migrations_fail()
            self._initialized = True

        async def close(self) -> None:
            if self._initialized:
                await self.db.disconnect()

    database = Database()
    try:
        with pytest.raises(RuntimeError):
            await database.initialize()
    finally:
        await database.close()
    try:
        assert await open_connections(fresh_database_url, "leak-flag") >= 1
    finally:
        await end_leaked(fresh_database_url, "leak-flag")


async def test_singleton_race(fresh_database_url: str) -> None:
    """production-app's DatabaseInfrastructure.initialize(): check, then await, no lock."""

    class DatabaseInfrastructure:
        def __init__(self) -> None:
            self.shared_pool: asyncpg.Pool | None = None

        async def initialize(self) -> None:
            if self.shared_pool is not None:
                return
            self.shared_pool = await AsyncDatabaseManager.create_shared_pool(
                config(fresh_database_url, "race")
            )

    infrastructure = DatabaseInfrastructure()
    await asyncio.gather(infrastructure.initialize(), infrastructure.initialize())
    try:
        assert await open_connections(fresh_database_url, "race") == 2  # two pools of min 1
    finally:
        assert infrastructure.shared_pool is not None
        await infrastructure.shared_pool.close()
        await end_leaked(fresh_database_url, "race")


async def test_singleton_closed_pool(fresh_database_url: str) -> None:
    """The published skill's SharedDatabaseManager: close() keeps _initialized."""

    class SharedDatabase:
        def __init__(self) -> None:
            self._pool: asyncpg.Pool | None = None
            self._initialized = False

        async def initialize(self) -> None:
            if self._initialized:
                return
            self._pool = await AsyncDatabaseManager.create_shared_pool(config(fresh_database_url))
            self._initialized = True

        def get_pool(self) -> asyncpg.Pool:
            assert self._pool is not None
            return self._pool

        async def close(self) -> None:
            if self._pool:
                await self._pool.close()

    database = SharedDatabase()
    await database.initialize()
    await database.close()
    await database.initialize()  # returns early
    with pytest.raises(asyncpg.InterfaceError, match="pool is closed"):
        await database.get_pool().fetchval("SELECT 1")


async def test_second_pool(fresh_database_url: str) -> None:
    settings = config(fresh_database_url, "second-pool")
    shared = await AsyncDatabaseManager.create_shared_pool(settings)
    standalone = AsyncDatabaseManager(settings)
    await standalone.connect()
    try:
        assert await open_connections(fresh_database_url, "second-pool") == 2
    finally:
        await standalone.disconnect()
        await shared.close()
