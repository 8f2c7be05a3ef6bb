"""SP001: one connection pool per process."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..module_facts import ModuleFacts
from ..project import Project
from ..sources import Hit
from ..syntax import FUNCTION_NODES, LOOPS, is_create_shared_pool

CODE = "SP001"
NAME = "one-pool-per-process"
MESSAGE = "more than one connection pool in the process: create the shared pool once"
RATIONALE = (
    "`AsyncDatabaseManager.create_shared_pool()` returns a plain `asyncpg.Pool`; in pgdbm 0.5.0 "
    "calling it twice makes two pools without any warning (the 'Creating another connection pool' "
    "warning only counts `connect()` on own-pool managers, keyed on host/port/database). Each pool "
    "opens `min_connections` (default 10) connections at once, so a pool per request or per loop "
    "iteration exhausts `max_connections` on the server, and an own-pool manager next to the "
    "shared pool doubles the budget. Test code is exempt: tests simulate several processes."
)
EXEMPT_TESTS = True

FIX = (
    "Create the pool once per process (the lifespan, or one create_pool() helper), keep it on "
    "app.state, and build each service's AsyncDatabaseManager(pool=pool, schema=...) on it."
)
GOOD_EXAMPLES = [
    """\
import asyncio

from pgdbm import AsyncDatabaseManager, DatabaseConfig


async def nightly_job() -> None:
    pool = await AsyncDatabaseManager.create_shared_pool(DatabaseConfig())
    try:
        users = AsyncDatabaseManager(pool=pool, schema="users")
        orders = AsyncDatabaseManager(pool=pool, schema="orders")
        await asyncio.gather(users.execute("ANALYZE"), orders.execute("ANALYZE"))
    finally:
        await pool.close()
""",
]
BAD_EXAMPLES = [
    """\
from pgdbm import AsyncDatabaseManager, DatabaseConfig

CONFIG = DatabaseConfig(connection_string="postgresql://localhost/app")


async def users_pool():
    return await AsyncDatabaseManager.create_shared_pool(CONFIG)


async def orders_pool():
    return await AsyncDatabaseManager.create_shared_pool(CONFIG)  # SP001
""",
    """\
from fastapi import FastAPI
from pgdbm import AsyncDatabaseManager, DatabaseConfig

app = FastAPI()


@app.get("/users/count")
async def count_users():
    pool = await AsyncDatabaseManager.create_shared_pool(DatabaseConfig())  # SP001
    try:
        db = AsyncDatabaseManager(pool=pool, schema="users")
        return await db.fetch_value("SELECT count(*) FROM {{tables.users}}")
    finally:
        await pool.close()
""",
    """\
from pgdbm import AsyncDatabaseManager


async def run_jobs(jobs, config):
    for job in jobs:
        pool = await AsyncDatabaseManager.create_shared_pool(config)  # SP001
        try:
            await job(pool)
        finally:
            await pool.close()
""",
    """\
from pgdbm import AsyncDatabaseManager, DatabaseConfig


async def start(config: DatabaseConfig, reports_config: DatabaseConfig):
    pool = await AsyncDatabaseManager.create_shared_pool(config)
    reports = AsyncDatabaseManager(reports_config)
    try:
        await reports.connect()  # SP001
    finally:
        await reports.disconnect()
        await pool.close()
""",
]

ROUTE_DECORATORS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "api_route", "websocket"}
)


def check(project: Project) -> Iterator[Hit]:
    # Tests build pools per test or per simulated process on purpose.
    modules = [module for module in project.modules() if not module.source.is_test]
    processes = project.facts.processes
    sites = sorted(
        ((module, call) for module in modules for call in module.calls if _creates_pool(call)),
        key=lambda site: (site[0].source.path, site[1].lineno, site[1].col_offset),
    )
    once = [site for site in sites if _repeated_per(*site) is None]
    for module, call in sites:
        repeated = _repeated_per(module, call)
        if repeated is not None:
            yield module.source.hit(call, f"a new pool is created per {repeated}")
            continue
        first = next(
            (m, c) for m, c in once if processes.site_together(_site(m, c), _site(module, call))
        )
        if first[1] is not call:
            where = f"{first[0].source.path}:{first[1].lineno}"
            yield module.source.hit(
                call, f"create_shared_pool is also called at {where}: each call opens another pool"
            )
    yield from _own_pools(modules, project)


def _site(module: ModuleFacts, call: ast.Call) -> tuple[str, str]:
    function = module.enclosing_function(call)
    return module.source.path, getattr(function, "name", "")


def _creates_pool(call: ast.Call) -> bool:
    return is_create_shared_pool(call)


def _repeated_per(module: ModuleFacts, call: ast.Call) -> str | None:
    for ancestor in module.ancestors(call):
        if isinstance(ancestor, LOOPS):
            return "loop iteration"
        if isinstance(ancestor, FUNCTION_NODES):
            if not isinstance(ancestor, ast.Lambda) and any(
                _is_route_decorator(decorator) for decorator in ancestor.decorator_list
            ):
                return "request (inside a route handler)"
            return None
    return None


def _is_route_decorator(decorator: ast.expr) -> bool:
    return (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr in ROUTE_DECORATORS
    )


def _own_pools(modules: list[ModuleFacts], project: Project) -> Iterator[Hit]:
    """connect() on own-pool managers: next to a shared pool, or one per service."""
    processes = project.facts.processes
    sites = [
        (module, call)
        for module in modules
        for call in module.manager_calls("connect", pool_based=False)
    ]
    for module, call in sites:
        path = module.source.path
        if project.facts.on_shared_pool(path):
            yield module.source.hit(
                call, "connect() on an own-pool manager opens a second pool next to the shared one"
            )
            continue
        other = next(
            (
                (m, c)
                for m, c in sites
                if c is not call
                and processes.site_together(_site(m, c), _site(module, call))
                and _separate_services(module, call, m, c)
            ),
            None,
        )
        if other is not None:
            where = f"{other[0].source.path}:{other[1].lineno}"
            yield module.source.hit(
                call,
                f"each service opens its own pool (another at {where}): share one pool "
                "from create_shared_pool",
            )


def _separate_services(
    module: ModuleFacts, call: ast.Call, other_module: ModuleFacts, other: ast.Call
) -> bool:
    """Two own pools kept side by side: opened in one function (a lifespan opening one per
    service), or kept on attributes of two different classes (a pool per service object)."""
    function = module.enclosing_function(call)
    if other_module is module and other_module.enclosing_function(other) is function:
        return True
    return (
        _kept_on_attribute(call)
        and _kept_on_attribute(other)
        and _class_of(module, call) is not _class_of(other_module, other)
    )


def _kept_on_attribute(call: ast.Call) -> bool:
    assert isinstance(call.func, ast.Attribute)
    return isinstance(call.func.value, ast.Attribute)


def _class_of(module: ModuleFacts, node: ast.AST) -> ast.AST | None:
    return next((a for a in module.ancestors(node) if isinstance(a, ast.ClassDef)), None)
