"""SP010: migrations_path must not depend on the current directory."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import PurePosixPath, PureWindowsPath

from ..project import Project
from ..sources import Hit
from ..syntax import MIGRATION_MANAGER, keyword, string_value

CODE = "SP010"
NAME = "relative-migrations-path"
MESSAGE = "relative migrations_path: resolved against the process's current directory"
RATIONALE = (
    "pgdbm 0.5.0 resolves `migrations_path` against the current working directory when the "
    "migration manager is built (the default is './migrations'). Started from another directory "
    "(a container WORKDIR, a test runner, a systemd unit) the folder is missing, and pgdbm only "
    "logs a warning and reports `up_to_date` with nothing applied: the app boots without tables."
)
EXEMPT_TESTS = True

FIX = 'Build the path from the module: str(Path(__file__).parent / "migrations" / "users").'
GOOD_EXAMPLES = [
    """\
from pathlib import Path

from pgdbm import AsyncMigrationManager

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


async def migrate(db) -> None:
    manager = AsyncMigrationManager(db, migrations_path=str(MIGRATIONS), module_name="users")
    await manager.apply_pending_migrations()
""",
    """\
from pgdbm import AsyncMigrationManager


async def migrate(db) -> None:
    manager = AsyncMigrationManager(db, "/srv/app/migrations/users", module_name="users")
    await manager.apply_pending_migrations()
""",
]
BAD_EXAMPLES = [
    """\
from pgdbm import AsyncMigrationManager


async def migrate(db) -> None:
    manager = AsyncMigrationManager(db, "migrations/users", module_name="users")  # SP010
    await manager.apply_pending_migrations()
""",
    """\
from pgdbm import AsyncMigrationManager


async def migrate(db, service: str) -> None:
    manager = AsyncMigrationManager(db, f"./migrations/{service}", module_name=service)  # SP010
    await manager.apply_pending_migrations()
""",
    """\
from pgdbm import AsyncMigrationManager


async def migrate(db) -> None:
    await AsyncMigrationManager(db, module_name="users").apply_pending_migrations()  # SP010
""",
]


def check(project: Project) -> Iterator[Hit]:
    for module in project.modules():
        for call in module.calls:
            if module.pgdbm_class(call.func) != MIGRATION_MANAGER:
                continue
            path = keyword(call, "migrations_path") or (
                call.args[1] if len(call.args) > 1 else None
            )
            if path is None:
                if not any(kw.arg is None for kw in call.keywords) and not any(
                    isinstance(arg, ast.Starred) for arg in call.args
                ):
                    yield module.source.hit(
                        call,
                        "migrations_path omitted: it defaults to './migrations', relative to the "
                        "current directory",
                    )
            elif _relative(path):
                yield module.source.hit(path)


def _relative(path: ast.expr) -> bool:
    """A literal path (or an f-string starting with literal text) that is not absolute."""
    if isinstance(path, ast.JoinedStr):
        if not path.values or not isinstance(path.values[0], ast.Constant):
            return False
        path = path.values[0]
    text = string_value(path)
    if text is None:
        return False
    return not (PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute())
