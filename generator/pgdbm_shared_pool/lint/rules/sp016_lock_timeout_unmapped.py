"""SP016: the lock timeout is retried wherever the statement timeout is."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..module_facts import ModuleFacts
from ..project import Project
from ..sources import Hit
from ..syntax import simple_name

CODE = "SP016"
NAME = "lock-timeout-not-retried"
MESSAGE = (
    "lock_timeout raises LockNotAvailableError (55P03), not QueryCanceledError: map it to 503 "
    "with Retry-After too"
)
RATIONALE = (
    "pgdbm 0.5.0 sends `lock_timeout` (5 s by default) with every pooled connection. When it "
    "fires, asyncpg raises `LockNotAvailableError` (SQLSTATE 55P03, class 55), not "
    "`QueryCanceledError` (57014, the statement timeout or a cancel, class 57: "
    "`OperatorInterventionError`). Code that maps only the statement timeout to 503 answers 500 "
    "to every request behind a locked row or table: measured with 24 clients and a table "
    "locked for 12 s, 20 requests answered 500 after 5.0 to 10.2 s. Reported where a lock "
    "timeout is in effect (the project uses pgdbm, or names `lock_timeout`) and the project "
    "handles the statement timeout (an `except`, `isinstance`, an exception handler, a tuple of "
    "retryable errors, SQLSTATE '57014') but no code of it names `LockNotAvailableError`, its "
    "class `ObjectNotInPrerequisiteStateError` or '55P03'. Test code is exempt."
)
EXEMPT_TESTS = True

FIX = (
    "Keep one tuple of retryable errors that holds asyncpg.LockNotAvailableError next to the "
    "statement timeout (OperatorInterventionError covers QueryCanceledError and a server "
    "shutting down), and answer 503 with Retry-After for all of it."
)
GOOD_EXAMPLES = [
    """\
import asyncpg
from pgdbm import AsyncDatabaseManager, QueryError

RETRY_LATER = (
    asyncpg.LockNotAvailableError,  # 55P03: lock_timeout
    asyncpg.OperatorInterventionError,  # 57xxx: statement timeout, cancel, shutdown, recovery
    asyncpg.PostgresConnectionError,  # 08xxx
    asyncpg.TransactionRollbackError,  # 40xxx: deadlock, serialization failure
    asyncpg.InsufficientResourcesError,  # 53xxx: too many connections
)


async def items(db: AsyncDatabaseManager) -> tuple[int, dict[str, str]]:
    try:
        await db.fetch_all("SELECT * FROM {{tables.items}}")
    except QueryError as error:
        if not isinstance(error.__cause__, RETRY_LATER):
            raise
        return 503, {"Retry-After": "1"}
    return 200, {}
""",
    """\
from asyncpg.exceptions import LockNotAvailableError, QueryCanceledError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()


