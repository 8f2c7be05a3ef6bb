"""The request deadline: one budget per request, and every wait inside a request within it.

RequestContext (middleware.py) sets the deadline, and answers 503 to a request still running
at its end. A wait that may be long and has a limit of its own (another process's lock on a
tenant, this process's) takes the smaller of that limit and what is left of the budget, so
it ends with an error that says what it waited for. Outside a request (start-up, `migrate`,
the CLIs) there is no deadline and each wait gets its full limit.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

# When the current request's budget ends, in event loop time (None: not in a request).
DEADLINE: ContextVar[float | None] = ContextVar("request_deadline", default=None)


def remaining(limit: float) -> float:
    """How long a wait may take: `limit`, or less when the request's budget ends sooner."""
    when = DEADLINE.get()
    if when is None:
        return limit
    return max(0.0, min(limit, when - asyncio.get_running_loop().time()))


@asynccontextmanager
async def holding(
    lock: asyncio.Lock | asyncio.Semaphore, limit: float, what: str
) -> AsyncIterator[None]:
    """Hold an in-process lock, waiting at most remaining(limit); TimeoutError names `what`."""
    wait = remaining(limit)
    try:
        async with asyncio.timeout(wait):
            await lock.acquire()
    except TimeoutError:
        raise TimeoutError(f"{what} still busy after {wait:.1f} s") from None
    try:
        yield
    finally:
        lock.release()
