"""Map database failures to HTTP: 409 on conflicts, 503 when the database is out of reach."""

import logging

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pgdbm import QueryError

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
    # TimeoutError (no free connection within pool_acquire_timeout) and
    # ConnectionRefusedError (server down) are both OSErrors; asyncpg raises
    # InterfaceError and ConnectionDoesNotExistError when a connection dies mid-use.
    logger.warning("%s %s: %r", request.method, request.url.path, error)
    return unavailable()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(QueryError, query_failed)
    for error_type in (OSError, asyncpg.InterfaceError, *TRANSIENT):
        app.add_exception_handler(error_type, database_unreachable)
