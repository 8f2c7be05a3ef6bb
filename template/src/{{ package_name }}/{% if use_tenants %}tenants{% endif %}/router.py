"""Tenant administration (/tenants) and an example tenant-scoped resource (/notes).

A request names its tenant in the X-Tenant-ID header: a malformed id is a 400, a name that
PostgreSQL or this app reserves a 409, an unknown or inactive tenant a 404, and reads never
create a tenant. Only POST /tenants provisions.
The /tenants routes administer customers: put them behind your admin authentication.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, cast

import asyncpg
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from fastapi import status as http
from pgdbm import QueryError
from pydantic import BaseModel, Field

from ..database import ServiceDatabase
from ..errors import DATABASE_ERRORS, ErrorBody
from ..fields import NO_NUL, Name, RowId
from ..service import Service
from . import REGISTRY_MIGRATIONS_PATH, REGISTRY_SCHEMA
from .ids import MAX_TENANT_ID_LENGTH, TENANT_ID, InvalidTenantId, TenantIdTaken
from .manager import (
    DropNotConfirmed,
    ProvisioningFailed,
    TenantBusy,
    TenantManager,
    TenantNotFound,
)
from .registry import Tenant

router = APIRouter(responses=DATABASE_ERRORS)
# Documents the id's shape in OpenAPI without enforcing it there: ids.py does, and its
# answer (400 with the rule broken) says more than a generic 422.
TENANT_ID_SHAPE: dict[str, Any] = {
    "pattern": f"^{TENANT_ID.pattern}$",
    "maxLength": MAX_TENANT_ID_LENGTH,
}


def answers(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI `responses` entry for an error answer."""
    return {status: {"model": ErrorBody, "description": description}}


BAD_ID = answers(
    400,
    "Malformed tenant id (the detail names the rule), more than one X-Tenant-ID header, "
    "or an unreadable body",
)
RESERVED = "a name PostgreSQL or this app reserves"


@contextmanager
def as_http() -> Iterator[None]:
    """The manager's errors as HTTP answers (the manager itself knows nothing of HTTP)."""
    try:
        yield
    except (TenantIdTaken, TenantBusy, DropNotConfirmed) as error:
        raise HTTPException(http.HTTP_409_CONFLICT, str(error)) from error
    except InvalidTenantId as error:
        raise HTTPException(http.HTTP_400_BAD_REQUEST, str(error)) from error
    except TenantNotFound as error:
        raise HTTPException(http.HTTP_404_NOT_FOUND, str(error)) from error
    except ProvisioningFailed as error:  # the SQL error stays in the registry, not the response
        detail = "tenant migration failed; the error is recorded in GET /tenants"
        raise HTTPException(http.HTTP_500_INTERNAL_SERVER_ERROR, detail) from error


async def tenant_manager(request: Request) -> TenantManager:
    return cast(TenantManager, request.app.state.tenants)  # opened by the lifespan


Tenants = Annotated[TenantManager, Depends(tenant_manager)]


async def tenant_database(
    request: Request,
    tenants: Tenants,
    tenant_id: Annotated[str, Header(alias="X-Tenant-ID", json_schema_extra=TENANT_ID_SHAPE)],
) -> AsyncIterator[ServiceDatabase]:
    """The database of the tenant named by the X-Tenant-ID header (exactly one)."""
    if len(request.headers.getlist("x-tenant-id")) > 1:
        raise HTTPException(http.HTTP_400_BAD_REQUEST, "more than one X-Tenant-ID header")
    with as_http():
        db = await tenants.get(tenant_id)
    try:
        yield db
    except QueryError as error:
        # The schema is gone: another process dropped the tenant after this one cached it.
        missing = asyncpg.InvalidSchemaNameError | asyncpg.UndefinedTableError
        if isinstance(error.__cause__, missing) and not await tenants.still_active(tenant_id):
            detail = f"no active tenant {tenant_id!r} (dropped)"
            raise HTTPException(http.HTTP_404_NOT_FOUND, detail) from error
        raise


TenantDatabase = Annotated[ServiceDatabase, Depends(tenant_database)]


class TenantIn(BaseModel):
    tenant_id: str = Field(json_schema_extra=TENANT_ID_SHAPE)


