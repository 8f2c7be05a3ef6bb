"""SP004: two migration sets in one schema need distinct module names."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..module_facts import ModuleFacts
from ..project import Project
from ..sources import Hit
from ..syntax import FUNCTION_NODES, LOOPS, MIGRATION_MANAGER, keyword, string_value

CODE = "SP004"
NAME = "module-name-per-migration-set"
MESSAGE = "two migration sets share a schema without distinct module_name values"
RATIONALE = (
    "pgdbm 0.5.0 tracks applied files in `<schema>.schema_migrations`, keyed by `module_name`, "
    "which defaults to the manager's schema. One schema per service is therefore safe without "
    "`module_name` (the skill's 'forgetting module_name causes conflicts' is wrong for that case). "
    "When two migration sets share a schema, the second set with the same module name fails with "
    "'has been modified after being applied!' if a filename repeats with other content, or is "
    "silently skipped if the content is equal."
)
EXEMPT_TESTS = False

FIX = "Give each migration set that shares a schema its own module_name=... (also its lock key)."
GOOD_EXAMPLES = [
    """\
from pathlib import Path

from pgdbm import AsyncDatabaseManager, AsyncMigrationManager

HERE = Path(__file__).parent


async def migrate(pool):
    for schema in ("users", "orders"):
        await pool.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        db = AsyncDatabaseManager(pool=pool, schema=schema)
        migrations = AsyncMigrationManager(db, migrations_path=str(HERE / schema))
        await migrations.apply_pending_migrations()
""",
    """\
from pathlib import Path

from pgdbm import AsyncDatabaseManager, AsyncMigrationManager

HERE = Path(__file__).parent


async def migrate(pool):
    await pool.execute("CREATE SCHEMA IF NOT EXISTS shop")
    db = AsyncDatabaseManager(pool=pool, schema="shop")
    orders = AsyncMigrationManager(db, migrations_path=f"{HERE}/orders", module_name="orders")
    billing = AsyncMigrationManager(db, migrations_path=f"{HERE}/billing", module_name="billing")
    await orders.apply_pending_migrations()
    await billing.apply_pending_migrations()
""",
]
BAD_EXAMPLES = [
    """\
from pathlib import Path

from pgdbm import AsyncDatabaseManager, AsyncMigrationManager

HERE = Path(__file__).parent


async def migrate(pool):
    await pool.execute("CREATE SCHEMA IF NOT EXISTS shop")
    orders_db = AsyncDatabaseManager(pool=pool, schema="shop")
    billing_db = AsyncDatabaseManager(pool=pool, schema="shop")
    orders = AsyncMigrationManager(orders_db, f"{HERE}/orders", module_name="orders")
    billing = AsyncMigrationManager(billing_db, f"{HERE}/bills", module_name="orders")  # SP004
    refunds = AsyncMigrationManager(orders_db, migrations_path=f"{HERE}/refunds")  # SP004
    for migrations in (orders, billing, refunds):
        await migrations.apply_pending_migrations()
""",
    """\
from pathlib import Path

from pgdbm import AsyncDatabaseManager, AsyncMigrationManager

HERE = Path(__file__).parent


async def migrate(pool):
    await pool.execute("CREATE SCHEMA IF NOT EXISTS shop")
    db = AsyncDatabaseManager(pool=pool, schema="shop")
    for part in ("orders", "billing"):
        migrations = AsyncMigrationManager(db, migrations_path=str(HERE / part))  # SP004
        await migrations.apply_pending_migrations()
""",
]


def check(project: Project) -> Iterator[Hit]:
    for module in project.modules():
        by_schema: dict[str, list[ast.Call]] = {}
        for call in module.calls:
            schema = _schema(module, call)
            if schema is None:
                continue
            by_schema.setdefault(schema, []).append(call)
            if _one_name_per_loop(module, call):
                yield module.source.hit(
                    call,
                    f"each loop iteration applies another migration set to schema {schema!r} "
                    "under the same module_name",
                )
        for schema, calls in by_schema.items():
            yield from _conflicts(module, schema, calls)


def _schema(module: ModuleFacts, call: ast.Call) -> str | None:
    """The literal schema of a migration manager's database, if it is known."""
    if module.pgdbm_class(call.func) != MIGRATION_MANAGER:
        return None
    database = call.args[0] if call.args else keyword(call, "db_manager")
    value = module.value_of(database)
    if value is None or value.kind != "manager":
        return None
    if not value.has_schema and value.pool_based:
        return "public"  # a pool-based manager without schema= uses public
    return value.schema


def _conflicts(module: ModuleFacts, schema: str, calls: list[ast.Call]) -> Iterator[Hit]:
    sets = {_path_key(call): call for call in calls}  # call sites sharing a path are one set
    if len(sets) < 2:
        return
    seen: dict[str, ast.Call] = {}
    for call in sets.values():
        name_node = keyword(call, "module_name")
        if name_node is None:
            yield module.source.hit(
                call,
                f"{len(sets)} migration sets share schema {schema!r}: this one needs its own "
                f"module_name (the default is the schema name)",
            )
            continue
        name = string_value(name_node)
        if name is None:
            continue
        if name in seen:
            yield module.source.hit(
                name_node,
                f"module_name {name!r} is already used by another migration set in schema "
                f"{schema!r} (line {seen[name].lineno})",
            )
        else:
            seen[name] = call


def _one_name_per_loop(module: ModuleFacts, call: ast.Call) -> bool:
    """In a loop over migration paths, with a module_name that does not change with them."""
    path = keyword(call, "migrations_path") or (call.args[1] if len(call.args) > 1 else None)
    module_name = keyword(call, "module_name")
    if path is None or isinstance(path, ast.Constant):
        return False  # the same set every time
    if module_name is not None and not isinstance(module_name, ast.Constant):
        return False  # assume it varies with the path
    for ancestor in module.ancestors(call):
        if isinstance(ancestor, LOOPS):
            return True
        if isinstance(ancestor, FUNCTION_NODES):
            return False
    return False


def _path_key(call: ast.Call) -> str:
    path = keyword(call, "migrations_path") or (call.args[1] if len(call.args) > 1 else None)
    return "./migrations" if path is None else ast.dump(path)
