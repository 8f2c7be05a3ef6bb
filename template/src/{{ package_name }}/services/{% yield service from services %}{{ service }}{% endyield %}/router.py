"""CRUD on this service's items table. Every query names it {{tables.items}}, which pgdbm
qualifies with the service's schema."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from ...database import ServiceDatabase
from ...dependencies import database_for
from ...errors import CONFLICT, DATABASE_ERRORS, ErrorBody
from ...fields import NO_NUL, Name, RowId
from .schema import SCHEMA

router = APIRouter(prefix=f"/{SCHEMA}", tags=[SCHEMA], responses=DATABASE_ERRORS)
Database = Annotated[ServiceDatabase, Depends(database_for(SCHEMA))]


class ItemIn(BaseModel):
    name: Name  # trimmed; blank is a 422
    description: str = Field(default="", max_length=2000, pattern=NO_NUL)


class Item(ItemIn):
    id: int
    created_at: datetime
    updated_at: datetime


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No item with this id"},
}
# FastAPI's answer to a body it cannot decode at all (JSON that fails validation gets 422).
UNREADABLE_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body could not be parsed"},
}


def not_found(item_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"item {item_id} not found")


@router.post("/items", status_code=status.HTTP_201_CREATED, responses=UNREADABLE_BODY | CONFLICT)
async def create_item(item: ItemIn, db: Database) -> Item:
    row = await db.fetch_one(
        "INSERT INTO {{tables.items}} (name, description) VALUES ($1, $2) RETURNING *",
        item.name,
        item.description,
    )
    return Item.model_validate(row)


@router.get("/items")
async def list_items(
    db: Database,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[Item]:
    rows = await db.fetch_all(
        "SELECT * FROM {{tables.items}} ORDER BY id LIMIT $1 OFFSET $2", limit, offset
    )
    return [Item.model_validate(row) for row in rows]


@router.get("/items/{item_id}", responses=NOT_FOUND)
async def get_item(item_id: RowId, db: Database) -> Item:
    row = await db.fetch_one("SELECT * FROM {{tables.items}} WHERE id = $1", item_id)
    if row is None:
        raise not_found(item_id)
    return Item.model_validate(row)


@router.put("/items/{item_id}", responses=UNREADABLE_BODY | NOT_FOUND | CONFLICT)
async def update_item(item_id: RowId, item: ItemIn, db: Database) -> Item:
    row = await db.fetch_one(
        "UPDATE {{tables.items}} SET name = $2, description = $3, updated_at = now()"
        " WHERE id = $1 RETURNING *",
        item_id,
        item.name,
        item.description,
    )
    if row is None:
        raise not_found(item_id)
    return Item.model_validate(row)


@router.delete("/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_item(item_id: RowId, db: Database) -> Response:
    deleted = await db.fetch_value(
        "DELETE FROM {{tables.items}} WHERE id = $1 RETURNING id", item_id
    )
    if deleted is None:
        raise not_found(item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
