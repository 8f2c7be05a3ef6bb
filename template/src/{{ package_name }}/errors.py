"""Map failures to HTTP: 409 on conflicts, 503 with Retry-After whenever retrying later can
succeed (every timeout, a lost connection, a server shutting down), 500 for the rest;
422 answers quote only a short prefix of what they reject."""

import json
import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pgdbm import QueryError
from pydantic import BaseModel

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
# Server errors after which the same request can succeed later, by SQLSTATE class:
#   55P03  lock_timeout: the row or table stayed locked (LockNotAvailableError)
#   57xxx  statement_timeout or a cancel (57014), server shutting down (57P01 admin,
#          57P02 crash, 57P03 starting up or in recovery), idle session timeout
#   08xxx  connection failure;  40xxx  deadlock or serialization failure (rolled back)
#   53xxx  too many connections, out of memory or disk
RETRY_LATER = (
    asyncpg.LockNotAvailableError,
    asyncpg.OperatorInterventionError,
    asyncpg.PostgresConnectionError,
    asyncpg.TransactionRollbackError,
    asyncpg.InsufficientResourcesError,
)
# Raised outside pgdbm's QueryError. TimeoutError (no free connection in time, or a
# lock held by another process) and ConnectionRefusedError (server down) are OSErrors;
# InterfaceError comes from a connection that died while checked out, and
# InternalClientError from an idle one the server ended just before reuse
# ("cannot switch to state 12; another operation (2) is in progress").
CONNECTION_LOST = (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError)
ECHOED_INPUT_CHARS = 100  # of a rejected value, in a 422 answer


class ErrorBody(BaseModel):
    detail: str


# OpenAPI entries for what the handlers below answer, so clients (and the fuzz test)
# know that every database-backed route can say 500 or 503, and writes can say 409.
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "Conflicts with an existing record"},
}
DATABASE_ERRORS: dict[int | str, dict[str, Any]] = {
    500: {"model": ErrorBody, "description": "Unexpected database error (no SQL disclosed)"},
    503: {
        "model": ErrorBody,
        "description": "Timed out (connection, lock, statement or the request's budget), "
        "or the database is unreachable or restarting: retry later",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying",
                "schema": {"type": "integer"},
            },
        },
    },
}


def unavailable() -> JSONResponse:
    return JSONResponse(
        {"detail": "database unavailable, retry later"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def query_failed(request: Request, error: Exception) -> JSONResponse:
    cause = error.__cause__
    if isinstance(cause, asyncpg.UniqueViolationError):
        return JSONResponse({"detail": "conflicts with an existing record"}, status_code=409)
    if isinstance(cause, RETRY_LATER):
        return await retry_later(request, cause)
    # Log the SQL for us; never send it to the client.
    logger.exception("%s %s failed", request.method, request.url.path, exc_info=error)
    return JSONResponse({"detail": "internal database error"}, status_code=500)


async def retry_later(request: Request, error: Exception) -> JSONResponse:
    logger.warning("%s %s: 503: %r", request.method, request.url.path, error)
    return unavailable()


def shortened(value: Any) -> Any:
    """`value`, or the start of its JSON text when that is longer than ECHOED_INPUT_CHARS."""
    if isinstance(value, bool | int | float | None):
        return value
    text = value if isinstance(value, str) else json.dumps(jsonable_encoder(value))
    return text if len(text) <= ECHOED_INPUT_CHARS else text[:ECHOED_INPUT_CHARS] + "..."


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422, but a rejected 1 MB value is quoted by its first characters only."""
    assert isinstance(error, RequestValidationError)
    errors = [
        {**entry, "input": shortened(entry["input"])} if "input" in entry else entry
        for entry in error.errors()
    ]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(QueryError, query_failed)
    for error_type in (*CONNECTION_LOST, *RETRY_LATER):
        app.add_exception_handler(error_type, retry_later)
    app.add_exception_handler(RequestValidationError, invalid_request)
