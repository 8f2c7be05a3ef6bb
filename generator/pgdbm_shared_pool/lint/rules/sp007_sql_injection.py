"""SP007: SQL text built from values (injection)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..module_facts import ModuleFacts
from ..project import Project
from ..sources import Hit
from ..syntax import ASYNCPG_QUERY_METHODS, QUERY_METHODS, Scope, query_argument, simple_name

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
]

_SQL = re.compile(
    r"\b(select|insert|update|delete|create|alter|drop|truncate|grant|revoke|comment|with|copy)\b",
    re.IGNORECASE,
)
_DDL = re.compile(r"\b(create|alter|drop|truncate|grant|revoke|comment)\b", re.IGNORECASE)
_SAFE_CALLS = frozenset({"int", "float", "len", "bool"})
_VALIDATOR = re.compile(r"valid|check|assert|fullmatch", re.IGNORECASE)
_METHODS = {**QUERY_METHODS, **ASYNCPG_QUERY_METHODS}


def check(project: Project) -> Iterator[Hit]:
    for module in project.modules():
        if module.source.is_test:
            continue  # tests build inspection SQL from their own constants, not from input
        analysis = _Interpolation(module)
        for call in module.calls:
            query = query_argument(call, _METHODS)
            built = analysis.unsafe_builder(query) if query is not None else None
            if query is None or built is None:
                continue
            texts = " ".join(_literal_parts(built))
            if not _SQL.search(texts):
                continue
            what = "DDL with identifiers" if _DDL.search(texts) else "SQL"
            yield module.source.hit(query, f"{what} built by {_kind(built)} can be injected")


class _Interpolation:
    """Which string-building expressions splice in something that is not known to be safe."""

    def __init__(self, module: ModuleFacts) -> None:
        self.module = module

    def unsafe_builder(self, query: ast.expr) -> ast.expr | None:
        """The expression that builds `query` (itself, or a local's value) if it is unsafe."""
        candidates = self._assigned(query) if isinstance(query, ast.Name) else [query]
        return next((c for c in candidates if not self._safe_text(c, depth=1)), None)

    def _safe_text(self, node: ast.expr, depth: int) -> bool:
        pieces = _interpolated(node)
        return pieces is None or all(self._safe(piece, depth) for piece in pieces)

    def _safe(self, node: ast.expr, depth: int) -> bool:
        """Literals, constants, numbers, quote helpers, validated names and text built from them."""
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Call):
            name = (simple_name(node.func) or "").lower()
            return name in _SAFE_CALLS or "quote" in name
        if isinstance(node, ast.BinOp):
            return self._safe(node.left, depth) and self._safe(node.right, depth)
        if isinstance(node, ast.JoinedStr):
            return self._safe_text(node, depth)
        if not isinstance(node, ast.Name):
            return False
        if self._validated(node):
            return True
        values = self._assigned(node)
        if all(isinstance(value, ast.Constant) for value in values):
            # UPPER_CASE is a constant (imported ones too); a lower-case name holding a literal
            # stands for input in examples (tenant_id = "x"; ...) and costs a rename in real code.
            return node.id.isupper()
        return depth < 4 and all(self._safe(value, depth + 1) for value in values)

    def _assigned(self, name: ast.Name) -> list[ast.expr]:
        scope: Scope | None = self.module.scope_of.get(name, self.module.module_scope)
        while scope is not None:
            if name.id in scope.values:
                return scope.values[name.id]
            scope = scope.parent
        return []

    def _validated(self, name: ast.Name) -> bool:
        """Passed to a validator (`check_name(x)`, `PATTERN.fullmatch(x)`) in the same function."""
        function = self.module.enclosing_function(name)
        return any(
            _VALIDATOR.search(simple_name(call.func) or "")
            and any(isinstance(arg, ast.Name) and arg.id == name.id for arg in call.args)
            and self.module.enclosing_function(call) is function
            for call in self.module.calls
        )


def _interpolated(node: ast.expr) -> list[ast.expr] | None:
    """The values spliced into a string-building expression (each subexpression looked at
    once), [] for a string literal, None for anything else."""
    if isinstance(node, ast.Constant):
        return [] if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        return [part.value for part in node.values if isinstance(part, ast.FormattedValue)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        template = _interpolated(node.left)
        values = node.right
        spliced = list(values.elts) if isinstance(values, ast.Tuple) else [values]
        return None if template is None else template + spliced
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _interpolated(node.left), _interpolated(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else [node.left]) + (
            right if right is not None else [node.right]
        )
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        template = _interpolated(node.func.value) if node.func.attr == "format" else None
        if template is not None:
            return [*template, *node.args, *(keyword.value for keyword in node.keywords)]
    return None


def _literal_parts(node: ast.AST) -> list[str]:
    return [
        child.value
        for child in ast.walk(node)
        if isinstance(child, ast.Constant) and isinstance(child.value, str)
    ]


def _kind(node: ast.expr) -> str:
    if isinstance(node, ast.JoinedStr):
        return "f-string"
    if isinstance(node, ast.BinOp):
        return "% formatting" if isinstance(node.op, ast.Mod) else "concatenation"
    return ".format()"
