"""SP012: schema names pgdbm can use unquoted."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ...naming import schema_name_problem
from ..project import Project
from ..sources import Hit, PythonSource
from ..syntax import CONFIG, MANAGER, simple_name, string_value

CODE = "SP012"
NAME = "schema-name"
MESSAGE = "schema name breaks pgdbm"
RATIONALE = (
    "pgdbm 0.5.0 writes `<schema>.schema_migrations` unquoted in its tracking SQL, so a reserved "
    "word (`user`, `order`, `group`) fails there; upper case is folded to lower case in that "
    "unquoted SQL but not in pgdbm's quoted `{{tables.x}}` expansion; names starting with `pg_` "
    "are reserved by PostgreSQL, and names over 63 bytes are truncated (pgdbm's own check "
    "`^[a-zA-Z_][a-zA-Z0-9_]{0,62}$` rejects only some of these)."
)
EXEMPT_TESTS = False

FIX = "Use a lower-case identifier, not a reserved word, not starting with pg_: users, orders."
GOOD_EXAMPLES = [
    """\
from pgdbm import AsyncDatabaseManager

SCHEMA = "users"


def databases(pool) -> dict[str, AsyncDatabaseManager]:
    return {
        "users": AsyncDatabaseManager(pool=pool, schema=SCHEMA),
        "orders": AsyncDatabaseManager(pool=pool, schema="orders"),
        "public": AsyncDatabaseManager(pool=pool, schema="public"),
    }
""",
    """\
import json


async def init_connection(connection) -> None:
    # asyncpg's codecs name the schema a type already lives in
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )
""",
]
BAD_EXAMPLES = [
    """\
from pgdbm import AsyncDatabaseManager


def user_database(pool) -> AsyncDatabaseManager:
    return AsyncDatabaseManager(pool=pool, schema="user")  # SP012
""",
    """\
SCHEMA = "Orders"  # SP012
""",
    """\
from pgdbm import AsyncDatabaseManager, DatabaseConfig


def stats_database(url: str) -> AsyncDatabaseManager:
    return AsyncDatabaseManager(DatabaseConfig(connection_string=url, schema="pg_stats"))  # SP012
""",
]


_WORD = re.compile(r"[^\s]+")
# asyncpg methods whose schema= names the existing schema of a type, not one to create
_TYPE_SCHEMA_METHODS = frozenset({"set_type_codec", "reset_type_codec", "set_builtin_type_codec"})


def check(project: Project) -> Iterator[Hit]:
    for module in project.modules():
        for call in module.calls:
            if simple_name(call.func) in _TYPE_SCHEMA_METHODS:
                continue
            kind = module.pgdbm_class(call.func)
            names_a_schema = kind in (MANAGER, CONFIG)
            for node in _schema_arguments(call, exact=kind == MANAGER):
                yield from _problem(module.source, node, certain=names_a_schema)
        for target, value, statement in module.assignments:
            at_module_level = module.parents.get(statement) is module.source.tree
            if isinstance(target, ast.Name) and target.id == "SCHEMA" and at_module_level:
                yield from _problem(module.source, value, certain=False)


def _schema_arguments(call: ast.Call, *, exact: bool) -> Iterator[ast.expr]:
    """`schema=` of any call (managers, configs, the skill's helpers); pgdbm's third positional."""
    yield from (kw.value for kw in call.keywords if kw.arg == "schema")
    if exact and len(call.args) > 2:
        yield call.args[2]


def _problem(source: PythonSource, node: ast.expr | None, *, certain: bool) -> Iterator[Hit]:
    """`certain`: pgdbm takes the string as a schema; elsewhere only word-like strings count
    (a `SCHEMA = "CREATE TABLE ..."` constant is DDL, not a schema name)."""
    name = string_value(node)
    if name is None or not (certain or _WORD.fullmatch(name)):
        return
    problem = schema_name_problem(name)
    if problem is not None:
        yield source.hit(node, f"schema {name!r}: {problem}")  # type: ignore[arg-type]