@router.post(
    "/tenants",
    status_code=http.HTTP_201_CREATED,
    tags=["tenants"],
    responses={200: {"model": Tenant, "description": "Already active"}}
    | BAD_ID
    | answers(409, f"The id is {RESERVED}, or the tenant is being dropped")
    | answers(500, "A tenant migration failed (the error is in GET /tenants)"),
)
async def provision_tenant(body: TenantIn, tenants: Tenants, response: Response) -> Tenant:
    """201 when this request created the tenant, 200 when it was already active."""
    with as_http():
        tenant, created = await tenants.provision(body.tenant_id)
    if not created:
        response.status_code = http.HTTP_200_OK
    return tenant


@router.get("/tenants", tags=["tenants"])
async def list_tenants(tenants: Tenants) -> list[Tenant]:
    return await tenants.list_tenants()


@router.delete(
    "/tenants/{tenant_id}",
    status_code=http.HTTP_204_NO_CONTENT,
    tags=["tenants"],
    responses=BAD_ID
    | answers(404, "No such tenant")
    | answers(409, f"confirm is not the tenant id, or the id is {RESERVED}"),
)
async def drop_tenant(
    tenant_id: Annotated[str, Path(json_schema_extra=TENANT_ID_SHAPE)],
    confirm: Annotated[
        str, Query(description="The tenant id again", json_schema_extra=TENANT_ID_SHAPE)
    ],
    tenants: Tenants,
) -> Response:
    """Drop the tenant's schema with all its data, and its registry row."""
    with as_http():
        await tenants.drop(tenant_id, confirm=confirm)
    return Response(status_code=http.HTTP_204_NO_CONTENT)


# Every /notes route: the header's tenant may be malformed, reserved or unknown (and so may
# the note: 404 covers both).
TENANT_ERRORS = (
    BAD_ID
    | answers(409, f"The tenant id is {RESERVED}")
    | answers(404, "No active tenant with this id, or no such note")
)


class NoteIn(BaseModel):
    title: Name  # trimmed; blank is a 422
    body: str = Field(default="", max_length=10_000, pattern=NO_NUL)


class Note(NoteIn):
    id: int
    created_at: datetime
    updated_at: datetime


def note_not_found(note_id: int) -> HTTPException:
    return HTTPException(http.HTTP_404_NOT_FOUND, f"note {note_id} not found")


@router.post("/notes", status_code=http.HTTP_201_CREATED, tags=["notes"], responses=TENANT_ERRORS)
async def create_note(note: NoteIn, db: TenantDatabase) -> Note:
    row = await db.fetch_one(
        "INSERT INTO {{tables.notes}} (title, body) VALUES ($1, $2) RETURNING *",
        note.title,
        note.body,
    )
    return Note.model_validate(row)


@router.get("/notes", tags=["notes"], responses=TENANT_ERRORS)
async def list_notes(
    db: TenantDatabase,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[Note]:
    rows = await db.fetch_all(
        "SELECT * FROM {{tables.notes}} ORDER BY id LIMIT $1 OFFSET $2", limit, offset
    )
    return [Note.model_validate(row) for row in rows]


@router.get("/notes/{note_id}", tags=["notes"], responses=TENANT_ERRORS)
async def get_note(note_id: RowId, db: TenantDatabase) -> Note:
    row = await db.fetch_one("SELECT * FROM {{tables.notes}} WHERE id = $1", note_id)
    if row is None:
        raise note_not_found(note_id)
    return Note.model_validate(row)


@router.put("/notes/{note_id}", tags=["notes"], responses=TENANT_ERRORS)
async def update_note(note_id: RowId, note: NoteIn, db: TenantDatabase) -> Note:
    row = await db.fetch_one(
        "UPDATE {{tables.notes}} SET title = $2, body = $3, updated_at = now()"
        " WHERE id = $1 RETURNING *",
        note_id,
        note.title,
        note.body,
    )
    if row is None:
        raise note_not_found(note_id)
    return Note.model_validate(row)


@router.delete(
    "/notes/{note_id}",
    status_code=http.HTTP_204_NO_CONTENT,
    tags=["notes"],
    responses=TENANT_ERRORS,
)
async def delete_note(note_id: RowId, db: TenantDatabase) -> Response:
    deleted = await db.fetch_value(
        "DELETE FROM {{tables.notes}} WHERE id = $1 RETURNING id", note_id
    )
    if deleted is None:
        raise note_not_found(note_id)
    return Response(status_code=http.HTTP_204_NO_CONTENT)


# The registry joins the services: migrated at start-up under their lock, routes included.
SERVICE = Service(REGISTRY_SCHEMA, REGISTRY_MIGRATIONS_PATH, router)
