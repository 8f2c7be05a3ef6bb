"""Apply every service's pending migrations, then exit: `python -m <package>.migrate`.

Run it before rolling out a new version (and set MIGRATE_ON_STARTUP=false on the app),
so replicas never race a long migration. Exit status: 0 done, 1 failed (one line on
stderr says why: the database unreachable, a migration's error, another process's lock).
"""

import asyncio
import sys
from collections.abc import Sequence

from pgdbm import AsyncDBError

from .config import InvalidSettings, Settings, get_settings
from .database import (
    DatabaseUnreachable,
    MigrationFailed,
    close_pool,
    create_pool,
    migrate_services,
)
from .logs import configure_logging
from .service import Service
from .services import SERVICES


async def migrate(
    settings: Settings, services: Sequence[Service] = SERVICES
) -> dict[str, list[str]]:
    """Migrate on a short-lived pool of its own, on MIGRATION_DATABASE_URL: the migration
    lock is a session lock, which only a direct connection (no transaction pooler) keeps."""
    pool = await create_pool(settings, settings.migration_database_url, migrations=True)
    try:
        return await migrate_services(pool, services, settings)
    finally:
        await close_pool(pool, grace=settings.shutdown_grace)


def main() -> int:
    try:
        settings = get_settings()
        configure_logging("WARNING")  # the command prints what it applied
        applied = asyncio.run(migrate(settings))
    except (InvalidSettings, DatabaseUnreachable, MigrationFailed, AsyncDBError, OSError) as error:
        # OSError covers TimeoutError; pgdbm's errors add lines of generic tips.
        print(f"migration failed: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    for schema, files in applied.items():
        print(f"{schema}: {', '.join(files) if files else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
