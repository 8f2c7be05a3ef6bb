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
from typing import Any

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


# How late past its deadline a request (or a wait for a connection) may be ended: one timer
# per event loop checks them all this often, where asyncio.timeout() would set and cancel a
# timer for each, which costs more than everything else the middleware does.
TICK = 0.05


class Watchdog:
    """Cancels the watched tasks of one event loop at their deadlines (within TICK): one timer
    for all of them, running while there are any."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.watches: set[Watch] = set()
        self.timer: asyncio.TimerHandle | None = None

    def check(self) -> None:
        now = self.loop.time()
        for watch in self.watches:
            if watch.when <= now and not watch.expired:
                watch.expired = True
                watch.task.cancel()
        self.timer = self.loop.call_later(TICK, self.check) if self.watches else None


class Watch:
    """The current task, to be cancelled at `when` (event loop time) unless unwatched first."""

    __slots__ = ("cancelling", "expired", "task", "watchdog", "when")

    def __init__(self, when: float, task: asyncio.Task[Any], watchdog: Watchdog) -> None:
        self.when = when
        self.task = task
        self.cancelling = task.cancelling()  # cancellations before ours, as asyncio.timeout counts
        self.watchdog = watchdog
        self.expired = False


class Watchdogs:
    """asyncio.timeout() for the hot paths (a request's budget, a wait for a connection)."""

    def __init__(self) -> None:
        self.current: Watchdog | None = None  # of the loop that asked last (tests run several)

    def watch(self, seconds: float) -> Watch:
        """Cancel the current task in `seconds` (within TICK), unless unwatch() comes first."""
        task = asyncio.current_task()
        assert task is not None, "watch() runs in a task"
        loop = task.get_loop()
        watchdog = self.current
        if watchdog is None or watchdog.loop is not loop:
            watchdog = self.current = Watchdog(loop)
        watch = Watch(loop.time() + seconds, task, watchdog)
        watchdog.watches.add(watch)
        if watchdog.timer is None:
            watchdog.timer = loop.call_later(TICK, watchdog.check)
        return watch

    @staticmethod
    def unwatch(watch: Watch) -> bool:
        """Stop watching; True if the watch cancelled the task (and nothing else did). That
        cancellation is then withdrawn, as asyncio.timeout() withdraws its own."""
        watch.watchdog.watches.discard(watch)
        return watch.expired and watch.task.uncancel() <= watch.cancelling


WATCHDOGS = Watchdogs()
