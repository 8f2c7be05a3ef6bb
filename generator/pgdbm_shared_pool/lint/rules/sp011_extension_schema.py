"""SP011: CREATE EXTENSION names its schema."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from .. import sql
from ..project import Project
from ..sources import Hit
from ..syntax import ASYNCPG_QUERY_METHODS, QUERY_METHODS, query_argument

CODE = "SP011"
NAME = "extension-without-schema"
MESSAGE = "CREATE EXTENSION without SCHEMA installs into pg_catalog on pgdbm's shared pool"
RATIONALE = (
    "pgdbm 0.5.0's shared pool pins `search_path=pg_catalog`, so `CREATE EXTENSION` without "
    "`SCHEMA` run through it installs the extension's objects into `pg_catalog` (measured for "
    "`uuid-ossp` and `citext`), and `CREATE EXTENSION pgcrypto` fails outright with "
    '`function "gen_random_uuid" already exists`. Migrations run through that pool. '
    "`CREATE EXTENSION IF NOT EXISTS x` is a no-op where the project's own code installs `x` "
    "with a SCHEMA (outside tests), as an app does before it runs its migrations."
)
EXEMPT_TESTS = True

FIX = (
    "Write CREATE EXTENSION IF NOT EXISTS name SCHEMA public (or a dedicated schema) "
    "and call its functions qualified: public.uuid_generate_v4()."
)
GOOD_EXAMPLES = [
    """\
-- migrations/001_extensions.sql
CREATE EXTENSION IF NOT EXISTS citext SCHEMA public;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;
""",
]
BAD_EXAMPLES = [
    """\
-- migrations/001_extensions.sql
-- CREATE EXTENSION in a comment is not a statement
CREATE EXTENSION IF NOT EXISTS citext;  -- SP011
""",
    """\
from pgdbm import AsyncDatabaseManager


async def install(db: AsyncDatabaseManager) -> None:
    await db.execute('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"')  # SP011
""",
]
_METHODS = {**QUERY_METHODS, **ASYNCPG_QUERY_METHODS}


def check(project: Project) -> Iterator[Hit]:
    queries = [
        (module, query, statement)
        for module in project.modules()
        for call in module.calls
        if isinstance(query := query_argument(call, _METHODS), ast.Constant)
        and isinstance(query.value, str)
        and "extension" in query.value.lower()  # most queries: skip the lexer
        for statement in sql.statements(sql.tokenize(query.value))
    ]
    # Installed with a schema by the app itself: a later IF NOT EXISTS without one is a no-op.
    installed = {
        created[0]
        for module, _, statement in queries
        if not module.source.is_test
        and (created := sql.created_extension(statement)) is not None
        and created[2]
    }

    def skipped(statement: list[sql.Token]) -> bool:
        created = sql.created_extension(statement)
        return created is not None and created[1] and created[0] in installed

    for source in project.sql:
        if project.facts.own_pools_only_near(source.path):
            continue  # the app next to these migrations runs them on its own pool
        for statement in source.statements:
            for token in sql.create_extensions_without_schema(statement):
                if not skipped(statement):
                    yield source.hit(token)
    for module, query, statement in queries:
        for token in sql.create_extensions_without_schema(statement):
            if not skipped(statement):
                yield module.source.string_hit(query, token.offset)
