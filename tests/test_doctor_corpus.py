"""`doctor --app` on real projects that use pgdbm (the corpus's PyPI sdists, lint_corpus.py):
each project's migrations applied the way its own code applies them (schema, module_name and
folder, read from the file cited per case), then the doctor run on its package.

Before doctor read from the database where a folder was applied, 1 of these 5 projects got a
true report: llmring-server and awid-service failed with every file "pending" (the doctor
looked in a schema named after the package), aweb and beadhub were "up to date: all 0 files"
(their files sit in migrations/<schema>/, so nothing was compared). llmemory is left out: its
first migration needs the pgvector extension, which this machine's PostgreSQL lacks.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from doctor_support import Doctor, checks_by_schema, execute
from lint_corpus import PROJECTS, fetch
from pgdbm import AsyncDatabaseManager, AsyncMigrationManager, DatabaseConfig


@dataclass(frozen=True)
class Applied:
    """One AsyncMigrationManager call of the project's code."""

    schema: str
    module_name: str
    folder: str  # in the sdist
    shared_pool: bool  # the code's manager is on a create_shared_pool() pool (search_path pinned)


@dataclass(frozen=True)
class Case:
    package: str  # in the sdist: what --app names
    applied: tuple[Applied, ...]
    source: str  # where the code makes those calls


CASES = {
    "llmbridge-py": Case(
        "src/llmbridge",
        (Applied("llmbridge", "llmbridge", "src/llmbridge/migrations", False),),
        "src/llmbridge/db.py: LLMDatabase(schema='llmbridge'), its own manager",
    ),
    "llmring-server": Case(
        "src/llmring_server",
        (Applied("llmring", "llmring_server", "src/llmring_server/migrations", False),),
        "src/llmring_server/cli.py: LLMRING_DATABASE_SCHEMA defaults to 'llmring'",
    ),
    "aweb": Case(
        "src/aweb",
        (Applied("aweb", "aweb-aweb", "src/aweb/migrations/aweb", True),),
        "src/aweb/db.py: DatabaseInfra.initialize()",
    ),
    "awid-service": Case(
        "src/awid_service",
        (Applied("awid", "awid-service", "src/awid_service/migrations", True),),
        "src/awid_service/db.py: AwidDatabaseInfra(schema='awid')",
    ),
    "beadhub": Case(
        "src/beadhub",
        (
            Applied("server", "beadhub-server", "src/beadhub/migrations/server", True),
            Applied("beads", "beadhub-beads", "src/beadhub/migrations/beads", True),
        ),
        "src/beadhub/db.py: DatabaseInfra.initialize()",
    ),
}
SDISTS = {project.name: project for project in PROJECTS}


async def migrate_as_the_project_does(dsn: str, source: Path, case: Case) -> None:
    # aweb's code installs pgcrypto in public first (its 001 would otherwise land in the
    # pinned pg_catalog); the others' migrations create it IF NOT EXISTS.
    await execute(dsn, "CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public")
    for applied in case.applied:
        settings = {"connection_string": dsn, "min_connections": 1, "max_connections": 2}
        if applied.shared_pool:
            pool = await AsyncDatabaseManager.create_shared_pool(DatabaseConfig(**settings))
            db, close = AsyncDatabaseManager(pool=pool, schema=applied.schema), pool.close
        else:
            db = AsyncDatabaseManager(DatabaseConfig(**settings, schema=applied.schema))
            await db.connect()
            close = db.disconnect
        try:
            await db.execute(f'CREATE SCHEMA IF NOT EXISTS "{applied.schema}"')
            await AsyncMigrationManager(
                db, migrations_path=str(source / applied.folder), module_name=applied.module_name
            ).apply_pending_migrations()
        finally:
            await close()


async def diagnose(
    dsn: str, source: Path, case: Case, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    """`shared-pool doctor --json --app <its package>`: the exit code and the report."""
    return await Doctor(capsys).json("--dsn", dsn, "--app", str(source / case.package))


@pytest.fixture(params=sorted(CASES))
def project(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Case]:
    """A copy of the project's sdist (a test may edit it) and how its code migrates."""
    copy = tmp_path / request.param
    shutil.copytree(fetch(SDISTS[request.param]), copy, symlinks=True)
    return copy, CASES[request.param]


async def test_each_folder_is_judged_where_the_project_applied_it(
    fresh_database_url: str, project: tuple[Path, Case], capsys: pytest.CaptureFixture[str]
) -> None:
    source, case = project
    await migrate_as_the_project_does(fresh_database_url, source, case)
    code, report = await diagnose(fresh_database_url, source, case, capsys)
    checks = {
        (c["schema"], c["module_name"], Path(c["path"]).relative_to(source).as_posix())
        for c in report["migrations"]["project"]
    }
    assert checks == {(a.schema, a.module_name, a.folder) for a in case.applied}
    assert all(not c["pending"] and not c["drift"] for c in report["migrations"]["project"])
    assert code == 0, report["problems"]


async def test_a_file_not_applied_yet_is_pending_in_that_schema(
    fresh_database_url: str, project: tuple[Path, Case], capsys: pytest.CaptureFixture[str]
) -> None:
    source, case = project
    await migrate_as_the_project_does(fresh_database_url, source, case)
    first = case.applied[0]
    newest = sorted((source / first.folder).glob("*.sql"))[-1].name
    await execute(
        fresh_database_url,
        f"DELETE FROM \"{first.schema}\".schema_migrations WHERE filename = '{newest}'",
    )
    code, report = await diagnose(fresh_database_url, source, case, capsys)
    assert code == 1
    assert checks_by_schema(report)[first.schema]["pending"] == [newest]


async def test_a_file_edited_once_applied_is_drift_in_that_schema(
    fresh_database_url: str, project: tuple[Path, Case], capsys: pytest.CaptureFixture[str]
) -> None:
    source, case = project
    await migrate_as_the_project_does(fresh_database_url, source, case)
    first = case.applied[0]
    edited = sorted((source / first.folder).glob("*.sql"))[0]
    edited.write_text(edited.read_text(encoding="utf-8") + "\n-- edited\nSELECT 1;\n")
    code, report = await diagnose(fresh_database_url, source, case, capsys)
    assert code == 1
    assert checks_by_schema(report)[first.schema]["drift"] == [edited.name]
