"""The baselines of bench/http_e2e.py: the generated app's GET /users/items/{id}, written by
hand on a raw asyncpg pool (same response model, same validation, same pool sizes).

    app                   the endpoint alone
    app_with_middleware   the same, plus what the generated app does on every request that
                          is not the pattern: its own middleware (request id, deadline, body
                          limit) and its log format, imported from the rendered project

    DATABASE_URL=postgresql://... uvicorn handwritten_app:app   (run from bench/)
"""

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import FastAPI, HTTPException, Path, Request
from pydantic import BaseModel, Field

NO_NUL = r"^[^\x00]*$"


class Item(BaseModel):  # the generated model's fields and constraints
    id: int
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    description: str = Field(default="", max_length=2000, pattern=NO_NUL)
    created_at: datetime
    updated_at: datetime


def lifespan(
    before: Callable[[], None] = lambda: None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def pool_for(app: FastAPI) -> AsyncIterator[None]:
        before()
        app.state.pool = await asyncpg.create_pool(
            os.environ["DATABASE_URL"], min_size=2, max_size=10
        )
        try:
            yield
        finally:
            await app.state.pool.close()

    return pool_for


async def get_item(item_id: Annotated[int, Path(ge=1, le=2**63 - 1)], request: Request) -> Item:
    row = await request.app.state.pool.fetchrow("SELECT * FROM users.items WHERE id = $1", item_id)
    if row is None:
        raise HTTPException(404, f"item {item_id} not found")
    return Item.model_validate(dict(row))


app = FastAPI(lifespan=lifespan())
app.get("/users/items/{item_id}")(get_item)


def with_the_apps_middleware() -> FastAPI:
    from bench_app.logs import configure_logging
    from bench_app.main import MAX_BODY_BYTES
    from bench_app.middleware import BodyLimit, RequestContext

    configured = FastAPI(lifespan=lifespan(lambda: configure_logging("INFO")))
    configured.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    configured.add_middleware(RequestContext, budget=lambda: 10.0)
    configured.get("/users/items/{item_id}")(get_item)
    return configured


def __getattr__(name: str) -> FastAPI:  # built on demand: only its server imports bench_app
    if name == "app_with_middleware":
        return with_the_apps_middleware()
    raise AttributeError(name)
