"""ASGI middleware: each request's id and deadline, the body size limit, and one-line
start-up failures. Plain ASGI classes (not BaseHTTPMiddleware): they run on every request."""

import asyncio
import logging
import random
import re
import sys
from collections.abc import Callable

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import InvalidSettings
from .database import DatabaseUnreachable, MigrationFailed
from .deadline import DEADLINE, WATCHDOGS
from .errors import unavailable
from .logs import REQUEST_ID

# An id sent by a proxy is kept when it is short and plain: it goes into every log line.
CLIENT_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
logger = logging.getLogger(__name__)


class RequestContext:
    """Gives each HTTP request an id (X-Request-ID: in its log lines and its response) and
    a deadline: `budget()` seconds in all, past which the answer is 503 with Retry-After.

    The app's own timeouts fit inside the budget and end most slow requests first, each
    with its 503; this is the backstop for a request that waits in several places.
    """

    def __init__(self, app: ASGIApp, budget: Callable[[], float]) -> None:
        self.app = app
        self.budget = budget  # read per request: the settings are loaded by the lifespan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Random, not secret (a client may send its own): no system call per request.
        request_id = client_request_id(scope) or f"{random.getrandbits(128):032x}"
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                headers = message.get("headers", [])
                message["headers"] = [*headers, (b"x-request-id", request_id.encode())]
            await send(message)

        budget = self.budget()
        watch = WATCHDOGS.watch(budget)
        id_token, deadline_token = REQUEST_ID.set(request_id), DEADLINE.set(watch.when)
        try:
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                overdue = WATCHDOGS.unwatch(watch)
        except asyncio.CancelledError:
            if not overdue:
                raise
            if response_started:
                raise TimeoutError(f"over its {budget:.1f} s budget") from None
            method, path = scope["method"], scope["path"]
            logger.warning("%s %s: 503: over its %.1f s budget", method, path, budget)
            await unavailable()(scope, receive, send_with_id)
        finally:
            DEADLINE.reset(deadline_token)
            REQUEST_ID.reset(id_token)


class BodyTooLarge(HTTPException):
    """Raised by a read past the limit; FastAPI answers it (413) before the route runs."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body over {max_bytes} bytes")


class BodyLimit:
    """413 for a request body over `max_bytes`: at once when its Content-Length says so,
    else (a chunked body) as soon as reading it passes the limit, before anything parses it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.max_bytes
        if (declared_length(scope) or 0) > max_bytes:
            error = BodyTooLarge(max_bytes)
            response = JSONResponse({"detail": error.detail}, status_code=error.status_code)
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise BodyTooLarge(max_bytes)
            return message

        await self.app(scope, receive_within_limit, send)


class OneLineStartupErrors:
    """uvicorn logs a failed start-up with Starlette's traceback. For the failures an
    operator fixes outside the code (settings, an unreachable database, a failed
    migration) the exception's one-line message says everything: send that instead."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_one_line(message: Message) -> None:
            error = sys.exc_info()[1]  # Starlette sends the failure while handling it
            if message["type"] == "lifespan.startup.failed" and isinstance(
                error, InvalidSettings | DatabaseUnreachable | MigrationFailed
            ):
                message = {**message, "message": " ".join(str(error).split())}
            await send(message)

        await self.app(scope, receive, send_one_line)


def client_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and CLIENT_REQUEST_ID.fullmatch(value):
            return str(value.decode())
    return None


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, if it sends one (uvicorn refuses a malformed one)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
