"""The baseline of bench/http_e2e.py: the generated app's GET /users/items/{id}, written by
hand on a raw asyncpg pool (same response model, same validation, same pool sizes).

    DATABASE_URL=postgresql://... uvicorn handwritten_app:app   (run from bench/)
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=2, max_size=10)
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/users/items/{item_id}")
async def get_item(item_id: Annotated[int, Path(ge=1, le=2**63 - 1)], request: Request) -> Item:
    row = await request.app.state.pool.fetchrow("SELECT * FROM users.items WHERE id = $1", item_id)
    if row is None:
        raise HTTPException(404, f"item {item_id} not found")
    return Item.model_validate(dict(row))