async def retry_later(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": "retry later"}, status_code=503, headers={"Retry-After": "1"})


for timeout in (QueryCanceledError, LockNotAvailableError):
    app.add_exception_handler(timeout, retry_later)
""",
    """\
import asyncpg
from fastapi import HTTPException


async def report(connection: asyncpg.Connection):
    # Plain asyncpg, no lock_timeout on its connections: only the statement timeout fires.
    try:
        return await connection.fetch("SELECT * FROM public.report")
    except asyncpg.QueryCanceledError:
        raise HTTPException(503, headers={"Retry-After": "1"}) from None
""",
]
BAD_EXAMPLES = [
    """\
import asyncpg
from fastapi import HTTPException
from pgdbm import AsyncDatabaseManager, QueryError


async def items(db: AsyncDatabaseManager):
    try:
        return await db.fetch_all("SELECT * FROM {{tables.items}}")
    except QueryError as error:
        if isinstance(error.__cause__, asyncpg.QueryCanceledError):  # SP016
            raise HTTPException(503, headers={"Retry-After": "1"}) from error
        raise
""",
    """\
import asyncpg
from pgdbm import DatabaseConfig

CONFIG = DatabaseConfig(lock_timeout_ms=2_000)
RETRYABLE = (
    asyncpg.exceptions.QueryCanceledError,  # SP016
    asyncpg.PostgresConnectionError,
)
""",
    """\
from asyncpg.exceptions import QueryCanceledError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pgdbm import QueryError

app = FastAPI()


@app.exception_handler(QueryCanceledError)  # SP016
async def timed_out(request: Request, error: QueryCanceledError) -> JSONResponse:
    return JSONResponse({"detail": "timed out"}, status_code=503, headers={"Retry-After": "1"})


@app.exception_handler(QueryError)
async def failed(request: Request, error: QueryError) -> JSONResponse:
    return JSONResponse({"detail": "internal database error"}, status_code=500)
""",
    """\
import asyncpg


async def connect(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn, server_settings={"lock_timeout": "2s"})


def retryable(error) -> bool:
    return getattr(error, "sqlstate", None) in ("57014", "40001")  # SP016
""",
]

# The statement timeout: its class, its class-57 parent, its SQLSTATE.
_STATEMENT_TIMEOUT = frozenset({"QueryCanceledError", "OperatorInterventionError"})
_STATEMENT_TIMEOUT_STATES = frozenset({"57014"})
# What maps the lock timeout too: its class, its class-55 parent, its SQLSTATE.
_LOCK_TIMEOUT = frozenset({"LockNotAvailableError", "ObjectNotInPrerequisiteStateError"})
_LOCK_TIMEOUT_STATES = frozenset({"55P03"})
_WORDS = (*_STATEMENT_TIMEOUT, *_STATEMENT_TIMEOUT_STATES)


def check(project: Project) -> Iterator[Hit]:
    modules = [m for m in project.modules() if not m.source.is_test]
    if not any("pgdbm" in m.syntax.imported_packages or _sets_lock_timeout(m) for m in modules):
        return  # no lock timeout in effect: plain asyncpg waits for locks
    handling = [m for m in modules if any(word in m.source.text for word in _WORDS)]
    if not handling:
        return  # most projects: nothing handles the statement timeout, nothing to parse
    covering = _LOCK_TIMEOUT | _LOCK_TIMEOUT_STATES
    candidates = [m for m in modules if any(word in m.source.text for word in covering)]
    if any(_names(m.source.tree) & covering for m in candidates):
        return
    for module in handling:
        reported: set[int] = set()
        for node in ast.walk(module.source.tree):
            if _is_statement_timeout(node) and not _elsewhere(module, node):
                line: int = node.lineno  # type: ignore[attr-defined]
                if line not in reported:
                    reported.add(line)
                    yield module.source.hit(node)


def _sets_lock_timeout(module: ModuleFacts) -> bool:
    """`lock_timeout` in a string (a setting, SET lock_timeout) or a keyword, not a comment."""
    if "lock_timeout" not in module.source.text:
        return False
    return any(
        (isinstance(node, ast.Constant) and "lock_timeout" in str(node.value))
        or (isinstance(node, ast.keyword) and "lock_timeout" in (node.arg or ""))
        for node in ast.walk(module.source.tree)
    )


def _names(tree: ast.AST) -> set[str]:
    """Class names (asyncpg.X, X) and string constants in `tree`."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Attribute):
            found.add(simple_name(node) or "")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
    return found


def _is_statement_timeout(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in _STATEMENT_TIMEOUT_STATES
    if isinstance(node, ast.Name | ast.Attribute):
        return simple_name(node) in _STATEMENT_TIMEOUT
    return False


def _elsewhere(module: ModuleFacts, node: ast.AST) -> bool:
    """Built, raised or annotated here (`raise QueryCanceledError(...)`, `error:
    QueryCanceledError`), not handled."""
    parent = module.parents.get(node)
    if isinstance(parent, ast.Call) and parent.func is node:
        return True
    child = node
    for ancestor in module.ancestors(node):
        if isinstance(ancestor, ast.Raise | ast.arg):
            return True
        if isinstance(ancestor, ast.AnnAssign) and child is ancestor.annotation:
            return True
        if isinstance(ancestor, ast.FunctionDef | ast.AsyncFunctionDef):
            return ancestor.returns is child
        child = ancestor
    return False
