"""Where the generated app's CPU per request goes: GET /users/items/{id} called in-process
(no uvicorn, no load generator, no access log), with one part of the app taken out at a time.

Variants (each on a fresh app and pool of the generated default size, 10):
  generated app           create_app() as generated
  - its middleware        without RequestContext and BodyLimit (request id, deadline, body limit)
  - included routers      the same routes registered on the app itself, not through
                          app.include_router() (FastAPI 0.165 matches included routers per
                          request through its own _IncludedRouter layer)
  - Annotated dependency  the endpoint reads app.state.databases itself, no Depends()
  - pgdbm's fetch_one     ServiceDatabase.fetch_one as pool.fetchrow + dict(row): no pgdbm
                          wrapper, no QueryError wrapping, no bounded acquire
  (c) and (b)             bench/handwritten_app.py with and without the app's middleware

A part's cost is the median over rounds of (generated app - variant), each pair measured in
the same round; rounds alternate the order of the variants. CPU is this process's time per
request: the app, FastAPI and asyncpg's client side, not PostgreSQL.

    python bench/request_costs.py [--quick] [--dsn DSN]
"""

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from _common import (
    interleaved,
    machine_facts,
    median,
    parse_args,
    postgres_admin_dsn,
    print_table,
    project_settings,
    rendered_project,
    run_in_loop,
    scratch_database,
    seed_items,
    write_results,
)

PATH = "/users/items/500"
PATH_FORMAT = "/users/items/{item_id}"
TASKS = 10
ROWS = 1000
GENERATED = "generated app"
VARIANTS = (
    GENERATED,
    "- its middleware",
    "- included routers",
    "- Annotated dependency",
    "- pgdbm's fetch_one",
    "(c) same stack + middleware",
    "(b) same stack",
)


def without_middleware(app: Any) -> Any:
    app.user_middleware = [m for m in app.user_middleware if m.cls.__name__ not in
                           ("RequestContext", "BodyLimit")]  # fmt: skip
    return app


def with_routes_on_the_app(app: Any) -> Any:
    """Every route of every included router, registered on the app itself instead."""
    from bench_app.health import router as health_router
    from bench_app.services import SERVICES

    own = [route for route in app.router.routes if hasattr(route, "path")]  # docs, openapi
    app.router.routes[:] = own + [
        route for router in [*(s.router for s in SERVICES), health_router]
        for route in router.routes
    ]  # fmt: skip
    return app


def services_without_dependency() -> tuple[Any, ...]:
    """The services, the users one with GET /users/items/{id} reading the app's state (its
    other routes the same, in the same order: matching costs what it did)."""
    from bench_app.fields import RowId
    from bench_app.service import Service
    from bench_app.services import SERVICES
    from bench_app.services.users.router import Item, not_found
    from fastapi import APIRouter, Request

    router = APIRouter(prefix="/users")

    @router.get("/items/{item_id}")
    async def get_item(item_id: RowId, request: Request) -> Item:
        db = request.app.state.databases["users"]
        row = await db.fetch_one("SELECT * FROM {{tables.items}} WHERE id = $1", item_id)
        if row is None:
            raise not_found(item_id)
        return Item.model_validate(row)

    users = next(s for s in SERVICES if s.schema == "users")
    [without_dependency] = router.routes
    router.routes[:] = [
        without_dependency if (route.path, route.methods) == (PATH_FORMAT, {"GET"}) else route
        for route in users.router.routes
    ]
    return tuple(Service(s.schema, s.migrations_path, router) if s is users else s
                 for s in SERVICES)  # fmt: skip


def raw_fetch_one(app: Any) -> None:
    """After start-up: each ServiceDatabase's fetch_one becomes pool.fetchrow + dict(row)."""
    from bench_app.database import ServiceDatabase

    class RawFetch(ServiceDatabase):
        async def fetch_one(
            self, query: str, *args: Any, timeout: float | None = None
        ) -> dict[str, Any] | None:
            row = await self.shared_pool.fetchrow(self.prepare_query(query), *args,
                                                  timeout=timeout)  # fmt: skip
            return None if row is None else dict(row)

    app.state.databases = {
        schema: RawFetch(db.shared_pool, schema, db.acquire_timeout)
        for schema, db in app.state.databases.items()
    }


def build(variant: str, dsn: str) -> tuple[Any, Callable[[Any], None]]:
    """The variant's app, and what to do to it once started."""
    import handwritten_app
    from bench_app.main import create_app

    settings = project_settings(dsn)
    if variant == "(b) same stack":
        return handwritten_app.app, lambda app: None
    if variant == "(c) same stack + middleware":
        return handwritten_app.with_the_apps_middleware(), lambda app: None
    if variant == "- Annotated dependency":
        return create_app(settings, services_without_dependency()), lambda app: None
    app = create_app(settings)
    changes = {
        "- its middleware": without_middleware,
        "- included routers": with_routes_on_the_app,
    }
    if variant in changes:
        changes[variant](app)
    return app, raw_fetch_one if variant == "- pgdbm's fetch_one" else lambda app: None


async def get(app: Any, state: dict[str, Any]) -> None:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": dict(state),
    }  # fmt: skip
    status = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    assert status == [200], status


async def measure(variant: str, dsn: str, requests: int) -> float:
    """CPU µs per request of `requests` GETs from TASKS tasks, after a warm-up."""
    app, after_start = build(variant, dsn)
    async with app.router.lifespan_context(app) as state:
        after_start(app)
        state = dict(state or {})

        async def worker(count: int) -> None:
            for _ in range(count):
                await get(app, state)

        await asyncio.gather(*(worker(20) for _ in range(TASKS)))
        cpu = time.process_time()
        await asyncio.gather(*(worker(requests // TASKS) for _ in range(TASKS)))
        return (time.process_time() - cpu) / requests * 1e6


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    rounds, requests = (2, 500) if args.quick else (11, 3000)
    with (
        postgres_admin_dsn(args.dsn) as admin_dsn,
        rendered_project(),
        scratch_database(admin_dsn, "bench_costs") as dsn,
    ):
        import logging

        from bench_app.migrate import migrate

        facts = machine_facts(admin_dsn)
        os.environ["DATABASE_URL"] = dsn  # for handwritten_app's pool
        asyncio.run(migrate(project_settings(dsn)))
        asyncio.run(seed_items(dsn, "users", ROWS))
        logging.disable(logging.INFO)  # start-up lines; no access log in-process anyway
        runs = interleaved(
            VARIANTS, rounds, lambda v: run_in_loop("uvloop", measure(v, dsn, requests))
        )

    generated = runs[GENERATED]
    rows = []
    for variant in VARIANTS:
        saved = [g - v for g, v in zip(generated, runs[variant], strict=True)]
        rows.append({
            "variant": variant,
            "cpu_us_per_request": median(runs[variant]),
            "generated_minus_this_us": {
                "median": median(saved), "min": min(saved), "max": max(saved)
            },
            "samples": runs[variant],
        })  # fmt: skip
    print_table(
        f"GET {PATH} in-process, {TASKS} tasks, {requests} requests per run, {rounds} rounds",
        ["variant", "CPU µs/request", "generated app minus this, µs (range)"],
        [[r["variant"], r["cpu_us_per_request"],
          "{median:.1f} ({min:.1f} to {max:.1f})".format(**r["generated_minus_this_us"])]
         for r in rows],
    )  # fmt: skip
    write_results(
        "request_costs",
        args,
        facts,
        {
            "setup": {"path": PATH, "tasks": TASKS, "requests_per_run": requests,
                      "rounds": rounds, "pool_max_size": 10, "loop": "uvloop"},
            "rows": rows,
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()
