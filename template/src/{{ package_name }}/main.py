"""The FastAPI app: one shared pool for every service, opened and closed by the lifespan."""

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import PROJECT_NAME
from .config import Settings, get_settings
from .database import close_pool, create_pool, open_databases
from .errors import install_error_handlers
from .health import router as health_router
from .migrate import migrate
from .service import Service
from .services import SERVICES

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, services: Sequence[Service] = SERVICES) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = settings or get_settings()
        # Before the app's pool, on a pool of its own: see migrate() for why.
        app.state.migrations_applied = (
            await migrate(config, services) if config.migrate_on_startup else {}
        )
        pool = await create_pool(config)
        try:  # a failed start-up must not leave connections open
            databases = open_databases(pool, services, config)
            app.state.settings = config
            app.state.pool = pool
            app.state.databases = databases
            app.state.services = services
            yield
        finally:
            await close_pool(pool, grace=config.shutdown_grace)

    app = FastAPI(title=PROJECT_NAME, lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health_router)
    for service in services:
        app.include_router(service.router)
    return app


app = create_app()
