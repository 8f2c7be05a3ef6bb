"""SP010: migrations_path must not depend on the current directory."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import PurePosixPath, PureWindowsPath

from ..loops import loop_items
from ..module_facts import ModuleFacts
from ..project import Project
from ..sources import Hit
from ..syntax import MIGRATION_MANAGER, Scope, dotted, keyword, string_value

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
    """\
from pathlib import Path

from pgdbm import AsyncMigrationManager

HERE = Path(__file__).resolve().parent
SETS = (("users", HERE / "migrations/users"), ("orders", HERE / "migrations/orders"))


async def migrate(databases) -> None:
    for name, path in SETS:
        manager = AsyncMigrationManager(databases[name], str(path), module_name=name)
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
    """\
from pgdbm import AsyncMigrationManager

SETS = (("users", "migrations/users"), ("orders", "migrations/orders"))


async def migrate(databases) -> None:
    for name, path in SETS:
        manager = AsyncMigrationManager(databases[name], path, module_name=name)  # SP010
        await manager.apply_pending_migrations()
""",
    """\
from pathlib import Path

from pgdbm import AsyncMigrationManager


async def migrate(databases) -> None:
    for name in ("users", "orders"):
        path = str(Path("migrations") / name)
        manager = AsyncMigrationManager(databases[name], path, module_name=name)  # SP010
        await manager.apply_pending_migrations()
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
            elif _relative(module, path):
                yield module.source.hit(path)


def _relative(module: ModuleFacts, path: ast.expr, depth: int = 0) -> bool:
    """A path built from relative literal text: "migrations/x", f"./m/{name}",
    str(Path("migrations") / name), or a name taking such text from a loop over literals
    (for name, path in (("users", "migrations/users"), ...))."""
    if depth > 4:
        return False
    if isinstance(path, ast.JoinedStr):
        return bool(path.values) and _relative(module, path.values[0], depth + 1)
    text = string_value(path)
    if text is not None:
        return not (PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute())
    if isinstance(path, ast.BinOp) and isinstance(path.op, ast.Div):
        return _relative(module, path.left, depth + 1)  # Path("migrations") / name
    if isinstance(path, ast.Call) and path.args:
        function = dotted(path.func) or ""
        if function in ("str", "Path", "PurePath", "os.path.join", "pathlib.Path"):
            return _relative(module, path.args[0], depth + 1)
        return False
    if isinstance(path, ast.Name):
        if _checked_for_existence(module, path):
            return False  # `if path.exists():` -- a missing folder is handled, not silent
        return any(_relative(module, value, depth + 1) for value in _values(module, path))
    return False


_EXISTENCE = frozenset({"exists", "is_dir", "isdir"})


def _checked_for_existence(module: ModuleFacts, name: ast.Name) -> bool:
    """`path.exists()` / `os.path.isdir(path)` in the scope that binds the name."""
    scope = _binding_scope(module, name)
    if scope is None:
        return False
    for call in (c for inner in scope.within() for c in inner.calls):
        method = call.func.attr if isinstance(call.func, ast.Attribute) else None
        if method not in _EXISTENCE:
            continue
        assert isinstance(call.func, ast.Attribute)
        subjects = [call.func.value, *call.args]
        if any(isinstance(s, ast.Name) and s.id == name.id for s in subjects):
            return True
    return False


def _binding_scope(module: ModuleFacts, name: ast.Name) -> Scope | None:
    scope: Scope | None = module.scope_of.get(name, module.module_scope)
    while scope is not None:
        if name.id in scope.values:
            return scope
        scope = scope.parent
    return None


def _values(module: ModuleFacts, name: ast.Name) -> list[ast.expr]:
    """What a local name holds: the items a for loop over a literal gives it, or the values
    assigned to it."""
    found = loop_items(module, name)
    if found is not None:
        return found
    scope = _binding_scope(module, name)
    if scope is None:
        return []
    values = scope.values[name.id]
    # The last assignment before the use, when there is one (path = ... then used).
    before = [value for value in values if value.lineno <= name.lineno]
    return [max(before, key=lambda value: (value.lineno, value.col_offset))] if before else values
