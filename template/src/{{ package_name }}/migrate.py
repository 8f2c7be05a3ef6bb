"""Apply every service's pending migrations, then exit: `python -m <package>.migrate`.

Run it before rolling out a new version (and set MIGRATE_ON_STARTUP=false on the app),
so replicas never race a long migration.
"""

import asyncio
import logging
import sys
from collections.abc import Sequence

from pgdbm import AsyncDBError

from .config import Settings, get_settings
from .database import MigrationFailed, close_pool, create_pool, migrate_services
from .service import Service
from .services import SERVICES


async def migrate(
    settings: Settings, services: Sequence[Service] = SERVICES
) -> dict[str, list[str]]:
    """Migrate on a short-lived pool of its own, on MIGRATION_DATABASE_URL: the migration
    lock is a session lock, which only a direct connection (no transaction pooler) keeps."""
    pool = await create_pool(settings, settings.migration_database_url)
    try:
        return await migrate_services(pool, services, settings)
    finally:
        await close_pool(pool, grace=settings.shutdown_grace)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        applied = asyncio.run(migrate(get_settings()))
    except (MigrationFailed, AsyncDBError, OSError) as error:  # OSError covers TimeoutError
        # pgdbm appends generic troubleshooting tips; the first line is the error.
        print(f"migration failed: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    for schema, files in applied.items():
        print(f"{schema}: {', '.join(files) if files else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
