"""SP007: SQL text built from values (injection)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..module_facts import ModuleFacts
from ..project import Project
from ..sources import Hit
from ..syntax import ASYNCPG_QUERY_METHODS, FUNCTION_NODES, QUERY_METHODS, query_argument
from ..taint import FunctionTaint, constant_parameters

CODE = "SP007"
NAME = "sql-built-from-values"
MESSAGE = "SQL built from interpolated values can be injected"
RATIONALE = (
    "`execute()` without arguments uses asyncpg's simple-query protocol, which runs several "
    "statements: the skill's tenant snippet `f'CREATE SCHEMA IF NOT EXISTS \"{schema}\"'` created "
    "`public.pwned` from a crafted tenant id before pgdbm 0.5.0 validated the name (it validates "
    "only when the next manager is built). Values belong in bind parameters (`$1`); identifiers "
    "(DDL) must be validated against a strict pattern and quoted, or come from `{{tables.x}}`. "
    "Test code is exempt."
)
EXEMPT_TESTS = True

FIX = (
    "Pass values as $1, $2 parameters; for identifiers use {{tables.x}}/SchemaManager, or validate "
    "the name against ^[a-z_][a-z0-9_]*$ and interpolate it only through a quote_ident() helper."
)
GOOD_EXAMPLES = [
    """\
from pgdbm import AsyncDatabaseManager


async def find_user(db: AsyncDatabaseManager, email: str):
    return await db.fetch_one(f"SELECT * FROM {{{{tables.users}}}} WHERE email = $1", email)
""",
    """\
import re

NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
PREFIX = "tenant_"


def quote_ident(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ValueError(f"invalid identifier {name!r}")
    return f'"{name}"'


async def create_tenant_schema(connection, tenant: str) -> None:
    await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(PREFIX + tenant)}")
    await connection.execute(f"COMMENT ON SCHEMA {quote_ident(PREFIX + tenant)} IS '{PREFIX}'")
""",
    """\
from pgdbm import AsyncDatabaseManager


async def revoke(db: AsyncDatabaseManager, team: str, keys: list[str], emitters: list[str]):
    for table, ids in (("app_keys", keys), ("emit_keys", emitters)):
        await db.execute(
            "UPDATE {{tables." + table + "}} SET revoked = true WHERE team = $1 AND id = ANY($2)",
            team,
            ids,
        )
""",
    """\
from pgdbm import AsyncDatabaseManager


async def _record(db: AsyncDatabaseManager, table: str, record_id: str):
    return await db.fetch_one(f"SELECT * FROM {{{{tables.{table}}}}} WHERE id = $1", record_id)


async def custody(db: AsyncDatabaseManager, record_id: str):
    return await _record(db, "custody_records", record_id)


async def person(db: AsyncDatabaseManager, record_id: str):
    return await _record(db, table="person_records", record_id=record_id)
""",
]
BAD_EXAMPLES = [
    """\
async def create_tenant_schema(pool, tenant_id: str) -> None:
    schema = f"tenant_{tenant_id}"
    await pool.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')  # SP007
""",
    """\
from pgdbm import AsyncDatabaseManager


async def find_user(db: AsyncDatabaseManager, email: str):
    return await db.fetch_one("SELECT * FROM {{tables.users}} WHERE email = '%s'" % email)  # SP007
""",
    """\
from pgdbm import AsyncDatabaseManager


async def delete_rows(db: AsyncDatabaseManager, where: str) -> None:
    query = "DELETE FROM {{tables.items}} WHERE " + where
    await db.execute(query)  # SP007
""",
    """\
async def drop_table(connection, table: str) -> None:
    await connection.execute("DROP TABLE {}".format(table))  # SP007
""",
    """\
from pgdbm import AsyncDatabaseManager


async def _record(db: AsyncDatabaseManager, table: str, record_id: str):
    return await db.fetch_one(f"SELECT * FROM {table} WHERE id = $1", record_id)  # SP007


async def custody(db: AsyncDatabaseManager, record_id: str):
    return await _record(db, "custody_records", record_id)


async def any_record(db: AsyncDatabaseManager, table: str, record_id: str):
    return await _record(db, table, record_id)
""",
]

_SQL = re.compile(
    r"\b(select|insert|update|delete|create|alter|drop|truncate|grant|revoke|comment|with|copy)\b",
    re.IGNORECASE,
)
_DDL = re.compile(r"\b(create|alter|drop|truncate|grant|revoke|comment)\b", re.IGNORECASE)
_METHODS = {**QUERY_METHODS, **ASYNCPG_QUERY_METHODS}
# Modules using another database library (sqlite, psycopg, SQLAlchemy ...) and neither pgdbm
# nor asyncpg: their execute() is not pgdbm's.
_OTHER_DRIVERS = frozenset(
    {"sqlite3", "aiosqlite", "psycopg", "psycopg2", "sqlalchemy", "databases", "duckdb"}
    | {"aiomysql", "pymysql", "MySQLdb", "pyodbc", "motor", "pymongo", "redis"}
)


def check(project: Project) -> Iterator[Hit]:
    for module in project.modules():
        packages = module.syntax.imported_packages
        if packages & _OTHER_DRIVERS and not packages & {"pgdbm", "asyncpg"}:
            continue
        taints: dict[ast.AST, FunctionTaint] = {}
        helpers: dict[ast.AST, FunctionTaint | None] = {}
        for call in module.calls:
            query = query_argument(call, _METHODS)
            function = module.enclosing_function(call) if query is not None else None
            if query is None or not isinstance(function, (*FUNCTION_NODES, ast.Module)):
                continue
            if function not in taints:
                taints[function] = FunctionTaint(function)
            if not taints[function].expression(query):
                continue
            # Rarely reached: does the text come from a private helper's literal argument?
            if function not in helpers:
                constants = constant_parameters(function, module.calls, module.source.text)
                helpers[function] = FunctionTaint(function, constants) if constants else None
            helper = helpers[function]
            if helper is not None and not helper.expression(query):
                continue
            builders = _builders(module, query, function)
            texts = " ".join(text for node in builders for text in _literal_parts(node))
            if not _SQL.search(texts):
                continue
            what = "DDL with identifiers" if _DDL.search(texts) else "SQL"
            how = _kind(next((b for b in builders if _kind(b)), query))
            yield module.source.hit(
                query,
                f"{what} built by {how or 'string building'} from a caller's value can be injected",
            )


def _builders(module: ModuleFacts, query: ast.expr, function: ast.AST) -> list[ast.expr]:
    """The query expression, or the values assigned to the local it names."""
    if not isinstance(query, ast.Name):
        return [query]
    return [query, *module.syntax.scopes[function].values.get(query.id, [])]


def _literal_parts(node: ast.AST) -> list[str]:
    return [
        child.value
        for child in ast.walk(node)
        if isinstance(child, ast.Constant) and isinstance(child.value, str)
    ]


def _kind(node: ast.expr) -> str | None:
    if isinstance(node, ast.JoinedStr):
        return "f-string"
    if isinstance(node, ast.BinOp):
        return "% formatting" if isinstance(node.op, ast.Mod) else "concatenation"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return f".{node.func.attr}()" if node.func.attr in ("format", "join") else None
    return None
