"""SP006: a manager's schema is fixed at construction."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..module_facts import ModuleFacts
from ..project import Project
from ..sources import Hit
from ..syntax import simple_name

CODE = "SP006"
NAME = "schema-reassigned"
MESSAGE = "assigning a manager's .schema redirects every later {{tables.x}} to another schema"
RATIONALE = (
    "In pgdbm 0.5.0 `schema` is a plain attribute: `db.schema = 'orders'` is accepted silently and "
    "every later `{{tables.x}}` goes to the new schema, for every coroutine sharing that manager. "
    "An invalid value is accepted too and only fails at the next query (`SchemaError`), and a "
    "migration manager created earlier keeps its module name but reads the other schema's "
    "`schema_migrations`."
)
EXEMPT_TESTS = True

FIX = "Build one AsyncDatabaseManager(pool=pool, schema=...) per schema; never change its schema."
GOOD_EXAMPLES = [
    """\
from pgdbm import AsyncDatabaseManager


def tenant_database(pool, tenant: str) -> AsyncDatabaseManager:
    return AsyncDatabaseManager(pool=pool, schema=f"tenant_{tenant}")
""",
    """\
from pgdbm import DatabaseConfig


def reporting_config(url: str) -> DatabaseConfig:
    config = DatabaseConfig(connection_string=url)
    config.schema = "reporting"
    return config
""",
]
BAD_EXAMPLES = [
    """\
from pgdbm import AsyncDatabaseManager


async def orders_count(db: AsyncDatabaseManager) -> int:
    db.schema = "orders"  # SP006
    return await db.fetch_value("SELECT count(*) FROM {{tables.orders}}")
""",
    """\
class TenantService:
    def __init__(self, db):
        self.db = db

    def use_tenant(self, tenant: str) -> None:
        self.db.schema = "tenant_" + tenant  # SP006
""",
]

# A receiver of unknown type counts as a manager when it is named like one.
_DATABASE_NAME = re.compile(r"(^|_)(db|database)$")


def check(project: Project) -> Iterator[Hit]:
    for module in project.modules():
        for target, _value, _statement in module.assignments:
            is_schema = isinstance(target, ast.Attribute) and target.attr == "schema"
            if is_schema and _is_manager(module, target.value):  # type: ignore[attr-defined]
                yield module.source.hit(target)


def _is_manager(module: ModuleFacts, receiver: ast.expr) -> bool:
    value = module.value_of(receiver)
    if value is not None:
        return value.kind == "manager"
    return bool(_DATABASE_NAME.search(simple_name(receiver) or ""))
