"""How the rules follow values across a project: pool owners per process, lifespans closing
through other modules, getters, loops over literals, snippets, allow-lists versus caches."""

from __future__ import annotations

from pathlib import Path

from pgdbm_shared_pool.lint import Finding, check_paths

SINGLETON = """\
from pgdbm import AsyncDatabaseManager, DatabaseConfig


class SharedDatabase:
    _instance = None

    def __init__(self) -> None:
        self.pool = None

    @classmethod
    async def get_instance(cls) -> "SharedDatabase":
        if cls._instance is None:
            cls._instance = cls()
        if cls._instance.pool is None:
            await cls._instance.initialize()
        return cls._instance

    async def initialize(self) -> None:
        self.pool = await AsyncDatabaseManager.create_shared_pool(DatabaseConfig())

    async def close(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            await pool.close()
"""
LIFESPAN = """\
from contextlib import asynccontextmanager

from fastapi import FastAPI

from {package}.database import SharedDatabase


@asynccontextmanager
async def lifespan(app: FastAPI):
    database = await SharedDatabase.get_instance()
    {body}


app = FastAPI(lifespan=lifespan)
"""


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def found(findings: list[Finding], root: Path) -> list[tuple[str, int, str]]:
    return [(Path(f.path).relative_to(root).as_posix(), f.line, f.code) for f in findings]


def test_a_lifespan_must_close_what_an_owner_opened_for_it(tmp_path: Path) -> None:
    """Two apps share a class name: each lifespan is judged against its own class."""
    write(tmp_path, "good/database.py", SINGLETON)
    write(
        tmp_path,
        "good/main.py",
        LIFESPAN.format(package="good", body="try:\n        yield\n    finally:\n"
                        "        await database.close()"),
    )  # fmt: skip
    write(tmp_path, "bad/database.py", SINGLETON)
    write(tmp_path, "bad/main.py", LIFESPAN.format(package="bad", body="yield"))
    findings = check_paths([tmp_path])
    assert found(findings, tmp_path) == [("bad/main.py", 10, "SP009")]
    assert "SharedDatabase opens a pool here that nothing in the app closes" in findings[0].message


def test_a_shutdown_handler_in_another_module_closes_app_state(tmp_path: Path) -> None:
    write(
        tmp_path,
        "app/startup.py",
        "from pgdbm import AsyncDatabaseManager, DatabaseConfig\n\n\n"
        "async def open_pool(app) -> None:\n"
        "    app.state.pool = await AsyncDatabaseManager.create_shared_pool(DatabaseConfig())\n",
    )
    main = (
        "from fastapi import FastAPI\n\nfrom .startup import open_pool\n\n"
        "app = FastAPI()\napp.add_event_handler('startup', lambda: open_pool(app))\n"
    )
    write(tmp_path, "app/main.py", main)
    assert found(check_paths([tmp_path]), tmp_path) == [("app/startup.py", 5, "SP009")]
    shutdown = "\n\n@app.on_event('shutdown')\nasync def close_pool() -> None:\n"
    write(tmp_path, "app/main.py", main + shutdown + "    await app.state.pool.close()\n")
    assert check_paths([tmp_path]) == []


def test_a_lock_held_by_every_caller_makes_initialize_safe(tmp_path: Path) -> None:
    locked = SINGLETON.replace(
        "        if cls._instance.pool is None:\n            await cls._instance.initialize()",
        "        async with cls._lock:\n            if cls._instance.pool is None:\n"
        "                await cls._instance.initialize()",
    ).replace("    _instance = None\n", "    _instance = None\n    _lock = asyncio.Lock()\n")
    path = write(tmp_path, "database.py", "import asyncio\n" + locked)
    assert check_paths([path]) == []
    unguarded_close = locked.replace("pool, self.pool = self.pool, None", "pool = self.pool")
    unguarded_close = unguarded_close.replace(
        "    async def initialize(self) -> None:\n",
        "    async def initialize(self) -> None:\n        if self.pool is not None:\n"
        "            return\n",
    )
    write(tmp_path, "database.py", "import asyncio\n" + unguarded_close)
    [finding] = check_paths([path])
    assert (finding.code, finding.line) == ("SP015", 29)
    assert "keeps self.pool" in finding.message


