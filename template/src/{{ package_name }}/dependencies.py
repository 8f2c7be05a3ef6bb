"""FastAPI dependencies: the shared pool and one schema-bound database per service."""

from collections.abc import Callable
from typing import Annotated, cast

import asyncpg
from fastapi import Depends, Request

from .config import Settings
from .database import ServiceDatabase


def get_pool(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


def get_app_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def database_for(schema: str) -> Callable[[Request], ServiceDatabase]:
    """A dependency returning the manager bound to `schema`, created once in the lifespan."""

    def service_database(request: Request) -> ServiceDatabase:
        return cast(ServiceDatabase, request.app.state.databases[schema])

    return service_database


Pool = Annotated[asyncpg.Pool, Depends(get_pool)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
