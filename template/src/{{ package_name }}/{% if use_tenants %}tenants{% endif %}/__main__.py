"""Tenant lifecycle from the command line: `python -m <package>.tenants --help`.

list                         every tenant with its status (and error, if it failed)
migrate-all [--parallel N]   apply pending tenant migrations; exit 1 if any tenant failed
drop TENANT --yes            drop the tenant's schema, all its data, and its registry row
"""

import argparse
import asyncio
import sys
from collections.abc import Sequence

from pgdbm import AsyncDBError

from ..config import InvalidSettings, Settings, get_settings
from ..database import DatabaseUnreachable, close_pool, create_pool
from ..logs import configure_logging
from ..services import SERVICES
from .ids import InvalidTenantId
from .manager import MigrationProgress, TenantBusy, TenantManager, TenantNotFound, one_line


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list tenants")
    migrate_all = commands.add_parser("migrate-all", help="migrate every tenant")
    migrate_all.add_argument("--parallel", type=int, default=2, choices=range(1, 33), metavar="N")
    drop = commands.add_parser("drop", help="drop a tenant and all its data")
    drop.add_argument("tenant")
    drop.add_argument("--yes", action="store_true", help="confirm: the data cannot be recovered")
    return parser.parse_args(argv)


def show_progress(step: MigrationProgress) -> None:
    outcome = (
        f"FAILED: {step.error}"
        if step.error
        else (f"applied {', '.join(step.applied)}" if step.applied else "up to date")
    )
    print(f"[{step.done}/{step.total}] {step.tenant_id}: {outcome}", flush=True)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    parallel = args.parallel if args.command == "migrate-all" else 1
    # Each tenant being migrated holds one connection (its lock's), and one is left free.
    pool_max_size = max(settings.pool_max_size, parallel + 1)
    settings = settings.model_copy(update={"pool_min_size": 1, "pool_max_size": pool_max_size})
    # Direct (session locks), with the migrations' statement timeout.
    pool = await create_pool(settings, settings.migration_database_url, migrations=True)
    try:
        tenants = TenantManager(
            pool,
            settings,
            {service.schema for service in SERVICES},
            max_concurrent_provisioning=parallel,
        )
        if args.command == "list":
            for tenant in await tenants.list_tenants():
                error = f"  {tenant.error}" if tenant.error else ""
                print(f"{tenant.tenant_id}  {tenant.status}  {tenant.schema_name}{error}")
            return 0
        if args.command == "drop":
            await tenants.drop(args.tenant, confirm=args.tenant)
            print(f"dropped tenant {args.tenant}")
            return 0
        report = await tenants.migrate_all(parallel, show_progress)
        print(f"{len(report.migrated)} tenants migrated, {len(report.failed)} failed")
        for tenant_id, error in sorted(report.failed.items()):
            print(f"failed: {tenant_id}: {error}", file=sys.stderr)
        return 1 if report.failed else 0
    finally:
        await close_pool(pool, grace=settings.shutdown_grace)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "drop" and not args.yes:
        print(f"refusing to drop tenant {args.tenant!r} without --yes", file=sys.stderr)
        return 2
    try:
        settings = get_settings()
        configure_logging("WARNING")  # the command prints its own progress
        return asyncio.run(run(args, settings))
    except (
        InvalidSettings,
        DatabaseUnreachable,
        InvalidTenantId,
        TenantNotFound,
        TenantBusy,
        AsyncDBError,
        OSError,
    ) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
