"""SP013: an f-string (or .format()) collapses {{tables.x}} to {tables.x}."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..module_facts import ModuleFacts
from ..project import Project
from ..sources import Hit
from ..syntax import ASYNCPG_QUERY_METHODS, QUERY_METHODS, query_argument

CODE = "SP013"
NAME = "collapsed-template-braces"
MESSAGE = "{tables.x} with single braces reaches PostgreSQL as is: pgdbm expands only {{tables.x}}"
RATIONALE = (
    "In an f-string (and in a `.format()` template) `{{` and `}}` are escapes for one brace, so "
    '`f"SELECT * FROM {{tables.items}} WHERE id = {n}"` sends `{tables.items}` to pgdbm, which '
    "0.5.0 expands only in its double-brace form: PostgreSQL answers `syntax error at or near "
    '"{"`. The query fails on its first run, often in a rarely taken branch (an update with '
    "optional fields). Write four braces in an f-string, or keep the template out of it."
)
EXEMPT_TESTS = False
FIX = (
    "In an f-string write {{{{tables.x}}}} (four braces), or build the variable part separately "
    'and keep "{{tables.x}}" in a plain string.'
)
GOOD_EXAMPLES = [
    """\
from pgdbm import AsyncDatabaseManager

COLUMNS = ("name", "price")


async def update_item(db: AsyncDatabaseManager, item_id: int, changes: dict) -> None:
    names = [name for name in COLUMNS if name in changes]
    assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(names, 2))
    query = f"UPDATE {{{{tables.items}}}} SET {assignments} WHERE id = $1"
    await db.execute(query, item_id, *(changes[name] for name in names))
""",
]
BAD_EXAMPLES = [
    '''\
from pgdbm import AsyncDatabaseManager

COLUMNS = ("name", "price")


async def update_item(db: AsyncDatabaseManager, item_id: int, changes: dict) -> None:
    names = [name for name in COLUMNS if name in changes]
    query = f"""
        UPDATE {{tables.items}}  -- SP013
        SET {", ".join(f"{name} = ${n}" for n, name in enumerate(names, 2))}
        WHERE id = $1
    """
    await db.execute(query, item_id, *(changes[name] for name in names))
''',
    """\
from pgdbm import AsyncDatabaseManager


async def newest(db: AsyncDatabaseManager, limit: int) -> list:
    sql = "SELECT * FROM {{tables.items}} ORDER BY id DESC LIMIT {}".format(limit)  # SP013
    return await db.fetch_all(sql)
""",
]

_METHODS = {**QUERY_METHODS, **ASYNCPG_QUERY_METHODS}
# A single-brace template after the f-string or .format() collapsed the doubled braces.
_COLLAPSED = re.compile(r"(?<!\{)\{\s*(tables\.[A-Za-z0-9_.]+|schema)\s*\}(?!\})")
_DOUBLED = re.compile(r"\{\{\s*(tables\.[A-Za-z0-9_.]+|schema)\s*\}\}")
_IN_SOURCE = re.compile(r"(?<!\{)" + _DOUBLED.pattern)  # as written: {{tables.x}}


def check(project: Project) -> Iterator[Hit]:
    for module in project.modules():
        for call in module.calls:
            query = query_argument(call, _METHODS)
            if query is None:
                continue
            for text in _texts(module, query, module.enclosing_function(call)):
                template = _collapsed(text)
                if template is not None:
                    message = f"{template} reaches PostgreSQL as is: {_why(text)}"
                    yield module.source.pattern_hit(text, _IN_SOURCE, message)


def _texts(module: ModuleFacts, query: ast.expr, function: ast.AST) -> list[ast.expr]:
    """The query, or the values assigned to the local variable it names."""
    if not isinstance(query, ast.Name):
        return [query]
    return module.syntax.scopes[function].values.get(query.id, [])


def _collapsed(node: ast.expr) -> str | None:
    """The single-brace template this expression sends, if any."""
    if isinstance(node, ast.JoinedStr):
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                match = _COLLAPSED.search(part.value)
                if match:
                    return match.group()
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
    ):
        match = _DOUBLED.search(node.func.value.value)
        if match:
            return "{" + match.group()[2:-2] + "}"
    return None


def _why(node: ast.expr) -> str:
    if isinstance(node, ast.JoinedStr):
        return "the f-string turned {{...}} into {...}; pgdbm expands only {{tables.x}}"
    return ".format() turned {{...}} into {...}; pgdbm expands only {{tables.x}}"
