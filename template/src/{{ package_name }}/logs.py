"""Logging: one line per record, with time, level, logger and the request's id.

configure_logging() follows logging.basicConfig's rule: it does nothing when the root
logger already has a handler, so a standard logging config of your own (for example
`uvicorn --log-config logging.json`, a dictConfig file) takes precedence; its handlers can
use the filters below by name ("()": "<package>.logs.RequestIdFilter").
"""

import logging
import logging.config
from contextvars import ContextVar
from typing import Any

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record: the id of the request being served, or "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class OneLineWarnings(logging.Filter):
    """Folds a warning's traceback into its message. asyncpg logs one with every failed
    attempt to reconnect its pool during an outage; the error's own text says enough.
    Errors (an unexpected failure worth a traceback) keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] and record.levelno < logging.ERROR:
            record.msg = f"{record.getMessage()}: {record.exc_info[1]!r}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def logging_config(level: str) -> dict[str, Any]:
    """A dictConfig: every record (uvicorn's included) through one stderr handler."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": RequestIdFilter},
            "one_line_warnings": {"()": OneLineWarnings},
        },
        "formatters": {"line": {"format": FORMAT}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "filters": ["request_id", "one_line_warnings"],
            },
        },
        "root": {"level": level, "handlers": ["stderr"]},
    }


def configure_logging(level: str) -> None:
    """Install logging_config(level), unless logging was configured already. uvicorn's
    loggers keep their levels (--log-level, --no-access-log) and write through it too."""
    if logging.getLogger().handlers:
        return
    logging.config.dictConfig(logging_config(level))
    for name in ("uvicorn", "uvicorn.access"):
        uvicorn = logging.getLogger(name)
        if uvicorn.handlers:  # none: uvicorn turned it off (the access log, for one)
            uvicorn.handlers.clear()
            uvicorn.propagate = True
