"""ASGI middleware: each request's id and deadline, and one-line start-up failures."""

import asyncio
import logging
import os
import re
import sys
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import InvalidSettings
from .database import DatabaseUnreachable, MigrationFailed
from .deadline import DEADLINE
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
        request_id = client_request_id(scope) or os.urandom(16).hex()
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                headers = message.get("headers", [])
                message["headers"] = [*headers, (b"x-request-id", request_id.encode())]
            await send(message)

        budget = self.budget()
        when = asyncio.get_running_loop().time() + budget
        timeout = asyncio.timeout_at(when)
        id_token, deadline_token = REQUEST_ID.set(request_id), DEADLINE.set(when)
        try:
            async with timeout:
                await self.app(scope, receive, send_with_id)
        except TimeoutError:
            if response_started or not timeout.expired():
                raise
            method, path = scope["method"], scope["path"]
            logger.warning("%s %s: 503: over its %.1f s budget", method, path, budget)
            await unavailable()(scope, receive, send_with_id)
        finally:
            DEADLINE.reset(deadline_token)
            REQUEST_ID.reset(id_token)


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
