"""SP005: every table goes through {{tables.x}}."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from .. import sql
from ..module_facts import ModuleFacts
from ..project import Project
from ..sources import Hit
from ..syntax import Value, query_argument

CODE = "SP005"
NAME = "table-without-template"
MESSAGE = "table named without {{tables.…}}"
RATIONALE = (
    'pgdbm expands `{{tables.users}}` to `"<schema>".users` for the manager\'s schema. '
    "pgdbm 0.5.0's shared pool pins `search_path=pg_catalog`, so an unqualified table fails "
    '(`relation does not exist`, or `permission denied to create "pg_catalog.x"` in a '
    "migration); with the pin switched off it silently lands in `public`. Schema-qualified "
    "names, `{{schema}}.x`, CTE names, set-returning functions and the system catalogs "
    "(`pg_*`, `information_schema.*`) are fine. pgdbm expands only `{{tables.x}}`, "
    "`{{tables.schema.x}}` and `{{schema}}`: `{{ tables.x }}` with spaces reaches PostgreSQL as is."
)
EXEMPT_TESTS = True

FIX = "Write {{tables.name}} (or {{tables.other_schema.name}} for another service's table)."
GOOD_EXAMPLES = [
    '''\
from pgdbm import AsyncDatabaseManager


async def recent_orders(db: AsyncDatabaseManager, user_id: int):
    return await db.fetch_all(
        """
        WITH mine AS (SELECT * FROM {{tables.orders}} WHERE user_id = $1)
        SELECT m.*, u.email, s.n
        FROM mine m
        JOIN {{tables.users.users}} u ON u.id = m.user_id
        CROSS JOIN generate_series(1, 3) AS s(n)
        WHERE m.created > now() - interval '1 day'  -- FROM users, in a comment
        """,
        user_id,
    )
''',
    """\
from pgdbm import AsyncDatabaseManager


async def table_names(db: AsyncDatabaseManager) -> list[str]:
    rows = await db.fetch_all(
        "SELECT c.relname FROM pg_class c JOIN information_schema.tables t"
        " ON t.table_name = c.relname WHERE t.table_schema = 'users'"
    )
    return [row["relname"] for row in rows]
""",
    """\
-- migrations/001_create_items.sql
CREATE TABLE IF NOT EXISTS {{tables.items}} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id bigint NOT NULL REFERENCES {{tables.users.users}} (id),
    name text NOT NULL CHECK (name <> 'FROM users')
);
CREATE INDEX IF NOT EXISTS items_owner ON {{tables.items}} (owner_id);
CREATE TEMP TABLE scratch (id int);
""",
    """\
from pgdbm import AsyncDatabaseManager, DatabaseConfig


async def legacy_count(url: str) -> int:
    # An own pool keeps a normal search_path: unqualified names still resolve.
    legacy = AsyncDatabaseManager(DatabaseConfig(connection_string=url))
    await legacy.connect()
    try:
        return await legacy.fetch_value("SELECT count(*) FROM accounts")
    finally:
        await legacy.disconnect()
""",
]
BAD_EXAMPLES = [
    """\
from pgdbm import AsyncDatabaseManager


async def active_users(db: AsyncDatabaseManager):
    return await db.fetch_all("SELECT * FROM users WHERE active")  # SP005
""",
    """\
# a snippet: `db` is the reader's manager on the shared pool
await db.execute("INSERT INTO users (email) VALUES ($1)", email)  # SP005
""",
    """\
-- migrations/001_create_items.sql
CREATE TABLE IF NOT EXISTS {{tables.items}} (id bigint PRIMARY KEY);
CREATE INDEX IF NOT EXISTS items_id ON items (id);  -- SP005
""",
    '''\
from pgdbm import AsyncDatabaseManager


async def rename(pool, item_id: int, name: str):
    db = AsyncDatabaseManager(pool=pool, schema="catalog")
    await db.execute(
        """
        UPDATE {{tables.items}} SET name = $2
        FROM item_names n  -- SP005
        WHERE id = $1
        """,
        item_id,
        name,
    )
''',
    """\
-- migrations/002_add_index.sql
CREATE INDEX IF NOT EXISTS items_name ON {{ tables.items }} (name);  -- SP005
""",
]


def check(project: Project) -> Iterator[Hit]:
    for source in project.sql:
        for statement in source.statements:
            for token in sql.unqualified_tables(statement):
                yield source.hit(token, _message(token))
            for token in sql.unexpanded_templates(statement):
                yield source.hit(token, _unexpanded(token))
    for module in project.modules():
        for call in module.calls:
            query = query_argument(call)
            if not (isinstance(query, ast.Constant) and isinstance(query.value, str)):
                continue
            assert isinstance(call.func, ast.Attribute)  # query_argument checked it
            receiver = module.value_of(call.func.value) or _snippet_database(module, call)
            if receiver is None or receiver.kind != "manager" or receiver.pool_based is False:
                continue  # own-pool managers keep a normal search_path: unqualified names resolve
            if receiver.pool_based is None and module.own_pools_only:
                continue  # a manager of unknown origin in a process with own pools only
            for statement in sql.statements(sql.tokenize(query.value)):
                for token in sql.unqualified_tables(statement):
                    yield module.source.string_hit(query, token.offset, _message(token))
                for token in sql.unexpanded_templates(statement):
                    yield module.source.string_hit(query, token.offset, _unexpanded(token))


# A snippet's `db`: a name used at the top level that nothing in the file binds.
_DATABASE_NAME = re.compile(r"(^|_)(db|database)\d*$")


def _snippet_database(module: ModuleFacts, call: ast.Call) -> Value | None:
    """`await db.execute(...)` at the top level of a snippet, `db` bound nowhere in it: the
    skill's (and the reader's) manager on the shared pool."""
    assert isinstance(call.func, ast.Attribute)
    receiver = call.func.value
    if not isinstance(receiver, ast.Name) or not _DATABASE_NAME.search(receiver.id):
        return None
    if module.enclosing_function(call) is not module.source.tree:
        return None
    syntax = module.syntax
    bound = receiver.id in syntax.module_scope.values or receiver.id in syntax.foreign
    return None if bound or receiver.id in syntax.imported else Value("manager")


def _unexpanded(token: sql.Token) -> str:
    return f"pgdbm does not expand {token.text} (no spaces; tables.name or tables.schema.name)"


def _message(token: sql.Token) -> str:
    name = token.text
    return f"table {name} is not written as {{{{tables.{name.strip(chr(34))}}}}}"
