"""Map database failures to HTTP: 409 on conflicts, 503 when the database is out of reach."""

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pgdbm import QueryError
from pydantic import BaseModel

logger = logging.getLogger(__name__)

# Errors after which retrying later can succeed: the server is restarting, shutting
# down, refusing connections, or the statement was cancelled (statement_timeout).
TRANSIENT = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
)
# Raised outside pgdbm's QueryError. TimeoutError (no free connection within
# pool_acquire_timeout) and ConnectionRefusedError (server down) are OSErrors;
# InterfaceError comes from a connection that died while checked out, and
# InternalClientError from an idle one the server ended just before reuse
# ("cannot switch to state 12; another operation (2) is in progress").
CONNECTION_LOST = (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError)


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
        "description": "No database connection within the acquire timeout, or server down",
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
        headers={"Retry-After": "1"},
    )


async def query_failed(request: Request, error: Exception) -> JSONResponse:
    cause = error.__cause__
    if isinstance(cause, asyncpg.UniqueViolationError):
        return JSONResponse({"detail": "conflicts with an existing record"}, status_code=409)
    if isinstance(cause, TRANSIENT):
        logger.warning("%s %s: %r", request.method, request.url.path, cause)
        return unavailable()
    # Log the SQL for us; never send it to the client.
    logger.exception("%s %s failed", request.method, request.url.path, exc_info=error)
    return JSONResponse({"detail": "internal database error"}, status_code=500)


async def database_unreachable(request: Request, error: Exception) -> JSONResponse:
    logger.warning("%s %s: %r", request.method, request.url.path, error)
    return unavailable()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(QueryError, query_failed)
    for error_type in (*CONNECTION_LOST, *TRANSIENT):
        app.add_exception_handler(error_type, database_unreachable)
