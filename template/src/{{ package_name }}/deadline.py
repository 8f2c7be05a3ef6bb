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
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

# When the current request's budget ends, in event loop time (None: not in a request).
DEADLINE: ContextVar[float | None] = ContextVar("request_deadline", default=None)
# How late past its deadline a request may be ended: one timer per event loop checks them
# all this often, where asyncio.timeout() would set and cancel a timer per request, which
# costs more than everything else the middleware does.
TICK = 0.05


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


@dataclass(slots=True)
class Deadline:
    """A running request's deadline (event loop time), set for its task's context."""

    when: float
    task: asyncio.Task[Any]
    cancelling: int  # the task's pending cancellations before ours, as asyncio.timeout counts
    token: Token[float | None]
    watchdog: "Watchdog"
    expired: bool = False


class Watchdog:
    """Cancels each request's task at its deadline (within TICK): one timer for all the
    requests of one event loop, running while they do."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.running: dict[asyncio.Task[Any], Deadline] = {}
        self.timer: asyncio.TimerHandle | None = None

    def check(self) -> None:
        now = self.loop.time()
        for deadline in self.running.values():
            if deadline.when <= now and not deadline.expired:
                deadline.expired = True
                deadline.task.cancel()
        self.timer = self.loop.call_later(TICK, self.check) if self.running else None


class Deadlines:
    """Starts and ends request deadlines (RequestContext keeps one)."""

    def __init__(self) -> None:
        self.watchdog: Watchdog | None = None  # of the loop that served the latest request

    def start(self, budget: float) -> Deadline:
        """Give the current task (a request) `budget` seconds; end it with end()."""
        task = asyncio.current_task()
        assert task is not None, "a deadline is for a task"
        loop = task.get_loop()
        watchdog = self.watchdog
        if watchdog is None or watchdog.loop is not loop:  # a new loop (tests run several)
            watchdog = self.watchdog = Watchdog(loop)
        when = loop.time() + budget
        deadline = Deadline(when, task, task.cancelling(), DEADLINE.set(when), watchdog)
        watchdog.running[task] = deadline
        if watchdog.timer is None:
            watchdog.timer = loop.call_later(TICK, watchdog.check)
        return deadline

    @staticmethod
    def end(deadline: Deadline) -> bool:
        """Stop watching the request; True if its deadline cancelled it (and nothing else
        did). That cancellation is then withdrawn, as asyncio.timeout() withdraws its own."""
        del deadline.watchdog.running[deadline.task]
        DEADLINE.reset(deadline.token)
        return deadline.expired and deadline.task.uncancel() <= deadline.cancelling