def test_a_getter_without_annotation_is_followed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "breaker.py",
        """\
from pgdbm import AsyncDatabaseManager


class Breaker:
    def __init__(self, pool) -> None:
        self._pool = pool
        self._db = None

    async def _get_db(self):
        if self._db is None:
            self._db = AsyncDatabaseManager(pool=self._pool, schema="ops")
        return self._db

    async def state(self, name: str):
        db = await self._get_db()
        return await db.fetch_one("SELECT * FROM breakers WHERE name = $1", name)
""",
    )
    assert [(f.code, f.line) for f in check_paths([path])] == [("SP005", 16)]


def test_a_cache_lookup_is_not_an_allow_list(tmp_path: Path) -> None:
    source = """\
ALLOWED = frozenset({"acme", "globex"})


class Tenants:
    def __init__(self, pool) -> None:
        self.pool = pool
        self.known = {}

    async def provision(self, tenant_id: str) -> None:
        if tenant_id not in CHECK:
            await self.pool.execute(f'CREATE SCHEMA IF NOT EXISTS "tenant_{tenant_id}"')
"""
    path = write(tmp_path, "tenants.py", source.replace("CHECK", "self.known"))
    assert [(f.code, f.line) for f in check_paths([path])] == [("SP007", 11)]
    write(tmp_path, "tenants.py", source.replace("not in CHECK", "in ALLOWED"))
    assert check_paths([path]) == []


def test_an_unbound_db_only_counts_at_the_top_level_of_a_snippet(tmp_path: Path) -> None:
    snippet = write(tmp_path, "snippet.py", 'await db.execute("DELETE FROM users")\n')
    assert [f.code for f in check_paths([snippet])] == ["SP005"]
    in_function = 'async def purge():\n    await db.execute("DELETE FROM users")\n'
    write(tmp_path, "snippet.py", in_function)
    assert check_paths([snippet]) == []
    bound = 'import sqlite3\n\ndb = sqlite3.connect(":memory:")\ndb.execute("DELETE FROM users")\n'
    write(tmp_path, "snippet.py", bound)
    assert check_paths([snippet]) == []


def test_migration_paths_through_names(tmp_path: Path) -> None:
    source = """\
from pathlib import Path

from pgdbm import AsyncMigrationManager


async def migrate(db, configured: str) -> None:
    path = Path("migrations")
    path = Path(configured)  # the last assignment before the use counts
    await AsyncMigrationManager(db, str(path), module_name="x").apply_pending_migrations()
"""
    path = write(tmp_path, "migrate.py", source)
    assert check_paths([path]) == []
    write(tmp_path, "migrate.py", source.replace("    path = Path(configured)", "    pass"))
    assert [(f.code, f.line) for f in check_paths([path])] == [("SP010", 9)]
    checked = source.replace(
        "    path = Path(configured)  # the last assignment before the use counts\n",
        "    if not path.exists():\n        raise SystemExit('run me from the project folder')\n",
    )
    write(tmp_path, "migrate.py", checked)
    assert check_paths([path]) == []


def test_a_close_guarded_by_a_flag_set_early_is_fine(tmp_path: Path) -> None:
    source = """\
from pgdbm import AsyncDatabaseManager, DatabaseConfig


class Store:
    def __init__(self, config: DatabaseConfig) -> None:
        self.db = AsyncDatabaseManager(config)
        self._ready = False

    async def initialize(self) -> None:
        await self.db.connect()
        await self.db.execute("SELECT 1")
        self._ready = True

    async def close(self) -> None:
        if self.db is not None and self._ready:
            await self.db.disconnect()
"""
    path = write(tmp_path, "store.py", source)
    [finding] = check_paths([path])
    assert (finding.code, finding.line) == ("SP009", 10)
    assert "it checks self._ready, set only at the end" in finding.message
    write(tmp_path, "store.py", source.replace(" and self._ready", ""))
    assert check_paths([path]) == []


