"""SP014: migrations on a shared-pool manager whose schema nothing creates."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..loops import loop_items
from ..module_facts import ModuleFacts
from ..project import Project
from ..sources import Hit
from ..syntax import MIGRATION_MANAGER, Value, keyword, simple_name

CODE = "SP014"
NAME = "schema-never-created"
MESSAGE = "migrations run on a shared-pool manager, but nothing in the process creates its schema"
RATIONALE = (
    "A manager built with `AsyncDatabaseManager(pool=pool, schema='users')` does not create "
    "its schema: in pgdbm 0.5.0 only an own-pool manager's connection setup runs "
    "`CREATE SCHEMA IF NOT EXISTS`. The first migration run then fails on its tracking table "
    '(`schema "users" does not exist`), and the app does not boot on a fresh database. '
    "Test code is exempt (fixtures create schemas their own way)."
)
EXEMPT_TESTS = True
FIX = (
    "Create the schema before migrating: await pool.execute('CREATE SCHEMA IF NOT EXISTS users') "
    "(a validated name), or pgdbm's SchemaManager, in the same start-up code."
)
GOOD_EXAMPLES = [
    """\
from pathlib import Path

from pgdbm import AsyncDatabaseManager, AsyncMigrationManager

MIGRATIONS = Path(__file__).parent / "migrations"


async def migrate(pool) -> None:
    await pool.execute("CREATE SCHEMA IF NOT EXISTS users")
    db = AsyncDatabaseManager(pool=pool, schema="users")
    manager = AsyncMigrationManager(db, migrations_path=str(MIGRATIONS), module_name="users")
    await manager.apply_pending_migrations()
""",
]
BAD_EXAMPLES = [
    """\
from pathlib import Path

from pgdbm import AsyncDatabaseManager, AsyncMigrationManager

MIGRATIONS = Path(__file__).parent / "migrations"


async def migrate(pool) -> None:
    managers = {
        "users": AsyncDatabaseManager(pool=pool, schema="users"),
        "orders": AsyncDatabaseManager(pool=pool, schema="orders"),
    }
    for name, db in managers.items():
        path = str(MIGRATIONS / name)
        manager = AsyncMigrationManager(db, migrations_path=path, module_name=name)  # SP014
        await manager.apply_pending_migrations()
""",
    """\
from pathlib import Path

from pgdbm import AsyncDatabaseManager, AsyncMigrationManager

HERE = Path(__file__).parent


async def migrate(pool) -> None:
    users = AsyncDatabaseManager(pool=pool, schema="users")
    orders = AsyncDatabaseManager(pool=pool, schema="orders")
    for db, name in ((users, "users"), (orders, "orders")):
        path = str(HERE / "migrations" / name)
        manager = AsyncMigrationManager(db, migrations_path=path, module_name=name)  # SP014
        await manager.apply_pending_migrations()
""",
]

_CREATES = re.compile(r"\bcreate\s+schema\b", re.IGNORECASE)
_CREATING_CALLS = re.compile(r"create_schema|ensure_schema|SchemaManager", re.IGNORECASE)


def check(project: Project) -> Iterator[Hit]:
    creators = {module.source.path for module in project.modules() if _creates_schema(module)}
    for module in project.modules():
        processes = project.facts.processes.of(module.source.path)
        if any(process & creators for process in processes):
            continue
        for call in module.calls:
            if module.pgdbm_class(call.func) != MIGRATION_MANAGER:
                continue
            database = call.args[0] if call.args else keyword(call, "db_manager")
            value = _manager(module, database)
            named = value is not None and (value.schema != "public" or value.kind == "managers")
            if value is not None and value.pool_based and value.has_schema and named:
                yield module.source.hit(call)


def _creates_schema(module: ModuleFacts) -> bool:
    if any(_CREATING_CALLS.search(simple_name(call.func) or "") for call in module.calls):
        return True
    if not _CREATES.search(module.source.text):
        return False  # most modules: no need to look at their strings one by one
    return any(
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _CREATES.search(node.value)
        for node in ast.walk(module.source.tree)
    )


def _manager(module: ModuleFacts, database: ast.expr | None) -> Value | None:
    """The manager, or the container a `for name, db in managers.items()` loop takes it from."""
    value = module.value_of(database)
    if value is not None or not isinstance(database, ast.Name):
        return value
    for item in loop_items(module, database) or []:  # for db, path in ((users_db, ...), ...)
        found = module.value_of(item)
        if found is not None and found.kind == "manager":
            return found
    for ancestor in module.ancestors(database):
        if isinstance(ancestor, ast.For | ast.AsyncFor) and database.id in {
            node.id for node in ast.walk(ancestor.target) if isinstance(node, ast.Name)
        }:
            iterable = ancestor.iter
            if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute):
                iterable = iterable.func.value  # managers.items() / .values()
            container = module.value_of(iterable)
            return container if container is not None and container.kind == "managers" else None
    return None
