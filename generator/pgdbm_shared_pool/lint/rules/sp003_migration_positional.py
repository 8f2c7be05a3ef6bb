"""SP003: a third positional argument to AsyncMigrationManager."""

from __future__ import annotations

from collections.abc import Iterator

from ..project import Project
from ..sources import Hit
from ..syntax import MIGRATION_MANAGER

CODE = "SP003"
NAME = "migration-manager-positional"
MESSAGE = (
    "the third positional argument of AsyncMigrationManager is migrations_table, not module_name"
)
RATIONALE = (
    "pgdbm 0.5.0's signature is `AsyncMigrationManager(db_manager, migrations_path='./migrations', "
    "migrations_table='schema_migrations', module_name=None)`. The skill's minimal example "
    "`AsyncMigrationManager(db, path, 'users')` therefore names the tracking table `users`: the "
    "service's own `CREATE TABLE IF NOT EXISTS {{tables.users}}` becomes a no-op on the tracking "
    "table and the next statement fails, or (for `orders`) foreign keys silently point at the "
    "tracking table."
)
EXEMPT_TESTS = False

FIX = 'Pass keywords: AsyncMigrationManager(db, migrations_path=str(path), module_name="users").'
GOOD_EXAMPLES = [
    """\
from pathlib import Path

from pgdbm import AsyncMigrationManager

MIGRATIONS = Path(__file__).parent / "migrations"


async def migrate(db):
    path = str(MIGRATIONS / "users")
    manager = AsyncMigrationManager(db, migrations_path=path, module_name="users")
    await manager.apply_pending_migrations()
""",
]
BAD_EXAMPLES = [
    """\
from pathlib import Path

from pgdbm import AsyncMigrationManager

MIGRATIONS = Path(__file__).parent / "migrations"


async def migrate(db):
    manager = AsyncMigrationManager(db, str(MIGRATIONS / "users"), "users")  # SP003
    await manager.apply_pending_migrations()
""",
]


def check(project: Project) -> Iterator[Hit]:
    for module in project.modules():
        for call in module.calls:
            if len(call.args) >= 3 and module.pgdbm_class(call.func) == MIGRATION_MANAGER:
                yield module.source.hit(call.args[2])