def test_an_extension_the_app_installs_with_a_schema_first(tmp_path: Path) -> None:
    """aweb's DatabaseInfra: CREATE EXTENSION ... WITH SCHEMA public before the migrations
    makes their CREATE EXTENSION IF NOT EXISTS a no-op; without IF NOT EXISTS it still fails."""
    write(tmp_path, "app/migrations/001_initial.sql", "CREATE EXTENSION IF NOT EXISTS pgcrypto;\n")
    database = write(
        tmp_path,
        "app/database.py",
        "async def prepare(db):\n"
        "    await db.execute('CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public')\n",
    )
    assert check_paths([tmp_path]) == []
    write(tmp_path, "app/migrations/001_initial.sql", "CREATE EXTENSION pgcrypto;\n")
    assert found(check_paths([tmp_path]), tmp_path) == [
        ("app/migrations/001_initial.sql", 1, "SP011")
    ]
    (tmp_path / "tests").mkdir()
    database.rename(tmp_path / "tests" / "conftest.py")
    write(tmp_path, "app/migrations/001_initial.sql", "CREATE EXTENSION IF NOT EXISTS pgcrypto;\n")
    assert found(check_paths([tmp_path]), tmp_path) == [  # installed only by the tests
        ("app/migrations/001_initial.sql", 1, "SP011")
    ]


def test_an_owner_that_closes_its_pool_when_a_check_fails(tmp_path: Path) -> None:
    """awid-service's AwidDatabaseInfra: the check after opening closes the pool on failure
    (a try inside an `if`), and close() tests _owns_pool, already True from __init__."""
    source = """\
from pgdbm import AsyncDatabaseManager


class Infra:
    def __init__(self) -> None:
        self._pool = None
        self._owns_pool = True

    async def initialize(self, config, verify: bool) -> None:
        pool = await AsyncDatabaseManager.create_shared_pool(config)
        if verify:
            try:
                await pool.execute("SELECT 1")
            except BaseException:
                await pool.close()
                raise
        self._owns_pool = True
        self._pool = pool
        await AsyncDatabaseManager(pool=pool, schema="app").execute('CREATE SCHEMA "app"')

    async def close(self) -> None:
        if self._pool is not None and self._owns_pool:
            await self._pool.close()
"""
    path = write(tmp_path, "infra.py", source)
    assert check_paths([path]) == []
    # An await before the if: nothing closes the pool when it fails.
    awaited = '        await pool.execute("SELECT 0")\n        if verify:\n'
    write(tmp_path, "infra.py", source.replace("        if verify:\n", awaited))
    [finding] = check_paths([path])
    assert (finding.code, finding.line) == ("SP009", 10)
    # A flag first set to True at the end: close() skips the pool initialize() left open.
    write(
        tmp_path,
        "infra.py",
        source.replace("self._owns_pool = True\n\n", "self._owns_pool = False\n\n"),
    )
    [finding] = check_paths([path])
    assert "it checks self._owns_pool, set only at the end" in finding.message


def test_an_instance_imported_under_another_name(tmp_path: Path) -> None:
    """`from .db import database as default_database`: still the module's Database()."""
    write(tmp_path, "app/db.py", SINGLETON + "\n\ndatabase = SharedDatabase()\n")
    main = """\
from contextlib import asynccontextmanager

from .db import database as default_database


@asynccontextmanager
async def lifespan(app):
    await default_database.initialize()
    yield
"""
    write(tmp_path, "app/main.py", main)
    assert found(check_paths([tmp_path]), tmp_path) == [("app/main.py", 8, "SP009")]
